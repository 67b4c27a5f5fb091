"""USD/JPY date rules on the joint Tokyo/New York calendar.

Holidays used as witnesses (public calendars): 2025-07-04 Independence Day (US);
2025-07-21 Marine Day (Japan); 2025-09-15 Respect for the Aged Day (Japan); Japanese bank
holidays 2025-12-31 to 2026-01-02; 2025-11-27 Thanksgiving (US). Rules: Clark (2011) §1.3.
"""

from __future__ import annotations

import datetime as dt

import pytest

from scenarios.dates import pillar_date, spot_date, tenor_dates, year_fraction
from scenarios.errors import DomainError

D = dt.date


@pytest.mark.parametrize(
    ("trade", "spot"),
    [
        (D(2025, 6, 13), D(2025, 6, 17)),  # Friday: T+2 business days is Tuesday
        (D(2025, 7, 2), D(2025, 7, 7)),  # spot would be 4 July, a New York holiday: roll
        (D(2025, 7, 3), D(2025, 7, 7)),  # T+1 = 4 July counts (Tokyo open), spot Monday
        (D(2025, 9, 11), D(2025, 9, 16)),  # 15 Sep is a Tokyo holiday
        (D(2025, 12, 29), D(2026, 1, 5)),  # Tokyo closed 31 Dec to 2 Jan
        (D(2025, 11, 25), D(2025, 11, 28)),  # spot would be Thanksgiving: roll to Friday
    ],
)
def test_spot_date(trade: dt.date, spot: dt.date) -> None:
    assert spot_date(trade) == spot


def test_month_tenor_delivers_spot_plus_tenor_and_expires_two_days_before() -> None:
    expiry, delivery = tenor_dates("tenor", D(2025, 6, 13), "1M")
    assert delivery == D(2025, 7, 17)  # spot 17 June + 1 month
    assert expiry == D(2025, 7, 15)
    assert spot_date(expiry) == delivery


def test_month_tenor_skips_a_tokyo_holiday_on_delivery() -> None:
    expiry, delivery = tenor_dates("tenor", D(2025, 6, 13), "3M")
    assert delivery == D(2025, 9, 17)
    assert spot_date(expiry) == delivery  # 12 Sep: T+2 crosses the 15 Sep holiday


def test_week_tenor_expires_a_week_later_and_delivers_at_its_spot() -> None:
    assert tenor_dates("tenor", D(2025, 6, 13), "1W") == (D(2025, 6, 20), D(2025, 6, 24))


def test_overnight_expires_next_business_day() -> None:
    assert tenor_dates("tenor", D(2025, 6, 13), "ON")[0] == D(2025, 6, 16)


@pytest.mark.parametrize("tenor", ["1Q", "", "0M", "11Y", "3m", "M3", "1.5Y", None])
def test_unknown_tenors_are_rejected_naming_the_field(tenor: object) -> None:
    with pytest.raises(DomainError) as info:
        tenor_dates("instruments[3].tenor", D(2025, 6, 13), tenor)  # type: ignore[arg-type]
    assert info.value.errors[0].field == "instruments[3].tenor"
    reason = info.value.errors[0].reason
    if tenor in ("0M", "11Y"):  # well formed, out of range (MAX_TENOR_YEARS = 10)
        assert reason == f"must be between 1D and 10Y, got {tenor!r}"
    else:
        assert reason == f"must be ON or a tenor such as 1W, 3M, 2Y, got {tenor!r}"


def test_year_fraction_is_act_365_fixed_and_pillars_are_unadjusted() -> None:
    assert year_fraction(D(2024, 1, 1), D(2025, 1, 1)) == 366 / 365
    assert pillar_date("t", D(2025, 1, 31), "1M") == D(2025, 2, 28)
