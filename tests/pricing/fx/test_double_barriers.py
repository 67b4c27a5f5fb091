"""Closed forms for double barriers, double touches, USD-paying touches and KIKOs against
published tables, QuantLib and identities.

Witnesses, in the order of STYLE.md:
* published values — Haug (2007) Table 4-13 (Ikeda–Kunitomo double barrier options),
  Haug's double-barrier binary table (p. 181) and the binary barrier table (Table 4-22,
  the asset-or-nothing cases 3, 4, 7, 8, 11, 12), each as QuantLib's test suite reproduces
  them (``test-suite/doublebarrieroption.cpp``, ``doublebinaryoption.cpp``,
  ``digitaloption.cpp``), at QuantLib's tolerances;
* QuantLib computed here: ``AnalyticDoubleBarrierEngine``, ``AnalyticDoubleBarrierBinaryEngine``
  (``KnockOut``/``KnockIn`` European, ``KIKO``/``KOKI`` American = first exit through the
  lower/upper barrier), ``AnalyticDigitalAmericanEngine`` / ``AnalyticDigitalAmericanKOEngine``
  with ``AssetOrNothingPayoff`` and ``AnalyticBinaryBarrierEngine`` (a strike beyond the
  barrier makes its asset-or-nothing barrier option a USD no-touch), ``AnalyticBarrierEngine``
  and ``blackFormula``;
* identities — DKO + DKI = vanilla, DOT + DNT = cash·DF (JPY) or cash·S·DF_f (USD),
  KIKO + DKO = single knock-out, a knock-out call struck below the corridor = USD DNT − K·DNT
  (Ikeda–Kunitomo against Hui);
* limits — barriers far away: double knock-out → vanilla, double touch → 0, KIKO → single
  knock-in.
"""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest
import QuantLib as ql

from pricing.fx.barriers import BarrierType, barrier_price, touch_price
from pricing.fx.double_barriers import (
    corridor_exit_values,
    double_barrier_price,
    double_touch_price,
    kiko_price,
)
from pricing.quantlib_guard import quantlib_session, to_ql_date

TODAY = dt.date(2025, 6, 13)
# spot, r_d (JPY), r_f (USD), vol, days: USD/JPY-like, long-dated, high-rate, short and volatile
MARKETS = [
    (144.1, 0.005, 0.043, 0.115, 91),
    (144.1, 0.005, 0.043, 0.08, 730),
    (100.0, 0.05, 0.02, 0.30, 180),
    (144.1, 0.03, 0.01, 0.20, 7),
]
# corridors as multiples of spot: wide, tight, lopsided, one barrier near
CORRIDORS = [(0.9, 1.1), (0.97, 1.03), (0.8, 1.05), (0.995, 1.2), (0.5, 2.0)]


def _market(spot: float, r_d: float, r_f: float, days: int) -> dict[str, float]:
    """Forward, JPY discount factor and ACT/365F time for flat continuous rates."""
    t = days / 365.0
    return {
        "forwards": spot * np.exp((r_d - r_f) * t),
        "discount_factors": np.exp(-r_d * t),
        "times": t,
    }


def _haug_market(r: float, q: float, t: float) -> dict[str, float]:
    """Haug's tables give r and the carry b = r − q; S = 100."""
    return {"forwards": 100.0 * np.exp((r - q) * t), "discount_factors": np.exp(-r * t), "times": t}


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


# ---------------------------------------------------------------------------------------------
# double knock-out / knock-in calls and puts

