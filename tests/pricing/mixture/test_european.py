"""The event mixture: identities, no-arbitrage properties, limits and Greeks.

Witnesses: put–call parity (C − P = DF·(F − K) for every component, so for the mixture
under Σq = 1 and Σ q·J = 1); the forward payoff (its price is DF·(Σ q·J·F − K)); QuantLib's
``blackFormula`` for the one-scenario limit; the no-arbitrage bounds and the monotonicity and
convexity in strike of any call price (Merton 1973, Theorems 1–3) checked by hypothesis;
central finite differences for every Greek.
"""

from __future__ import annotations

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given
from hypothesis import strategies as st

from pricing.fx.black import Payoff
from pricing.mixture.european import OptionBook, ScenarioMix, mixture_greeks
from pricing.mixture.measure import Measure, risk_neutral
from tests.pricing.book import flat_book

SPOT, R_JPY, R_USD, PRE_VOL, T_EVENT = 144.1, 0.0048, 0.043, 0.115, 26 / 365
LEVELS = np.array([158.0, 148.0, 152.0, 139.0, 134.0])
PROBS = np.array([0.15, 0.30, 0.15, 0.25, 0.15])
VOLS = np.array([0.09, 0.10, 0.10, 0.125, 0.15])


def tilted_mix(levels: np.ndarray = LEVELS, vols: np.ndarray = VOLS) -> ScenarioMix:
    fit = risk_neutral(probabilities=PROBS, jumps=levels / SPOT, measure=Measure.TILT)
    return ScenarioMix(weights=fit.weights, jumps=fit.jumps, vols=vols)


def book(payoff: int, strikes, expiries) -> OptionBook:
    return flat_book(
        payoffs=np.full(np.broadcast(strikes, expiries).shape, payoff),
        strikes=strikes,
        expiries=expiries,
        spot=SPOT,
        r_jpy=R_JPY,
        r_usd=R_USD,
        pre_vol=PRE_VOL,
        event_time=T_EVENT,
    )


def price(payoff: int, strikes, expiries, mix: ScenarioMix | None = None) -> np.ndarray:
    return mixture_greeks(
        book=book(payoff, strikes, expiries), mix=mix or tilted_mix(), spot=SPOT
    ).price


STRIKES = np.linspace(100.0, 200.0, 101)


@pytest.mark.parametrize("expiry", [7 / 365, 0.25, 1.0, 5.0])
def test_put_call_parity_to_1e12(expiry: float) -> None:
    calls = price(Payoff.CALL, STRIKES, expiry)
    puts = price(Payoff.PUT, STRIKES, expiry)
    forward = SPOT * np.exp((R_JPY - R_USD) * expiry)
    parity = np.exp(-R_JPY * expiry) * (forward - STRIKES)
    np.testing.assert_allclose(calls - puts, parity, rtol=0, atol=1e-12 * SPOT)


@pytest.mark.parametrize("expiry", [0.25, 1.0, 2.0])
def test_tilt_makes_the_mixture_forward_the_market_forward(expiry: float) -> None:
    forwards = price(Payoff.FORWARD, np.array([0.0 + 1e-300]), expiry)
    market = np.exp(-R_JPY * expiry) * SPOT * np.exp((R_JPY - R_USD) * expiry)
    assert forwards[0] == pytest.approx(market, rel=1e-12)
    fit = risk_neutral(probabilities=PROBS, jumps=LEVELS / SPOT, measure=Measure.TILT)
    assert float(fit.weights @ fit.jumps) == pytest.approx(1.0, abs=1e-12)


