"""Constrained least squares for scenario weights, and what the quotes cannot see.

Witnesses: exact recovery of weights that generated the targets; the KKT conditions checked
directly (stationarity with non-negative bound multipliers); scipy's SLSQP on the same
problem never finds a lower objective; duplicated scenarios (identical columns and jumps)
whose split no data can fix, with their sum known.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from pricing.mixture.weight_fit import NoFeasibleWeights, fit_weights, identify

JUMPS = np.array([158.0, 148.0, 152.0, 139.0, 134.0]) / 144.1


def feasible(rng: np.random.Generator, jumps: np.ndarray) -> np.ndarray:
    """Random weights with Σq = 1, Σ q·J = 1: a Dirichlet draw tilted onto the forward."""
    while True:
        q = rng.dirichlet(np.ones(jumps.size))
        lo, hi = np.argmin(jumps), np.argmax(jumps)
        excess = q @ jumps - 1.0
        # move weight between the extremes to close the gap
        t = excess / (jumps[hi] - jumps[lo])
        q[hi] -= t
        q[lo] += t
        if q.min() > 0.01:
            return q


@pytest.mark.parametrize("seed", range(5))
def test_weights_that_made_the_targets_are_recovered(seed: int) -> None:
    rng = np.random.default_rng(seed)
    q_true = feasible(rng, JUMPS)
    matrix = rng.normal(size=(12, JUMPS.size))
    fit = fit_weights(matrix=matrix, targets=matrix @ q_true, jumps=JUMPS)
    assert fit.converged
    np.testing.assert_allclose(fit.weights, q_true, rtol=0, atol=1e-12)
    assert abs(fit.weights @ JUMPS - 1.0) < 1e-14 and abs(fit.weights.sum() - 1.0) < 1e-14


@pytest.mark.parametrize("seed", range(8))
def test_kkt_holds_and_slsqp_finds_nothing_lower(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    matrix = rng.normal(size=(6, JUMPS.size))
    targets = rng.normal(size=6) * 3.0  # far from any feasible fit: bounds become active
    fit = fit_weights(matrix=matrix, targets=targets, jumps=JUMPS)
    q = fit.weights
    assert fit.converged and q.min() >= 0.0
    assert abs(q.sum() - 1) < 1e-13 and abs(q @ JUMPS - 1) < 1e-13
    # stationarity: ∇f + Eᵀλ − μ = 0 with μ ≥ 0 on the active bounds, μ = 0 elsewhere
    gradient = matrix.T @ (matrix @ q - targets)
    eq = np.vstack([np.ones(JUMPS.size), JUMPS])
    free = ~fit.at_bound
    lam = np.linalg.lstsq(eq[:, free].T, -gradient[free], rcond=None)[0]
    mu = gradient + eq.T @ lam
    np.testing.assert_allclose(mu[free], 0.0, atol=1e-10)
    assert (mu[fit.at_bound] >= -1e-10).all()

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        r = matrix @ x - targets
        return 0.5 * r @ r, matrix.T @ r

    other = minimize(
        objective,
        np.full(JUMPS.size, 0.2),
        jac=True,
        method="SLSQP",
        bounds=[(0, 1)] * JUMPS.size,
        constraints=[{"type": "eq", "fun": lambda x: eq @ x - 1, "jac": lambda x: eq}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    assert objective(q)[0] <= objective(other.x)[0] + 1e-12


def test_identical_scenarios_are_reported_with_their_sum() -> None:
    rng = np.random.default_rng(7)
    jumps = np.append(JUMPS, JUMPS[1])  # scenario 5 repeats scenario 1
    matrix = rng.normal(size=(10, JUMPS.size))
    matrix = np.c_[matrix, matrix[:, 1]]
    q_true = np.append(feasible(rng, JUMPS), 0.0)
    q_true[[1, 5]] = 0.6 * q_true[1], 0.4 * q_true[1]
    fit = fit_weights(matrix=matrix, targets=matrix @ q_true, jumps=jumps)
    assert fit.converged
    found = identify(matrix=matrix, jumps=jumps, weights=fit.weights, threshold=1e-8)
    assert found.unidentified.tolist() == [False, True, False, False, False, True]
    assert found.groups == ((1, 5),)
    assert found.group_totals[0] == pytest.approx(q_true[1] + q_true[5], abs=1e-12)
    # each may carry anything from none to all of the pair's weight
    np.testing.assert_allclose(found.ranges[1], [0.0, q_true[1] + q_true[5]], atol=1e-12)
    identified = ~found.unidentified
    np.testing.assert_allclose(fit.weights[identified], q_true[identified], atol=1e-12)
    assert found.sensitivities[-1] < 1e-12 < found.sensitivities[-2]


def test_too_few_quotes_leave_directions_unseen() -> None:
    matrix = np.random.default_rng(3).normal(size=(2, JUMPS.size))  # 2 rows, 3 free directions
    fit = fit_weights(matrix=matrix, targets=matrix @ feasible(np.random.default_rng(4), JUMPS),
                      jumps=JUMPS)  # fmt: skip
    found = identify(matrix=matrix, jumps=JUMPS, weights=fit.weights, threshold=1e-8)
    assert found.sensitivities[-1] == 0.0 and found.unidentified.any()
    assert (found.ranges[:, 0] <= fit.weights + 1e-12).all()
    assert (found.ranges[:, 1] >= fit.weights - 1e-12).all()


def test_jumps_on_one_side_have_no_weights() -> None:
    with pytest.raises(NoFeasibleWeights, match="span"):
        fit_weights(matrix=np.eye(2), targets=np.ones(2), jumps=np.array([1.01, 1.05]))
