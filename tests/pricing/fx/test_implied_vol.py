"""Implied Black vols: round trips against an independent high-precision Black, QuantLib, limits.

Witnesses:
- Reference premiums are computed from the double inputs in 50-digit decimal arithmetic
  (``decimal``; Φ from the series of erf and the continued fraction of erfc, A&S 7.1.6 and
  7.1.14), so the only error in a premium handed to the solver is its final rounding. That
  reference is itself checked against ``QuantLib.blackFormula`` where QuantLib's double
  arithmetic is accurate.
- ``QuantLib.blackFormulaImpliedStdDev`` where it converges.
- Limit cases (intrinsic, upper bound, zero, bad input) and put–call parity.

Units as in the module: F, K in JPY per USD, T in years, premiums discounted, vols decimals.
"""

from __future__ import annotations

import decimal
import math
from decimal import Decimal

import mpmath as mp
import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.fx.implied_vol import (
    ABOVE_UPPER_BOUND,
    BAD_INPUT,
    BELOW_INTRINSIC,
    NO_TIME_VALUE,
    OK,
    implied_vol,
    normalised_black,
)

EPS = float(np.finfo(float).eps)
TINY = float(np.finfo(float).tiny)
FORWARD = 145.0  # USD/JPY, mid-June 2025 (MARKET_FACTS.md)
RATE_JPY = 0.005  # assumption: JPY short rate, continuously compounded
DIGITS = 50

# --- independent reference: Black in 50-digit decimal arithmetic ----------------------------


def _pi() -> Decimal:
    """π by Machin's formula to the working precision plus guard digits."""
    with decimal.localcontext() as ctx:
        ctx.prec = DIGITS + 30

        def arctan_inverse(n: int) -> Decimal:
            x = Decimal(1) / n
            term, total, k = x, x, 1
            while True:
                term *= -x * x
                if abs(term) < Decimal(10) ** -(DIGITS + 28):
                    return total
                total += term / (2 * k + 1)
                k += 1

        return 16 * arctan_inverse(5) - 4 * arctan_inverse(239)


PI = _pi()


def _erfc(y: Decimal) -> Decimal:
    """erfc(y), y ≥ 0, to ~DIGITS significant digits."""
    with decimal.localcontext() as ctx:
        ctx.prec = DIGITS + 30
        if y == 0:
            return Decimal(1)
        if y > 4:  # continued fraction (A&S 7.1.14), evaluated bottom-up until it settles

            def fraction(depth: int) -> Decimal:
                tail = y
                for k in range(depth, 0, -1):
                    tail = y + Decimal(k) / 2 / tail
                return 1 / tail

            depth, previous = 64, fraction(32)
            while abs((current := fraction(depth)) - previous) > current * Decimal(10) ** -(
                DIGITS + 10
            ):
                depth, previous = 2 * depth, current
            return (-y * y).exp() / PI.sqrt() * current
        # series erf(y) = 2/√π·e^{−y²}·Σ 2ⁿ y^{2n+1}/(2n+1)!! (A&S 7.1.6), all terms positive
        term = total = y
        n = 0
        while term > total * Decimal(10) ** -(DIGITS + 25):
            term = term * 2 * y * y / (2 * n + 3)
            total += term
            n += 1
        return 1 - 2 / PI.sqrt() * (-y * y).exp() * total


def _cdf(z: Decimal) -> Decimal:
    tail = _erfc(abs(z) / Decimal(2).sqrt()) / 2
    return tail if z < 0 else 1 - tail


def reference_premium(
    forward: float, strike: float, expiry: float, vol: float, df: float, is_call: bool
) -> Decimal:
    """``DF·(ω F Φ(ω d1) − ω K Φ(ω d2))`` exactly for these doubles, to ~40 digits."""
    with decimal.localcontext() as ctx:
        ctx.prec = DIGITS + 20
        f, k = Decimal(forward), Decimal(strike)
        s = Decimal(vol) * Decimal(expiry).sqrt()
        d1 = (f / k).ln() / s + s / 2
        d2 = d1 - s
        w = 1 if is_call else -1
        return Decimal(df) * w * (f * _cdf(w * d1) - k * _cdf(w * d2))


