"""Decision trees of dated decisions: the pricing measure node by node, and European prices
as a mixture over the tree's root-to-leaf paths.

Conventions: times in years ACT/365F from the valuation date; vols annualised decimals;
strikes and forwards JPY per USD; prices JPY per unit of notional (see
:mod:`pricing.fx.black` for each payoff's unit).

A tree has nodes ``k`` at times ``t_k`` and branches ``b``. Branch ``b`` leaves node
``branch_nodes[b]`` with probability ``p_b``, a jump ratio ``J_b`` applied multiplicatively to
spot at the node's time, and a post-event vol ``σ_b`` that holds from that node until the next
node on the path (for good after the last), and leads to node ``branch_children[b]``, or ends
the path (``-1``). A child lies strictly after its parent. A node may be the child of several
branches (the same decision reached by different routes): the leaves are the root-to-leaf
*paths*, enumerated depth first in branch order.

**Measure.** At every node the forward must be a martingale: ``Σ_b q_b J_b = 1`` over the
node's branches. Each node is adjusted on its own with its choice of tilt / scale / none
(:func:`pricing.mixture.measure.risk_neutral`). A leaf ``ℓ`` (the path ``b_0 … b_{d−1}``)
weighs ``w_ℓ = Π_k q_{b_k}``; the leaf weights sum to 1 because each node's do.

**Terminal distribution for expiry T.** Conditional on leaf ``ℓ``, with ``t_k`` the time of
the node at level ``k`` of its path, ``S_T`` is lognormal around ``F(T)·J_ℓ(T)`` with total
variance ``v_ℓ(T)``::

    J_ℓ(T) = Π_{k: t_k < T} J_{b_k}
    v_ℓ(T) = σ_pre²·min(T, t_0) + Σ_k σ_{b_k}²·max(0, min(T, t_{k+1}) − t_k),   t_d = ∞

``σ_pre`` is the diffusion vol before the first decision (without the events: see
:mod:`scenarios.vol.model`). A node dated on the expiry (``t_k = T``) is not part of it, as in
the flat pricer (:mod:`pricing.mixture.european`). Leaves that share the nodes before ``T``
have the same ``J_ℓ(T)`` and ``v_ℓ(T)``, and their weights sum to that prefix's weight, so
the mixture over leaves is exact at every expiry: no aggregation step. Hence::

    V = DF_d · Σ_ℓ w_ℓ · C(F·J_ℓ(T), K, v_ℓ(T)),   E[S_T] = F·Σ_ℓ w_ℓ J_ℓ(T) = F

(the second by the tower property, node by node), with ``C`` the kernel of
:mod:`pricing.fx.black` (every :class:`pricing.fx.black.Payoff`), ``F`` the market forward to
delivery and ``DF_d`` the JPY discount factor to delivery. A tree of one node whose branches
all end is the flat event mixture of :mod:`pricing.mixture.european` with ``T_e = t_0``.

:func:`tree_leaf_values` is the readable numpy expression and :func:`tree_price` its sum: the
reference. The service prices trees in the compiled FX book (:mod:`pricing.fx.book` with the
tables of :mod:`pricing.mixture.tree_tables`), one loop for flat sets and trees alike:
``bench/bench_tree_book.py``.

References: DESIGN.md (the model, decision trees); Garman & Kohlhagen (1983); Clark & Amen,
"Implied distributions from GBPUSD risk-reversals and implication for Brexit scenarios",
Risks 5 (2017).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pricing.fx.black import black_terms, payoff_coefficients
from pricing.mixture.measure import Measure, MeasureFit, NoRiskNeutralMeasure, risk_neutral

_SQRT_HALF = 0.7071067811865476


class NoRiskNeutralMeasureAtNode(NoRiskNeutralMeasure):
    """The tilt cannot make node ``node``'s forward a martingale (its jumps with weight all
    lie on one side of 1)."""

    def __init__(self, node: int, message: str) -> None:
        self.node = node
        super().__init__(f"node {node}: {message}")


@dataclass(frozen=True)
class TreeShape:
    """The nodes and branches of a tree, as arrays.

    Attributes:
        node_times: ``[k]`` years from valuation to each node's decision.
        branch_nodes: ``[b]`` the node each branch leaves (int).
        branch_children: ``[b]`` the node each branch leads to, ``-1`` where the path ends.
        root: the first decision's node.

    Raises:
        ValueError: inconsistent arrays, a node without branches, or a child not strictly
            after its parent (which also rules out cycles).
    """

    node_times: np.ndarray
    branch_nodes: np.ndarray
    branch_children: np.ndarray
    root: int = 0

    def __post_init__(self) -> None:
        times = np.asarray(self.node_times, dtype=float)
        nodes = np.asarray(self.branch_nodes, dtype=np.int64)
        children = np.asarray(self.branch_children, dtype=np.int64)
        k = times.shape[0]
        if times.ndim != 1 or nodes.shape != children.shape or nodes.ndim != 1:
            raise ValueError("node_times [k], branch_nodes [b] and branch_children [b] expected")
        if not np.all(np.isfinite(times)):
            raise ValueError(f"node_times must be finite, got {times}")
        if not 0 <= self.root < k:
            raise ValueError(f"root must index a node of {k}, got {self.root}")
        if nodes.size and (nodes.min() < 0 or nodes.max() >= k):
            raise ValueError(f"branch_nodes must index the {k} nodes, got {nodes}")
        if children.size and (children.min() < -1 or children.max() >= k):
            raise ValueError(f"branch_children must index the {k} nodes or be -1, got {children}")
        if nodes.size == 0 or np.bincount(nodes, minlength=k).min() == 0:
            raise ValueError(f"every node needs a branch, got branch_nodes {nodes}")
        leads = children >= 0
        parents, kids = times[nodes[leads]], times[children[leads]]
        if np.any(kids <= parents):
            raise ValueError(f"a child must lie after its parent: {parents} -> {kids}")
        for name, value in (("node_times", times), ("branch_nodes", nodes)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "branch_children", children)

    @cached_property
    def paths(self) -> np.ndarray:
        """``[L, D]`` the branch taken at each level of each root-to-leaf path, ``-1`` past
        its leaf; depth first from the root, branches in index order."""
        by_node = [np.flatnonzero(self.branch_nodes == k) for k in range(self.node_times.size)]
        found: list[tuple[int, ...]] = []
        stack: list[tuple[int, tuple[int, ...]]] = [(self.root, ())]
        while stack:  # acyclic: children lie strictly later
            node, prefix = stack.pop()
            for b in by_node[node]:
                path = (*prefix, int(b))
                child = int(self.branch_children[b])
                if child < 0:
                    found.append(path)
                else:
                    stack.append((child, path))
        # two paths first differ at branches of one node (their common prefix leads there),
        # so the lexicographic order of the index tuples is the depth-first order
        found.sort()
        depth = max(len(p) for p in found)
        out = np.full((len(found), depth), -1, dtype=np.int64)
        for row, path in enumerate(found):
            out[row, : len(path)] = path
        return out

    @cached_property
    def path_times(self) -> np.ndarray:
        """``[L, D]`` the time of the node at each level of each path, ``+inf`` past it."""
        paths = self.paths
        times = self.node_times[self.branch_nodes[np.maximum(paths, 0)]]
        return np.where(paths >= 0, times, np.inf)


@dataclass(frozen=True)
class TreeMeasureFit:
    """The pricing measure of a tree.

    Attributes:
        node_fits: one :class:`pricing.mixture.measure.MeasureFit` per node, in node order
            (``tilt`` is the node's λ, ``forward_mismatch`` its ``Σ q J − 1``).
        weights: ``[b]`` each branch's weight given its node is reached (sum 1 per node).
        jumps: ``[b]`` effective jump ratios.
        paths: ``[L, D]`` as :attr:`TreeShape.paths`.
        leaf_weights: ``[L]`` ``Π q`` along each path (sum 1).
    """

    node_fits: tuple[MeasureFit, ...]
    weights: np.ndarray
    jumps: np.ndarray
    paths: np.ndarray
    leaf_weights: np.ndarray

    @property
    def tilts(self) -> np.ndarray:
        """``[k]`` each node's λ, NaN where the node is not tilted."""
        return np.array([np.nan if f.tilt is None else f.tilt for f in self.node_fits])

    @property
    def forward_mismatches(self) -> np.ndarray:
        """``[k]`` each node's ``Σ_b q_b J_b − 1`` as priced (~1e-16 unless ``none``)."""
        return np.array([f.forward_mismatch for f in self.node_fits])


def tree_measure(
    *,
    shape: TreeShape,
    probabilities: np.ndarray,
    jumps: np.ndarray,
    measures: Measure | Sequence[Measure],
) -> TreeMeasureFit:
    """Pricing weights and jumps of every branch, node by node.

    Args:
        shape: the tree.
        probabilities: ``[b]`` subjective, summing to 1 over each node's branches.
        jumps: ``[b]`` jump ratios (> 0).
        measures: one choice for every node, or one per node ``[k]``.

    Raises:
        NoRiskNeutralMeasureAtNode: a tilted node whose jumps all lie on one side of 1.
    """
    p = np.asarray(probabilities, dtype=float)
    j = np.asarray(jumps, dtype=float)
    k = shape.node_times.size
    if p.shape != shape.branch_nodes.shape or j.shape != p.shape:
        raise ValueError(f"probabilities and jumps must be [{shape.branch_nodes.size}]")
    choices = [measures] * k if isinstance(measures, Measure) else list(measures)
    if len(choices) != k:
        raise ValueError(f"measures must be one choice or {k}, got {len(choices)}")
    weights, effective = np.empty_like(p), np.empty_like(j)
    fits = []
    for node, choice in enumerate(choices):
        rows = np.flatnonzero(shape.branch_nodes == node)
        try:
            fit = risk_neutral(probabilities=p[rows], jumps=j[rows], measure=choice)
        except NoRiskNeutralMeasure as exc:
            raise NoRiskNeutralMeasureAtNode(node, str(exc)) from exc
        weights[rows], effective[rows] = fit.weights, fit.jumps
        fits.append(fit)
    paths = shape.paths
    leaf_weights = np.prod(np.where(paths >= 0, weights[np.maximum(paths, 0)], 1.0), axis=1)
    return TreeMeasureFit(tuple(fits), weights, effective, paths, leaf_weights)


@dataclass(frozen=True)
class TreeMix:
    """What the pricer needs of a tree under its measure.

    Attributes:
        paths: ``[L, D]`` branch at each level, ``-1`` past the leaf.
        path_times: ``[L, D]`` node time at each level (years), ``+inf`` past the leaf.
        weights: ``[L]`` leaf weights (sum 1).
        jumps: ``[b]`` effective branch jump ratios.
        vols: post-event vol of each branch ``[b]``, or ``[n, b]`` (a smile read at each
            option's strike).
    """

    paths: np.ndarray
    path_times: np.ndarray
    weights: np.ndarray
    jumps: np.ndarray
    vols: np.ndarray

    @classmethod
    def from_fit(cls, *, shape: TreeShape, fit: TreeMeasureFit, vols: np.ndarray) -> TreeMix:
        """The mix of ``shape`` under ``fit`` with branch vols ``[b]`` or ``[n, b]``."""
        return cls(shape.paths, shape.path_times, fit.leaf_weights, fit.jumps, np.asarray(vols))


@dataclass(frozen=True)
class LeafStates:
    """Each leaf's terminal lognormal for each option: ``jumps`` ``J_ℓ(T)`` and
    ``total_vars`` ``v_ℓ(T)`` (years × vol²), both ``[n, L]``."""

    jumps: np.ndarray
    total_vars: np.ndarray


def leaf_states(*, mix: TreeMix, expiries: np.ndarray, pre_vols: np.ndarray) -> LeafStates:
    """Cumulative jump and piecewise total variance of every leaf at every expiry.

    Args:
        mix: the tree's paths, times, jumps and vols.
        expiries: ``[n]`` years (vol time, > 0).
        pre_vols: σ_pre ``[n]``, or ``[n, L]`` one per leaf component.
    """
    t = np.asarray(expiries, dtype=float)[:, None, None]  # [n, 1, 1]
    paths = mix.paths
    live = paths >= 0
    idx = np.maximum(paths, 0)
    starts = mix.path_times[None]  # [1, L, D]: the node opening each segment
    ends = np.concatenate([mix.path_times[:, 1:], np.full((paths.shape[0], 1), np.inf)], axis=1)
    before = live[None] & (starts < t)  # [n, L, D]: nodes strictly before the expiry
    jumps = np.prod(np.where(before, np.asarray(mix.jumps, dtype=float)[idx], 1.0), axis=2)
    vols = np.asarray(mix.vols, dtype=float)
    branch_vols = vols[idx] if vols.ndim == 1 else vols[:, idx]  # [L, D] or [n, L, D]
    lengths = np.where(before, np.minimum(t, ends[None]) - np.where(before, starts, 0.0), 0.0)
    post = np.sum(branch_vols * branch_vols * lengths, axis=2)
    pre = np.asarray(pre_vols, dtype=float)
    pre = pre[:, None] if pre.ndim == 1 else pre
    first = np.minimum(t[:, :, 0], mix.path_times[None, :, 0])  # [n, L]
    return LeafStates(jumps=jumps, total_vars=pre * pre * first + post)


def tree_leaf_values(
    *,
    payoffs: np.ndarray,
    strikes: np.ndarray,
    forwards: np.ndarray,
    discount_factors: np.ndarray,
    expiries: np.ndarray,
    pre_vols: np.ndarray,
    mix: TreeMix,
) -> np.ndarray:
    """``DF_d·C(F·J_ℓ(T), K, v_ℓ(T))`` for each option and leaf, ``[n, L]`` (numpy).

    The price is ``tree_leaf_values(...) @ mix.weights``; column ``ℓ`` is the option's value
    were leaf ``ℓ`` certain.

    Args:
        payoffs: ``[n]`` :class:`pricing.fx.black.Payoff` codes.
        strikes: ``[n]`` K, JPY per USD.
        forwards: ``[n]`` market forward to delivery, JPY per USD.
        discount_factors: ``[n]`` JPY discount factor to delivery.
        expiries: ``[n]`` years to expiry (vol time; compared with the node times).
        pre_vols: σ_pre ``[n]`` or ``[n, L]``.
        mix: the tree under its measure.
    """
    states = leaf_states(mix=mix, expiries=expiries, pre_vols=pre_vols)
    strikes = np.asarray(strikes, dtype=float)[:, None]
    forwards = np.asarray(forwards, dtype=float)[:, None] * states.jumps
    coefficients = payoff_coefficients(payoffs=payoffs, strikes=strikes[:, 0]).expanded()
    terms = black_terms(
        log_moneyness=np.log(forwards / strikes),
        forwards=forwards,
        strikes=strikes,
        total_vars=states.total_vars,
        coefficients=coefficients,
        with_derivatives=False,
    )
    prices: np.ndarray = np.asarray(discount_factors, dtype=float)[:, None] * terms.value
    return prices


def tree_price(
    *,
    payoffs: np.ndarray,
    strikes: np.ndarray,
    forwards: np.ndarray,
    discount_factors: np.ndarray,
    expiries: np.ndarray,
    pre_vols: np.ndarray,
    mix: TreeMix,
) -> np.ndarray:
    """Tree-mixture price per option, ``[n]``, JPY per unit of notional:
    ``DF_d·Σ_ℓ w_ℓ·C(F·J_ℓ(T), K, v_ℓ(T))``, arguments as :func:`tree_leaf_values`. The
    reference the compiled book (:mod:`pricing.fx.book`, which prices trees in the service)
    is tested against."""
    leaves = tree_leaf_values(
        payoffs=payoffs,
        strikes=strikes,
        forwards=forwards,
        discount_factors=discount_factors,
        expiries=expiries,
        pre_vols=pre_vols,
        mix=mix,
    )
    return np.asarray(leaves @ mix.weights)
