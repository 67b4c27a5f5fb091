"""Pre-conditions shared by the domain objects; each raises a DomainError quoting the value."""

from __future__ import annotations

import math

from scenarios.errors import DomainError


def finite(field: str, value: float) -> float:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise DomainError.field(field, f"must be a finite number, got {value!r}")
    return float(value)


def positive(field: str, value: float) -> float:
    value = finite(field, value)
    if value <= 0.0:
        raise DomainError.field(field, f"must be > 0, got {value!r}")
    return value


def in_range(field: str, value: float, lo: float, hi: float, what: str = "") -> float:
    value = finite(field, value)
    if not lo <= value <= hi:
        raise DomainError.field(field, f"must be in [{lo:g}, {hi:g}]{what}, got {value!r}")
    return value


MAX_NOTIONAL = 1e15  # far above any trade, far below where value = price × notional overflows


def notional(field: str, value: float) -> float:
    """A notional or cash amount in (0, 1e15]: beyond it a value or P&L could leave double
    precision."""
    value = positive(field, value)
    if value > MAX_NOTIONAL:
        raise DomainError.field(field, f"must be at most {MAX_NOTIONAL:g}, got {value!r}")
    return value


SPOT_FACTOR = 1e3  # levels and strikes within a factor of 1,000 of spot


def near_spot(field: str, value: float, spot: float) -> float:
    """A level or strike (JPY per USD) within a factor of 1,000 of ``spot``: beyond it the
    jump or the option is no market's, and the arithmetic leaves double precision."""
    if not spot / SPOT_FACTOR <= value <= spot * SPOT_FACTOR:
        raise DomainError.field(
            field,
            f"must be within a factor of {SPOT_FACTOR:g} of spot {spot:g} (JPY per USD), "
            f"got {value!r}",
        )
    return value
