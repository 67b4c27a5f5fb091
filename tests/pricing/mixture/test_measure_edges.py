"""Edges of the risk-neutral tilt: λ far from 0, jumps exactly 1, zero-probability scenarios,
the fields every measure reports.

Witnesses: an independent solve of ``Σ_i p_i J_i^λ (J_i − 1) = 0`` — scipy's ``brentq`` on a
wide bracket, the weights formed in log space with ``scipy.special.logsumexp`` over the
scenarios with ``p_i > 0`` only; a dense λ grid showing no root exists when the weighted jumps
do not straddle 1 (then ``Σ q J − 1`` keeps one sign for every λ, as ``q_i > 0`` for every
``p_i > 0``); finite differences for the derivatives; the definitions of the module docstring.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import logsumexp

from pricing.mixture.measure import Measure, NoRiskNeutralMeasure, risk_neutral


def witness_weights(p: np.ndarray, j: np.ndarray, lam: float) -> np.ndarray:
    """q ∝ p·J^λ over the scenarios with p > 0, in log space (no overflow for any λ)."""
    live = p > 0.0
    logs = np.log(p[live]) + lam * np.log(j[live])
    q = np.zeros_like(p)
    q[live] = np.exp(logs - logsumexp(logs))
    return q


def witness_tilt(p: np.ndarray, j: np.ndarray) -> float:
    """λ with Σ q J = 1 by brentq on [-5000, 5000]: q·(J − 1) changes sign across it."""

    def excess(lam: float) -> float:
        return float(witness_weights(p, j, lam) @ (j - 1.0))

    assert excess(-5000.0) < 0.0 < excess(5000.0)
    return float(brentq(excess, -5000.0, 5000.0, xtol=1e-13, rtol=1e-15, maxiter=1000))


@pytest.mark.parametrize(
    ("p", "j"),
    [
        # λ ≈ 4.5: the upper bracket must widen past 1, 2, 4 (a small chance of a big rise)
        ([0.5, 0.45, 0.05], [0.9, 0.95, 1.3]),
        # λ ≈ −3.6: the lower bracket must widen past −1, −2 (a small chance of a big fall)
        ([0.05, 0.45, 0.5], [0.7, 1.05, 1.1]),
        # λ ≈ 862: J₂^λ = 2^862 overflows a float unless the exponents are shifted
        ([1.0, 1e-300], [0.9, 2.0]),
        # λ ≈ −874, mirrored: 0.5^λ overflows
        ([1e-300, 1.0], [0.5, 1.1]),
    ],
    ids=["up-4.5", "down-3.6", "up-862", "down-874"],
)
def test_tilt_far_from_zero_equals_an_independent_wide_bracket_solve(p, j) -> None:
    """Witness: brentq on [-5000, 5000] with log-space weights (module docstring)."""
    p, j = np.array(p), np.array(j)
    lam = witness_tilt(p, j)
    fit = risk_neutral(probabilities=p, jumps=j, measure=Measure.TILT)
    assert fit.tilt == pytest.approx(lam, rel=1e-11)
    np.testing.assert_allclose(fit.weights, witness_weights(p, j, lam), rtol=1e-9, atol=1e-300)
    assert np.all(np.isfinite(fit.weights)) and np.all(np.isfinite(fit.d_weights))
    assert float(fit.weights @ fit.jumps) == pytest.approx(1.0, abs=1e-14)


def test_a_zero_probability_scenario_does_not_move_the_tilt() -> None:
    """Witness: the independent solve over the live scenarios only. The dead scenario's
    J^λ (50^862) dwarfs the live ones; it must neither set their scale nor get weight."""
    p, j = np.array([1.0, 1e-300]), np.array([0.9, 2.0])
    lam = witness_tilt(p, j)
    with_dead = risk_neutral(
        probabilities=np.array([1.0, 1e-300, 0.0]), jumps=np.array([0.9, 2.0, 50.0]),
        measure=Measure.TILT,
    )  # fmt: skip
    assert with_dead.tilt == pytest.approx(lam, rel=1e-11)
    assert with_dead.weights[2] == 0.0
    np.testing.assert_allclose(with_dead.weights[:2], witness_weights(p, j, lam), rtol=1e-9)


@pytest.mark.parametrize(
    ("p", "j"),
    [
        ([0.5, 0.5], [1.0, 1.1]),  # a jump exactly 1, the rest above
        ([0.5, 0.5], [0.9, 1.0]),  # a jump exactly 1, the rest below
        ([0.5, 0.5, 0.0], [1.05, 1.1, 0.9]),  # only a zero-probability scenario below 1
        ([0.5, 0.5, 0.0], [0.9, 0.95, 1.2]),  # only a zero-probability scenario above 1
        ([0.5, 0.5, 0.0], [1.0, 1.1, 0.9]),  # exactly 1 and above; below only with p = 0
    ],
    ids=["one-and-above", "below-and-one", "dead-below", "dead-above", "one-above-dead-below"],
)
def test_no_tilt_when_the_weighted_jumps_do_not_straddle_one(p, j) -> None:
    """Witness: on a dense λ grid over [-700, 700] Σ q J − 1 never changes sign (q_i > 0 for
    every p_i > 0, so it is a q-average of J − 1 whose live terms share one sign)."""
    p, j = np.array(p), np.array(j)
    excess = [float(witness_weights(p, j, lam) @ (j - 1.0)) for lam in np.linspace(-700, 700, 2801)]
    assert all(e >= 0.0 for e in excess) or all(e <= 0.0 for e in excess)
    assert any(e != 0.0 for e in excess)
    with pytest.raises(NoRiskNeutralMeasure, match="all on one side of 1"):
        risk_neutral(probabilities=p, jumps=j, measure=Measure.TILT)


def test_jumps_all_one_among_the_live_scenarios_need_no_tilt() -> None:
    """Witness: Σ p J = 1 already for any λ, so q = p (λ = 0) whatever the dead scenario's J."""
    p = np.array([0.25, 0.75, 0.0])
    fit = risk_neutral(probabilities=p, jumps=np.array([1.0, 1.0, 3.0]), measure=Measure.TILT)
    assert fit.tilt == 0.0
    np.testing.assert_array_equal(fit.weights, p)


