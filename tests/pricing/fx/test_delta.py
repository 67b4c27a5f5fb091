"""Strike ⇄ delta against QuantLib's BlackDeltaCalculator (the witness), all conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.fx.delta import (
    AtmType,
    DeltaType,
    atm_strike,
    bracketed_newton,
    delta_from_strike,
    strike_from_delta,
)

SPOT = 144.1
DF_JPY = 0.9952  # domestic (JPY) discount factor to delivery
DF_USD = 0.9606  # foreign (USD) discount factor to delivery
FORWARD = SPOT * DF_USD / DF_JPY
STD_DEVS = (0.005, 0.03, 0.1, 0.3, 0.7, 1.2)
QL_DELTA = {
    DeltaType.SPOT: ql.DeltaVolQuote.Spot,
    DeltaType.FORWARD: ql.DeltaVolQuote.Fwd,
    DeltaType.PREMIUM_ADJUSTED_SPOT: ql.DeltaVolQuote.PaSpot,
    DeltaType.PREMIUM_ADJUSTED_FORWARD: ql.DeltaVolQuote.PaFwd,
}
ALL_TYPES = list(DeltaType)
ADJUSTED = [DeltaType.PREMIUM_ADJUSTED_SPOT, DeltaType.PREMIUM_ADJUSTED_FORWARD]
UNADJUSTED = [DeltaType.SPOT, DeltaType.FORWARD]


def calculator(is_call: bool, delta_type: DeltaType, std_dev: float) -> ql.BlackDeltaCalculator:
    option = ql.Option.Call if is_call else ql.Option.Put
    return ql.BlackDeltaCalculator(option, QL_DELTA[delta_type], SPOT, DF_JPY, DF_USD, std_dev)


def ours(delta_type: DeltaType, is_call: bool, std_dev: float, deltas: np.ndarray):
    return strike_from_delta(
        deltas=deltas,
        forwards=FORWARD,
        std_devs=std_dev,
        foreign_discount_factors=DF_USD,
        is_call=is_call,
        delta_type=delta_type,
    )


def ql_strike(calc: ql.BlackDeltaCalculator, delta: float) -> float | None:
    try:
        return calc.strikeFromDelta(float(delta))
    except RuntimeError:  # QuantLib: no strike (out of range, or unbracketed for adjusted calls)
        return None


@pytest.mark.parametrize("delta_type", ALL_TYPES)
@pytest.mark.parametrize("is_call", [True, False])
def test_delta_from_strike_matches_quantlib(delta_type: DeltaType, is_call: bool) -> None:
    for std_dev in STD_DEVS:
        strikes = FORWARD * np.exp(np.linspace(-4.0, 4.0, 33) * std_dev)
        deltas = delta_from_strike(
            strikes=strikes,
            forwards=FORWARD,
            std_devs=std_dev,
            foreign_discount_factors=DF_USD,
            is_call=is_call,
            delta_type=delta_type,
        )
        calc = calculator(is_call, delta_type, std_dev)
        expected = [calc.deltaFromStrike(float(k)) for k in strikes]
        np.testing.assert_allclose(deltas, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("delta_type", ADJUSTED)
@pytest.mark.parametrize("is_call", [True, False])
def test_premium_adjusted_strike_from_delta_matches_quantlib(
    delta_type: DeltaType, is_call: bool
) -> None:
    sign = 1.0 if is_call else -1.0
    for std_dev in STD_DEVS:
        deltas = sign * np.array([0.01, 0.05, 0.1, 0.25, 0.4, 0.45])
        solution = ours(delta_type, is_call, std_dev, deltas)
        calc = calculator(is_call, delta_type, std_dev)
        for delta, strike, solved in zip(deltas, solution.strikes, solution.solved, strict=True):
            expected = ql_strike(calc, delta)
            assert solved == (expected is not None), (std_dev, delta)
            if solved:
                # QuantLib's Brent stops at 1e-10 in strike; ours is exact to rounding
                assert strike == pytest.approx(expected, rel=1e-10, abs=2e-10)
                assert calc.deltaFromStrike(float(strike)) == pytest.approx(delta, abs=1e-13)


@pytest.mark.parametrize("delta_type", UNADJUSTED)
@pytest.mark.parametrize("is_call", [True, False])
def test_unadjusted_strike_from_delta_matches_quantlib(
    delta_type: DeltaType, is_call: bool
) -> None:
    """QuantLib inverts N with Acklam's algorithm (relative error ~1e-9, not refined), so its
    own strikes miss their delta by up to ~3e-10; ours are checked through QuantLib's delta
    (to 1e-13) and must agree with QuantLib's strike as closely as that algorithm allows."""
    sign = 1.0 if is_call else -1.0
    for std_dev in STD_DEVS:
        deltas = sign * np.array([0.01, 0.05, 0.1, 0.25, 0.4, 0.5])
        solution = ours(delta_type, is_call, std_dev, deltas)
        assert solution.solved.all()
        calc = calculator(is_call, delta_type, std_dev)
        for delta, strike in zip(deltas, solution.strikes, strict=True):
            assert calc.deltaFromStrike(float(strike)) == pytest.approx(delta, abs=1e-13)
            expected = calc.strikeFromDelta(float(delta))
            ql_error = abs(calc.deltaFromStrike(expected) - delta)
            assert ql_error < 1e-9
            assert strike == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("delta_type", ALL_TYPES)
