"""USD/JPY expiry rolls, the ON pillar and the tenor cap, against QuantLib's calendars.

Witnesses: QuantLib's Tokyo (``ql.Japan()``) and New York (``ql.UnitedStates(Settlement)``)
calendars asked one day at a time (``isBusinessDay``), the spot rule written from Clark
(2011) §1.3 on them — T+1 the next Tokyo business day, T+2 the Tokyo business day after it,
rolled forward to a day open in both; QuantLib's ``JointCalendar(Japan, UnitedStates
(Settlement))`` for the month-tenor delivery (``advance``, modified following, end of month)
and ``Date + Period`` for the unadjusted pillars; QuantLib's last calendar date 2199-12-31.

The holidays: 2025-01-20 Martin Luther King Jr. Day, 2024-07-04 Independence Day, 2024-11-11
Veterans Day, 2024-06-19 Juneteenth (New York only); 2025-07-21 Marine Day, 2025-09-15
Respect for the Aged Day (Tokyo only).
"""

from __future__ import annotations

import datetime as dt

import pytest
import QuantLib as ql

from scenarios.dates import check_tenor, pillar_date, spot_date, tenor_dates
from scenarios.errors import DomainError

D = dt.date
TOKYO = ql.Japan()
NEW_YORK = ql.UnitedStates(ql.UnitedStates.Settlement)
JOINT = ql.JointCalendar(ql.Japan(), ql.UnitedStates(ql.UnitedStates.Settlement))
DAY = dt.timedelta(days=1)


def ql_date(d: dt.date) -> ql.Date:
    return ql.Date(d.day, d.month, d.year)


def py_date(d: ql.Date) -> dt.date:
    return D(d.year(), d.month(), d.dayOfMonth())


def tokyo_open(d: dt.date) -> bool:
    return TOKYO.isBusinessDay(ql_date(d))


def both_open(d: dt.date) -> bool:
    return TOKYO.isBusinessDay(ql_date(d)) and NEW_YORK.isBusinessDay(ql_date(d))


def next_day(d: dt.date, is_open) -> dt.date:
    d += DAY
    while not is_open(d):
        d += DAY
    return d


def witness_spot(trade: dt.date) -> dt.date:
    """T+2 for USD/JPY: two Tokyo business days, then forward to a day open in both."""
    second = next_day(next_day(trade, tokyo_open), tokyo_open)
    return second if both_open(second) else next_day(second, both_open)


def witness_month_delivery(valuation: dt.date, months: int) -> dt.date:
    spot = witness_spot(valuation)
    return py_date(
        JOINT.advance(ql_date(spot), ql.Period(months, ql.Months), ql.ModifiedFollowing, True)
    )


@pytest.mark.parametrize(
    ("valuation", "tenor", "holiday"),
    [
        (D(2024, 1, 18), "1Y", D(2025, 1, 20)),  # MLK Day: delivery Wed 22 Jan 2025
        (D(2024, 4, 18), "9M", D(2025, 1, 20)),
        (D(2024, 4, 4), "3M", D(2024, 7, 4)),  # delivery Mon 8 Jul 2024
        (D(2024, 5, 9), "6M", D(2024, 11, 11)),  # delivery Wed 13 Nov 2024
        (D(2024, 3, 18), "3M", D(2024, 6, 19)),  # delivery Fri 21 Jun 2024
    ],
)
def test_expiry_when_no_day_settles_on_the_delivery_is_the_last_that_settles_before(
    valuation: dt.date, tenor: str, holiday: dt.date
) -> None:
    """A New York-only holiday in the days before the delivery: the day open in both before it
    settles earlier, the next one later, none on the delivery itself (the Tokyo day open on the
    holiday would, but New York is shut). Witness: QuantLib's two calendars day by day, the
    spot rule of Clark §1.3: the expiry is the last day open in both whose spot date is not
    after the delivery — one day later would deliver after the forward it hedges."""
    months = int(tenor[:-1]) * (12 if tenor.endswith("Y") else 1)
    delivery = witness_month_delivery(valuation, months)
    assert tokyo_open(holiday) and not both_open(holiday) and 0 < (delivery - holiday).days <= 4
    open_days = [d for d in (delivery - k * DAY for k in range(1, 15)) if both_open(d)]
    assert all(witness_spot(d) != delivery for d in open_days)  # no day settles on it

    expiry, got_delivery = tenor_dates("tenor", valuation, tenor)
    assert got_delivery == delivery
    assert both_open(expiry)
    assert witness_spot(expiry) < delivery < witness_spot(next_day(expiry, both_open))


