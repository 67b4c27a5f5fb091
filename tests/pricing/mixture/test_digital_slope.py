"""Digitals off a smile: the slope term of :mod:`pricing.mixture.digital_slope`.

Witnesses: a digital is exactly ``−dC/dK`` of the smile-priced call and a USD digital
``C − K·dC/dK`` (Breeden–Litzenberger), checked by central differences of the kernel's own
vanilla prices with every vol re-read off the smile at the bumped strike; digital parity
(call + put = DF for JPY digitals, ``DF·F_mix`` for USD ones); central differences for
every Greek at fixed vols and vol slopes per strike (sticky strike).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pricing.fx.black import Payoff
from pricing.mixture.digital_slope import add_results, digital_slope_terms
from pricing.mixture.european import MixtureResult, OptionBook, ScenarioMix, mixture_greeks
from pricing.mixture.measure import Measure, risk_neutral
from tests.pricing.book import flat_book

SPOT, R_JPY, R_USD, T_EVENT = 144.1, 0.0048, 0.043, 26 / 365
LEVELS = np.array([158.0, 148.0, 139.0, 134.0])
PROBS = np.array([0.3, 0.3, 0.25, 0.15])
# each smile: σ(K) = σ0 + a·k + b·k², k = ln(K/F_component); a pre-event smile and 4 scenarios
PRE = (0.105, -0.09, 0.9)
POST = np.array([[0.09, -0.05, 0.6], [0.10, -0.08, 0.8], [0.125, -0.15, 1.0], [0.15, -0.2, 1.2]])
STRIKES = np.array([128.0, 136.0, 142.0, 144.0, 147.0, 152.0, 160.0])


def smile(params, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``σ`` and ``dσ/dk`` of the quadratic smile at ``k``."""
    s0, a, b = (np.asarray(p)[..., None] if np.ndim(p) else p for p in params)
    return s0 + a * k + b * k * k, a + 2 * b * k


def priced(payoff: int, strikes: np.ndarray, expiry: float, spot: float = SPOT) -> MixtureResult:
    """Kernel + slope term with every vol and slope read at each strike."""
    book = flat_book(
        payoffs=np.full(strikes.shape, payoff),
        strikes=strikes,
        expiries=np.full(strikes.shape, expiry),
        spot=spot,
        r_jpy=R_JPY,
        r_usd=R_USD,
        pre_vol=0.1,
        event_time=T_EVENT,
    )
    return price_book(book, spot)


def inputs(book: OptionBook) -> tuple[OptionBook, ScenarioMix, np.ndarray, np.ndarray]:
    fit = risk_neutral(probabilities=PROBS, jumps=LEVELS / SPOT, measure=Measure.TILT)
    k = np.log(book.strikes / book.forwards)
    pre_vols, pre_dk = smile(PRE, k)
    k_post = k[:, None] - np.log(fit.jumps)[None, :]
    post = smile(tuple(POST.T), k_post.T)  # [m, n]
    book = dataclasses.replace(book, pre_vols=pre_vols)
    mix = ScenarioMix(weights=fit.weights, jumps=fit.jumps, vols=post[0].T.copy())
    return book, mix, pre_dk / book.strikes, (post[1] / book.strikes).T.copy()


def price_book(book: OptionBook, spot: float) -> MixtureResult:
    book, mix, pre_slopes, slopes = inputs(book)
    kernel = mixture_greeks(book=book, mix=mix, spot=spot)
    extra = digital_slope_terms(
        book=book, mix=mix, pre_vol_slopes=pre_slopes, vol_slopes=slopes, spot=spot
    )
    return add_results(kernel, extra)


