"""A decision tree's node probabilities the option market implies, node by node.

Conventions: strikes and forwards JPY per USD; vols annualised decimals; rows and residuals in
vol units (a residual of 0.001 is 0.1 vol point); times in years ACT/365F; a branch's jump
ratio ``J_b`` (``level/S0`` or its ``jump``) applied to spot at its node's date; weights
risk-neutral.

**The unknowns.** At every node ``k`` the branch weights ``q_b`` (given the node is reached)
with ``q ≥ 0``, ``Σ_b q_b = 1`` and ``Σ_b q_b·J_b = 1`` — the martingale at every node, so the
fitted tree is a tree the pricer accepts as it stands. A leaf weighs ``w_ℓ = Π q`` along its
path. Every option price is linear in the leaf weights (:mod:`pricing.mixture.tree`: the
mixture over leaves is exact at every expiry, leaves sharing the nodes before the expiry
sharing their component), so a quote row ``a·w`` in vol units is *multilinear* in the node
weights, and linear in any one node's when the others are held: a node sees each leaf through
it exactly once (dates increase along a path).

**The solve** minimises ``‖A·w(q) − b‖²`` over the rows of the flat calibration
(:mod:`scenarios.calibration.rows`: ATM and broker strangles and option vols exactly, risk
reversals linearised at the mixture's own ``±δ`` strikes and re-linearised until the fit
stops moving, :func:`solve_tree`). Each round alternates

* a sweep over the nodes, each node's weights the exact constrained least squares of its
  own linear problem (:func:`pricing.mixture.weight_fit.fit_weights`, the flat solver: active
  set, KKT to rounding), and
* a Gauss–Newton polish of all nodes at once on the free weights, ``q = q_k + Z·z`` with
  ``Z`` the null space of each node's two constraints over its positive weights (so both hold
  to rounding), steps cut where a weight would turn negative,

until a round moves the rows by no more than 1e-13 (vol). A node no leaf weight reaches (its
parent's branch at zero) is not moved: no quote sees it. The objective is not convex in the
node weights, and a solve can stop where no node alone can do better without that being the
best fit (one node's weight all on one branch, say): the solve runs from the prior measure's
weights and from a few more starts (the tilt of ``p``, of equal weights, of fixed
pseudo-random weightings: :func:`extra_starts`), stopping at the first that matches the
quotes within ``vol_tolerance``, and keeps the best.

**What the quotes cannot tell apart** (:func:`identify_tree`). With ``N`` an orthonormal basis
of every node's constraint null space (block by node), the rows move by ``A·(∂w/∂q)·N``
per unit of node probability moved; its singular values are the quotes' sensitivities, and
directions at or below ``threshold`` (``vol_tolerance / probability_resolution``) are
invisible. A branch an invisible direction moves is not identified, and its range is the
least and greatest weight on the *fibre* of the fit — node weights that keep every visible
combination of the rows where the solution put it, ``U_visᵀ·A·(w(q) − w*) = 0`` (curved:
``w`` is multilinear), within ``q ≥ 0`` and the constraints — found by SLSQP from the
solution (or, where SLSQP fails or after :data:`MAX_CURVED_RANGES` of them, the first-order
range along the invisible directions, a linear program). A node no quote sees (not reached
under the fit) may take any of its own martingale weightings. Leaves are judged the same way
(their weights, and the total of a group the invisible directions connect; a leaf whose every
branch is fixed, or one at 0, is fixed). Typical case: quotes after the second decision only,
and leaves that coincide after it (same level and vols) — a deal at the first node or the
same deal at the second — see only the product of the root's and the second node's weights:
the split is reported as a range, never as a fact.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypedDict

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import linprog, minimize

from pricing.cancellation import check_cancelled
from pricing.mixture.measure import Measure, MeasureFit, NoRiskNeutralMeasure, risk_neutral
from pricing.mixture.weight_fit import Identification, connected_components, fit_weights
from scenarios.calibration.rows import RowLabel
from scenarios.calibration.solve import (
    STEP_TOLERANCE,
    CalibrationProblem,
    linearised_rows,
    price_rows,
)
from scenarios.errors import DomainError, ErrorKind
from scenarios.tree import DecisionTree
from scenarios.vol.model import VolModel


class _Constraint(TypedDict):
    """An SLSQP constraint: ``fun(y)`` ``[c]`` (``= 0`` or ``≥ 0``) and its Jacobian ``[c, K]``."""

    type: Literal["eq", "ineq"]
    fun: Callable[[np.ndarray], np.ndarray]
    jac: Callable[[np.ndarray], np.ndarray]


Valued = Callable[[np.ndarray], tuple[float, np.ndarray]]  # q ↦ (value, gradient in q)
_ZERO = 1e-10  # a loading on an invisible direction below this: not involved
RANGE_TOLERANCE = 1e-8  # a range narrower than this (SLSQP's precision) is a point
MAX_CURVED_RANGES = 96  # ranges found on the curved fibre per calibration; then first order
_POLISH_STEPS = 50
_ROUNDS = 200


@dataclass(frozen=True)
class TreeLayout:
    """A tree's branches and leaves as arrays, node ``k`` being ``tree.nodes[k]``.

    Attributes:
        node_branches: per node, its branches' flat indices (node by node, branch order).
        jumps: ``[B]`` each branch's given jump ratio ``J_b``.
        children: ``[B]`` the node a branch leads to, ``-1`` where its path ends.
        paths: ``[L, D]`` the branch at each level of each leaf, ``-1`` past it.
        order: node indices in date order (a parent before its children).
        root: the root's index.
    """

    node_branches: tuple[np.ndarray, ...]
    jumps: np.ndarray
    children: np.ndarray
    paths: np.ndarray
    order: tuple[int, ...]
    root: int

    @classmethod
    def of(cls, tree: DecisionTree, *, valuation_date: dt.date, spot: float) -> TreeLayout:
        inputs = tree.inputs(valuation_date=valuation_date, spot=spot)
        shape = inputs.shape
        k = shape.node_times.size
        return cls(
            node_branches=tuple(np.flatnonzero(shape.branch_nodes == i) for i in range(k)),
            jumps=np.asarray(inputs.jumps, dtype=float),
            children=np.asarray(shape.branch_children, dtype=np.int64),
            paths=np.asarray(shape.paths, dtype=np.int64),
            order=tuple(int(i) for i in np.argsort(shape.node_times, kind="stable")),
            root=int(shape.root),
        )

    @property
    def live(self) -> np.ndarray:
        return self.paths >= 0

    def leaf_weights(self, q: np.ndarray) -> np.ndarray:
        """``[L]`` ``w_ℓ = Π q`` along each path."""
        w: np.ndarray = np.prod(np.where(self.live, q[np.maximum(self.paths, 0)], 1.0), axis=1)
        return w

    def leaf_derivatives(self, q: np.ndarray) -> np.ndarray:
        """``[L, B]`` ``∂w_ℓ/∂q_b``: the product of the path's other factors where ``b`` is on
        it, 0 elsewhere (each path meets a node at most once)."""
        factors = np.where(self.live, q[np.maximum(self.paths, 0)], 1.0)  # [L, D]
        n_leaves, depth = factors.shape
        out = np.zeros((n_leaves, self.jumps.size))
        for level in range(depth):
            others = np.prod(np.delete(factors, level, axis=1), axis=1)
            on = self.live[:, level]
            out[np.flatnonzero(on), self.paths[on, level]] = others[on]
        return out

    def reached(self, q: np.ndarray) -> np.ndarray:
        """``[K]`` the probability of reaching each node under ``q`` (1 at the root; a node
        reached by several routes sums them)."""
        reach = np.zeros(len(self.node_branches))
        reach[self.root] = 1.0
        for k in self.order:
            for b in self.node_branches[k]:
                child = int(self.children[b])
                if child >= 0:
                    reach[child] += reach[k] * q[b]
        return reach

    def basis(self, free: np.ndarray | None = None) -> np.ndarray:
        """``[B, K]`` an orthonormal basis of every node's ``Σ Δq = Σ Δq·J = 0``, block by
        node, over the ``free`` branches only when given (the others held at their value)."""
        blocks = []
        for branches in self.node_branches:
            use = branches if free is None else branches[free[branches]]
            if use.size < 2:
                continue
            local = null_space(np.vstack([np.ones(use.size), self.jumps[use]]))
            block = np.zeros((self.jumps.size, local.shape[1]))
            block[use] = local
            blocks.append(block)
        return np.hstack(blocks) if blocks else np.zeros((self.jumps.size, 0))

    def mismatches(self, q: np.ndarray) -> np.ndarray:
        """``[K]`` ``Σ_b q_b·J_b − 1`` at each node."""
        return np.array([float(q[b] @ self.jumps[b] - 1.0) for b in self.node_branches])


def check_nodes(tree: DecisionTree, layout: TreeLayout) -> None:
    """Every node must admit martingale weights: a jump of 1, or jumps on both sides of it.

    Raises:
        DomainError: (kind ``no_measure``) ``scenario_set.tree.nodes[i].branches``.
    """
    for i, branches in enumerate(layout.node_branches):
        j = layout.jumps[branches]
        if np.any(np.abs(j - 1.0) <= 1e-15) or (j.min() < 1.0 < j.max()):
            continue
        raise DomainError.field(
            f"scenario_set.tree.nodes[{i}].branches",
            f"no weights make node {tree.nodes[i].id!r} a martingale (Σ q = 1, Σ q·J = 1): "
            f"its jump ratios span [{j.min():.6g}, {j.max():.6g}], all on one side of 1; "
            f"add a branch on the other side of spot",
            ErrorKind.NO_MEASURE,
        )


def free_dimensions(layout: TreeLayout) -> int:
    """The node weights' degrees of freedom once every node's two constraints hold."""
    return int(layout.basis().shape[1])


def _objective(a: np.ndarray, b: np.ndarray, layout: TreeLayout, q: np.ndarray) -> float:
    r = a @ layout.leaf_weights(q) - b
    return float(r @ r)


def _sweep(a: np.ndarray, b: np.ndarray, layout: TreeLayout, q: np.ndarray) -> np.ndarray:
    """Each node's weights the exact constrained least squares with the others held (root
    first); a node no leaf weight reaches is left as it is when it is already feasible."""
    q = q.copy()
    for k in layout.order:
        branches = layout.node_branches[k]
        columns = a @ layout.leaf_derivatives(q)[:, branches]
        jumps = layout.jumps[branches]
        feasible = np.all(q[branches] >= 0.0) and np.allclose(
            [q[branches].sum(), q[branches] @ jumps], 1.0, rtol=0.0, atol=1e-12
        )
        if not np.any(columns) and feasible:
            continue
        rest = a @ layout.leaf_weights(q) - columns @ q[branches]
        fit = fit_weights(matrix=columns, targets=b - rest, jumps=jumps, initial=q[branches])
        q[branches] = fit.weights
    return q


def _polish(a: np.ndarray, b: np.ndarray, layout: TreeLayout, q: np.ndarray) -> np.ndarray:
    """Gauss–Newton on the free weights of every node at once (module docstring)."""
    value = _objective(a, b, layout, q)
    for _ in range(_POLISH_STEPS):
        free = q > 0.0
        z = layout.basis(free)
        if z.shape[1] == 0:
            break
        residual = a @ layout.leaf_weights(q) - b
        jacobian = a @ layout.leaf_derivatives(q) @ z
        step = z @ -np.linalg.lstsq(jacobian, residual, rcond=None)[0]
        falling = free & (step < 0.0)
        alpha, hit = 1.0, -1
        if falling.any():
            ratios = np.where(falling, q / np.where(falling, -step, 1.0), np.inf)
            hit = int(np.argmin(ratios))
            if ratios[hit] < 1.0:
                alpha = float(ratios[hit])
            else:
                hit = -1
        for _ in range(30):
            trial = np.maximum(q + alpha * step, 0.0)
            if hit >= 0:
                trial[hit] = 0.0
            trial_value = _objective(a, b, layout, trial)
            if trial_value <= value:
                break
            alpha, hit = 0.5 * alpha, -1
        else:
            break
        moved = float(np.max(np.abs(trial - q)))
        q, value = trial, trial_value
        if moved <= 1e-16:
            break
    return q


@dataclass(frozen=True)
class NodeSolve:
    """Node weights ``q`` ``[B]`` minimising ``‖A·w(q) − b‖²`` on fixed rows."""

    weights: np.ndarray
    rounds: int
    converged: bool


def solve_nodes(a: np.ndarray, b: np.ndarray, layout: TreeLayout, initial: np.ndarray) -> NodeSolve:
    """Sweeps and polishes (module docstring) from ``initial`` (any non-negative weights: the
    first sweep makes every node feasible) until a round moves no weight by more than
    :data:`scenarios.calibration.solve.STEP_TOLERANCE`."""
    q = np.asarray(initial, dtype=float).copy()
    for rounds in range(1, _ROUNDS + 1):
        new = _polish(a, b, layout, _sweep(a, b, layout, q))
        step = quote_step(a, layout, q, new)
        q = new
        if step <= STEP_TOLERANCE and rounds > 1:
            return NodeSolve(q, rounds, True)
    return NodeSolve(q, _ROUNDS, False)


def quote_step(a: np.ndarray, layout: TreeLayout, old: np.ndarray, new: np.ndarray) -> float:
    """How far a step from ``old`` to ``new`` node weights moves the rows (vol units, max):
    the solves' stopping test. A step along what the quotes cannot see moves nothing, so
    weights the quotes leave open do not keep a solve going (the flat solve's weights are
    the minimum-norm choice there; a tree's stay where the sweeps put them)."""
    moved = a @ (layout.leaf_weights(new) - layout.leaf_weights(old))
    return float(np.max(np.abs(moved), initial=0.0))


@dataclass(frozen=True)
class TreeSolution:
    """Node weights and the rows (vol units) they were solved on.

    Attributes:
        weights: ``[B]`` each branch's ``q`` given its node is reached.
        leaf_weights: ``[L]`` ``Π q`` along each path.
        matrix, targets, labels: the last rows, ``matrix @ w ≈ targets``.
        iterations: risk-reversal linearisation rounds.
        converged: the last node solve converged and the weights stopped moving.
        objective: ``‖matrix @ w − targets‖²`` (vol²).
    """

    weights: np.ndarray
    leaf_weights: np.ndarray
    matrix: np.ndarray
    targets: np.ndarray
    labels: tuple[RowLabel, ...]
    iterations: int
    converged: bool
    objective: float


def solve_tree(
    *,
    problem: CalibrationProblem,
    model: VolModel,
    layout: TreeLayout,
    tree_fit: MeasureFit,
    leaf_jumps: np.ndarray,
    starts: tuple[np.ndarray, ...],
    max_iterations: int,
    good_enough: float = 0.0,
) -> TreeSolution:
    """The node weights fitting ``problem``'s quotes (module docstring), the best of a solve
    from each of ``starts``: ``‖A·w − b‖²`` is not convex in the node weights (it is
    multilinear), and a solve from one start can stop at a point no node alone can improve
    (e.g. a node's weight all on one branch) that is not the best fit.

    Args:
        tree_fit: the tree's fit to price its leaves with (``nodes`` set; only its jumps are
            read: the leaf weights are the solve's).
        leaf_jumps: ``[L]`` each leaf's cumulative jump ratio.
        starts: ``[B]`` starting node weights each (e.g. the prior measure's, then
            :func:`extra_starts`); any non-negative weights (the first sweep makes every node
            feasible).
        good_enough: a solve whose squared residual (vol², over the rows) is at or below
            this ends the search (quotes matched: no start does better).
    """
    best: TreeSolution | None = None
    for start in starts:
        found = _solve_from(problem, model, layout, tree_fit, leaf_jumps, start, max_iterations)
        if best is None or found.objective < best.objective:
            best = found
        if best.objective <= good_enough:
            break
    assert best is not None  # at least one start
    return best


def _solve_from(
    problem: CalibrationProblem,
    model: VolModel,
    layout: TreeLayout,
    tree_fit: MeasureFit,
    leaf_jumps: np.ndarray,
    initial: np.ndarray,
    max_iterations: int,
) -> TreeSolution:
    exact_matrix, exact_targets, exact_labels = price_rows(problem, model, leaf_jumps, tree_fit)
    solve = solve_nodes(exact_matrix, exact_targets, layout, initial)
    q = solve.weights
    matrix, targets, labels = exact_matrix, exact_targets, exact_labels
    if not problem.quotes:
        value = _objective(matrix, targets, layout, q)
        w = layout.leaf_weights(q)
        return TreeSolution(q, w, matrix, targets, labels, 1, solve.converged, value)
    converged, iterations = False, 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007
        check_cancelled()
        _, linear = linearised_rows(problem, model, layout.leaf_weights(q), leaf_jumps, tree_fit)
        matrix = np.vstack([exact_matrix, linear.matrix])
        targets = np.concatenate([exact_targets, linear.targets])
        labels = exact_labels + linear.labels
        solve = solve_nodes(matrix, targets, layout, q)
        step = quote_step(matrix, layout, q, solve.weights)
        q = solve.weights
        if step <= STEP_TOLERANCE:
            converged = solve.converged
            break
    value = _objective(matrix, targets, layout, q)
    w = layout.leaf_weights(q)
    return TreeSolution(q, w, matrix, targets, labels, iterations, converged, value)


def extra_starts(layout: TreeLayout, probabilities: np.ndarray, count: int = 4) -> list[np.ndarray]:
    """Starting node weights besides the prior's: at every node the tilt
    (:func:`pricing.mixture.measure.risk_neutral`) of the analyst's ``p`` ``[B]``, of equal
    weights, and of ``count − 2`` fixed pseudo-random weightings (a seeded generator: the
    same starts on every call); a node the tilt cannot reach keeps the weights as they are
    (the first sweep makes them feasible)."""
    rng = np.random.default_rng(20250709)
    sources = [np.asarray(probabilities, dtype=float), np.ones(layout.jumps.size)]
    sources += [rng.dirichlet(np.ones(layout.jumps.size)) for _ in range(max(count - 2, 0))]
    out = []
    for source in sources:
        start = source.copy()
        for branches in layout.node_branches:
            p = source[branches] / max(float(source[branches].sum()), 1e-300)
            try:
                tilted = risk_neutral(
                    probabilities=p, jumps=layout.jumps[branches], measure=Measure.TILT
                )
            except NoRiskNeutralMeasure:
                start[branches] = p
            else:
                start[branches] = tilted.weights
        out.append(start)
    return out


@dataclass(frozen=True)
class TreeIdentification:
    """What the quotes see of the node weights (module docstring).

    Attributes:
        sensitivities: ``[K]`` singular values of ``A·(∂w/∂q)·N``, descending: vol moved per
            unit of node probability moved along each direction that keeps every node's
            constraints (0 where there are fewer rows than directions).
        unidentified: ``[B]`` True for branches an invisible direction can move.
        ranges: ``[B, 2]`` least and greatest ``q_b`` on the fit's fibre (equal where
            identified).
        leaves: the same over the leaf weights (groups of leaves the invisible directions
            connect, with their total where it is fixed), in the flat calibration's form.
    """

    sensitivities: np.ndarray
    unidentified: np.ndarray
    ranges: np.ndarray
    leaves: Identification


def identify_tree(
    *,
    matrix: np.ndarray,
    layout: TreeLayout,
    weights: np.ndarray,
    threshold: float,
) -> TreeIdentification:
    """Invisible node-weight changes of ``matrix`` (vol units) at ``weights`` (sensitivity
    at or below ``threshold``, vol per unit of probability), with the ranges they open."""
    a = np.asarray(matrix, dtype=float)
    q = np.asarray(weights, dtype=float)
    w = layout.leaf_weights(q)
    n_branches, n_leaves = q.size, w.size
    basis = layout.basis()
    k = basis.shape[1]
    still = np.c_[q, q]
    if k == 0:
        leaves = Identification(
            np.zeros(0), np.zeros((n_leaves, 0)), np.zeros(n_leaves, bool), (), np.zeros(0),
            np.c_[w, w],
        )  # fmt: skip
        return TreeIdentification(np.zeros(0), np.zeros(n_branches, bool), still, leaves)
    d_leaves = layout.leaf_derivatives(q)
    u, values, vt = np.linalg.svd(a @ d_leaves @ basis, full_matrices=True)
    sensitivities = np.zeros(k)
    sensitivities[: values.size] = values[:k]
    visible = sensitivities > threshold
    directions = basis @ vt.T  # [B, K] unit node-weight changes
    invisible = directions[:, ~visible]
    leaf_directions = d_leaves @ directions  # [L, K]
    if invisible.shape[1] == 0:
        leaves = Identification(
            sensitivities, leaf_directions, np.zeros(n_leaves, bool), (), np.zeros(0),
            np.c_[w, w],
        )  # fmt: skip
        return TreeIdentification(sensitivities, np.zeros(n_branches, bool), still, leaves)
    fibre = _Fibre(a, layout, q, basis, u[:, : int(visible.sum())].T, invisible)
    loaded = np.linalg.norm(invisible, axis=1) > _ZERO
    ranges = still.copy()
    reach = layout.reached(q)
    for k, branches in enumerate(layout.node_branches):
        if not loaded[branches].any():
            continue
        for b in branches[loaded[branches]]:
            if reach[k] <= 0.0:  # no quote sees the node: any of its weightings will do
                ranges[b] = _polytope_range(
                    layout.jumps[branches], int(np.flatnonzero(branches == b)[0])
                )
            else:

                def branch_weight(x: np.ndarray, b: np.intp = b) -> tuple[float, np.ndarray]:
                    return float(x[b]), np.eye(n_branches)[b]

                ranges[b] = fibre.range(branch_weight)
    unidentified = ranges[:, 1] - ranges[:, 0] > RANGE_TOLERANCE
    # a leaf is fixed where every branch on its path is, or one is fixed at 0; the others
    # are ranged on the fibre (a product of open factors can be fixed: both deferrals)
    steps = np.maximum(layout.paths, 0)
    fixed_zero = ~unidentified & (ranges[:, 1] <= 0.0)
    open_path = (layout.live & unidentified[steps]).any(axis=1)
    zero_path = (layout.live & fixed_zero[steps]).any(axis=1)
    leaf_ranges = np.c_[w, w]
    for leaf in np.flatnonzero(open_path & ~zero_path):

        def leaf_weight(x: np.ndarray, leaf: np.intp = leaf) -> tuple[float, np.ndarray]:
            return float(layout.leaf_weights(x)[leaf]), layout.leaf_derivatives(x)[leaf]

        leaf_ranges[leaf] = fibre.range(leaf_weight)
    leaf_unidentified = leaf_ranges[:, 1] - leaf_ranges[:, 0] > RANGE_TOLERANCE
    leaf_invisible = d_leaves @ invisible
    adjacent = np.abs(leaf_invisible @ leaf_invisible.T) > _ZERO
    groups = connected_components(adjacent, leaf_unidentified)
    totals = []
    for group in groups:
        members = np.zeros(n_leaves)
        members[list(group)] = 1.0

        def group_weight(x: np.ndarray, m: np.ndarray = members) -> tuple[float, np.ndarray]:
            return float(m @ layout.leaf_weights(x)), m @ layout.leaf_derivatives(x)

        lo, hi = fibre.range(group_weight)
        totals.append(float(members @ w) if hi - lo <= RANGE_TOLERANCE else np.nan)
    leaves = Identification(
        sensitivities=sensitivities,
        directions=leaf_directions,
        unidentified=leaf_unidentified,
        groups=groups,
        group_totals=np.array(totals),
        ranges=leaf_ranges,
    )
    return TreeIdentification(sensitivities, unidentified, ranges, leaves)


class _Fibre:
    """Node weights keeping the visible row combinations where the solution put them."""

    def __init__(
        self,
        a: np.ndarray,
        layout: TreeLayout,
        q: np.ndarray,
        basis: np.ndarray,
        projection: np.ndarray,
        invisible: np.ndarray,
    ) -> None:
        self.layout, self.q, self.basis, self.invisible = layout, q, basis, invisible
        self.rows = projection @ a  # [v, L]
        self.level = self.rows @ layout.leaf_weights(q)
        self.curved = 0  # ranges found by SLSQP so far

    def _weights(self, y: np.ndarray) -> np.ndarray:
        weights: np.ndarray = self.q + self.basis @ y
        return weights

    def range(self, value: Valued) -> tuple[float, float]:
        """Least and greatest ``value(q)[0]`` on the fibre (``value`` gives the value and its
        gradient in ``q``), clipped to [0, 1]."""
        basis, layout = self.basis, self.layout
        constraints: list[_Constraint] = [
            {"type": "ineq", "fun": self._weights, "jac": lambda y: basis}
        ]
        if self.rows.shape[0]:
            constraints.append(
                {
                    "type": "eq",
                    "fun": lambda y: self.rows @ layout.leaf_weights(self._weights(y)) - self.level,
                    "jac": lambda y: self.rows @ layout.leaf_derivatives(self._weights(y)) @ basis,
                }
            )
        base = float(value(self.q)[0])
        if self.curved >= MAX_CURVED_RANGES:  # a bound on the work: first order from here
            lo, hi = (min(max(self._linear(value, sign), 0.0), 1.0) for sign in (1.0, -1.0))
            return min(lo, base), max(hi, base)
        self.curved += 1
        out = []
        for sign in (1.0, -1.0):
            check_cancelled()

            def objective(y: np.ndarray, s: float = sign) -> float:
                return s * float(value(self._weights(y))[0])

            def gradient(y: np.ndarray, s: float = sign) -> np.ndarray:
                g: np.ndarray = s * (value(self._weights(y))[1] @ basis)
                return g

            # scipy-stubs types a constraint dict's fun as scalar (jac 1-D); SLSQP takes the
            # vector constraints and [c, K] Jacobians of _Constraint
            result = minimize(  # type: ignore[call-overload]
                objective,
                np.zeros(basis.shape[1]),
                jac=gradient,
                method="SLSQP",
                constraints=constraints,
                options={"ftol": 1e-14, "maxiter": 500},
            )
            found = None
            if result.success:
                x = self._weights(result.x)
                slack = constraints[1]["fun"](result.x) if len(constraints) > 1 else np.zeros(1)
                if x.min() >= -1e-9 and np.max(np.abs(slack), initial=0.0) <= 1e-9:
                    found = float(value(x)[0])
            if found is None:  # first order: along the invisible directions, within q ≥ 0
                found = self._linear(value, sign)
            out.append(min(max(found, 0.0), 1.0))
        lo, hi = min(out[0], base), max(out[1], base)
        return lo, hi

    def _linear(self, value: Valued, sign: float) -> float:
        gradient = value(self.q)[1] @ self.invisible
        result = linprog(
            sign * gradient,
            A_ub=-self.invisible,
            b_ub=self.q,
            bounds=[(None, None)] * self.invisible.shape[1],
            method="highs",
        )
        base = float(value(self.q)[0])
        return base + float(gradient @ result.x) if result.status == 0 else base


def _polytope_range(jumps: np.ndarray, j: int) -> tuple[float, float]:
    """Least and greatest ``q_j`` over ``q ≥ 0``, ``Σ q = 1``, ``Σ q·J = 1`` (linear programs:
    the range of a node no quote sees)."""
    equalities = np.vstack([np.ones(jumps.size), jumps])
    out = []
    for sign in (1.0, -1.0):
        result = linprog(
            sign * np.eye(jumps.size)[j],
            A_eq=equalities,
            b_eq=np.ones(2),
            bounds=[(0.0, None)] * jumps.size,
            method="highs",
        )
        if result.status == 0:
            assert result.x is not None  # status 0: linprog found the optimum
            out.append(float(result.x[j]))
        else:
            out.append(math.nan)
    lo, hi = out
    return min(max(lo, 0.0), 1.0), min(max(hi, 0.0), 1.0)


@dataclass(frozen=True)
class NodeCalibration:
    """One node's fitted branch weights beside the analyst's.

    Attributes:
        id, date: the node's.
        branch_names: ``[b]`` its branches, in order.
        probabilities: ``[b]`` the analyst's ``p`` (given the node is reached).
        prior: ``[b]`` the request's measure of ``p`` at this node (the tilt …).
        weights: ``[b]`` the fitted ``q`` (a solution: see ``unidentified``).
        jumps: ``[b]`` the given jump ratios ``J_b``.
        reached: the fitted probability of reaching the node (1 at the root).
        unidentified: ``[b]`` True where the quotes cannot fix ``q_b``.
        ranges: ``[b, 2]`` least and greatest ``q_b`` consistent with the quotes.
    """

    id: str
    date: dt.date
    branch_names: tuple[str, ...]
    probabilities: np.ndarray
    prior: np.ndarray
    weights: np.ndarray
    jumps: np.ndarray
    reached: float
    unidentified: np.ndarray
    ranges: np.ndarray

    @property
    def forward_mismatch(self) -> float:
        """``Σ_b q_b·J_b − 1`` (the martingale at this node; ~1e-16)."""
        return float(self.weights @ self.jumps - 1.0)

    @property
    def identified(self) -> bool:
        return not bool(self.unidentified.any())


@dataclass(frozen=True)
class TreeCalibration:
    """Every node's calibration, in the tree's node order, and the quotes' sensitivities."""

    nodes: tuple[NodeCalibration, ...]
    sensitivities: np.ndarray

    @property
    def weights(self) -> tuple[np.ndarray, ...]:
        """Each node's fitted ``q``."""
        return tuple(node.weights for node in self.nodes)


def tree_calibration(
    *,
    tree: DecisionTree,
    layout: TreeLayout,
    prior: MeasureFit,
    weights: np.ndarray,
    found: TreeIdentification,
) -> TreeCalibration:
    """The per-node report of a solve: ``prior`` the request's measure (``nodes`` set),
    ``weights`` ``[B]`` the fitted branch weights, ``found`` their identification."""
    assert prior.nodes is not None  # a tree's measure
    reached = layout.reached(weights)
    nodes = tuple(
        NodeCalibration(
            id=node.id,
            date=node.date,
            branch_names=tuple(b.name for b in node.branches),
            probabilities=np.array([b.probability for b in node.branches]),
            prior=np.asarray(prior.nodes[k].weights, dtype=float),
            weights=weights[branches],
            jumps=layout.jumps[branches],
            reached=float(reached[k]),
            unidentified=found.unidentified[branches],
            ranges=found.ranges[branches],
        )
        for k, (node, branches) in enumerate(zip(tree.nodes, layout.node_branches, strict=True))
    )
    return TreeCalibration(nodes, found.sensitivities)