def reference_normalised_otm(x: float, s: float) -> Decimal:
    """``b(x, s) = e^{x/2}Φ(x/s + s/2) − e^{−x/2}Φ(x/s − s/2)`` for the doubles x, s."""
    with decimal.localcontext() as ctx:
        ctx.prec = DIGITS + 20
        xd, sd = Decimal(x), Decimal(s)
        h, t = xd / sd, sd / 2
        return (xd / 2).exp() * _cdf(h + t) - (-xd / 2).exp() * _cdf(h - t)


# --- the grid of the requirement: |ln K/F| ≤ 1, 1 day ≤ T ≤ 5y, 1% ≤ σ ≤ 100% ----------------

LOG_MONEYNESS = (-1.0, -0.5, -0.2, -0.05, -0.01, 0.0, 0.01, 0.05, 0.2, 0.5, 1.0)
EXPIRIES = (1 / 365, 7 / 365, 1 / 12, 0.25, 1.0, 2.0, 5.0)
VOLS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0)


def _case(x: float, expiry: float, vol: float, is_call: bool) -> dict:
    strike = FORWARD * math.exp(-x)
    df = math.exp(-RATE_JPY * expiry)
    exact = reference_premium(FORWARD, strike, expiry, vol, df, is_call)
    premium = float(exact)
    s = vol * math.sqrt(expiry)
    d1 = math.log(FORWARD / strike) / s + s / 2
    vega = FORWARD * math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) * math.sqrt(expiry)
    # Half an ulp of the premium, and of F−K inside it, moves the vol by about this much;
    # a time value below the smallest normal double has lost its digits altogether.
    intrinsic = max((FORWARD - strike) if is_call else (strike - FORWARD), 0.0)
    representable = (premium / df - intrinsic) / math.sqrt(FORWARD * strike) >= TINY
    condition = EPS * (premium / df) / vega if vega > 0 and representable else math.inf
    return dict(premium=premium, strike=strike, df=df, expiry=expiry, vol=vol,
                is_call=is_call, condition=condition)  # fmt: skip


@pytest.fixture(scope="module")
def grid() -> dict[str, np.ndarray]:
    rows = [
        _case(x, t, v, c)
        for x in LOG_MONEYNESS
        for t in EXPIRIES
        for v in VOLS
        for c in (True, False)
    ]
    return {key: np.array([r[key] for r in rows]) for key in rows[0]}


def _solve(g: dict[str, np.ndarray]):
    return implied_vol(
        prices=g["premium"],
        forwards=FORWARD,
        strikes=g["strike"],
        expiries=g["expiry"],
        discount_factors=g["df"],
        is_call=g["is_call"],
    )


def test_reference_agrees_with_quantlib_where_doubles_suffice(grid):
    """The decimal witness matches QuantLib's blackFormula near the money (|d| ≤ 3)."""
    checked = 0
    for k, t, v, c, df in zip(grid["strike"], grid["expiry"], grid["vol"], grid["is_call"],
                              grid["df"], strict=True):  # fmt: skip
        s = v * math.sqrt(t)
        if abs(math.log(FORWARD / k) / s) > 3:
            continue
        option = ql.Option.Call if c else ql.Option.Put
        ours = float(reference_premium(FORWARD, k, t, v, df, c))
        theirs = ql.blackFormula(option, k, FORWARD, s, df)
        assert theirs == pytest.approx(ours, rel=1e-12, abs=1e-12 * FORWARD)
        checked += 1
    assert checked > 200


def test_round_trip_to_1e_12_wherever_the_premium_holds_the_vol(grid):
    result = _solve(grid)
    well_posed = grid["condition"] <= 1e-13
    assert well_posed.sum() > 0.6 * well_posed.size  # most of the grid; rest is deep ITM
    assert np.all(result.status[well_posed] == OK)
    error = np.abs(result.vols - grid["vol"])
    assert error[well_posed].max() <= 1e-12


def test_ill_posed_points_are_flagged_or_as_good_as_the_premium_allows(grid):
    """Deep in the money at short expiry, half an ulp of the premium moves the vol by
    ``condition``; there the vol is either flagged NO_TIME_VALUE or within a few of those."""
    result = _solve(grid)
    assert set(np.unique(result.status)) <= {OK, NO_TIME_VALUE}
    ok = result.converged
    error = np.abs(result.vols - grid["vol"])
    assert np.all(error[ok] <= 1e-12 + 4.0 * grid["condition"][ok])
    assert np.all(result.vols[~ok] == 0.0)