@pytest.mark.parametrize(
    ("valuation", "tenor"),
    [
        (D(2025, 6, 13), "1M"),
        (D(2025, 6, 16), "1M"),  # delivery Thu 17 Jul, a week before/after Marine Day
        (D(2025, 6, 18), "1M"),  # delivery Tue 22 Jul: Marine Day (Tokyo only) on the 21st
        (D(2025, 8, 13), "1M"),  # delivery Tue 16 Sep: Respect for the Aged Day on the 15th
        (D(2025, 6, 2), "1M"),  # spot + 1M is Fri 4 Jul, New York shut: Mon 7 Jul
        (D(2025, 6, 13), "2Y"),
        (D(2025, 6, 13), "18M"),
    ],
)
def test_expiry_settles_on_the_delivery_when_a_day_does(valuation: dt.date, tenor: str) -> None:
    """Witness: QuantLib's calendars day by day, the spot rule of Clark §1.3."""
    count, unit = check_tenor("tenor", tenor)
    delivery = witness_month_delivery(valuation, count * (12 if unit == "Y" else 1))
    expiry, got_delivery = tenor_dates("tenor", valuation, tenor)
    assert got_delivery == delivery
    assert both_open(expiry) and witness_spot(expiry) == delivery


@pytest.mark.parametrize(
    ("valuation", "expiry"),
    [
        (D(2025, 6, 13), D(2025, 6, 16)),  # Friday: Monday
        (D(2025, 7, 3), D(2025, 7, 7)),  # 4 July: New York shut
        (D(2025, 7, 18), D(2025, 7, 22)),  # Fri; Mon 21 Jul Marine Day: Tokyo shut
        (D(2025, 12, 30), D(2026, 1, 5)),  # Tokyo shut 31 Dec to 2 Jan (1 Jan both)
    ],
)
def test_overnight_expires_on_the_next_day_open_in_both_and_delivers_at_its_spot(
    valuation: dt.date, expiry: dt.date
) -> None:
    """Witness: QuantLib's two calendars day by day (the expiries are read off them)."""
    assert next_day(valuation, both_open) == expiry
    assert tenor_dates("tenor", valuation, "ON") == (expiry, witness_spot(expiry))


@pytest.mark.parametrize(
    "valuation", [D(2025, 6, 13), D(2025, 12, 31), D(2024, 2, 28), D(2025, 7, 3)]
)
def test_overnight_pillar_is_the_next_calendar_day_unadjusted(valuation: dt.date) -> None:
    """Witness: QuantLib's ``Date + Period(1, Days)`` (a Saturday, New Year's Day, a leap day,
    4 July: pillars are not rolled)."""
    expected = py_date(ql_date(valuation) + ql.Period(1, ql.Days))
    assert pillar_date("pillar", valuation, "ON") == expected
    assert pillar_date("pillar", valuation, "1D") == expected


@pytest.mark.parametrize("tenor", ["10Y", "120M", "521W", "999D", "1D", "1W", "1M", "1Y"])
def test_tenors_up_to_ten_years_are_accepted_and_dated_as_quantlib(tenor: str) -> None:
    """Witness: QuantLib's ``Date + Period`` for the pillar; for month and year tenors the
    joint calendar's modified-following delivery from the spot date."""
    valuation = D(2025, 6, 13)
    count, unit = int(tenor[:-1]), tenor[-1]
    ql_unit = {"D": ql.Days, "W": ql.Weeks, "M": ql.Months, "Y": ql.Years}[unit]
    assert check_tenor("tenor", tenor) == (count, unit)
    assert pillar_date("p", valuation, tenor) == py_date(
        ql_date(valuation) + ql.Period(count, ql_unit)
    )
    expiry, delivery = tenor_dates("tenor", valuation, tenor)
    if unit in "MY":
        assert delivery == witness_month_delivery(valuation, count * (12 if unit == "Y" else 1))
    else:
        assert expiry == py_date(
            JOINT.adjust(ql_date(valuation) + ql.Period(count, ql_unit), ql.Following)
        )
    assert witness_spot(expiry) <= delivery


@pytest.mark.parametrize("tenor", ["11Y", "121M", "522W", "0D", "0W", "0M", "0Y"])
def test_tenors_past_ten_years_or_of_zero_length_are_refused(tenor: str) -> None:
    """Witness: the stated range 1D … 10Y (10Y = 120M = 521.4W; days have three digits at most)."""
    for call in (
        lambda: tenor_dates("instruments[0].tenor", D(2025, 6, 13), tenor),
        lambda: pillar_date("instruments[0].tenor", D(2025, 6, 13), tenor),
    ):
        with pytest.raises(DomainError, match="between 1D and 10Y") as info:
            call()
        assert info.value.errors[0].field == "instruments[0].tenor"


