"""What a batch run prices on: its parameters, and the sources they name resolved.

Shared by the run (:mod:`service.batch.run`), its sweeps (:mod:`service.batch.sweeps`), the
CLI and the job routes, so that none of them imports another for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scenarios.errors import DomainError
from scenarios.market import Diffusion
from service.schemas.context import Context, SourceFields, resolve_context
from service.settings import Settings


@dataclass(frozen=True)
class RunSpec:
    """What a run prices on and how.

    ``sources``: the JSON fields of a pricing request's sources (``scenario_set_id``,
    ``scenario_set_version``, ``market_id``, ``market_version``, or inline ``scenario_set``
    / ``market``, and ``overrides``). ``sweep``: axis objects (:mod:`service.batch.sweeps`).
    ``paths``: Monte Carlo settings for barrier and touch lines (``POST /v1/price``'s
    ``paths``). ``strict``: stop at the first refused line.
    """

    sources: dict[str, Any]
    measure: str = "tilt"
    diffusion: str = "ex_event"
    reporting_currency: str = "JPY"
    sweep: tuple[dict[str, Any], ...] = ()
    sweep_lines: bool = False
    chunk_lines: int = 100_000
    strict: bool = False
    paths: dict[str, Any] | None = None


def resolve_run(spec: RunSpec, settings: Settings) -> Context:
    """The run's own context, checked as a pricing request's sources are."""
    from pydantic import ValidationError

    from service.problems import validation_errors

    try:
        sources = SourceFields.model_validate(spec.sources)
    except ValidationError as exc:
        raise DomainError(validation_errors(exc.errors())) from None
    return resolve_context(sources, settings, Diffusion(spec.diffusion))


def reference(text: str, name: str) -> tuple[str, int | None]:
    """``ID`` or ``ID@VERSION`` → (id, version or None); an error naming ``name``."""
    head, at, tail = text.rpartition("@")
    if not at:
        return text, None
    if not tail.isdigit() or int(tail) < 1 or not head:
        raise DomainError.field(name, f"must be ID or ID@VERSION (VERSION ≥ 1), got {text!r}")
    return head, int(tail)
