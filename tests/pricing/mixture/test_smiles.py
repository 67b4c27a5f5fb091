"""Per-component pre-event vols ``[n, m]`` in the mixture: the compiled kernel of
:mod:`pricing.mixture.european` (what the service prices with) and its numpy twin
(:mod:`pricing.mixture.smiles`), each with the digital slope term.

Witnesses, for both: the kernel with one pre-event vol per option wherever that applies
(columns equal); put–call parity; central differences for every Greek with the vols at each
strike held (sticky strike); a digital as minus the strike derivative of calls whose vols are
re-read off the smiles at the bumped strike. And the two agree to 1e-12 with distinct
columns.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pricing.fx.black import Payoff
from pricing.mixture.digital_slope import add_results, digital_slope_terms
from pricing.mixture.european import MixtureResult, OptionBook, ScenarioMix, mixture_greeks
from pricing.mixture.measure import Measure, risk_neutral
from pricing.mixture.smiles import smile_mixture_greeks
from tests.pricing.book import flat_book

SPOT, R_JPY, R_USD, T_EVENT = 144.1, 0.0048, 0.043, 26 / 365
LEVELS = np.array([158.0, 148.0, 139.0, 134.0])
PROBS = np.array([0.3, 0.3, 0.25, 0.15])
FIT = risk_neutral(probabilities=PROBS, jumps=LEVELS / SPOT, measure=Measure.TILT)
STRIKES = np.array([126.0, 134.0, 140.0, 144.0, 148.0, 155.0, 166.0])
PAYOFFS = list(Payoff)
IMPLEMENTATIONS = ["compiled", "numpy"]


def pre_smile(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """σ_pre and dσ_pre/dk of a quadratic smile in the component's log-moneyness."""
    return 0.105 - 0.09 * k + 0.9 * k * k, -0.09 + 1.8 * k


