"""Scenario weights from option quotes: a small constrained least squares, and what it can't see.

Conventions: weights ``q`` (risk-neutral scenario probabilities) and jump ratios ``J = L/S0``
are arrays ``[m]``; a design ``matrix`` ``[r, m]`` holds each scenario's contribution to each
of ``r`` quote rows and ``targets`` ``[r]`` the quotes, in whatever common unit the caller
chooses (the calibration of :mod:`scenarios.calibration.fit` uses vols). Mixture prices are
linear in ``q``, so::

    min ‖M·q − b‖²   subject to   q ≥ 0,  Σ q = 1,  Σ q·J = 1.

:func:`fit_weights` solves it by a primal active-set method (Nocedal & Wright 2006, Alg.
16.3) whose every step is the equality-constrained least squares on the free weights, solved by
the null-space method with minimum-norm ``lstsq`` (so a rank-deficient ``M`` is no failure);
the result satisfies the KKT conditions to rounding.

:func:`identify` says what the quotes cannot tell apart. Writing ``q = q* + N·z`` with ``N``
an orthonormal basis of the constraints' null space, the quotes move by ``M·N·z``; the
singular values of ``M·N`` are the quotes' sensitivity (quote units per unit of probability
moved) along orthogonal directions of weight change. Directions whose sensitivity is at or
below ``threshold`` are invisible: each weight is known only to lie in the range a linear
program finds over ``{q* + N·V₀·t ≥ 0}``; scenarios whose range is more than a point are not
identified, grouped where the invisible directions connect them. A group's total weight is
reported where its own range is a point (two identical scenarios: their sum is known, their
split is not).

References: Nocedal & Wright, *Numerical Optimization*, 2nd ed. (2006), §16.5; Lawson &
Hanson, *Solving Least Squares Problems* (1974), ch. 20–23; Golub & Van Loan, *Matrix
Computations*, 4th ed. (2013), §6.2 (equality-constrained least squares).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import linprog

_MAX_ITER = 500
_ZERO = 1e-10  # loading of a scenario on an invisible direction below this: not involved


class NoFeasibleWeights(ValueError):
    """No ``q ≥ 0`` with ``Σ q = 1`` and ``Σ q·J = 1``: every jump lies on one side of 1."""


@dataclass(frozen=True)
class WeightFit:
    """The constrained least-squares weights.

    Attributes:
        weights: ``q`` ``[m]``, non-negative, summing to 1, with ``Σ q·J = 1`` to rounding.
        residuals: ``M·q − b`` ``[r]``.
        at_bound: ``[m]`` True where ``q_i = 0`` is an active constraint.
        iterations: active-set iterations taken.
        converged: True when the KKT conditions hold at the returned weights.
    """

    weights: np.ndarray
    residuals: np.ndarray
    at_bound: np.ndarray
    iterations: int
    converged: bool


def _constraints(jumps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.vstack([np.ones_like(jumps), jumps]), np.ones(2)


def _feasible_start(jumps: np.ndarray) -> np.ndarray:
    """A feasible ``q``: all weight on one scenario at 1, or split between the extremes."""
    q = np.zeros(jumps.size)
    at_one = np.flatnonzero(np.abs(jumps - 1.0) <= 1e-15)
    if at_one.size:
        q[at_one[0]] = 1.0
        return q
    lo, hi = int(np.argmin(jumps)), int(np.argmax(jumps))
    if not jumps[lo] < 1.0 < jumps[hi]:
        raise NoFeasibleWeights(
            f"jump ratios span [{jumps[lo]:.6g}, {jumps[hi]:.6g}]: no weights make the "
            f"mixture forward the market forward"
        )
    q[lo] = (jumps[hi] - 1.0) / (jumps[hi] - jumps[lo])
    q[hi] = 1.0 - q[lo]
    return q


def _solve_free(
    a: np.ndarray, b: np.ndarray, eq: np.ndarray, free: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Least squares over the free weights with ``E_F·q_F = 1`` (the others 0), and ``λ``.

    Null-space method (Golub & Van Loan §6.2): ``q_F = q_p + N_F·z`` keeps the equalities to
    rounding whatever the conditioning of ``M``; ``z`` is the minimum-norm least squares.
    """
    f = np.flatnonzero(free)
    e_f = eq[:, f]
    particular = np.linalg.lstsq(e_f, np.ones(2), rcond=None)[0]
    basis = null_space(e_f) if f.size > 2 else np.zeros((f.size, 0))
    if basis.shape[1]:
        a_f = a[:, f]
        z = np.linalg.lstsq(a_f @ basis, b - a_f @ particular, rcond=None)[0]
        particular = particular + basis @ z
    q = np.zeros(eq.shape[1])
    q[f] = particular
    gradient = a.T @ (a @ q - b)
    multipliers = np.linalg.lstsq(e_f.T, -gradient[f], rcond=None)[0]
    return q, multipliers