LAST = D(2199, 12, 31)  # ql.Date.maxDate(): QuantLib's calendars end here


def test_quantlib_calendars_end_on_the_last_date_the_module_allows() -> None:
    assert py_date(ql.Date.maxDate()) == LAST


@pytest.mark.parametrize(
    ("valuation", "tenor"),
    [(D(2189, 6, 1), "10Y"), (D(2199, 11, 1), "ON"), (D(2199, 10, 1), "1M"),
     (D(2199, 11, 1), "1W"), (D(2199, 11, 1), "2D"), (D(2198, 11, 1), "1Y")],
)  # fmt: skip
def test_tenors_ending_a_month_before_the_calendars_end_are_dated(valuation, tenor) -> None:
    """Witness: QuantLib's calendars, valid to 2199-12-31, and the spot rule on them."""
    expiry, delivery = tenor_dates("tenor", valuation, tenor)
    assert valuation < expiry <= delivery <= LAST
    assert both_open(expiry) and witness_spot(expiry) <= delivery
    assert pillar_date("p", valuation, tenor) <= LAST


@pytest.mark.parametrize(
    ("valuation", "tenor"),
    [(D(2190, 6, 1), "10Y"), (D(2199, 12, 20), "ON"), (D(2199, 12, 1), "1M"),
     (D(2199, 12, 10), "1W"), (D(2199, 12, 20), "2D"), (D(2199, 6, 1), "1Y")],
)  # fmt: skip
def test_tenors_running_into_the_calendars_end_are_refused_naming_the_field(
    valuation, tenor
) -> None:
    """Witness: QuantLib's calendars end 2199-12-31; with the rolls' margin (a month) these
    would pass it. The error names the field, as for any bad input."""
    for call in (
        lambda: tenor_dates("instruments[2].tenor", valuation, tenor),
        lambda: pillar_date("instruments[2].tenor", valuation, tenor),
    ):
        with pytest.raises(DomainError, match="2199-12-31") as info:
            call()
        assert info.value.errors[0].field == "instruments[2].tenor"


def test_spot_date_matches_the_day_by_day_rule_over_a_year_of_trade_dates() -> None:
    """Witness: QuantLib's two calendars day by day, Clark §1.3, every day of 2025 (the spot of
    a trade on a day shut in both counts from the next day open in both)."""
    day = D(2025, 1, 1)
    while day.year == 2025:
        trade = day if both_open(day) else next_day(day, both_open)
        assert spot_date(day) == witness_spot(trade), day
        day += DAY


@pytest.mark.parametrize(
    ("valuation", "tenor"),
    [(D(2025, 7, 2), "1W"), (D(2025, 7, 2), "2W"), (D(2025, 7, 14), "1W"), (D(2025, 9, 10), "3D"),
     (D(2025, 12, 26), "1W")],
)  # fmt: skip
def test_day_and_week_tenors_expire_a_calendar_span_later_and_deliver_at_its_spot(
    valuation: dt.date, tenor: str
) -> None:
    """Witness: QuantLib's two calendars day by day — expiry = valuation date + the tenor's
    days, rolled forward to a day open in both; delivery = that expiry's spot (Clark §1.3).
    Around 4 July, Marine Day, Respect for the Aged Day and the Tokyo year end the spot-based
    month rule would give other dates."""
    days = int(tenor[:-1]) * (7 if tenor.endswith("W") else 1)
    target = valuation + dt.timedelta(days=days)
    expiry = target if both_open(target) else next_day(target, both_open)
    assert tenor_dates("tenor", valuation, tenor) == (expiry, witness_spot(expiry))


