"""Pre-conditions shared by the domain objects; each raises a DomainError quoting the value."""

from __future__ import annotations

import datetime as dt
import math

from scenarios.errors import DomainError

PROBABILITY_TOLERANCE = 1e-9  # probabilities sum to 1 within this


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


# QuantLib's calendars and schedules cover 1901-01-01 … 2199-12-31: every date a request gives
# or implies (valuation, event, expiry, delivery, pillar, maturity) must lie inside.
FIRST_DATE = dt.date(1901, 1, 1)
LAST_DATE = dt.date(2199, 12, 31)
MAX_EXPIRY_YEARS = 30  # expiries, deliveries and maturities: at most 30 years after valuation


def in_calendar(field: str, value: dt.date) -> dt.date:
    """A date within :data:`FIRST_DATE` … :data:`LAST_DATE`."""
    if not FIRST_DATE <= value <= LAST_DATE:
        raise DomainError.field(
            field,
            f"must be between {FIRST_DATE.isoformat()} and {LAST_DATE.isoformat()}, "
            f"got {value.isoformat()}",
        )
    return value


def within_horizon(field: str, valuation_date: dt.date, value: dt.date) -> dt.date:
    """A date at most :data:`MAX_EXPIRY_YEARS` after ``valuation_date`` (and in the calendar)."""
    limit = _years_after(valuation_date, MAX_EXPIRY_YEARS)
    if value > limit:
        raise DomainError.field(
            field,
            f"must be at most {MAX_EXPIRY_YEARS} years after the valuation date "
            f"{valuation_date.isoformat()} (by {limit.isoformat()}), got {value.isoformat()}",
        )
    return in_calendar(field, value)


def _years_after(date: dt.date, years: int) -> dt.date:
    try:
        return date.replace(year=date.year + years)
    except ValueError:  # 29 February
        return date.replace(year=date.year + years, day=28)