def test_normalised_black_matches_high_precision_deep_out_of_the_money():
    rows = []
    for x in (0.0, -1e-6, -0.01, -0.05, -0.2, -0.5, -1.0, -3.0):
        for s in (5e-4, 2e-3, 0.01, 0.05, 0.2, 0.5, 1.0, 2.5, 6.0):
            if (x / s) ** 2 / 2 + s * s / 8 < 700:  # b is a normal double
                rows.append((x, s, reference_normalised_otm(x, s)))
    x, s, reference = (np.array(col) for col in zip(*rows, strict=True))
    reference = reference.astype(float)
    calls = normalised_black(log_moneyness=x, std_devs=s, is_call=True)
    puts = normalised_black(log_moneyness=-x, std_devs=s, is_call=False)  # same OTM value
    # Rounding x and s shifts the exponent −(x²/s² + s²/4)/2 by ε times its size.
    tolerance = 4 * EPS * (8.0 - np.log(reference))
    assert np.all(np.abs(calls / reference - 1.0) <= tolerance)
    assert np.all(np.abs(puts / reference - 1.0) <= tolerance)


def test_normalised_black_zero_std_dev_is_intrinsic_and_parity_holds():
    x = np.array([-0.3, 0.0, 0.3])
    intrinsic = np.maximum(np.exp(x / 2) - np.exp(-x / 2), 0.0)  # (F − K)⁺/√(FK)
    np.testing.assert_allclose(
        normalised_black(log_moneyness=x, std_devs=0.0, is_call=True), intrinsic, rtol=4 * EPS
    )
    s = 0.37
    calls = normalised_black(log_moneyness=x, std_devs=s, is_call=True)
    puts = normalised_black(log_moneyness=x, std_devs=s, is_call=False)
    np.testing.assert_allclose(calls - puts, np.exp(x / 2) - np.exp(-x / 2), rtol=0, atol=4 * EPS)


def test_agrees_with_quantlib_implied_std_dev(grid):
    result = _solve(grid)
    compared = 0
    for i in range(grid["premium"].size):
        k, t, c, df, p = (grid[key][i] for key in ("strike", "expiry", "is_call", "df", "premium"))
        s_true = grid["vol"][i] * math.sqrt(t)
        if abs(math.log(FORWARD / k) / s_true) > 3 or grid["condition"][i] > 1e-13:
            continue  # QuantLib's double Black loses the far tails
        option = ql.Option.Call if c else ql.Option.Put
        try:
            theirs = ql.blackFormulaImpliedStdDev(
                option, k, FORWARD, p, df, 0.0, ql.nullDouble(), 1e-14, 1000
            ) / math.sqrt(t)
        except RuntimeError:
            continue
        assert result.vols[i] == pytest.approx(theirs, abs=1e-10)
        compared += 1
    assert compared > 200


def test_put_call_parity_gives_one_vol():
    strikes = np.array([120.0, 140.0, 145.0, 150.0, 170.0])
    expiry, df, vol = 0.5, math.exp(-RATE_JPY * 0.5), 0.11
    calls = np.array([float(reference_premium(FORWARD, k, expiry, vol, df, True)) for k in strikes])
    puts = calls - df * (FORWARD - strikes)  # C − P = DF·(F − K)
    both = implied_vol(prices=np.stack([calls, puts]), forwards=FORWARD, strikes=strikes,
                       expiries=expiry, discount_factors=df, is_call=np.array([[True], [False]]))  # fmt: skip
    assert both.converged.all()
    np.testing.assert_allclose(both.vols[0], both.vols[1], rtol=0, atol=1e-12)


def _one(premium, forward=FORWARD, strike=150.0, expiry=0.25, df=0.999, is_call=True):
    r = implied_vol(prices=premium, forwards=forward, strikes=strike, expiries=expiry,
                    discount_factors=df, is_call=is_call)  # fmt: skip
    return int(r.status), float(r.vols), bool(r.converged)


def test_premium_at_intrinsic_is_no_time_value():
    df = 0.999
    assert _one(df * (FORWARD - 100.0), strike=100.0, df=df) == (NO_TIME_VALUE, 0.0, False)
    assert _one(df * (190.0 - FORWARD), strike=190.0, df=df, is_call=False)[0] == NO_TIME_VALUE
    assert _one(0.0, strike=190.0)[0] == NO_TIME_VALUE  # OTM call worth nothing
    assert _one(1e-320, strike=190.0)[0] == NO_TIME_VALUE  # subnormal: no digits left