def test_digitals_sum_to_the_discount_factor_and_digital_is_minus_call_slope() -> None:
    expiry = 0.5
    df = np.exp(-R_JPY * expiry)
    up = price(Payoff.DIGITAL_CALL_JPY, STRIKES, expiry)
    down = price(Payoff.DIGITAL_PUT_JPY, STRIKES, expiry)
    np.testing.assert_allclose(up + down, df, rtol=1e-13)
    h = 1e-4
    slope = (price(Payoff.CALL, STRIKES + h, expiry) - price(Payoff.CALL, STRIKES - h, expiry)) / (
        2 * h
    )
    np.testing.assert_allclose(up, -slope, atol=1e-8)


def test_one_scenario_at_the_forward_reduces_to_black() -> None:
    """σ_post = σ_pre and J = 1: the mixture is Black with σ_pre (QuantLib blackFormula)."""
    mix = ScenarioMix(weights=np.array([1.0]), jumps=np.array([1.0]), vols=np.array([PRE_VOL]))
    for expiry in (3 / 365, 0.5, 2.0):
        forward = SPOT * np.exp((R_JPY - R_USD) * expiry)
        ours = price(Payoff.CALL, STRIKES, expiry, mix)
        for k, value in zip(STRIKES, ours, strict=True):
            if value < 1e-4 * forward:
                continue  # QuantLib's erf-based N(x) is short of 1e-12 in the far tail
            reference = ql.blackFormula(
                ql.Option.Call, k, forward, PRE_VOL * np.sqrt(expiry), np.exp(-R_JPY * expiry)
            )
            assert value == pytest.approx(reference, rel=1e-12, abs=1e-300)


def test_expiries_on_or_before_the_event_ignore_the_scenarios() -> None:
    expiry = T_EVENT
    wild = ScenarioMix(
        weights=np.array([0.5, 0.5]), jumps=np.array([0.5, 1.5]), vols=np.array([1.0, 2.0])
    )
    single = ScenarioMix(weights=np.array([1.0]), jumps=np.array([1.0]), vols=np.array([0.3]))
    np.testing.assert_array_equal(
        price(Payoff.CALL, STRIKES, expiry, wild), price(Payoff.CALL, STRIKES, expiry, single)
    )


@given(
    expiry=st.floats(min_value=0.08, max_value=3.0),
    strike=st.floats(min_value=90.0, max_value=210.0),
    gap=st.floats(min_value=0.01, max_value=5.0),
    vol_shift=st.floats(min_value=-0.05, max_value=0.2),
)
def test_calls_lie_in_bounds_fall_and_are_convex_in_strike(
    expiry: float, strike: float, gap: float, vol_shift: float
) -> None:
    mix = tilted_mix(vols=VOLS + vol_shift)
    strikes = np.array([strike - gap, strike, strike + gap])
    calls = price(Payoff.CALL, strikes, expiry, mix)
    df = np.exp(-R_JPY * expiry)
    forward = SPOT * np.exp((R_JPY - R_USD) * expiry)
    tol = 1e-12 * SPOT
    assert np.all(calls >= df * np.maximum(forward - strikes, 0.0) - tol)
    assert np.all(calls <= df * forward + tol)
    assert calls[0] >= calls[1] - tol >= calls[2] - 2 * tol
    assert calls[0] - 2 * calls[1] + calls[2] >= -4 * tol
    assert calls[0] - calls[1] <= df * gap + tol  # slope bounded by the discount factor


def _bumped(field: str, h: float, payoff: int, strikes: np.ndarray, expiry: float) -> float:
    """Central difference of the price for a bump of one model input."""

    def value(sign: float) -> np.ndarray:
        spot, r_d, r_f, pre = SPOT, R_JPY, R_USD, PRE_VOL
        vols, t_event, t = VOLS, T_EVENT, expiry
        if field == "spot":
            spot += sign * h
        elif field == "r_d":
            r_d += sign * h
        elif field == "r_f":
            r_f += sign * h
        elif field == "vol":
            pre, vols = pre + sign * h, vols + sign * h
        elif field == "time":
            t_event, t = t_event - sign * h, t - sign * h
        b = flat_book(
            payoffs=np.full(strikes.shape, payoff),
            strikes=strikes,
            expiries=np.full(strikes.shape, t),
            spot=spot,
            r_jpy=r_d,
            r_usd=r_f,
            pre_vol=pre,
            event_time=t_event,
        )
        fit = risk_neutral(probabilities=PROBS, jumps=LEVELS / SPOT, measure=Measure.TILT)
        mix = ScenarioMix(weights=fit.weights, jumps=fit.jumps, vols=vols)
        return mixture_greeks(book=b, mix=mix, spot=spot).price

    return (value(1.0) - value(-1.0)) / (2 * h)


