"""An option given by an expiry date is delivered on the USD/JPY spot date of its expiry.

Witnesses: QuantLib's joint New York (Settlement) / Tokyo calendar, ``advance(expiry, 2,
Days)``, across a Tokyo-only and a New York-only holiday; the one case where the FX rule and
that count part (a New York holiday on T+1, which USD pairs do not count: Clark 2011, §1.3)
pinned by its dates; QuantLib's ``AnalyticEuropeanEngine`` on a Garman–Kohlhagen process for
the price, with forward and discounting to the delivery and the variance to the expiry.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
import QuantLib as ql

from pricing.quantlib_guard import quantlib_session, to_ql_date
from scenarios.errors import DomainError
from scenarios.fx.instruments import Currency, OptionKind, build_fx_option
from scenarios.fx.valuation import value_book
from scenarios.market import AtmVolCurve, DiscountCurve, MarketSnapshot
from scenarios.scenario import Scenario, ScenarioSet

D = dt.date
TODAY = D(2025, 6, 13)
TOKYO = ql.Japan()
NEW_YORK = ql.UnitedStates(ql.UnitedStates.Settlement)  # the calendar of scenarios.dates
JOINT = ql.JointCalendar(NEW_YORK, TOKYO, ql.JoinHolidays)
MARINE_DAY = D(2025, 7, 21)  # Tokyo holiday, New York open
INDEPENDENCE_DAY = D(2025, 7, 4)  # New York holiday, Tokyo open
R_JPY, R_USD, SPOT, VOL = 0.006, 0.04, 144.1, 0.11


def _delivery(expiry: dt.date, **fields) -> dt.date:
    option = build_fx_option(
        valuation_date=TODAY, kind=OptionKind.CALL, strike=150.0, expiry=expiry, **fields
    )
    return option.delivery


def _joint_t_plus_2(expiry: dt.date) -> dt.date:
    moved = JOINT.advance(to_ql_date(expiry), 2, ql.Days)
    return D(moved.year(), moved.month(), moved.dayOfMonth())


def test_the_holidays_are_what_the_cases_say() -> None:
    assert TOKYO.isHoliday(to_ql_date(MARINE_DAY))
    assert NEW_YORK.isBusinessDay(to_ql_date(MARINE_DAY))
    assert NEW_YORK.isHoliday(to_ql_date(INDEPENDENCE_DAY))
    assert TOKYO.isBusinessDay(to_ql_date(INDEPENDENCE_DAY))


@pytest.mark.parametrize(
    "expiry",
    [
        D(2025, 9, 12),  # an ordinary Friday: T+2 is Tuesday
        D(2025, 7, 16),  # T+2 would be Friday 07-18: no holiday
        D(2025, 7, 17),  # T+2 across Marine Day (Tokyo only): 07-18, then 07-22
        D(2025, 7, 18),  # T+1 on Marine Day: 07-22, 07-23
        D(2025, 7, 2),  # T+2 on Independence Day (New York only): rolled to Monday 07-07
        D(2025, 12, 30),  # Tokyo's year-end closure
        D(2026, 6, 13),  # a Saturday expiry: T+1 Monday, T+2 Tuesday
    ],
)
def test_dated_expiry_delivers_on_the_joint_calendars_t_plus_2(expiry) -> None:
    assert _delivery(expiry) == _joint_t_plus_2(expiry)


def test_a_new_york_holiday_on_t_plus_1_counts_for_usd_jpy() -> None:
    """Thursday 07-03: T+1 is Independence Day, a Tokyo business day, so it counts; spot is
    Monday 07-07 (the joint calendar's plain count would skip it and give Tuesday 07-08) —
    the rule of the tenors (:mod:`scenarios.dates`)."""
    assert _delivery(D(2025, 7, 3)) == D(2025, 7, 7)
    assert _joint_t_plus_2(D(2025, 7, 3)) == D(2025, 7, 8)


def test_an_explicit_delivery_wins_and_must_not_precede_the_expiry() -> None:
    assert _delivery(D(2025, 9, 12), delivery=D(2025, 9, 12)) == D(2025, 9, 12)
    assert _delivery(D(2025, 9, 12), delivery=D(2025, 10, 1)) == D(2025, 10, 1)
    with pytest.raises(DomainError, match=r"must be on or after the expiry 2025\-09\-12") as raised:
        _delivery(D(2025, 9, 12), delivery=D(2025, 9, 11))
    assert raised.value.errors[0].field == "delivery"


def test_an_implied_delivery_past_the_calendar_names_the_expiry() -> None:
    with pytest.raises(DomainError, match=r"must be between 1901\-01\-01 and") as raised:
        build_fx_option(
            valuation_date=D(2185, 1, 2), kind=OptionKind.CALL, strike=150.0,
            expiry=D(2199, 12, 30),
        )  # fmt: skip
    assert raised.value.errors[0].field == "expiry"


def _flat_market() -> MarketSnapshot:
    year = (D(2026, 6, 13),)
    return MarketSnapshot(
        valuation_date=TODAY,
        spot=SPOT,
        usd_curve=DiscountCurve(TODAY, year, (R_USD,)),
        jpy_curve=DiscountCurve(TODAY, year, (R_JPY,)),
        atm_vols=AtmVolCurve(TODAY, year, (VOL,)),
    )


def _quantlib_price(kind: OptionKind, strike: float, expiry: dt.date, delivery: dt.date) -> float:
    """Garman–Kohlhagen in QuantLib, exercised on the delivery with the variance of the
    expiry (vol σ·√(T_exp/T_del)): ``DF_JPY(T_del)·Black(F(T_del), K, σ²·T_exp)``."""
    day_count = ql.Actual365Fixed()
    t_exp, t_del = (expiry - TODAY).days / 365.0, (delivery - TODAY).days / 365.0
    with quantlib_session(TODAY):
        today = to_ql_date(TODAY)
        calls = (OptionKind.CALL, OptionKind.DIGITAL_CALL)
        option_type = ql.Option.Call if kind in calls else ql.Option.Put
        if kind in (OptionKind.CALL, OptionKind.PUT):
            payoff = ql.PlainVanillaPayoff(option_type, strike)
        else:
            payoff = ql.CashOrNothingPayoff(option_type, strike, 1.0)  # one JPY
        process = ql.GarmanKohlagenProcess(  # QuantLib's spelling
            ql.QuoteHandle(ql.SimpleQuote(SPOT)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, R_USD, day_count)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, R_JPY, day_count)),
            ql.BlackVolTermStructureHandle(
                ql.BlackConstantVol(today, ql.NullCalendar(), VOL * math.sqrt(t_exp / t_del),
                                    day_count)
            ),
        )  # fmt: skip
        option = ql.EuropeanOption(payoff, ql.EuropeanExercise(to_ql_date(delivery)))
        option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
        return float(option.NPV())


@pytest.mark.parametrize("event", [D(2025, 12, 1), D(2025, 7, 9)], ids=["before", "after"])
@pytest.mark.parametrize(
    ("kind", "currency"),
    [
        (OptionKind.CALL, None),
        (OptionKind.PUT, None),
        (OptionKind.DIGITAL_CALL, Currency.JPY),
        (OptionKind.DIGITAL_PUT, Currency.JPY),
    ],
)
def test_price_discounts_to_the_spot_date_of_the_expiry(kind, currency, event) -> None:
    """Expiring before the event (the ATM curve alone) and after it (one scenario at spot
    with the same vol): both Black to the delivery with the expiry's variance."""
    market = _flat_market()
    scenarios = ScenarioSet(
        "one", "one scenario at spot", event, (Scenario("only", 1.0, SPOT, VOL),)
    )
    expiry = D(2025, 10, 3)  # Friday; delivered Tuesday 10-07
    options = tuple(
        build_fx_option(valuation_date=TODAY, kind=kind, strike=k, expiry=expiry,
                        payout_currency=currency)
        for k in (135.0, 142.0, 150.0)
    )  # fmt: skip
    assert {o.delivery for o in options} == {D(2025, 10, 7)}
    priced = value_book(market=market, scenario_set=scenarios, options=options)
    for option, price in zip(options, priced.greeks.price, strict=True):
        witness = _quantlib_price(kind, option.strike, expiry, option.delivery)
        assert price == pytest.approx(witness, rel=1e-12)
        # and not the price of a delivery on the expiry
        assert abs(price - _quantlib_price(kind, option.strike, expiry, expiry)) > 1e-6 * price
