"""Risk-neutral reweighting: the tilt is the Esscher transform of p, and its Jacobian is the
derivative of the solved weights.

Witnesses: scipy's SLSQP minimising KL(q‖p) under Σq = 1 and E_q[ln J] fixed — the
minimiser of relative entropy under a moment constraint on ln J is q ∝ p·J^λ (Csiszár 1975),
i.e. the Esscher transform (Gerber & Shiu 1994); finite differences of the re-solved weights.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from pricing.mixture.measure import Measure, NoRiskNeutralMeasure, risk_neutral

P = np.array([0.15, 0.30, 0.15, 0.25, 0.15])
J = np.array([158.0, 148.0, 152.0, 139.0, 134.0]) / 144.1


def test_tilt_is_the_esscher_transform_the_entropy_minimiser_for_its_log_moment() -> None:
    fit = risk_neutral(probabilities=P, jumps=J, measure=Measure.TILT)
    log_moment = float(fit.weights @ np.log(J))
    result = minimize(
        lambda q: float(np.sum(q * np.log(q / P))),
        P,
        method="SLSQP",
        bounds=[(1e-12, 1.0)] * 5,
        constraints=[
            {"type": "eq", "fun": lambda q: q.sum() - 1.0},
            {"type": "eq", "fun": lambda q: q @ np.log(J) - log_moment},
        ],
        options={"ftol": 1e-15, "maxiter": 500},
    )
    assert result.success
    np.testing.assert_allclose(fit.weights, result.x, atol=1e-6)
    slope = np.polyfit(np.log(J), np.log(fit.weights / P), 1)[0]
    assert slope == pytest.approx(fit.tilt, rel=1e-9)
    assert fit.weights.sum() == pytest.approx(1.0, abs=1e-15)
    assert float(fit.weights @ fit.jumps) == pytest.approx(1.0, abs=1e-14)


def test_scale_keeps_p_and_rescales_the_jumps() -> None:
    fit = risk_neutral(probabilities=P, jumps=J, measure=Measure.SCALE)
    np.testing.assert_array_equal(fit.weights, P)
    assert float(P @ fit.jumps) == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(fit.jumps / J, 1.0 / float(P @ J), rtol=1e-15)


def test_none_reports_the_subjective_forward_mismatch() -> None:
    fit = risk_neutral(probabilities=P, jumps=J, measure=Measure.NONE)
    assert fit.forward_mismatch == pytest.approx(float(P @ J) - 1.0, abs=1e-16)
    assert fit.forward_mismatch > 0.01  # the analysts' levels sit above the forward


@pytest.mark.parametrize("jumps", [[1.05, 1.1], [0.9, 0.95, 0.99]])
def test_tilt_rejects_jumps_all_on_one_side(jumps: list[float]) -> None:
    with pytest.raises(NoRiskNeutralMeasure, match="all on one side of 1"):
        risk_neutral(
            probabilities=np.full(len(jumps), 1 / len(jumps)),
            jumps=np.array(jumps),
            measure=Measure.TILT,
        )


def test_one_scenario_at_the_forward_is_its_own_measure() -> None:
    fit = risk_neutral(probabilities=np.array([1.0]), jumps=np.array([1.0]), measure=Measure.TILT)
    assert fit.weights.tolist() == [1.0] and fit.tilt == 0.0


def test_zero_probability_scenarios_keep_zero_weight() -> None:
    p = np.array([0.5, 0.0, 0.5])
    fit = risk_neutral(probabilities=p, jumps=np.array([1.1, 3.0, 0.95]), measure=Measure.TILT)
    assert fit.weights[1] == 0.0
    assert float(fit.weights @ fit.jumps) == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("measure", [Measure.TILT, Measure.SCALE])
def test_jacobians_equal_finite_differences(measure: Measure) -> None:
    fit = risk_neutral(probabilities=P, jumps=J, measure=measure)
    h = 1e-7
    for k in range(len(J)):
        up, down = J.copy(), J.copy()
        up[k] += h
        down[k] -= h
        fu = risk_neutral(probabilities=P, jumps=up, measure=measure)
        fd = risk_neutral(probabilities=P, jumps=down, measure=measure)
        np.testing.assert_allclose(
            fit.d_weights[:, k], (fu.weights - fd.weights) / (2 * h), atol=1e-7
        )
        np.testing.assert_allclose(fit.d_jumps[:, k], (fu.jumps - fd.jumps) / (2 * h), atol=1e-7)