def last_open_day_of_month(year: int, month: int) -> dt.date:
    d = D(year + month // 12, month % 12 + 1, 1) - DAY
    while not both_open(d):
        d -= DAY
    return d


@pytest.mark.parametrize(
    ("valuation", "months"),
    [(D(2025, 2, 26), 1), (D(2025, 2, 26), 3), (D(2025, 4, 25), 3), (D(2025, 10, 28), 1)],
)
def test_month_tenors_follow_end_of_month_and_modified_following(
    valuation: dt.date, months: int
) -> None:
    """Witness: the rules of Wystup §1.4 on QuantLib's calendars day by day — a spot date on
    its month's last business day delivers on the target month's last business day (end of
    month: spot 28 Feb 2025 → 31 Mar, 30 May; spot 30 Apr, after Shōwa Day → 31 Jul); a delivery falling on a weekend rolls forward unless that leaves the month, then back
    (spot 30 Oct 2025 + 1M = Sun 30 Nov → Fri 28 Nov)."""
    spot = witness_spot(valuation)
    year, month = spot.year, spot.month + months
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    if spot == last_open_day_of_month(spot.year, spot.month):
        expected = last_open_day_of_month(year, month)
    else:
        day = min(spot.day, (D(year + month // 12, month % 12 + 1, 1) - DAY).day)
        raw = D(year, month, day)
        expected = raw if both_open(raw) else next_day(raw, both_open)
        if expected.month != month:
            expected = raw - DAY
            while not both_open(expected):
                expected -= DAY
    assert tenor_dates("tenor", valuation, f"{months}M")[1] == expected


def test_overnight_is_one_day() -> None:
    """Witness: the market meaning of ON (one business day; Clark §1.3)."""
    assert check_tenor("tenor", "ON") == (1, "ON")


@pytest.mark.parametrize("tenor", ["1Q", "3m", ["1M"], 3])
def test_malformed_tenors_are_refused_naming_the_field_and_the_input(tenor: object) -> None:
    """Witness: the input contract (a DomainError naming the field and what was given)."""
    with pytest.raises(DomainError, match="must be ON or a tenor such as") as info:
        tenor_dates("instruments[1].tenor", D(2025, 6, 13), tenor)  # type: ignore[arg-type]
    assert info.value.errors[0].field == "instruments[1].tenor"


FIRST = D(1901, 1, 1)  # ql.Date.minDate()
LAST_TRADE = LAST - dt.timedelta(days=10)  # room for the spot lag and its rolls


def test_quantlib_calendars_start_on_the_first_date_the_module_allows() -> None:
    assert py_date(ql.Date.minDate()) == FIRST


@pytest.mark.parametrize("day", [FIRST, D(1901, 1, 2), LAST_TRADE - DAY, LAST_TRADE])
def test_spot_and_expiry_delivery_are_dated_up_to_the_calendars_ends(day: dt.date) -> None:
    """Witness: QuantLib's calendars (1901-01-01 … 2199-12-31) day by day, Clark §1.3."""
    from scenarios.dates import expiry_delivery

    trade = day if both_open(day) else next_day(day, both_open)
    assert spot_date(day) == witness_spot(trade)
    assert expiry_delivery(day) == witness_spot(day)


@pytest.mark.parametrize("day", [FIRST - DAY, LAST_TRADE + DAY, D(2199, 12, 31)])
def test_dates_past_the_calendars_ends_are_refused_naming_the_field(day: dt.date) -> None:
    """Witness: QuantLib's calendars end 2199-12-31 (a spot lag and its rolls need ten days)."""
    from scenarios.dates import expiry_delivery

    for call, field in (
        (lambda: spot_date(day), "valuation_date"),
        (lambda: spot_date(day, "trades[0].trade_date"), "trades[0].trade_date"),
        (lambda: expiry_delivery(day), "expiry"),
        (lambda: expiry_delivery(day, "instruments[4].expiry"), "instruments[4].expiry"),
    ):
        with pytest.raises(DomainError) as info:
            call()
        (error,) = info.value.errors
        assert error.field == field
        assert "1901-01-01" in str(info.value) and "2199-12-21" in str(info.value)
        assert day.isoformat() in str(info.value)


def test_a_valuation_date_past_the_calendars_is_refused_as_the_valuation_date() -> None:
    """Witness: QuantLib's calendars end 2199-12-31."""
    for call in (
        lambda: tenor_dates("instruments[0].tenor", D(2200, 1, 5), "1M"),
        lambda: pillar_date("instruments[0].tenor", D(2200, 1, 5), "1M"),
    ):
        with pytest.raises(DomainError) as info:
            call()
        assert info.value.errors[0].field == "valuation_date"


# the longest calendar span of each tenor: ON 1 day, n weeks 7n, n months 31n, n years 366n
LONGEST = {"ON": 1, "2D": 2, "2W": 14, "2M": 62, "2Y": 732}
MONTH = 31  # the margin for the rolls and the spot lag: a month (scenarios.dates)


@pytest.mark.parametrize("tenor", list(LONGEST))
def test_the_calendar_end_check_allows_the_longest_span_plus_a_month_and_not_a_day_more(
    tenor: str,
) -> None:
    """Witness: the rule of :func:`scenarios.dates._check_calendar_end` — a tenor's longest
    calendar span plus a month's margin must end by QuantLib's last date, 2199-12-31."""
    edge = LAST - dt.timedelta(days=LONGEST[tenor] + MONTH)
    assert pillar_date("t", edge, tenor) <= LAST
    with pytest.raises(DomainError, match=f"got '{tenor}'"):
        pillar_date("t", edge + DAY, tenor)
    with pytest.raises(DomainError, match=f"got '{tenor}'"):
        tenor_dates("t", edge + DAY, tenor)