def test_premium_below_intrinsic_is_flagged():
    df = 0.999
    assert _one(df * (FORWARD - 100.0) - 1e-6, strike=100.0, df=df)[0] == BELOW_INTRINSIC
    assert _one(-1e-9, strike=190.0)[0] == BELOW_INTRINSIC


def test_premium_at_or_above_the_upper_bound_is_flagged():
    df = 0.999
    assert _one(df * FORWARD, df=df) == (ABOVE_UPPER_BOUND, 0.0, False)  # call ≤ DF·F
    assert _one(df * FORWARD * 1.01, df=df)[0] == ABOVE_UPPER_BOUND
    assert _one(df * 150.0, strike=150.0, df=df, is_call=False)[0] == ABOVE_UPPER_BOUND


def test_premium_just_below_the_upper_bound_gives_a_huge_vol_that_reprices():
    df, strike, expiry = 0.999, 150.0, 0.25
    premium = df * FORWARD * (1.0 - 1e-9)
    status, vol, _ = _one(premium, strike=strike, expiry=expiry, df=df)
    assert status == OK and vol > 10.0
    repriced = float(reference_premium(FORWARD, strike, expiry, vol, df, True))
    assert repriced == pytest.approx(premium, rel=1e-14)


@pytest.mark.parametrize("field", ["prices", "forwards", "strikes", "expiries", "discount_factors"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -1.0])
def test_bad_input_is_flagged_per_element(field, bad):
    inputs = dict(prices=np.array([1.5, 1.5]), forwards=FORWARD, strikes=146.0, expiries=0.25,
                  discount_factors=0.999, is_call=True)  # fmt: skip
    inputs[field] = np.array([bad, 1.5 if field == "prices" else inputs[field]])
    result = implied_vol(**inputs)
    # A zero or negative premium is a price, just not one with a vol (this call is OTM).
    expected = {0.0: NO_TIME_VALUE, -1.0: BELOW_INTRINSIC} if field == "prices" else {}
    assert result.status[0] == expected.get(bad, BAD_INPUT)
    assert result.status[1] == OK and result.converged[1]
    assert result.vols[0] == 0.0 and np.isfinite(result.vols).all()


def test_shapes_broadcast_and_dtypes():
    premiums = np.full((3, 4), 2.0)
    result = implied_vol(prices=premiums, forwards=FORWARD, strikes=np.linspace(140, 150, 4),
                         expiries=np.array([[0.1], [0.5], [1.0]]), discount_factors=1.0,
                         is_call=True)  # fmt: skip
    assert result.vols.shape == result.status.shape == result.converged.shape == (3, 4)
    assert result.status.dtype == np.int8 and result.converged.dtype == bool
    np.testing.assert_array_equal(result.converged, result.status == OK)


def test_threaded_and_serial_blocks_agree_and_empty_input_works():
    rng = np.random.default_rng(7)
    n = 5 * 32768 + 11  # several blocks, and a ragged last one
    expiries = np.exp(rng.uniform(math.log(1 / 365), math.log(5.0), n))
    s = rng.uniform(0.02, 0.8, n) * np.sqrt(expiries)
    x = rng.uniform(-1.0, 1.0, n)
    calls = rng.random(n) < 0.5
    premiums = (
        FORWARD * np.exp(-x / 2) * normalised_black(log_moneyness=x, std_devs=s, is_call=calls)
    )
    inputs = dict(prices=premiums, forwards=FORWARD, strikes=FORWARD * np.exp(-x),
                  expiries=expiries, discount_factors=1.0, is_call=calls)  # fmt: skip
    serial = implied_vol(**inputs, threads=1)
    threaded = implied_vol(**inputs, threads=2)
    np.testing.assert_array_equal(serial.vols, threaded.vols)
    np.testing.assert_array_equal(serial.status, threaded.status)
    empty = implied_vol(prices=np.zeros(0), forwards=FORWARD, strikes=150.0, expiries=1.0,
                        discount_factors=1.0, is_call=True)  # fmt: skip
    assert empty.vols.shape == (0,)