def test_atm_strikes_match_quantlib(delta_type: DeltaType) -> None:
    for std_dev in STD_DEVS:
        calc = calculator(True, delta_type, std_dev)
        for atm_type, ql_atm in (
            (AtmType.FORWARD, ql.DeltaVolQuote.AtmFwd),
            (AtmType.DELTA_NEUTRAL, ql.DeltaVolQuote.AtmDeltaNeutral),
            (AtmType.SPOT, ql.DeltaVolQuote.AtmSpot),
        ):
            strike = atm_strike(
                forwards=np.array([FORWARD]),
                std_devs=np.array([std_dev]),
                atm_type=atm_type,
                delta_type=delta_type,
                spots=np.array([SPOT]),
            )
            assert strike[0] == pytest.approx(calc.atmStrike(ql_atm), rel=1e-14)


@pytest.mark.parametrize("delta_type", ALL_TYPES)
def test_delta_neutral_straddle_has_zero_delta(delta_type: DeltaType) -> None:
    # the defining identity, with QuantLib's deltas
    for std_dev in STD_DEVS:
        strike = atm_strike(
            forwards=FORWARD,
            std_devs=std_dev,
            atm_type=AtmType.DELTA_NEUTRAL,
            delta_type=delta_type,
        )
        call = calculator(True, delta_type, std_dev).deltaFromStrike(float(strike))
        put = calculator(False, delta_type, std_dev).deltaFromStrike(float(strike))
        assert call + put == pytest.approx(0.0, abs=1e-13)


@pytest.mark.parametrize("delta_type", ADJUSTED)
def test_adjusted_call_delta_above_its_maximum_has_no_strike(delta_type: DeltaType) -> None:
    std_dev = 1.2
    calc = calculator(True, delta_type, std_dev)
    grid = FORWARD * np.exp(np.linspace(-6.0, 2.0, 4001) * std_dev)
    peak = max(calc.deltaFromStrike(float(k)) for k in grid)
    below, above = peak - 1e-3, peak + 1e-6
    solution = ours(delta_type, True, std_dev, np.array([below, above]))
    assert solution.solved.tolist() == [True, False]
    assert math.isnan(solution.strikes[1])
    assert ql_strike(calc, above) is None
    # the desk's strike is right of the peak (QuantLib's choice too)
    assert solution.strikes[0] == pytest.approx(calc.strikeFromDelta(below), rel=1e-10)


