"""Closed-form barrier, touch and double no-touch prices against published values and QuantLib."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest
import QuantLib as ql

from pricing.fx.barriers import BarrierType, barrier_price, double_no_touch_price, touch_price
from pricing.quantlib_guard import quantlib_session, to_ql_date

TODAY = dt.date(2025, 6, 13)
QL_TYPES = {
    BarrierType.DOWN_IN: ql.Barrier.DownIn,
    BarrierType.UP_IN: ql.Barrier.UpIn,
    BarrierType.DOWN_OUT: ql.Barrier.DownOut,
    BarrierType.UP_OUT: ql.Barrier.UpOut,
}
# spot, r_d (JPY), r_f (USD), vol, days: USD/JPY-like, long-dated, high-rate, short and volatile
MARKETS = [
    (144.1, 0.005, 0.043, 0.115, 91),
    (144.1, 0.005, 0.043, 0.08, 730),
    (100.0, 0.05, 0.02, 0.30, 180),
    (144.1, 0.03, 0.01, 0.20, 7),
]


def _market(spot: float, r_d: float, r_f: float, days: int) -> tuple[float, float, float]:
    """Forward, JPY discount factor and ACT/365F time for flat continuous rates."""
    t = days / 365.0
    return spot * np.exp((r_d - r_f) * t), np.exp(-r_d * t), t


def _process(spot: float, r_d: float, r_f: float, vol: float) -> ql.GarmanKohlagenProcess:
    day_count, today = ql.Actual365Fixed(), to_ql_date(TODAY)
    return ql.GarmanKohlagenProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r_f, day_count)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r_d, day_count)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), vol, day_count)
        ),
    )


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_barrier_prices_match_quantlib_analytic_barrier_engine(spot, r_d, r_f, vol, days):
    cases = [
        (kind, is_call, k, h, rebate)
        for kind in BarrierType
        for is_call in (True, False)
        for k in (0.9 * spot, spot, 1.1 * spot)
        for h in spot * np.array((0.85, 0.95) if kind.name.startswith("DOWN") else (1.05, 1.15))
        for rebate in (0.0, 2.5)
    ]
    kinds, calls, strikes, barriers, rebates = (
        np.array(column) for column in zip(*cases, strict=True)
    )
    forward, df, t = _market(spot, r_d, r_f, days)
    ours = barrier_price(
        barrier_types=kinds,
        is_call=calls,
        spots=spot,
        strikes=strikes,
        barriers=barriers,
        rebates=rebates,
        forwards=forward,
        discount_factors=df,
        vols=vol,
        times=t,
    )
    expected = []
    with quantlib_session(TODAY):
        engine = ql.AnalyticBarrierEngine(_process(spot, r_d, r_f, vol))
        maturity = to_ql_date(TODAY) + days
        for kind, is_call, k, h, rebate in cases:
            payoff = ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, k)
            option = ql.BarrierOption(
                QL_TYPES[kind], h, rebate, payoff, ql.EuropeanExercise(maturity)
            )
            option.setPricingEngine(engine)
            expected.append(option.NPV())
    assert ours.valid.all()
    np.testing.assert_allclose(ours.prices, expected, rtol=1e-9, atol=1e-11 * spot)


# Haug, "Option Pricing Formulas" (1998), p. 72, as reproduced by QuantLib's
# test-suite/barrieroption.cpp (testHaugValues): S=100, rebate 3, q=0.04, r=0.08, T=0.5.
HAUG_BARRIERS = [
    # type, barrier, call?, strike, vol, value
    (BarrierType.DOWN_OUT, 95.0, True, 90, 0.25, 9.0246),
    (BarrierType.DOWN_OUT, 95.0, True, 110, 0.25, 4.8759),
    (BarrierType.DOWN_OUT, 100.0, True, 100, 0.25, 3.0000),  # spot on the barrier: the rebate
    (BarrierType.UP_OUT, 105.0, True, 90, 0.25, 2.6789),
    (BarrierType.UP_OUT, 105.0, True, 110, 0.25, 2.3453),
    (BarrierType.DOWN_IN, 95.0, True, 100, 0.25, 4.0109),
    (BarrierType.DOWN_IN, 100.0, True, 90, 0.25, 13.8333),  # spot on the barrier: the vanilla
    (BarrierType.UP_IN, 105.0, True, 90, 0.25, 14.1112),
    (BarrierType.DOWN_OUT, 95.0, True, 100, 0.30, 7.0285),
    (BarrierType.UP_IN, 105.0, True, 110, 0.30, 5.8350),
    (BarrierType.DOWN_OUT, 95.0, False, 110, 0.25, 2.6252),
    (BarrierType.UP_OUT, 105.0, False, 100, 0.25, 5.4932),
    (BarrierType.DOWN_IN, 95.0, False, 110, 0.25, 11.9752),
    (BarrierType.UP_IN, 105.0, False, 90, 0.25, 1.4653),
    (BarrierType.UP_OUT, 105.0, False, 90, 0.30, 4.2293),
    (BarrierType.DOWN_IN, 95.0, False, 100, 0.30, 7.7989),
]


@pytest.mark.parametrize(("kind", "barrier", "is_call", "strike", "vol", "value"), HAUG_BARRIERS)
def test_barrier_prices_match_haug_table(kind, barrier, is_call, strike, vol, value):
    result = barrier_price(
        barrier_types=kind,
        is_call=is_call,
        spots=100.0,
        strikes=strike,
        barriers=barrier,
        rebates=3.0,
        forwards=100.0 * np.exp(0.04 * 0.5),
        discount_factors=np.exp(-0.04),
        vols=vol,
        times=0.5,
    )
    assert result.prices == pytest.approx(value, abs=1e-4)


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_one_touch_matches_quantlib_digital_american_engine(spot, r_d, r_f, vol, days):
    cases = list(
        itertools.product(
            (True, False), (1.005, 1.03, 1.2), (True, False)
        )  # up?, distance, paid at hit?
    )
    ups = np.array([c[0] for c in cases])
    barriers = np.array([spot * (c[1] if c[0] else 1.0 / c[1]) for c in cases])
    at_hit = np.array([c[2] for c in cases])
    forward, df, t = _market(spot, r_d, r_f, days)
    ours = touch_price(
        is_up=ups,
        one_touch=True,
        pay_at_hit=at_hit,
        spots=spot,
        barriers=barriers,
        cash=10.0,
        forwards=forward,
        discount_factors=df,
        vols=vol,
        times=t,
    )
    expected = []
    with quantlib_session(TODAY):
        engine = ql.AnalyticDigitalAmericanEngine(_process(spot, r_d, r_f, vol))
        today = to_ql_date(TODAY)
        for up, h, hit in zip(ups, barriers, at_hit, strict=True):
            side = ql.Option.Call if up else ql.Option.Put
            exercise = ql.AmericanExercise(today, today + days, not hit)
            option = ql.VanillaOption(ql.CashOrNothingPayoff(side, float(h), 10.0), exercise)
            option.setPricingEngine(engine)
            expected.append(option.NPV())
    np.testing.assert_allclose(ours.prices, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_no_touch_matches_quantlib_binary_barrier_engine(spot, r_d, r_f, vol, days):
    forward, df, t = _market(spot, r_d, r_f, days)
    with quantlib_session(TODAY):
        engine = ql.AnalyticBinaryBarrierEngine(_process(spot, r_d, r_f, vol))
        for up, distance in itertools.product((True, False), (1.01, 1.1)):
            barrier = spot * distance if up else spot / distance
            # a knock-out cash-or-nothing struck beyond the barrier pays exactly when untouched
            side, strike = (ql.Option.Put, 10 * spot) if up else (ql.Option.Call, spot / 10)
            option = ql.BarrierOption(
                ql.Barrier.UpOut if up else ql.Barrier.DownOut,
                barrier,
                0.0,
                ql.CashOrNothingPayoff(side, strike, 10.0),
                ql.AmericanExercise(to_ql_date(TODAY), to_ql_date(TODAY) + days, True),
            )
            option.setPricingEngine(engine)
            ours = touch_price(
                is_up=up,
                one_touch=False,
                pay_at_hit=False,
                spots=spot,
                barriers=barrier,
                cash=10.0,
                forwards=forward,
                discount_factors=df,
                vols=vol,
                times=t,
            )
            assert ours.prices == pytest.approx(option.NPV(), rel=1e-9, abs=1e-12)


def test_no_touch_plus_one_touch_at_expiry_is_the_discounted_cash():
    forward, df, t = _market(144.1, 0.005, 0.043, 200)
    barriers = np.array([120.0, 140.0, 143.9, 144.3, 150.0, 170.0])
    ups = barriers > 144.1
    common = dict(
        spots=144.1,
        barriers=barriers,
        cash=1.0,
        forwards=forward,
        discount_factors=df,
        vols=0.11,
        times=t,
        is_up=ups,
        pay_at_hit=False,
    )
    no_touch = touch_price(one_touch=False, **common).prices
    one_touch = touch_price(one_touch=True, **common).prices
    np.testing.assert_allclose(no_touch + one_touch, df, rtol=1e-14)


# Haug, "The Complete Guide to Option Pricing Formulas", 2nd ed. (2007), p. 181, as reproduced
# by QuantLib's test-suite/doublebinaryoption.cpp: cash 10, S=100, q=0.02, r=0.05, T=0.25.
HAUG_DOUBLE_NO_TOUCH = [
    (80, 120, 0.10, 9.8716),
    (80, 120, 0.20, 8.9307),
    (80, 120, 0.30, 6.3272),
    (80, 120, 0.50, 1.9094),
    (85, 115, 0.10, 9.7961),
    (85, 115, 0.20, 7.2300),
    (85, 115, 0.30, 3.7100),
    (85, 115, 0.50, 0.4271),
    (90, 110, 0.10, 8.9054),
    (90, 110, 0.20, 3.6752),
    (90, 110, 0.30, 0.7960),
    (90, 110, 0.50, 0.0059),
    (95, 105, 0.10, 3.6323),
    (95, 105, 0.20, 0.0911),
    (95, 105, 0.30, 0.0002),
    (95, 105, 0.50, 0.0000),
]


def test_double_no_touch_matches_haug_table():
    lower, upper, vols, values = (
        np.array(c, dtype=float) for c in zip(*HAUG_DOUBLE_NO_TOUCH, strict=True)
    )
    result = double_no_touch_price(
        spots=100.0,
        lower_barriers=lower,
        upper_barriers=upper,
        cash=10.0,
        forwards=100.0 * np.exp(0.03 * 0.25),
        discount_factors=np.exp(-0.05 * 0.25),
        vols=vols,
        times=0.25,
    )
    np.testing.assert_allclose(result.prices, values, atol=1e-4)


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_double_no_touch_matches_quantlib_double_barrier_binary_engine(spot, r_d, r_f, vol, days):
    corridors = [(0.9, 1.1), (0.97, 1.03), (0.8, 1.05), (0.995, 1.2), (0.5, 2.0)]
    lower = np.array([spot * c[0] for c in corridors])
    upper = np.array([spot * c[1] for c in corridors])
    forward, df, t = _market(spot, r_d, r_f, days)
    ours = double_no_touch_price(
        spots=spot,
        lower_barriers=lower,
        upper_barriers=upper,
        cash=10.0,
        forwards=forward,
        discount_factors=df,
        vols=vol,
        times=t,
    )
    expected = []
    with quantlib_session(TODAY):
        engine = ql.AnalyticDoubleBarrierBinaryEngine(_process(spot, r_d, r_f, vol))
        for low, high in zip(lower, upper, strict=True):
            option = ql.DoubleBarrierOption(
                ql.DoubleBarrier.KnockOut,
                float(low),
                float(high),
                0.0,
                ql.CashOrNothingPayoff(ql.Option.Call, 0.0, 10.0),
                ql.EuropeanExercise(to_ql_date(TODAY) + days),
            )
            option.setPricingEngine(engine)
            expected.append(option.NPV())
    assert ours.valid.all()
    # QuantLib stops its series at a 1e-8 term, so agreement is to that order.
    np.testing.assert_allclose(ours.prices, expected, rtol=1e-7, atol=1e-8)


def test_one_day_double_no_touch_is_the_two_no_touches_less_the_cash():
    # QuantLib's series gives up for a 1-day expiry ("serie did not converge"); over one day
    # hitting both barriers is impossible in double precision, so DNT = NT_up + NT_down − DF.
    spot, (forward, df, t) = 144.1, _market(144.1, 0.005, 0.043, 1)
    lower, upper = spot * np.array([0.995, 0.97, 0.9]), spot * np.array([1.2, 1.03, 1.1])
    common = dict(spots=spot, cash=1.0, forwards=forward, discount_factors=df, vols=0.1, times=t)
    dnt = double_no_touch_price(lower_barriers=lower, upper_barriers=upper, **common)
    up = touch_price(is_up=True, one_touch=False, pay_at_hit=False, barriers=upper, **common)
    down = touch_price(is_up=False, one_touch=False, pay_at_hit=False, barriers=lower, **common)
    assert dnt.valid.all()
    np.testing.assert_allclose(dnt.prices, up.prices + down.prices - df, rtol=1e-12, atol=1e-15)


def test_knock_in_plus_knock_out_is_the_vanilla():
    spot, forward, df, t, vol = 144.1, *_market(144.1, 0.005, 0.043, 120), 0.12
    strikes = np.array([130.0, 144.0, 160.0])
    with quantlib_session(TODAY):
        process = _process(spot, 0.005, 0.043, vol)
        vanillas = []
        for k in strikes:
            option = ql.VanillaOption(
                ql.PlainVanillaPayoff(ql.Option.Call, float(k)),
                ql.EuropeanExercise(to_ql_date(TODAY) + 120),
            )
            option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
            vanillas.append(option.NPV())
    for knock_in, knock_out, barrier in (
        (BarrierType.DOWN_IN, BarrierType.DOWN_OUT, 135.0),
        (BarrierType.UP_IN, BarrierType.UP_OUT, 152.0),
    ):
        common = dict(
            is_call=True,
            spots=spot,
            strikes=strikes,
            barriers=barrier,
            rebates=0.0,
            forwards=forward,
            discount_factors=df,
            vols=vol,
            times=t,
        )
        total = (
            barrier_price(barrier_types=knock_in, **common).prices
            + barrier_price(barrier_types=knock_out, **common).prices
        )
        np.testing.assert_allclose(total, vanillas, rtol=1e-10)


def test_triggered_contracts_are_worth_their_immediate_payoff():
    forward, df, t = _market(144.1, 0.005, 0.043, 91)
    common = dict(spots=144.1, forwards=forward, discount_factors=df, vols=0.1, times=t)
    knocked_out = barrier_price(
        barrier_types=BarrierType.DOWN_OUT,
        is_call=True,
        strikes=140.0,
        barriers=150.0,
        rebates=1.5,
        **common,
    )
    knocked_in = barrier_price(
        barrier_types=BarrierType.UP_IN,
        is_call=True,
        strikes=140.0,
        barriers=140.0,
        rebates=1.5,
        **common,
    )
    vanilla = barrier_price(
        barrier_types=BarrierType.DOWN_OUT,
        is_call=True,
        strikes=140.0,
        barriers=1e-9,
        rebates=0.0,
        **common,
    )
    touched = touch_price(
        is_up=True, one_touch=True, pay_at_hit=[True, False], barriers=140.0, cash=1.0, **common
    )
    untouched = touch_price(
        is_up=False, one_touch=False, pay_at_hit=False, barriers=150.0, cash=1.0, **common
    )
    outside = double_no_touch_price(lower_barriers=145.0, upper_barriers=150.0, cash=1.0, **common)
    assert knocked_out.prices == 1.5
    assert knocked_in.prices == pytest.approx(vanilla.prices, rel=1e-12)
    np.testing.assert_allclose(touched.prices, [1.0, df], rtol=1e-15)
    assert untouched.prices == 0.0
    assert outside.prices == 0.0


def test_rebate_at_hit_with_rates_too_negative_for_the_formula_is_flagged():
    # μ² + 2r/σ² < 0 needs a negative JPY rate large against the drift: λ is not real.
    t, r_d = 1.0, -0.02
    result = barrier_price(
        barrier_types=[BarrierType.DOWN_OUT, BarrierType.DOWN_OUT],
        is_call=True,
        spots=100.0,
        strikes=100.0,
        barriers=90.0,
        rebates=[1.0, 0.0],
        forwards=100.0 * np.exp(0.002 * t),
        discount_factors=np.exp(-r_d * t),
        vols=0.3,
        times=t,
    )
    assert result.valid.tolist() == [False, True]
    assert np.isnan(result.prices[0]) and np.isfinite(result.prices[1])