def test_extreme_inputs_raise_no_warning_and_leak_no_nan():
    """filterwarnings=error makes any numpy RuntimeWarning fail this test."""
    rng = np.random.default_rng(20250716)
    n = 4000
    forwards = np.exp(rng.uniform(-600, 600, n))
    strikes = forwards * np.exp(rng.uniform(-60, 60, n))
    premiums = forwards * np.exp(rng.uniform(-800, 1, n))
    result = implied_vol(prices=premiums, forwards=forwards, strikes=strikes,
                         expiries=np.exp(rng.uniform(-12, 5, n)),
                         discount_factors=np.exp(rng.uniform(-3, 0.1, n)),
                         is_call=rng.random(n) < 0.5)  # fmt: skip
    assert np.isfinite(result.vols).all()
    assert np.all(result.vols[~result.converged] == 0.0)


@settings(max_examples=150, deadline=None)
@given(
    x=st.floats(-1.0, 1.0),
    log_expiry=st.floats(math.log(1 / 365), math.log(5.0)),
    log_vol=st.floats(math.log(0.01), math.log(1.0)),
    is_call=st.booleans(),
)
def test_round_trip_property(x, log_expiry, log_vol, is_call):
    case = _case(x, math.exp(log_expiry), math.exp(log_vol), is_call)
    g = {k: np.array([v]) for k, v in case.items()}
    result = _solve(g)
    error = abs(float(result.vols[0]) - case["vol"])
    if case["condition"] <= 1e-13:
        assert result.status[0] == OK and error <= 1e-12
    elif result.converged[0]:
        assert error <= 1e-12 + 4.0 * case["condition"]
    else:
        assert result.status[0] == NO_TIME_VALUE


# --- deep in the money: the time value inverted on the out-of-the-money side ----------------
# Witness: mpmath at 50 digits. The premium is the intrinsic value plus the out-of-the-money
# twin's price (parity: no cancellation, so the 50 digits hold even where the time value is
# 1e-300 of the premium), rounded once; the premium's own vol σ* is the root of the 50-digit
# Black in σ (bisection in ln σ), so the solver is held to the input it was given.

ITM_MONEYNESS = (0.5, 2.0)  # K/F: calls at half the forward, puts at twice it
ITM_VOLS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
ITM_EXPIRIES = (7 / 365, 1 / 12, 0.25, 0.5, 1.0, 2.0, 5.0)


def _mp_otm_twin(forward, strike, std_dev, df, is_call):
    """The discounted out-of-the-money twin (put for an ITM call, call for an ITM put)."""
    f, k, s = mp.mpf(forward), mp.mpf(strike), mp.mpf(std_dev)
    d1 = mp.log(f / k) / s + s / 2
    d2 = d1 - s
    twin = k * mp.ncdf(-d2) - f * mp.ncdf(-d1) if is_call else f * mp.ncdf(d1) - k * mp.ncdf(d2)
    return mp.mpf(df) * twin


def _mp_intrinsic(forward, strike, df, is_call):
    f, k = mp.mpf(forward), mp.mpf(strike)
    return mp.mpf(df) * max(f - k if is_call else k - f, mp.mpf(0))


def _mp_premium_vol(premium, forward, strike, expiry, df, is_call):
    """σ with 50-digit Black = ``premium`` exactly; None if the premium has no time value."""
    target = mp.mpf(premium) - _mp_intrinsic(forward, strike, df, is_call)
    if target <= 0:
        return None
    log_target, root_t = mp.log(target), mp.sqrt(mp.mpf(expiry))
    lo, hi = mp.log(mp.mpf("1e-4")), mp.log(mp.mpf(20))
    while hi - lo > mp.mpf(10) ** -25:
        mid = (lo + hi) / 2
        twin = _mp_otm_twin(forward, strike, mp.exp(mid) * root_t, df, is_call)
        if twin > 0 and mp.log(twin) > log_target:
            hi = mid
        else:
            lo = mid
    return float(mp.exp((lo + hi) / 2))