def fit_weights(
    *,
    matrix: np.ndarray,
    targets: np.ndarray,
    jumps: np.ndarray,
    initial: np.ndarray | None = None,
) -> WeightFit:
    """``argmin ‖M·q − b‖²`` over ``q ≥ 0``, ``Σ q = 1``, ``Σ q·J = 1``.

    Args:
        matrix: ``M`` ``[r, m]``.
        targets: ``b`` ``[r]``.
        jumps: ``J`` ``[m]`` (> 0).
        initial: a feasible starting ``q`` (e.g. the prior measure); default: the two
            extreme scenarios mixed to the forward.

    Raises:
        NoFeasibleWeights: the jumps do not straddle 1.
    """
    a = np.asarray(matrix, dtype=float)
    b = np.asarray(targets, dtype=float)
    jumps = np.asarray(jumps, dtype=float)
    eq, _ = _constraints(jumps)
    q = _feasible_start(jumps)
    if initial is not None:
        start = np.asarray(initial, dtype=float)
        if np.all(start >= 0) and np.allclose(eq @ start, 1.0, rtol=0, atol=1e-12):
            q = start.copy()
    scale = max(float(np.abs(a.T @ a).max(initial=0.0)), 1e-300)
    tolerance = 1e-13 * scale
    free = q > 0
    converged = False
    iterations = 0
    while iterations < _MAX_ITER:
        iterations += 1
        target, multipliers = _solve_free(a, b, eq, free)
        step = target - q
        blocking = free & (step < 0) & (target < 0)
        if not blocking.any():
            q = np.where(free, np.maximum(target, 0.0), 0.0)
            # multipliers of the bounds: μ = ∇f + Eᵀλ ≥ 0 on the fixed weights
            mu = a.T @ (a @ q - b) + eq.T @ multipliers
            fixed = ~free
            if not fixed.any() or mu[fixed].min() >= -tolerance:
                converged = True
                break
            release = np.flatnonzero(fixed)[np.argmin(mu[fixed])]
            free[release] = True
            continue
        ratios = np.where(blocking, q / np.where(blocking, -step, 1.0), np.inf)
        hit = int(np.argmin(ratios))
        q = np.maximum(q + ratios[hit] * step, 0.0)
        q[hit] = 0.0
        free[hit] = False
    return WeightFit(
        weights=q,
        residuals=a @ q - b,
        at_bound=~free,
        iterations=iterations,
        converged=converged,
    )


@dataclass(frozen=True)
class Identification:
    """What the quotes see of the weights (see the module docstring).

    Attributes:
        sensitivities: singular values of ``M·N``, descending ``[m−2]`` (quote units per unit
            of probability moved along each direction; 0 where ``r < m − 2``).
        directions: ``[m, m−2]`` unit weight changes (``Σ Δq = Σ Δq·J = 0``), one per column.
        unidentified: ``[m]`` True for scenarios whose weight an invisible direction can move
            (within ``q ≥ 0``).
        groups: the unidentified scenarios, grouped where invisible directions connect them.
        group_totals: ``[g]`` a group's total weight where the quotes fix it (its range is a
            point), NaN otherwise.
        ranges: ``[m, 2]`` least and greatest weight consistent with the quotes (equal for
            identified scenarios).
    """

    sensitivities: np.ndarray
    directions: np.ndarray
    unidentified: np.ndarray
    groups: tuple[tuple[int, ...], ...]
    group_totals: np.ndarray
    ranges: np.ndarray


def identify(
    *, matrix: np.ndarray, jumps: np.ndarray, weights: np.ndarray, threshold: float
) -> Identification:
    """Invisible weight changes of ``matrix`` at ``weights`` (sensitivity ≤ ``threshold``)."""
    a = np.asarray(matrix, dtype=float)
    q = np.asarray(weights, dtype=float)
    eq, _ = _constraints(np.asarray(jumps, dtype=float))
    m = q.size
    basis = null_space(eq) if m > 2 else np.zeros((m, 0))
    k = basis.shape[1]
    if k == 0:
        return Identification(
            np.zeros(0), np.zeros((m, 0)), np.zeros(m, bool), (), np.zeros(0), np.c_[q, q]
        )
    _, values, vt = np.linalg.svd(a @ basis, full_matrices=True)
    sensitivities = np.zeros(k)
    sensitivities[: values.size] = values[:k]
    directions = basis @ vt.T
    invisible = directions[:, sensitivities <= threshold]
    loaded = np.linalg.norm(invisible, axis=1) > _ZERO
    ranges = np.c_[q, q]
    for i in np.flatnonzero(loaded):
        ranges[i] = _range(invisible, q, np.eye(m)[i])
    unidentified = ranges[:, 1] - ranges[:, 0] > _ZERO
    groups = connected_components(np.abs(invisible @ invisible.T) > _ZERO, unidentified)
    totals = []
    for group in groups:
        members = np.zeros(m)
        members[list(group)] = 1.0
        lo, hi = _range(invisible, q, members)
        totals.append(float(members @ q) if hi - lo <= _ZERO else np.nan)
    return Identification(
        sensitivities=sensitivities,
        directions=directions,
        unidentified=unidentified,
        groups=groups,
        group_totals=np.array(totals),
        ranges=ranges,
    )


def _range(invisible: np.ndarray, q: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Least and greatest ``w·q'`` over ``q' = q + D·t ≥ 0`` (a linear program each way)."""
    bounds = []
    base = float(weights @ q)
    for sign in (1.0, -1.0):
        result = linprog(
            sign * (weights @ invisible),
            A_ub=-invisible,
            b_ub=q,
            bounds=[(None, None)] * invisible.shape[1],
            method="highs",
        )
        value = base + float(weights @ invisible @ result.x) if result.status == 0 else base
        bounds.append(min(max(value, 0.0), 1.0))
    return bounds[0], bounds[1]


def connected_components(adjacent: np.ndarray, members: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Connected components of the graph ``adjacent`` restricted to ``members``."""
    left = set(np.flatnonzero(members).tolist())
    found = []
    while left:
        stack = [min(left)]
        group = set(stack)
        while stack:
            i = stack.pop()
            for j in np.flatnonzero(adjacent[i]).tolist():
                if j in left and j not in group:
                    group.add(j)
                    stack.append(j)
        left -= group
        found.append(tuple(sorted(group)))
    return tuple(found)
