"""USD/JPY FX dates: spot date, tenors to expiry and delivery, year fractions.

Rules (Clark, *Foreign Exchange Option Pricing*, 2011, §1.3; Wystup, *FX Options and
Structured Products*, 2nd ed., §1.4):

* Spot date: T+2. The first day need only be a Tokyo business day (a New York holiday on
  T+1 does not push spot for USD pairs); the spot date itself must be a business day in both
  Tokyo and New York, rolled forward on the joint calendar.
* ``ON``: expiry on the next joint business day after the valuation date.
* Day and week tenors (``1D``…, ``1W``…): expiry = valuation date + tenor, rolled to the
  following joint business day; delivery = the spot date of the expiry.
* Month and year tenors (``1M``…, ``1Y``…): delivery = spot date + tenor, modified following
  with the end-of-month rule on the joint calendar; expiry = the joint business day whose
  spot date is that delivery (two business days back, then checked forward).
* A dated expiry: delivery = the spot date of the expiry (:func:`expiry_delivery`), counted
  from the expiry itself as for day and week tenors (an expiry on a holiday counts its next
  Tokyo business day as T+1, as QuantLib's ``Calendar.advance`` does).

Times are ACT/365F: ``(date − valuation_date).days / 365``. QuantLib supplies the
calendars; every call runs under :func:`pricing.quantlib_guard.quantlib_session`.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

import QuantLib as ql

from pricing.quantlib_guard import from_ql_date, quantlib_session, to_ql_date
from scenarios import checks
from scenarios.errors import DomainError

TENOR_PATTERN = re.compile(r"^(ON|(\d{1,3})([DWMY]))$")
MAX_TENOR_YEARS = 10

_TOKYO = ql.Japan()
_NEW_YORK = ql.UnitedStates(ql.UnitedStates.Settlement)
_JOINT = ql.JointCalendar(_TOKYO, _NEW_YORK, ql.JoinHolidays)
_UNITS = {"D": ql.Days, "W": ql.Weeks, "M": ql.Months, "Y": ql.Years}


def year_fraction(start: dt.date, end: dt.date) -> float:
    """ACT/365F year fraction from ``start`` to ``end``."""
    return (end - start).days / 365.0


def _spot(date: ql.Date) -> ql.Date:
    first = _TOKYO.advance(date, 1, ql.Days)
    return _JOINT.adjust(_TOKYO.advance(first, 1, ql.Days), ql.Following)


def spot_date(trade_date: dt.date, field: str = "valuation_date") -> dt.date:
    """USD/JPY spot date (T+2) for a trade on ``trade_date``; ``field`` names it in errors."""
    last = checks.LAST_DATE - dt.timedelta(days=10)  # room for the spot lag and its rolls
    if not checks.FIRST_DATE <= trade_date <= last:
        raise DomainError.field(
            field,
            f"must be between {checks.FIRST_DATE.isoformat()} and {last.isoformat()}, "
            f"got {trade_date.isoformat()}",
        )
    with quantlib_session():
        return from_ql_date(_spot(_JOINT.adjust(to_ql_date(trade_date), ql.Following)))


def expiry_delivery(expiry: dt.date, field: str = "expiry") -> dt.date:
    """Delivery of an option expiring on ``expiry``: the USD/JPY spot date of that day (T+2,
    the first day a Tokyo business day, the second a joint one); ``field`` names it in errors.

    The desk's convention: exercise on the expiry settles as a spot trade done that day.
    """
    last = checks.LAST_DATE - dt.timedelta(days=10)  # room for the spot lag and its rolls
    if not checks.FIRST_DATE <= expiry <= last:
        raise DomainError.field(
            field,
            f"must be between {checks.FIRST_DATE.isoformat()} and {last.isoformat()}, "
            f"got {expiry.isoformat()}",
        )
    return _expiry_delivery(expiry)


@lru_cache(maxsize=16384)
def _expiry_delivery(expiry: dt.date) -> dt.date:
    # a book holds a handful of distinct expiry dates: one QuantLib call each
    with quantlib_session():
        return from_ql_date(_spot(to_ql_date(expiry)))


def check_tenor(field: str, tenor: str) -> tuple[int, str]:
    """Parse ``ON`` or ``<n><D|W|M|Y>``; raise naming ``field`` otherwise."""
    match = TENOR_PATTERN.match(tenor) if isinstance(tenor, str) else None
    if match is None:
        raise DomainError.field(field, f"must be ON or a tenor such as 1W, 3M, 2Y, got {tenor!r}")
    if match.group(1) == "ON":
        return 1, "ON"
    count, unit = int(match.group(2)), match.group(3)
    years = {"D": count / 365, "W": count * 7 / 365, "M": count / 12, "Y": count}[unit]
    if count == 0 or years > MAX_TENOR_YEARS:
        raise DomainError.field(field, f"must be between 1D and {MAX_TENOR_YEARS}Y, got {tenor!r}")
    return count, unit


@lru_cache(maxsize=4096)
def _tenor_dates(valuation_date: dt.date, count: int, unit: str) -> tuple[dt.date, dt.date]:
    with quantlib_session():
        today = to_ql_date(valuation_date)
        if unit == "ON":
            expiry = _JOINT.advance(today, 1, ql.Days)
            delivery = _spot(expiry)
        elif unit in ("D", "W"):
            expiry = _JOINT.adjust(today + ql.Period(count, _UNITS[unit]), ql.Following)
            delivery = _spot(expiry)
        else:
            spot = _spot(_JOINT.adjust(today, ql.Following))
            delivery = _JOINT.advance(
                spot, ql.Period(count, _UNITS[unit]), ql.ModifiedFollowing, True
            )
            expiry = _JOINT.advance(delivery, -2, ql.Days)
            while _spot(expiry) < delivery:
                expiry = _JOINT.advance(expiry, 1, ql.Days)
            while expiry > today and _spot(expiry) > delivery:
                expiry = _JOINT.advance(expiry, -1, ql.Days)
        return from_ql_date(expiry), from_ql_date(delivery)


def tenor_dates(field: str, valuation_date: dt.date, tenor: str) -> tuple[dt.date, dt.date]:
    """(expiry, delivery) of an FX option of ``tenor`` traded on ``valuation_date``."""
    known = _KNOWN_TENORS.get(tenor) if isinstance(tenor, str) else None
    count, unit = known or check_tenor(field, tenor)
    if known is None and len(_KNOWN_TENORS) < 1024:  # a handful in practice: 1W, 1M, 3M …
        _KNOWN_TENORS[tenor] = (count, unit)
    if valuation_date > _LAST_TENOR_START or valuation_date < checks.FIRST_DATE:
        _check_calendar_end(field, valuation_date, count, unit, tenor)
    return _tenor_dates(valuation_date, count, unit)


# a valuation date on or before this leaves room for the longest tenor and its date rolls
_LAST_TENOR_START = dt.date(checks.LAST_DATE.year - MAX_TENOR_YEARS - 1, 1, 1)


def _check_calendar_end(
    field: str, valuation_date: dt.date, count: int, unit: str, tenor: str
) -> None:
    """A tenor whose dates (with a month's margin for rolls and the spot lag) would pass
    :data:`scenarios.checks.LAST_DATE`, where QuantLib's calendars end, is refused."""
    checks.in_calendar("valuation_date", valuation_date)
    days = {"ON": 1, "D": count, "W": 7 * count, "M": 31 * count, "Y": 366 * count}[unit]
    if valuation_date + dt.timedelta(days=days + 31) > checks.LAST_DATE:
        raise DomainError.field(
            field,
            f"must end by {checks.LAST_DATE.isoformat()} (the calendars' last date) from "
            f"the valuation date {valuation_date.isoformat()}, got {tenor!r}",
        )


_KNOWN_TENORS: dict[str, tuple[int, str]] = {}  # tenors check_tenor accepted, parsed


def pillar_date(field: str, valuation_date: dt.date, tenor: str) -> dt.date:
    """Curve pillar date: ``valuation_date`` + ``tenor``, unadjusted (``ON`` = 1 day)."""
    count, unit = check_tenor(field, tenor)
    if valuation_date > _LAST_TENOR_START or valuation_date < checks.FIRST_DATE:
        _check_calendar_end(field, valuation_date, count, unit, tenor)
    if unit == "ON":
        return valuation_date + dt.timedelta(days=1)
    with quantlib_session():
        return from_ql_date(to_ql_date(valuation_date) + ql.Period(count, _UNITS[unit]))