# Haug (2007) Table 4-13, p. 156ff (Ikeda–Kunitomo, flat barriers), as reproduced by QuantLib's
# test-suite/doublebarrieroption.cpp (testEuropeanHaugValues): S = K = 100, r = 0.1, b = 0.1
# (q = 0), no rebate, tolerance 1e-4. Per corridor: T = 0.25 at σ = 0.15, 0.25, 0.35, then
# T = 0.5 at the same vols.
HAUG_DOUBLE_BARRIER = {
    ("knock_out", True): {
        (50, 150): (4.3515, 6.1644, 7.0373, 6.9853, 7.9336, 6.5088),
        (60, 140): (4.3505, 5.8500, 5.7726, 6.8082, 6.3383, 4.3841),
        (70, 130): (4.3139, 4.8293, 3.7765, 5.9697, 4.0004, 2.2563),
        (80, 120): (3.7516, 2.6387, 1.4903, 3.5805, 1.5098, 0.5635),
        (90, 110): (1.2055, 0.3098, 0.0477, 0.5537, 0.0441, 0.0011),
    },
    ("knock_out", False): {
        (50, 150): (1.8825, 3.7855, 5.7191, 2.1374, 4.7033, 7.1683),
        (60, 140): (1.8825, 3.7845, 5.6060, 2.1374, 4.6236, 6.1062),
        (70, 130): (1.8825, 3.7014, 4.6472, 2.1325, 3.8944, 3.5868),
        (80, 120): (1.8600, 2.6866, 2.0719, 1.8883, 1.7851, 0.8244),
        (90, 110): (0.9473, 0.3449, 0.0578, 0.4555, 0.0491, 0.0013),
    },
    ("knock_in", True): {
        (50, 150): (0.0000, 0.0900, 1.1537, 0.0292, 1.6487, 5.7321),
        (60, 140): (0.0010, 0.4045, 2.4184, 0.2062, 3.2439, 7.8569),
        (70, 130): (0.0376, 1.4252, 4.4145, 1.0447, 5.5818, 9.9846),
        (80, 120): (0.5999, 3.6158, 6.7007, 3.4340, 8.0724, 11.6774),
        (90, 110): (3.1460, 5.9447, 8.1432, 6.4608, 9.5382, 12.2398),
    },
}
HAUG_DOUBLE_BARRIER_CASES = [
    (kind, call, low, high, t, vol, value)
    for (kind, call), table in HAUG_DOUBLE_BARRIER.items()
    for (low, high), values in table.items()
    for (t, vol), value in zip(
        itertools.product((0.25, 0.5), (0.15, 0.25, 0.35)), values, strict=True
    )
]