@pytest.mark.parametrize(
    "payoff", [Payoff.CALL, Payoff.PUT, Payoff.DIGITAL_CALL_JPY, Payoff.DIGITAL_PUT_USD]
)
@pytest.mark.parametrize("expiry", [10 / 365, 0.5])
def test_greeks_equal_finite_differences_of_the_price(payoff: int, expiry: float) -> None:
    strikes = np.array([130.0, 144.0, 160.0])
    g = mixture_greeks(book=book(payoff, strikes, expiry), mix=tilted_mix(), spot=SPOT)
    # theta: the valuation date moves, so time to expiry and to the event both shrink
    checks = {
        "delta": ("spot", 1e-3),
        "vega": ("vol", 1e-5),
        "rho_jpy": ("r_d", 1e-6),
        "rho_usd": ("r_f", 1e-6),
        "theta": ("time", 1e-6),
    }
    for greek, (field, h) in checks.items():
        fd = _bumped(field, h, payoff, strikes, expiry)
        np.testing.assert_allclose(getattr(g, greek), fd, rtol=1e-5, atol=1e-8, err_msg=greek)
    h = 1e-2
    up = mixture_greeks(
        book=flat_book(
            payoffs=np.full(3, payoff),
            strikes=strikes,
            expiries=np.full(3, expiry),
            spot=SPOT + h,
            r_jpy=R_JPY,
            r_usd=R_USD,
            pre_vol=PRE_VOL,
            event_time=T_EVENT,
        ),
        mix=tilted_mix(),
        spot=SPOT + h,
    ).delta
    down = mixture_greeks(
        book=flat_book(
            payoffs=np.full(3, payoff),
            strikes=strikes,
            expiries=np.full(3, expiry),
            spot=SPOT - h,
            r_jpy=R_JPY,
            r_usd=R_USD,
            pre_vol=PRE_VOL,
            event_time=T_EVENT,
        ),
        mix=tilted_mix(),
        spot=SPOT - h,
    ).delta
    np.testing.assert_allclose(g.gamma, (up - down) / (2 * h), rtol=1e-5, atol=1e-8)


def test_scenario_values_are_the_weight_sensitivities_and_recombine_to_the_price() -> None:
    strikes = np.array([135.0, 145.0, 155.0])
    g = mixture_greeks(book=book(Payoff.CALL, strikes, 0.5), mix=tilted_mix(), spot=SPOT)
    np.testing.assert_allclose(g.scenario_values @ tilted_mix().weights, g.price, rtol=1e-14)


def test_strike_dependent_vols_equal_pricing_each_strike_alone() -> None:
    strikes = np.array([130.0, 145.0, 160.0])
    smile = np.array([[0.14, 0.15, 0.16, 0.17, 0.18], [0.09, 0.1, 0.1, 0.125, 0.15], [0.12] * 5])
    mix = tilted_mix()
    together = mixture_greeks(
        book=book(Payoff.CALL, strikes, 0.5),
        mix=ScenarioMix(weights=mix.weights, jumps=mix.jumps, vols=smile),
        spot=SPOT,
    ).price
    for i, k in enumerate(strikes):
        alone = price(
            Payoff.CALL, np.array([k]), 0.5, ScenarioMix(mix.weights, mix.jumps, smile[i])
        )
        assert together[i] == alone[0]