def post_smile(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s0 = np.array([0.09, 0.10, 0.125, 0.15])
    return s0 - 0.1 * k + 0.8 * k * k, -0.1 + 1.6 * k


def book(payoff: int, expiry: float, strikes: np.ndarray = STRIKES) -> OptionBook:
    return flat_book(
        payoffs=np.full(strikes.shape, payoff),
        strikes=strikes,
        expiries=np.full(strikes.shape, expiry),
        spot=SPOT,
        r_jpy=R_JPY,
        r_usd=R_USD,
        pre_vol=0.1,
        event_time=T_EVENT,
    )


def vols_at(b: OptionBook) -> tuple[ScenarioMix, np.ndarray, np.ndarray, np.ndarray]:
    """Each component's vols and slopes at its own moneyness ``ln(K/(F·J_i))``."""
    after = (b.post_times > 0)[:, None]
    k = np.log(b.strikes / b.forwards)[:, None] - np.where(after, np.log(FIT.jumps), 0.0)
    pre, pre_dk = pre_smile(k)
    post, post_dk = post_smile(k)
    strikes = b.strikes[:, None]
    mix = ScenarioMix(weights=FIT.weights, jumps=FIT.jumps, vols=post)
    return mix, pre, pre_dk / strikes, post_dk / strikes


def greeks_of(
    impl: str,
    b: OptionBook,
    mix: ScenarioMix,
    pre: np.ndarray,
    pre_slopes: np.ndarray | None,
    post_slopes: np.ndarray | None,
    spot: float = SPOT,
) -> MixtureResult:
    """Mixture Greeks with per-component pre-event vols ``pre`` ``[n, m]``."""
    if impl == "numpy":
        return smile_mixture_greeks(
            book=b,
            mix=mix,
            pre_vols=pre,
            pre_vol_slopes=pre_slopes,
            vol_slopes=post_slopes,
            spot=spot,
        )
    b = dataclasses.replace(b, pre_vols=pre)
    result = mixture_greeks(book=b, mix=mix, spot=spot)
    if pre_slopes is None and post_slopes is None:
        return result
    slope_terms = digital_slope_terms(
        book=b,
        mix=mix,
        pre_vols=pre,
        pre_vol_slopes=np.zeros_like(pre) if pre_slopes is None else pre_slopes,
        vol_slopes=post_slopes,
        spot=spot,
    )
    return add_results(result, slope_terms)


def priced(b: OptionBook, impl: str = "compiled", slopes: bool = True) -> MixtureResult:
    mix, pre, pre_slopes, post_slopes = vols_at(b)
    if not slopes:
        pre_slopes = post_slopes = None
    return greeks_of(impl, b, mix, pre, pre_slopes, post_slopes)


def assert_same_figures(ours: MixtureResult, reference: MixtureResult) -> None:
    """Every price and Greek equal to 1e-12 relative (1e-13 absolute near zero)."""
    for field in dataclasses.fields(reference):
        np.testing.assert_allclose(
            getattr(ours, field.name),
            getattr(reference, field.name),
            rtol=1e-12,
            atol=1e-13,
            err_msg=field.name,
        )


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("payoff", PAYOFFS)
@pytest.mark.parametrize("expiry", [14 / 365, 0.3, 2.0])
def test_equal_pre_vols_reproduce_one_pre_vol_per_option(
    impl: str, payoff: int, expiry: float
) -> None:
    b = book(payoff, expiry)
    mix, pre, _, _ = vols_at(b)
    same = np.repeat(pre[:, :1], FIT.weights.size, axis=1)
    ours = greeks_of(impl, b, mix, same, None, None)
    kernel = mixture_greeks(book=dataclasses.replace(b, pre_vols=same[:, 0]), mix=mix, spot=SPOT)
    assert_same_figures(ours, kernel)


@pytest.mark.parametrize("payoff", PAYOFFS)
@pytest.mark.parametrize("expiry", [14 / 365, 0.3, 2.0])
def test_compiled_kernel_equals_its_numpy_twin(payoff: int, expiry: float) -> None:
    b = book(payoff, expiry)
    compiled, twin = priced(b, "compiled"), priced(b, "numpy")
    assert_same_figures(compiled, twin)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("expiry", [14 / 365, 0.5])
def test_put_call_parity_with_per_component_smiles(impl: str, expiry: float) -> None:
    calls, puts = priced(book(Payoff.CALL, expiry), impl), priced(book(Payoff.PUT, expiry), impl)
    forward = SPOT * np.exp((R_JPY - R_USD) * expiry)
    parity = np.exp(-R_JPY * expiry) * (forward - STRIKES)
    np.testing.assert_allclose(calls.price - puts.price, parity, rtol=0, atol=1e-12 * SPOT)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("expiry", [14 / 365, 0.25, 1.0])
def test_digitals_are_minus_the_strike_derivative_of_calls(impl: str, expiry: float) -> None:
    def central(h: np.ndarray) -> np.ndarray:
        up = priced(book(Payoff.CALL, expiry, STRIKES + h), impl).price
        return (up - priced(book(Payoff.CALL, expiry, STRIKES - h), impl).price) / (2 * h)

    h = 0.01 * STRIKES * 0.1 * np.sqrt(expiry)
    slope = (4 * central(h / 2) - central(h)) / 3  # Richardson: O(h⁴)
    calls = priced(book(Payoff.CALL, expiry), impl).price
    jpy = priced(book(Payoff.DIGITAL_CALL_JPY, expiry), impl).price
    usd = priced(book(Payoff.DIGITAL_CALL_USD, expiry), impl).price
    np.testing.assert_allclose(jpy, -slope, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(usd, calls - STRIKES * slope, rtol=1e-7, atol=1e-8)


def _shifted(impl: str, payoff: int, expiry: float, **shift: float) -> np.ndarray:
    """Price with the market shifted, every vol and slope at each strike held."""
    b = book(payoff, expiry)
    mix, pre, pre_slopes, post_slopes = vols_at(b)
    spot = SPOT + shift.get("spot", 0.0)
    r_jpy, r_usd = R_JPY + shift.get("r_jpy", 0.0), R_USD + shift.get("r_usd", 0.0)
    elapsed, vol = shift.get("elapsed", 0.0), shift.get("vol", 0.0)
    t = expiry - elapsed
    n = STRIKES.size
    b = dataclasses.replace(
        b,
        forwards=np.full(n, spot * np.exp((r_jpy - r_usd) * t)),
        discount_factors=np.full(n, np.exp(-r_jpy * t)),
        delivery_times=np.full(n, t),
        rates_jpy=np.full(n, r_jpy),
        rates_usd=np.full(n, r_usd),
        pre_times=b.pre_times - elapsed,
    )
    shifted_mix = dataclasses.replace(mix, vols=mix.vols + vol)
    return greeks_of(impl, b, shifted_mix, pre + vol, pre_slopes, post_slopes, spot).price


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("payoff", [Payoff.CALL, Payoff.DIGITAL_PUT_JPY, Payoff.DIGITAL_CALL_USD])
@pytest.mark.parametrize("expiry", [14 / 365, 0.5])
def test_greeks_are_derivatives_at_sticky_strike(impl: str, payoff: int, expiry: float) -> None:
    result = priced(book(payoff, expiry), impl)

    def central(name: str, h: float) -> np.ndarray:
        up, down = (
            _shifted(impl, payoff, expiry, **{name: h}),
            _shifted(impl, payoff, expiry, **{name: -h}),
        )
        return (up - down) / (2 * h)

    np.testing.assert_allclose(result.delta, central("spot", 1e-3), rtol=1e-6, atol=1e-9)
    gamma = (
        _shifted(impl, payoff, expiry, spot=1e-2)
        - 2 * result.price
        + _shifted(impl, payoff, expiry, spot=-1e-2)
    ) / 1e-4
    np.testing.assert_allclose(result.gamma, gamma, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(result.vega, central("vol", 1e-6), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(result.theta, central("elapsed", 1e-6), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.rho_jpy, central("r_jpy", 1e-6), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(result.rho_usd, central("r_usd", 1e-6), rtol=1e-6, atol=1e-8)
    recombined = result.scenario_values @ FIT.weights
    np.testing.assert_allclose(recombined, result.price, rtol=1e-13, atol=1e-15)