@pytest.mark.parametrize("expiry", [14 / 365, 0.25, 1.0])
def test_digitals_are_minus_the_strike_derivative_of_smile_calls(expiry: float) -> None:
    def central(h: np.ndarray) -> np.ndarray:
        up = priced(Payoff.CALL, STRIKES + h, expiry).price
        return (up - priced(Payoff.CALL, STRIKES - h, expiry).price) / (2 * h)

    # Richardson on two central differences: truncation O(h⁴), far below the tolerance
    h = 0.01 * STRIKES * 0.1 * np.sqrt(expiry)  # 1% of a standard deviation
    slope = (4 * central(h / 2) - central(h)) / 3
    calls = priced(Payoff.CALL, STRIKES, expiry).price
    jpy = priced(Payoff.DIGITAL_CALL_JPY, STRIKES, expiry).price
    usd = priced(Payoff.DIGITAL_CALL_USD, STRIKES, expiry).price
    np.testing.assert_allclose(jpy, -slope, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(usd, calls - STRIKES * slope, rtol=1e-7, atol=1e-8)
    # without the slope term the digital would be off by far more than the tolerance
    kernel_only = mixture_greeks(
        book=inputs(flat_book_for(Payoff.DIGITAL_CALL_JPY, expiry))[0],
        mix=inputs(flat_book_for(Payoff.DIGITAL_CALL_JPY, expiry))[1],
        spot=SPOT,
    ).price
    assert np.max(np.abs(kernel_only - jpy)) > 1e-3


def flat_book_for(payoff: int, expiry: float) -> OptionBook:
    return flat_book(
        payoffs=np.full(STRIKES.shape, payoff),
        strikes=STRIKES,
        expiries=np.full(STRIKES.shape, expiry),
        spot=SPOT,
        r_jpy=R_JPY,
        r_usd=R_USD,
        pre_vol=0.1,
        event_time=T_EVENT,
    )


@pytest.mark.parametrize("expiry", [14 / 365, 0.5])
def test_digital_parity_holds_off_the_smile(expiry: float) -> None:
    df = np.exp(-R_JPY * expiry)
    forward = SPOT * np.exp((R_JPY - R_USD) * expiry)
    up, down = (
        priced(p, STRIKES, expiry) for p in (Payoff.DIGITAL_CALL_JPY, Payoff.DIGITAL_PUT_JPY)
    )
    np.testing.assert_allclose(up.price + down.price, df, rtol=1e-14)
    np.testing.assert_allclose(up.scenario_values + down.scenario_values, df, rtol=1e-14)
    usd_up, usd_down = (
        priced(p, STRIKES, expiry) for p in (Payoff.DIGITAL_CALL_USD, Payoff.DIGITAL_PUT_USD)
    )
    # Σ q·J = 1 under the tilt, so the USD digitals sum to DF·F
    np.testing.assert_allclose(usd_up.price + usd_down.price, df * forward, rtol=1e-13)


def _bumped(payoff: int, expiry: float, **changes: float) -> float:
    """Price with the market shifted by ``changes``, vols and slopes per strike held."""
    spot = SPOT + changes.get("spot", 0.0)
    r_jpy, r_usd = R_JPY + changes.get("r_jpy", 0.0), R_USD + changes.get("r_usd", 0.0)
    elapsed, shift = changes.get("elapsed", 0.0), changes.get("vol", 0.0)
    base = flat_book_for(payoff, expiry)
    book, mix, pre_slopes, slopes = inputs(base)
    t = expiry - elapsed
    book = dataclasses.replace(
        book,
        forwards=spot * np.exp((r_jpy - r_usd) * t) * np.ones_like(STRIKES),
        discount_factors=np.exp(-r_jpy * t) * np.ones_like(STRIKES),
        delivery_times=np.full(STRIKES.shape, t),
        rates_jpy=np.full(STRIKES.shape, r_jpy),
        rates_usd=np.full(STRIKES.shape, r_usd),
        pre_vols=book.pre_vols + shift,
        pre_times=book.pre_times - elapsed,
    )
    mix = dataclasses.replace(mix, vols=mix.vols + shift)
    terms = digital_slope_terms(
        book=book, mix=mix, pre_vol_slopes=pre_slopes, vol_slopes=slopes, spot=spot
    )
    return terms.price


@pytest.mark.parametrize("payoff", [Payoff.DIGITAL_CALL_JPY, Payoff.DIGITAL_PUT_USD])
@pytest.mark.parametrize("expiry", [14 / 365, 0.5])
def test_slope_term_greeks_are_its_derivatives(payoff: int, expiry: float) -> None:
    base = flat_book_for(payoff, expiry)
    book, mix, pre_slopes, slopes = inputs(base)
    terms = digital_slope_terms(
        book=book, mix=mix, pre_vol_slopes=pre_slopes, vol_slopes=slopes, spot=SPOT
    )
    assert np.max(np.abs(terms.price)) > 1e-3  # the smile matters here

    def central(name: str, h: float) -> np.ndarray:
        return (_bumped(payoff, expiry, **{name: h}) - _bumped(payoff, expiry, **{name: -h})) / (
            2 * h
        )

    h_s = 1e-3
    np.testing.assert_allclose(terms.delta, central("spot", h_s), rtol=1e-6, atol=1e-9)
    gamma = (
        _bumped(payoff, expiry, spot=h_s) - 2 * terms.price + _bumped(payoff, expiry, spot=-h_s)
    ) / h_s**2
    np.testing.assert_allclose(terms.gamma, gamma, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(terms.vega, central("vol", 1e-6), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(terms.rho_jpy, central("r_jpy", 1e-6), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(terms.rho_usd, central("r_usd", 1e-6), rtol=1e-6, atol=1e-9)
    # theta: the valuation date rolls forward (one-sided at the start of life)
    h_t = 1e-6
    theta = (_bumped(payoff, expiry, elapsed=h_t) - _bumped(payoff, expiry, elapsed=-h_t)) / (
        2 * h_t
    )
    np.testing.assert_allclose(terms.theta, theta, rtol=1e-5, atol=1e-8)


def test_jump_sensitivity_of_the_slope_term() -> None:
    expiry = 0.5
    book, mix, pre_slopes, slopes = inputs(flat_book_for(Payoff.DIGITAL_CALL_JPY, expiry))
    terms = digital_slope_terms(
        book=book, mix=mix, pre_vol_slopes=pre_slopes, vol_slopes=slopes, spot=SPOT
    )
    h = 1e-7
    for j in range(mix.jumps.size):
        bump = np.zeros(mix.jumps.size)
        bump[j] = h
        prices = [
            digital_slope_terms(
                book=book,
                mix=dataclasses.replace(mix, jumps=mix.jumps + sign * bump),
                pre_vol_slopes=pre_slopes,
                vol_slopes=slopes,
                spot=SPOT,
            ).price
            for sign in (1.0, -1.0)
        ]
        np.testing.assert_allclose(
            terms.d_jumps[:, j], (prices[0] - prices[1]) / (2 * h), rtol=1e-6, atol=1e-9
        )


def test_flat_smiles_add_nothing() -> None:
    book = flat_book_for(Payoff.DIGITAL_CALL_USD, 0.5)
    fit = risk_neutral(probabilities=PROBS, jumps=LEVELS / SPOT, measure=Measure.TILT)
    mix = ScenarioMix(weights=fit.weights, jumps=fit.jumps, vols=POST[:, 0])
    terms = digital_slope_terms(
        book=book, mix=mix, pre_vol_slopes=np.zeros(STRIKES.size), vol_slopes=None, spot=SPOT
    )
    for field in dataclasses.fields(terms):
        assert not np.any(getattr(terms, field.name)), field.name
