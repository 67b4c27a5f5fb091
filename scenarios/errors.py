"""Domain errors: what went wrong, with the path of the offending field.

Hierarchy::

    DomainError                 one or more FieldError(field, reason), and a kind:
      kind = invalid            a value breaks a rule (the service answers 422)
      kind = no_measure         no risk-neutral measure exists for the request (422)
      kind = not_found          an id that does not exist (404)
      kind = conflict           a write that contradicts stored state (409)
      kind = gone               a retired resource asked for without a version (410)
      kind = too_large          a document larger than the store accepts (413)
      kind = precondition_failed  a write based on a version that is no longer the latest (412)
      kind = precondition_required  a write that does not say which version it is based on (428)
      kind = unauthorized       no API key, or one that is not valid (401)
      kind = forbidden          a valid key whose role does not allow the request (403)

The errors know nothing of HTTP; the service maps ``kind`` to a status once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class ErrorKind(StrEnum):
    INVALID = "invalid"
    NO_MEASURE = "no_measure"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    GONE = "gone"
    TOO_LARGE = "too_large"
    PRECONDITION_FAILED = "precondition_failed"
    PRECONDITION_REQUIRED = "precondition_required"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"


@dataclass(frozen=True)
class FieldError:
    """``field`` is a path such as ``scenarios[2].probability``; ``reason`` says why."""

    field: str
    reason: str


class DomainError(Exception):
    """A request the domain cannot honour, with every offending field."""

    def __init__(self, errors: list[FieldError], kind: ErrorKind = ErrorKind.INVALID) -> None:
        self.errors = errors
        self.kind = kind
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))

    @classmethod
    def field(cls, field: str, reason: str, kind: ErrorKind = ErrorKind.INVALID) -> DomainError:
        return cls([FieldError(field, reason)], kind)

    def prefixed(self, prefix: str) -> DomainError:
        """The same error with every field path under ``prefix`` (``market`` → ``market.spot``)."""

        def join(field: str) -> str:
            if not prefix:
                return field
            if not field:
                return prefix
            return f"{prefix}{field}" if field.startswith("[") else f"{prefix}.{field}"

        return DomainError([FieldError(join(e.field), e.reason) for e in self.errors], self.kind)

    def renumbered(self, family: str, rows: Sequence[int]) -> DomainError:
        """The same error with ``family[j]`` read as ``family[rows[j]]``: a sub-list's index
        (the j-th FX line) turned into the request's (its row among every line)."""
        pattern = re.compile(rf"^{re.escape(family)}\[(\d+)\]")
        fields = [
            FieldError(
                pattern.sub(lambda m: f"{family}[{rows[int(m.group(1))]}]", e.field), e.reason
            )
            for e in self.errors
        ]
        return DomainError(fields, self.kind)
