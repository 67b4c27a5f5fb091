"""Building blocks shared by the schemas: strict finite numbers, domain-error prefixing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from scenarios.errors import DomainError

T = TypeVar("T")

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Schema(BaseModel):
    """Base of every schema: unknown fields are errors, numbers must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def under(prefix: str, build: Callable[[], T]) -> T:
    """Run a domain constructor, re-raising its errors with field paths under ``prefix``."""
    try:
        return build()
    except DomainError as exc:
        raise exc.prefixed(prefix) from None