@pytest.fixture(scope="module")
def deep_itm() -> dict[str, np.ndarray]:
    rows = []
    with mp.workdps(DIGITS):
        for moneyness in ITM_MONEYNESS:
            strike, is_call = FORWARD * moneyness, moneyness < 1
            for vol in ITM_VOLS:
                for t in ITM_EXPIRIES:
                    df = math.exp(-RATE_JPY * t)
                    s = vol * math.sqrt(t)
                    intrinsic = _mp_intrinsic(FORWARD, strike, df, is_call)
                    premium = float(intrinsic + _mp_otm_twin(FORWARD, strike, s, df, is_call))
                    own = _mp_premium_vol(premium, FORWARD, strike, t, df, is_call)
                    rows.append(dict(premium=premium, strike=strike, expiry=t, df=df, vol=vol,
                                     is_call=is_call, at_intrinsic=premium == float(intrinsic),
                                     own_vol=math.nan if own is None else own))  # fmt: skip
    return {key: np.array([r[key] for r in rows]) for key in rows[0]}


def test_deep_itm_round_trip_to_1e_12_where_the_premium_holds_the_vol(deep_itm):
    g = deep_itm
    result = _solve(g)
    # the premium holds σ to 1e-13 where its own vol is that close to σ
    holds = np.abs(g["own_vol"] - g["vol"]) <= 1e-13 * g["vol"]
    assert holds.sum() >= 20
    assert np.all(result.status[holds] == OK)
    assert np.all(np.abs(result.vols[holds] - g["vol"][holds]) <= 1e-12 * g["vol"][holds])


def test_deep_itm_vol_is_the_premiums_own_vol_in_50_digits(deep_itm):
    """Wherever the premium is above its rounded intrinsic value, the vol is the one that
    reprices it exactly (to 1e-13), even when that is far from the σ it was priced at."""
    g = deep_itm
    result = _solve(g)
    assert set(np.unique(result.status)) <= {OK, NO_TIME_VALUE}
    ok = result.status == OK
    np.testing.assert_array_equal(ok, ~g["at_intrinsic"])  # no normalised value below TINY
    assert np.all(np.abs(result.vols[ok] - g["own_vol"][ok]) <= 1e-13 * g["own_vol"][ok])
    # premiums that hold only a few digits of σ (a time value of some ulps): a vol, and the
    # right one for the premium, not a refusal
    far = ok & (np.abs(g["own_vol"] - g["vol"]) > 1e-9 * g["vol"])
    assert far.sum() >= 6


@pytest.mark.parametrize(
    ("strike", "is_call", "expiry", "df"),
    [(72.5, True, 0.25, 0.999), (290.0, False, 7 / 365, 1.0), (100.0, True, 2.0, 0.99)],
)
def test_premiums_a_few_ulps_above_intrinsic_give_their_vol(strike, is_call, expiry, df):
    with mp.workdps(DIGITS):
        intrinsic = float(_mp_intrinsic(FORWARD, strike, df, is_call))  # nearest double
        premiums = [intrinsic]
        for _ in range(64):
            premiums.append(float(np.nextafter(premiums[-1], math.inf)))
        below = float(np.nextafter(intrinsic, -math.inf))
        chosen = [premiums[n] for n in (1, 2, 3, 8, 64)]
        own = [_mp_premium_vol(p, FORWARD, strike, expiry, df, is_call) for p in chosen]
    result = implied_vol(prices=np.array([below, intrinsic, *chosen]), forwards=FORWARD,
                         strikes=strike, expiries=expiry, discount_factors=df, is_call=is_call)  # fmt: skip
    assert result.status.tolist() == [BELOW_INTRINSIC, NO_TIME_VALUE] + [OK] * len(chosen)
    assert result.vols[0] == result.vols[1] == 0.0
    np.testing.assert_allclose(result.vols[2:], own, rtol=1e-13)
    assert np.all(np.diff(result.vols[2:]) > 0)  # more time value, more vol


def test_the_premium_at_intrinsic_computed_as_the_client_would_has_no_time_value():
    """``DF·(F − K)`` with ``F − K`` exact is the nearest double of the intrinsic value."""
    for df in (1.0, 0.999, math.exp(-RATE_JPY * 5.0)):
        for strike, is_call in ((72.5, True), (290.0, False), (100.0, True)):
            intrinsic = df * ((FORWARD - strike) if is_call else (strike - FORWARD))
            status, vol, _ = _one(intrinsic, strike=strike, df=df, is_call=is_call)
            assert (status, vol) == (NO_TIME_VALUE, 0.0)
            lower = float(np.nextafter(intrinsic, -math.inf))
            assert _one(lower, strike=strike, df=df, is_call=is_call)[0] == BELOW_INTRINSIC