def test_incoherent_deltas_have_no_strike() -> None:
    # wrong sign or beyond the attainable range: QuantLib refuses them too
    for delta_type, deltas, is_call in (
        (DeltaType.SPOT, np.array([-0.25, 0.99]), True),
        (DeltaType.FORWARD, np.array([0.25, -1.2]), False),
        (DeltaType.PREMIUM_ADJUSTED_FORWARD, np.array([0.25]), False),
        (DeltaType.PREMIUM_ADJUSTED_SPOT, np.array([-0.25, 0.99]), True),
    ):
        solution = ours(delta_type, is_call, 0.1, deltas)
        assert not solution.solved.any()
        assert np.isnan(solution.strikes).all()
        calc = calculator(is_call, delta_type, 0.1)
        assert all(ql_strike(calc, d) is None for d in deltas)


def test_boundary_deltas_have_no_finite_strike() -> None:
    # Δ = 0, Δ = DF_f (spot) and |Δ| = 1 (forward) belong to K = 0 or K = ∞
    for delta_type, deltas, is_call in (
        (DeltaType.SPOT, np.array([0.0, DF_USD]), True),
        (DeltaType.FORWARD, np.array([-1.0, 0.0]), False),
        (DeltaType.PREMIUM_ADJUSTED_FORWARD, np.array([0.0]), False),
    ):
        assert not ours(delta_type, is_call, 0.1, deltas).solved.any()


def test_adjusted_put_deltas_beyond_one_are_solved() -> None:
    # an adjusted put delta is unbounded deep in the money (QuantLib's bracket cannot reach it)
    deltas = np.array([-1.0, -1.5])
    solution = ours(DeltaType.PREMIUM_ADJUSTED_FORWARD, False, 0.1, deltas)
    assert solution.solved.all()
    calc = calculator(False, DeltaType.PREMIUM_ADJUSTED_FORWARD, 0.1)
    for delta, strike in zip(deltas, solution.strikes, strict=True):
        assert calc.deltaFromStrike(float(strike)) == pytest.approx(delta, abs=1e-13)


@settings(max_examples=200, deadline=None)
@given(
    log_moneyness=st.floats(-3.0, 3.0),
    std_dev=st.floats(0.002, 1.5),
    is_call=st.booleans(),
    delta_type=st.sampled_from(ALL_TYPES),
)
def test_strike_delta_round_trip(
    log_moneyness: float, std_dev: float, is_call: bool, delta_type: DeltaType
) -> None:
    strike = FORWARD * math.exp(log_moneyness * std_dev)
    delta = delta_from_strike(
        strikes=strike,
        forwards=FORWARD,
        std_devs=std_dev,
        foreign_discount_factors=DF_USD,
        is_call=is_call,
        delta_type=delta_type,
    )
    if abs(delta) < 1e-12:
        return  # too far out to carry a strike in double precision
    solution = ours(delta_type, is_call, std_dev, delta)
    assert bool(solution.solved)
    if delta_type.is_premium_adjusted and is_call:
        d2 = -log_moneyness - 0.5 * std_dev
        if math.exp(-0.5 * d2 * d2) / math.sqrt(2 * math.pi) < std_dev * 0.5 * math.erfc(
            -d2 / math.sqrt(2)
        ):
            # left of the delta's peak: the same delta's desk strike lies to the right
            assert float(solution.strikes) > strike
            return
    assert float(solution.strikes) == pytest.approx(strike, rel=1e-9)


def test_bracketed_newton_flags_a_bracket_without_sign_change() -> None:
    def fun(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x * x - 2.0, 2.0 * x

    result = bracketed_newton(fun=fun, lower=np.array([0.0, 2.0]), upper=np.array([2.0, 3.0]))
    assert result.converged.tolist() == [True, False]
    assert result.roots[0] == pytest.approx(math.sqrt(2.0), rel=1e-15)
    assert math.isnan(result.roots[1])


def test_nonpositive_std_dev_is_a_broken_contract() -> None:
    with pytest.raises(ValueError, match="std_devs must be positive"):
        ours(DeltaType.SPOT, True, 0.0, np.array([0.25]))