P = np.array([0.2, 0.5, 0.3])
J = np.array([0.92, 1.01, 1.08])


@pytest.mark.parametrize("measure", list(Measure))
def test_every_measure_reports_itself_and_the_subjective_mismatch(measure: Measure) -> None:
    """Witness: the docstring's definitions — ``subjective_mismatch`` = Σ p J − 1 before any
    adjustment, ``forward_mismatch`` = Σ q J_eff − 1."""
    fit = risk_neutral(probabilities=P, jumps=J, measure=measure)
    assert fit.measure is measure
    assert fit.subjective_mismatch == pytest.approx(float(P @ J) - 1.0, abs=1e-16)
    assert fit.forward_mismatch == pytest.approx(float(fit.weights @ fit.jumps) - 1.0, abs=1e-16)
    assert fit.d_weights.shape == fit.d_jumps.shape == (3, 3)


def test_none_derivatives_equal_finite_differences() -> None:
    """Witness: central differences; with ``none`` q = p does not move, J_eff = J."""
    fit = risk_neutral(probabilities=P, jumps=J, measure=Measure.NONE)
    h = 1e-7
    for k in range(3):
        up, down = J.copy(), J.copy()
        up[k] += h
        down[k] -= h
        fu = risk_neutral(probabilities=P, jumps=up, measure=Measure.NONE)
        fd = risk_neutral(probabilities=P, jumps=down, measure=Measure.NONE)
        np.testing.assert_allclose(fit.d_weights[:, k], (fu.weights - fd.weights) / (2 * h))
        np.testing.assert_allclose(
            fit.d_jumps[:, k], (fu.jumps - fd.jumps) / (2 * h), rtol=1e-6, atol=1e-8
        )


@pytest.mark.parametrize("measure", list(Measure))
def test_integer_inputs_give_the_float_results(measure: Measure) -> None:
    """Witness: the same call on float arrays (p and J as integers are still numbers)."""
    p_int, j_int = np.array([0, 1, 0]), np.array([3, 1, 2])
    ints = risk_neutral(probabilities=p_int, jumps=j_int, measure=measure)
    floats = risk_neutral(
        probabilities=p_int.astype(float), jumps=j_int.astype(float), measure=measure
    )
    for name in ("weights", "jumps", "d_weights", "d_jumps"):
        assert getattr(ints, name).dtype == np.float64, name
        np.testing.assert_array_equal(getattr(ints, name), getattr(floats, name))