def test_double_barrier_options_match_haug_table_4_13():
    kinds, calls, lows, highs, times, vols, values = (
        np.array(c) for c in zip(*HAUG_DOUBLE_BARRIER_CASES, strict=True)
    )
    assert kinds.size == 90
    result = double_barrier_price(
        knock_in=kinds == "knock_in",
        is_call=calls,
        spots=100.0,
        strikes=100.0,
        lower_barriers=lows.astype(float),
        upper_barriers=highs.astype(float),
        vols=vols,
        **_haug_market(0.1, 0.0, times),
    )
    assert result.valid.all()
    np.testing.assert_allclose(result.prices, values, rtol=0.0, atol=1e-4)


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_double_barrier_options_match_quantlib_ikeda_kunitomo_engine(spot, r_d, r_f, vol, days):
    """Strikes inside the corridor: where QuantLib's series (integrated from the strike) is
    exact. Its series is taken past its default 5 terms so neither side is truncated, but
    not so far that its ``pow(U/L, n·μ1)`` overflows (``|n·μ1|·ln(U/L) < 600``)."""
    cases = [
        (kind, call, strike, low, high)
        for kind in (ql.DoubleBarrier.KnockOut, ql.DoubleBarrier.KnockIn)
        for call in (True, False)
        for low, high in CORRIDORS
        for strike in (low + 0.25 * (high - low), 1.0, high - 0.25 * (high - low))
    ]
    kinds, calls, strikes, lows, highs = (np.array(c) for c in zip(*cases, strict=True))
    ours = double_barrier_price(
        knock_in=kinds == ql.DoubleBarrier.KnockIn,
        is_call=calls,
        spots=spot,
        strikes=spot * strikes,
        lower_barriers=spot * lows,
        upper_barriers=spot * highs,
        vols=vol,
        **_market(spot, r_d, r_f, days),
    )
    expected = []
    with quantlib_session(TODAY):
        process = _process(spot, r_d, r_f, vol)
        maturity = ql.EuropeanExercise(to_ql_date(TODAY) + days)
        mu1 = abs(2.0 * (r_d - r_f) / vol**2 + 1.0)
        for kind, call, strike, low, high in cases:
            series = int(min(50, 600 / (mu1 * np.log(high / low))))
            engine = ql.AnalyticDoubleBarrierEngine(process, series)
            side = ql.Option.Call if call else ql.Option.Put
            option = ql.DoubleBarrierOption(
                kind, spot * low, spot * high, 0.0, ql.PlainVanillaPayoff(side, spot * strike),
                maturity,
            )  # fmt: skip
            option.setPricingEngine(engine)
            expected.append(option.NPV())
    assert ours.valid.all()
    np.testing.assert_allclose(ours.prices, expected, rtol=1e-9, atol=1e-11 * spot)
    assert np.ptp(ours.prices) > 0.1  # not all zero


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_double_knock_out_plus_knock_in_is_the_vanilla(spot, r_d, r_f, vol, days):
    market = _market(spot, r_d, r_f, days)
    strikes = spot * np.array([0.85, 0.95, 1.0, 1.04, 1.3])
    common = dict(spots=spot, strikes=strikes, vols=vol, **market)
    for (low, high), call in itertools.product(CORRIDORS, (True, False)):
        corridor = dict(lower_barriers=spot * low, upper_barriers=spot * high, is_call=call)
        out = double_barrier_price(knock_in=False, **corridor, **common)
        into = double_barrier_price(knock_in=True, **corridor, **common)
        with quantlib_session(TODAY):
            side = ql.Option.Call if call else ql.Option.Put
            vanilla = [
                market["discount_factors"]
                * ql.blackFormula(side, k, market["forwards"], vol * np.sqrt(market["times"]))
                for k in strikes
            ]
        np.testing.assert_allclose(out.prices + into.prices, vanilla, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_strikes_outside_the_corridor_integrate_from_the_barrier(spot, r_d, r_f, vol, days):
    """A call struck below L pays S_T − K whenever it survives: USD DNT − K·DNT (Hui's series
    under each numeraire, a different method); a put struck above U, K·DNT − USD DNT; a call
    struck above U or a put below L is worth nothing."""
    market = _market(spot, r_d, r_f, days)
    low, high = spot * 0.9, spot * 1.1
    common = dict(spots=spot, lower_barriers=low, upper_barriers=high, vols=vol, **market)
    dnt = {
        usd: double_touch_price(
            one_touch=False, pay_at_hit=False, pays_usd=usd, cash=1.0, **common
        ).prices
        for usd in (False, True)
    }
    below, above = 0.8 * low, 1.2 * high
    call = double_barrier_price(knock_in=False, is_call=True, strikes=below, **common).prices
    put = double_barrier_price(knock_in=False, is_call=False, strikes=above, **common).prices
    assert call == pytest.approx(dnt[True] - below * dnt[False], rel=1e-9, abs=1e-12 * spot)
    assert put == pytest.approx(above * dnt[False] - dnt[True], rel=1e-9, abs=1e-12 * spot)
    assert double_barrier_price(knock_in=False, is_call=True, strikes=above, **common).prices == 0
    assert double_barrier_price(knock_in=False, is_call=False, strikes=below, **common).prices == 0


def test_double_knock_out_with_barriers_far_away_is_the_vanilla():
    spot, market = 144.1, _market(144.1, 0.005, 0.043, 91)
    strikes = spot * np.array([0.9, 1.0, 1.1])
    for call in (True, False):
        far = double_barrier_price(
            knock_in=False, is_call=call, spots=spot, strikes=strikes, lower_barriers=spot / 50,
            upper_barriers=spot * 50, vols=0.115, **market,
        )  # fmt: skip
        with quantlib_session(TODAY):
            side = ql.Option.Call if call else ql.Option.Put
            vanilla = [
                market["discount_factors"]
                * ql.blackFormula(side, k, market["forwards"], 0.115 * np.sqrt(market["times"]))
                for k in strikes
            ]
        np.testing.assert_allclose(far.prices, vanilla, rtol=1e-13)


def test_triggered_double_barriers_are_worth_their_immediate_payoff():
    spot, market = 144.1, _market(144.1, 0.005, 0.043, 91)
    for low, high in ((145.0, 150.0), (130.0, 144.1)):
        common = dict(
            is_call=True, spots=spot, strikes=144.0, lower_barriers=low, upper_barriers=high,
            vols=0.1, **market,
        )  # fmt: skip
        assert double_barrier_price(knock_in=False, **common).prices == 0.0
        vanilla = market["discount_factors"] * ql.blackFormula(
            ql.Option.Call, 144.0, market["forwards"], 0.1 * np.sqrt(market["times"])
        )
        into = double_barrier_price(knock_in=True, **common).prices
        assert into == pytest.approx(vanilla, rel=1e-13)


def test_a_corridor_too_narrow_for_the_series_is_flagged_not_nan():
    spot, market = 144.1, _market(144.1, 0.005, 0.043, 730)
    result = double_barrier_price(
        knock_in=False, is_call=True, spots=spot, strikes=spot,
        lower_barriers=np.array([spot - 1e-3, 140.0]), upper_barriers=np.array([spot + 1e-3, 150.0]),
        vols=0.2, **market,
    )  # fmt: skip
    assert result.valid.tolist() == [False, True]
    assert np.isnan(result.prices[0]) and np.isfinite(result.prices[1])


# ---------------------------------------------------------------------------------------------
# double one-touches and double no-touches, JPY and USD

# Haug (2007), p. 181 (Hui 1996), as reproduced by QuantLib's test-suite/doublebinaryoption.cpp
# (testHaugValues): cash 10, S = 100, q = 0.02, r = 0.05, T = 0.25; tolerance 1e-4. Per
# corridor at σ = 0.10, 0.20, 0.30, 0.50: KnockOut (double no-touch), KnockIn (double
# one-touch paid at expiry; "calculated with Haug's VBA code"), KIKO (paid at the hit of the
# lower barrier if it comes first) and KOKI (the upper barrier's).
HAUG_DOUBLE_BINARY = {
    "knock_out": {
        (80, 120): (9.8716, 8.9307, 6.3272, 1.9094),
        (85, 115): (9.7961, 7.2300, 3.7100, 0.4271),
        (90, 110): (8.9054, 3.6752, 0.7960, 0.0059),
        (95, 105): (3.6323, 0.0911, 0.0002, 0.0000),
    },
    "knock_in": {
        (80, 120): (0.0042, 0.9450, 3.5486, 7.9663),
        (85, 115): (0.0797, 2.6458, 6.1658, 9.4486),
        (90, 110): (0.9704, 6.2006, 9.0798, 9.8699),
        (95, 105): (6.2434, 9.7847, 9.8756, 9.8758),
    },
    "kiko": {
        (80, 120): (0.0000, 0.2402, 1.4076, 3.8160),
        (85, 115): (0.0075, 0.9910, 2.8098, 4.6612),
        (90, 110): (0.2656, 2.7954, 4.4024, 4.9266),
        (95, 105): (2.6285, 4.7523, 4.9096, 4.9675),
    },
    "koki": {
        (80, 120): (0.0041, 0.7080, 2.1581, 4.2061),
        (85, 115): (0.0723, 1.6663, 3.3930, 4.8679),
        (90, 110): (0.7080, 3.4424, 4.7496, 5.0475),
        (95, 105): (3.6524, 5.1256, 5.0763, 5.0275),
    },
}
HAUG_DOUBLE_BINARY_CASES = [
    (kind, low, high, vol, value)
    for kind, table in HAUG_DOUBLE_BINARY.items()
    for (low, high), values in table.items()
    for vol, value in zip((0.1, 0.2, 0.3, 0.5), values, strict=True)
]
HAUG_BINARY_MARKET = _haug_market(0.05, 0.02, 0.25)


@pytest.mark.parametrize(("kind", "low", "high", "vol", "value"), HAUG_DOUBLE_BINARY_CASES)
def test_double_touches_and_first_exits_match_haug_double_binary_table(kind, low, high, vol, value):
    common = dict(
        spots=100.0, lower_barriers=low, upper_barriers=high, vols=vol, **HAUG_BINARY_MARKET
    )
    if kind in ("knock_out", "knock_in"):
        result = double_touch_price(
            one_touch=kind == "knock_in", pay_at_hit=False, pays_usd=False, cash=10.0, **common
        )
    else:
        through_lower, through_upper = corridor_exit_values(**common)
        result = through_lower if kind == "kiko" else through_upper
        result = type(result)(10.0 * result.prices, result.valid)
    assert result.valid.all()
    assert float(result.prices) == pytest.approx(value, abs=1e-4)


# doublebinaryoption.cpp, degenerate cases (spot outside 95/105, σ = 0.1): KIKO pays 10 at
# once below the lower barrier and nothing above the upper; KOKI the other way round.
@pytest.mark.parametrize(
    ("spot", "lower_value", "upper_value"), [(80.0, 10.0, 0.0), (110.0, 0.0, 10.0)]
)
def test_first_exit_values_of_a_spot_outside_the_corridor(spot, lower_value, upper_value):
    through_lower, through_upper = corridor_exit_values(
        spots=spot, lower_barriers=95.0, upper_barriers=105.0, vols=0.1, **HAUG_BINARY_MARKET
    )
    assert 10.0 * through_lower.prices == lower_value
    assert 10.0 * through_upper.prices == upper_value


def _ql_double_binary(process, kind, low, high, cash, days) -> float:
    today = to_ql_date(TODAY)
    american = kind in (ql.DoubleBarrier.KIKO, ql.DoubleBarrier.KOKI)
    exercise = (
        ql.AmericanExercise(today, today + days) if american else ql.EuropeanExercise(today + days)
    )
    option = ql.DoubleBarrierOption(
        kind, low, high, 0.0, ql.CashOrNothingPayoff(ql.Option.Call, 0.0, cash), exercise
    )
    option.setPricingEngine(ql.AnalyticDoubleBarrierBinaryEngine(process))
    return option.NPV()


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS[:3])
def test_double_touches_match_quantlib_double_barrier_binary_engine(spot, r_d, r_f, vol, days):
    """JPY: KnockIn (at expiry) and KIKO + KOKI (at the hit) directly. USD: under the USD
    numeraire (discount r_f, carry r_d − r_f + σ², so QuantLib's q = 2r_f − r_d − σ²) the
    double no-touch is S·E^f[DF_f·1{no exit}], and USD paid at the hit is worth the barrier
    touched: L·KIKO + U·KOKI. (The 7-day market is left out: QuantLib's at-expiry series
    stops after 99 terms and refuses it, "serie did not converge".)"""
    lows, highs = spot * np.array(CORRIDORS).T
    market = _market(spot, r_d, r_f, days)
    common = dict(spots=spot, lower_barriers=lows, upper_barriers=highs, vols=vol, **market)
    cash = 10.0
    ours = {
        (one, hit, usd): double_touch_price(
            one_touch=one, pay_at_hit=hit, pays_usd=usd, cash=cash, **common
        )
        for one, hit, usd in itertools.product((True, False), repeat=3)
        if one or not hit
    }
    with quantlib_session(TODAY):
        jpy = _process(spot, r_d, r_f, vol)
        dollar = _process(spot, r_f, 2 * r_f - r_d - vol**2, vol)
        expected = {key: [] for key in ours}
        for low, high in zip(lows.tolist(), highs.tolist(), strict=True):
            kiko = _ql_double_binary(jpy, ql.DoubleBarrier.KIKO, low, high, cash, days)
            koki = _ql_double_binary(jpy, ql.DoubleBarrier.KOKI, low, high, cash, days)
            expected[True, True, False].append(kiko + koki)
            expected[True, True, True].append(low * kiko + high * koki)
            expected[True, False, False].append(
                _ql_double_binary(jpy, ql.DoubleBarrier.KnockIn, low, high, cash, days)
            )
            expected[False, False, False].append(
                _ql_double_binary(jpy, ql.DoubleBarrier.KnockOut, low, high, cash, days)
            )
            usd_dnt = spot * _ql_double_binary(
                dollar, ql.DoubleBarrier.KnockOut, low, high, cash, days
            )
            expected[False, False, True].append(usd_dnt)
            forward_value = cash * market["forwards"] * market["discount_factors"]
            expected[True, False, True].append(forward_value - usd_dnt)
    for key, result in ours.items():
        assert result.valid.all(), key
        # QuantLib stops its at-expiry series at a 1e-8 term; its at-hit one is Hui's own,
        # terms ~ i⁻³ stopped at 1,000, which leaves up to ~1e-6 of the cash (0.5/2.0 over
        # 2Y: 2.9e-7 through L, where the single one-touch limit and ours give 6.0e-8)
        scale = cash * (highs.max() if key[2] else 1.0) * (1e-6 if key[1] else 1e-8)
        np.testing.assert_allclose(result.prices, expected[key], rtol=1e-7, atol=scale)


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_first_exit_with_the_other_barrier_far_away_is_the_single_one_touch_at_hit(
    spot, r_d, r_f, vol, days
):
    """Through L with U at 50× spot: the one-touch at hit of L alone (held to QuantLib's
    ``AnalyticDigitalAmericanEngine`` in test_barriers.py); and the other way round."""
    market = _market(spot, r_d, r_f, days)
    near = spot * np.array([0.9, 0.97, 0.995])
    common = dict(spots=spot, vols=vol, **market)
    through_lower, _ = corridor_exit_values(lower_barriers=near, upper_barriers=50 * spot, **common)
    _, through_upper = corridor_exit_values(
        lower_barriers=spot / 50, upper_barriers=spot**2 / near, **common
    )
    for up, barriers, exits in (
        (False, near, through_lower),
        (True, spot**2 / near, through_upper),
    ):
        single = touch_price(
            is_up=up, one_touch=True, pay_at_hit=True, barriers=barriers, cash=1.0, **common
        )
        np.testing.assert_allclose(exits.prices, single.prices, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_double_one_touch_plus_no_touch_at_expiry_is_the_discounted_cash(spot, r_d, r_f, vol, days):
    market = _market(spot, r_d, r_f, days)
    lows, highs = spot * np.array(CORRIDORS).T
    common = dict(
        spots=spot, lower_barriers=lows, upper_barriers=highs, cash=2.5, vols=vol, **market
    )
    for usd in (False, True):
        one = double_touch_price(one_touch=True, pay_at_hit=False, pays_usd=usd, **common)
        none = double_touch_price(one_touch=False, pay_at_hit=False, pays_usd=usd, **common)
        # cash·DF in JPY; in USD, cash·S·DF_f = cash·F·DF (the USD's forward value)
        usd_df = np.exp(-r_f * market["times"])
        paid = 2.5 * (spot * usd_df if usd else market["discount_factors"])
        np.testing.assert_allclose(one.prices + none.prices, paid, rtol=1e-13)


def test_double_touch_with_barriers_far_away_is_zero_and_paying_at_hit_is_worth_more():
    spot, market = 144.1, _market(144.1, 0.005, 0.043, 91)
    common = dict(spots=spot, cash=1.0, vols=0.115, **market)
    for usd in (False, True):
        far = double_touch_price(
            one_touch=True, pay_at_hit=True, pays_usd=usd, lower_barriers=spot / 3,
            upper_barriers=spot * 3, **common,
        )  # fmt: skip
        assert 0.0 <= far.prices < 1e-100
    near = dict(lower_barriers=138.0, upper_barriers=150.0, pays_usd=False, **common)
    at_hit = double_touch_price(one_touch=True, pay_at_hit=True, **near).prices
    at_expiry = double_touch_price(one_touch=True, pay_at_hit=False, **near).prices
    assert at_expiry < at_hit < 1.0  # r_JPY > 0: paid earlier is discounted less


def test_triggered_double_touches_pay_now_or_at_expiry():
    spot, market = 144.1, _market(144.1, 0.005, 0.043, 91)
    forward_value = market["forwards"] * market["discount_factors"]
    for low, high in ((144.1, 150.0), (130.0, 140.0)):
        common = dict(
            spots=spot, lower_barriers=low, upper_barriers=high, cash=3.0, vols=0.1, **market
        )
        for usd, hit in itertools.product((False, True), repeat=2):
            one = double_touch_price(one_touch=True, pay_at_hit=hit, pays_usd=usd, **common)
            expected = (
                (spot if hit else forward_value)
                if usd
                else (1.0 if hit else market["discount_factors"])
            )
            assert one.prices == pytest.approx(3.0 * expected, rel=1e-15)
            none = double_touch_price(one_touch=False, pay_at_hit=False, pays_usd=usd, **common)
            assert none.prices == 0.0


# ---------------------------------------------------------------------------------------------
# single touches paying USD

# Haug (2007) Table 4-22 (binary barrier options), the asset-or-nothing cases without a
# strike, as reproduced by QuantLib's test-suite/digitaloption.cpp: barrier ("strike") 100,
# r = 0.1, T = 0.5, σ = 0.2, tolerance 1e-4 (1e-16 / 1e-12 where spot is beyond the
# barrier). A put is a down barrier (spot 105), a call an up one (spot 95). Cases 3, 4
# (asset at hit; "Haug value is wrong here, Haug VBA code is right", as QuantLib) and its
# Haug-VBA rows, testAssetAtHitOrNothingAmericanValues:
# (up?, spot, q, value, tolerance)
HAUG_ASSET_AT_HIT = [
    (False, 105.0, 0.00, 64.8426, 1e-4),
    (True, 95.0, 0.00, 77.7017, 1e-4),
    (False, 105.0, 0.01, 65.7811, 1e-4),
    (True, 95.0, 0.01, 76.8858, 1e-4),
    (True, 105.0, 0.00, 105.0, 1e-16),  # touched already: pays spot now
    (False, 95.0, 0.00, 95.0, 1e-16),
    (True, 105.0, 0.01, 105.0, 1e-16),
    (False, 95.0, 0.01, 95.0, 1e-16),
]
# cases 7, 8 (asset at expiry if touched), 11, 12 (if not touched) and Haug-VBA rows,
# testAssetAtExpiryOrNothingAmericanValues: (up?, spot, q, one-touch?, value, tolerance)
HAUG_ASSET_AT_EXPIRY = [
    (False, 105.0, 0.00, True, 64.8426, 1e-4),
    (True, 95.0, 0.00, True, 77.7017, 1e-4),
    (False, 105.0, 0.00, False, 40.1574, 1e-4),
    (True, 95.0, 0.00, False, 17.2983, 1e-4),
    (False, 105.0, 0.01, True, 65.5291, 1e-4),
    (True, 95.0, 0.01, True, 76.5951, 1e-4),
    (True, 105.0, 0.00, True, 105.0, 1e-12),  # touched already: S·DF_f at expiry
    (False, 95.0, 0.00, True, 95.0, 1e-12),
    (True, 105.0, 0.01, True, 105.0 * np.exp(-0.005), 1e-12),
    (False, 95.0, 0.01, True, 95.0 * np.exp(-0.005), 1e-12),
]


@pytest.mark.parametrize(("up", "spot", "q", "value", "tolerance"), HAUG_ASSET_AT_HIT)
def test_usd_one_touch_at_hit_matches_haug_table_4_22(up, spot, q, value, tolerance):
    t = 0.5
    result = touch_price(
        is_up=up, one_touch=True, pay_at_hit=True, pays_usd=True, spots=spot, barriers=100.0,
        cash=1.0, forwards=spot * np.exp((0.1 - q) * t), discount_factors=np.exp(-0.1 * t),
        vols=0.2, times=t,
    )  # fmt: skip
    assert abs(float(result.prices) - value) <= tolerance * max(1.0, value / 100)


@pytest.mark.parametrize(("up", "spot", "q", "one", "value", "tolerance"), HAUG_ASSET_AT_EXPIRY)
def test_usd_touches_at_expiry_match_haug_table_4_22(up, spot, q, one, value, tolerance):
    t = 0.5
    result = touch_price(
        is_up=up, one_touch=one, pay_at_hit=False, pays_usd=True, spots=spot, barriers=100.0,
        cash=1.0, forwards=spot * np.exp((0.1 - q) * t), discount_factors=np.exp(-0.1 * t),
        vols=0.2, times=t,
    )  # fmt: skip
    assert abs(float(result.prices) - value) <= tolerance * max(1.0, value / 100)


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_usd_touches_match_quantlib_digital_american_engines(spot, r_d, r_f, vol, days):
    """One-touches at hit / at expiry: ``AnalyticDigitalAmericanEngine`` with
    ``AssetOrNothingPayoff``; no-touches: ``AnalyticDigitalAmericanKOEngine``."""
    cases = list(itertools.product((True, False), (1.005, 1.03, 1.2), ("hit", "expiry", "none")))
    ups = np.array([c[0] for c in cases])
    barriers = np.array([spot * (c[1] if c[0] else 1.0 / c[1]) for c in cases])
    ours = touch_price(
        is_up=ups, one_touch=np.array([c[2] != "none" for c in cases]),
        pay_at_hit=np.array([c[2] == "hit" for c in cases]), pays_usd=True, spots=spot,
        barriers=barriers, cash=3.0, vols=vol, **_market(spot, r_d, r_f, days),
    )  # fmt: skip
    expected = []
    with quantlib_session(TODAY):
        process = _process(spot, r_d, r_f, vol)
        today = to_ql_date(TODAY)
        for (up, _, when), h in zip(cases, barriers.tolist(), strict=True):
            payoff = ql.AssetOrNothingPayoff(ql.Option.Call if up else ql.Option.Put, h)
            option = ql.VanillaOption(
                payoff, ql.AmericanExercise(today, today + days, when != "hit")
            )
            engine = (
                ql.AnalyticDigitalAmericanKOEngine
                if when == "none"
                else ql.AnalyticDigitalAmericanEngine
            )
            option.setPricingEngine(engine(process))
            expected.append(3.0 * option.NPV())
    assert ours.valid.all()
    np.testing.assert_allclose(ours.prices, expected, rtol=1e-9, atol=1e-12 * spot)


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_usd_no_touch_matches_quantlib_binary_barrier_engine(spot, r_d, r_f, vol, days):
    """An asset-or-nothing knock-out struck beyond the barrier (a down-and-out call struck
    below it, an up-and-out put above) pays S_T exactly when untouched: Haug's binary barrier
    formulas (§4.19.5) in ``AnalyticBinaryBarrierEngine``, another route to the same value."""
    market = _market(spot, r_d, r_f, days)
    with quantlib_session(TODAY):
        engine = ql.AnalyticBinaryBarrierEngine(_process(spot, r_d, r_f, vol))
        for up, distance in itertools.product((True, False), (1.01, 1.1)):
            barrier = spot * distance if up else spot / distance
            side, strike = (ql.Option.Put, 10 * spot) if up else (ql.Option.Call, spot / 10)
            option = ql.BarrierOption(
                ql.Barrier.UpOut if up else ql.Barrier.DownOut,
                barrier,
                0.0,
                ql.AssetOrNothingPayoff(side, strike),
                ql.AmericanExercise(to_ql_date(TODAY), to_ql_date(TODAY) + days, True),
            )
            option.setPricingEngine(engine)
            ours = touch_price(
                is_up=up, one_touch=False, pay_at_hit=False, pays_usd=True, spots=spot,
                barriers=barrier, cash=1.0, vols=vol, **market,
            )  # fmt: skip
            assert ours.prices == pytest.approx(option.NPV(), rel=1e-9, abs=1e-12 * spot)


def test_usd_one_touch_plus_no_touch_at_expiry_is_the_usd_forward_value():
    spot, market = 144.1, _market(144.1, 0.005, 0.043, 200)
    barriers = np.array([120.0, 140.0, 143.9, 144.3, 150.0, 170.0])
    common = dict(
        spots=spot, barriers=barriers, cash=1.0, vols=0.11, is_up=barriers > spot,
        pay_at_hit=False, pays_usd=True, **market,
    )  # fmt: skip
    total = (
        touch_price(one_touch=True, **common).prices + touch_price(one_touch=False, **common).prices
    )
    np.testing.assert_allclose(total, spot * np.exp(-0.043 * 200 / 365), rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# KIKO


def _ql_barrier(process, kind, barrier, call, strike, days) -> float:
    side = ql.Option.Call if call else ql.Option.Put
    option = ql.BarrierOption(
        kind, barrier, 0.0, ql.PlainVanillaPayoff(side, strike),
        ql.EuropeanExercise(to_ql_date(TODAY) + days),
    )  # fmt: skip
    option.setPricingEngine(ql.AnalyticBarrierEngine(process))
    return option.NPV()


@pytest.mark.parametrize(("spot", "r_d", "r_f", "vol", "days"), MARKETS)
def test_kiko_plus_double_knock_out_is_the_single_knock_out_of_quantlib(spot, r_d, r_f, vol, days):
    """QuantLib's engines on both sides: KIKO (ours) + DKO (QuantLib's Ikeda–Kunitomo) =
    the knock-out at the knock-out barrier (QuantLib's Reiner–Rubinstein)."""
    market = _market(spot, r_d, r_f, days)
    with quantlib_session(TODAY):
        process = _process(spot, r_d, r_f, vol)
        mu1 = abs(2.0 * (r_d - r_f) / vol**2 + 1.0)
        for (low, high), call, below in itertools.product(CORRIDORS, (True, False), (True, False)):
            # past the default 5 terms, short of pow(U/L, n·μ1) overflowing
            series = int(min(50, 600 / (mu1 * np.log(high / low))))
            ikeda = ql.AnalyticDoubleBarrierEngine(process, series)
            lower, upper, strike = spot * low, spot * high, spot * (low + high) / 2
            ours = kiko_price(
                is_call=call, knock_in_below=below, spots=spot, strikes=strike,
                lower_barriers=lower, upper_barriers=upper, vols=vol, **market,
            )  # fmt: skip
            side = ql.Option.Call if call else ql.Option.Put
            double = ql.DoubleBarrierOption(
                ql.DoubleBarrier.KnockOut, lower, upper, 0.0, ql.PlainVanillaPayoff(side, strike),
                ql.EuropeanExercise(to_ql_date(TODAY) + days),
            )  # fmt: skip
            double.setPricingEngine(ikeda)
            single = _ql_barrier(
                process, ql.Barrier.UpOut if below else ql.Barrier.DownOut,
                upper if below else lower, call, strike, days,
            )  # fmt: skip
            assert ours.valid.all()
            assert float(ours.prices) + double.NPV() == pytest.approx(
                single, rel=1e-9, abs=1e-11 * spot
            )


@pytest.mark.parametrize("below", [True, False])
def test_kiko_with_the_knock_out_far_away_is_the_single_knock_in(below):
    spot, r_d, r_f, vol, days = 144.1, 0.005, 0.043, 0.115, 91
    knock_in = 138.0 if below else 151.0
    lower, upper = (knock_in, spot * 40) if below else (spot / 40, knock_in)
    for call, strike in itertools.product((True, False), (140.0, 146.0)):
        ours = kiko_price(
            is_call=call, knock_in_below=below, spots=spot, strikes=strike,
            lower_barriers=lower, upper_barriers=upper, vols=vol,
            **_market(spot, r_d, r_f, days),
        )  # fmt: skip
        with quantlib_session(TODAY):
            single = _ql_barrier(
                _process(spot, r_d, r_f, vol), ql.Barrier.DownIn if below else ql.Barrier.UpIn,
                knock_in, call, strike, days,
            )  # fmt: skip
        assert float(ours.prices) == pytest.approx(single, rel=1e-9)


def test_kiko_is_between_zero_and_the_single_knock_out():
    spot, market = 144.1, _market(144.1, 0.005, 0.043, 91)
    strikes = np.linspace(130.0, 160.0, 7)
    for call in (True, False):
        kiko = kiko_price(
            is_call=call, knock_in_below=True, spots=spot, strikes=strikes,
            lower_barriers=140.0, upper_barriers=152.0, vols=0.12, **market,
        ).prices  # fmt: skip
        single = barrier_price(
            barrier_types=BarrierType.UP_OUT, is_call=call, spots=spot, strikes=strikes,
            barriers=152.0, rebates=0.0, vols=0.12, **market,
        ).prices  # fmt: skip
        assert np.all((kiko >= 0.0) & (kiko <= single + 1e-12))
        assert np.any(kiko > 1e-3)
