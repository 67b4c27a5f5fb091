"""A set's leaves as tables over the intervals between its decision dates: what an option
expiring in each interval sees of every leaf, for the book valuation (:mod:`pricing.fx.book`)
and its step-by-step reference.

Conventions: times in years ACT/365F from the valuation date; vols annualised decimals;
jump ratios dimensionless (``J = L/S0``).

A flat set is a tree of one node (its event, every scenario a branch that ends), so both are
read the same way. Let ``τ_0 < … < τ_{d−1}`` be the distinct node times (``τ_0`` the root's:
every other node lies after it) and, for an expiry ``T``, ``r = #{k: τ_k < T}`` its
*interval* (:func:`interval_rows`): ``r = 0`` expires on or before the root and sees no
decision; ``r ≥ 1`` has seen exactly the nodes dated at or before ``τ_{r−1}`` (a node dated
on the expiry is not part of it, as in :mod:`pricing.mixture.tree`). Row ``r`` of a table
holds, for each leaf ``ℓ`` (path ``b_0 … b_{D−1}`` through nodes at ``t_0 < t_1 < …``) with
``K = #{k: t_k ≤ τ_{r−1}}`` of its nodes seen:

* ``jumps[r, ℓ] = J_ℓ(T) = Π_{k<K} J_eff,b_k`` — the leaf's effective cumulative jump;
* ``d_jumps[r, ℓ, b] = ∂J_ℓ(T)/∂J_b`` — in each branch's *given* jump, through that node's
  re-solved measure (:class:`pricing.mixture.measure.MeasureFit`);
* ``vols[r, ℓ] = σ_{b_{K−1}}`` — the vol of the segment the leaf is in over the interval
  (its variance rate is the square);
* ``variances[r, ℓ] = Σ_{k<K−1} σ_{b_k}²·(t_{k+1} − t_k) + σ_{b_{K−1}}²·(τ_{r−1} − t_{K−1})``
  and ``vol_times[r, ℓ]`` the same with ``σ`` for ``σ²`` — what the segments after the root
  accrued up to the interval's start.

So for ``T`` in interval ``r ≥ 1``, with ``s = T − τ_{r−1}`` (> 0) the time into it, the
leaf's post-root variance is ``variances[r, ℓ] + vols[r, ℓ]²·s`` — the ``v_ℓ(T) −
σ_pre²·t_0`` of :func:`pricing.mixture.tree.leaf_states` — and its derivative in a parallel
shift of every branch vol ``2·(vol_times[r, ℓ] + vols[r, ℓ]·s)``. Row 0 is never read
(ones, zeros). For a flat set ``d = 1`` and row 1 is today's arrays exactly: ``J_eff,i``,
``∂J_eff,i/∂J_k``, ``σ_i``, and zeros accrued (``s = T − T_e``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricing.mixture.measure import Measure, MeasureFit, NodeFit


def interval_rows(times: np.ndarray, expiries: np.ndarray) -> np.ndarray:
    """``[n]`` each expiry's interval ``#{k: times[k] < T}`` (int; ``times`` sorted)."""
    return np.searchsorted(np.asarray(times, dtype=float), expiries, side="left")


def segment_times(times: np.ndarray, expiries: np.ndarray) -> np.ndarray:
    """``[n]`` years from the start of each expiry's interval to it, ``T − τ_{r−1}``; 0 for
    an expiry on or before the root (``r = 0``)."""
    t = np.asarray(expiries, dtype=float)
    rows = interval_rows(times, t)
    starts = np.concatenate([[0.0], np.asarray(times, dtype=float)])[rows]
    return np.where(rows > 0, t - starts, 0.0)


@dataclass(frozen=True)
class JumpTables:
    """The measure's side of the tables (see the module docstring).

    Attributes:
        times: ``[d]`` distinct node times, sorted (years).
        jumps: ``[d+1, L]`` effective cumulative jump ratios per interval.
        d_jumps: ``[d+1, L, B]`` their derivatives in each branch's given jump.
        d_weights: ``[L, B]`` ``∂w_ℓ/∂J_b`` of the leaf weights (every interval's).
        weights: ``[L]`` leaf weights (sum 1).
    """

    times: np.ndarray
    jumps: np.ndarray
    d_jumps: np.ndarray
    d_weights: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class VolTables:
    """The vols' side of the tables (see the module docstring).

    Attributes:
        times: ``[d]`` distinct node times, sorted (years).
        vols: ``[d+1, L]`` vol of each leaf's open segment per interval (row 0 zeros).
        variances: ``[d+1, L]`` ``Σ σ²·length`` accrued after the root to the interval's start.
        vol_times: ``[d+1, L]`` ``Σ σ·length`` likewise (for vega).
    """

    times: np.ndarray
    vols: np.ndarray
    variances: np.ndarray
    vol_times: np.ndarray

    def scaled(self, factors: np.ndarray) -> VolTables:
        """Every vol of leaf ``ℓ``'s path after the root multiplied by ``factors[ℓ]``."""
        f = np.asarray(factors, dtype=float)[None, :]
        return VolTables(self.times, self.vols * f, self.variances * f * f, self.vol_times * f)


def flat_vol_tables(event_time: float, vols: np.ndarray) -> VolTables:
    """A flat set's vols ``[m]`` after its event at ``event_time``: row 1 is ``vols``,
    nothing accrued."""
    vols = np.asarray(vols, dtype=float)
    zeros = np.zeros((2, vols.size))
    return VolTables(np.array([float(event_time)]), np.stack([zeros[0], vols]), zeros, zeros)


def vol_tables(
    *, times: np.ndarray, paths: np.ndarray, path_times: np.ndarray, branch_vols: np.ndarray
) -> VolTables:
    """A tree's vols per interval.

    Args:
        times: ``[d]`` distinct node times, sorted.
        paths: ``[L, D]`` branch per level, ``-1`` past the leaf.
        path_times: ``[L, D]`` node time per level, ``+inf`` past the leaf.
        branch_vols: ``[B]`` each branch's post-decision vol.
    """
    times = np.asarray(times, dtype=float)
    n_leaves = paths.shape[0]
    vol_of = np.asarray(branch_vols, dtype=float)[np.maximum(paths, 0)]  # [L, D]
    ends = np.concatenate([path_times[:, 1:], np.full((n_leaves, 1), np.inf)], axis=1)
    vols = np.zeros((times.size + 1, n_leaves))
    variances = np.zeros_like(vols)
    vol_times = np.zeros_like(vols)
    for r in range(1, times.size + 1):
        start = times[r - 1]
        for leaf in range(n_leaves):
            seen = int(np.count_nonzero(path_times[leaf] <= start))  # ≥ 1: the root
            var = 0.0
            vt = 0.0
            for k in range(seen - 1):  # the segments completed before the interval opens
                length = ends[leaf, k] - path_times[leaf, k]
                var += vol_of[leaf, k] * vol_of[leaf, k] * length
                vt += vol_of[leaf, k] * length
            sigma = vol_of[leaf, seen - 1]
            opened = start - path_times[leaf, seen - 1]
            vols[r, leaf] = sigma
            variances[r, leaf] = var + sigma * sigma * opened
            vol_times[r, leaf] = vt + sigma * opened
    return VolTables(times, vols, variances, vol_times)


def _branch_arrays(nodes: tuple[NodeFit, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[B]`` each branch's node, pricing weight q and effective jump."""
    n_branches = sum(node.branches.size for node in nodes)
    owner = np.empty(n_branches, dtype=np.int64)
    weights, jumps = np.empty(n_branches), np.empty(n_branches)
    for k, node in enumerate(nodes):
        owner[node.branches] = k
        weights[node.branches] = node.weights
        jumps[node.branches] = node.jumps
    return owner, weights, jumps


def tree_path_times(nodes: tuple[NodeFit, ...], paths: np.ndarray) -> np.ndarray:
    """``[L, D]`` the node time at each level of each path, ``+inf`` past the leaf."""
    owner, _, _ = _branch_arrays(nodes)
    node_times = np.array([node.time for node in nodes])
    times = node_times[owner[np.maximum(paths, 0)]]
    return np.where(paths >= 0, times, np.inf)


def _products(values: np.ndarray, paths: np.ndarray, active: np.ndarray) -> np.ndarray:
    """``[L]`` ``Π_{k active} values[b_k]`` along each path."""
    products: np.ndarray = np.prod(np.where(active, values[np.maximum(paths, 0)], 1.0), axis=1)
    return products


def _product_derivatives(
    *,
    nodes: tuple[NodeFit, ...],
    paths: np.ndarray,
    active: np.ndarray,
    values: np.ndarray,
    weights: bool,
) -> np.ndarray:
    """``[L, B]`` ``∂(Π_{k active} values[b_k])/∂J_b`` along each path: a branch ``b`` moves
    its own node's weights (``weights``) or effective jumps, so only the factor of the path's
    branch at that node moves, by the node's ``∂/∂J_b``."""
    owner, _, _ = _branch_arrays(nodes)
    position = np.empty(owner.size, dtype=np.int64)  # a branch's row within its node
    for node in nodes:
        position[node.branches] = np.arange(node.branches.size)
    n_leaves, depth = paths.shape
    out = np.zeros((n_leaves, owner.size))
    factors = np.where(active, values[np.maximum(paths, 0)], 1.0)  # [L, D]
    for leaf in range(n_leaves):
        for k in range(depth):
            if not active[leaf, k]:
                continue
            b = int(paths[leaf, k])
            node = nodes[int(owner[b])]
            derivs = node.fit.d_weights if weights else node.fit.d_jumps
            others = float(np.prod(np.delete(factors[leaf], k)))
            out[leaf, node.branches] += others * derivs[position[b]]
    return out


def leaf_fit(
    *,
    measure: Measure,
    nodes: tuple[NodeFit, ...],
    paths: np.ndarray,
    probabilities: np.ndarray,
    jumps: np.ndarray,
) -> MeasureFit:
    """A tree's measure over its leaves from each node's (:class:`MeasureFit` with ``nodes``).

    Args:
        measure: the choice made (the root's, when nodes differ).
        nodes: each node's fit, in the tree's node order.
        paths: ``[L, D]`` branch per level, ``-1`` past the leaf.
        probabilities, jumps: ``[B]`` each branch's subjective probability and given jump.
    """
    _, weights, effective = _branch_arrays(nodes)
    live = paths >= 0
    leaf_weights = _products(weights, paths, live)
    leaf_jumps = _products(effective, paths, live)
    leaf_p = _products(np.asarray(probabilities, dtype=float), paths, live)
    given = _products(np.asarray(jumps, dtype=float), paths, live)
    d_weights = _product_derivatives(
        nodes=nodes, paths=paths, active=live, values=weights, weights=True
    )
    d_jumps = _product_derivatives(
        nodes=nodes, paths=paths, active=live, values=effective, weights=False
    )
    root = min(nodes, key=lambda node: node.time)
    return MeasureFit(
        measure=measure,
        weights=leaf_weights,
        jumps=leaf_jumps,
        tilt=root.tilt,
        forward_mismatch=float(leaf_weights @ leaf_jumps - 1.0),
        subjective_mismatch=float(leaf_p @ given - 1.0),
        d_weights=d_weights,
        d_jumps=d_jumps,
        nodes=nodes,
        paths=paths,
    )


def jump_tables(fit: MeasureFit, event_time: float, *, derivatives: bool = True) -> JumpTables:
    """The measure's tables: a tree's (``fit.nodes``) per interval between its node times,
    or a flat set's (one node at ``event_time``, years) with row 1 its own arrays. A tree's
    ``d_jumps`` are left zeros unless ``derivatives`` (they cost a loop over every leaf,
    level and interval)."""
    if fit.nodes is None or fit.paths is None:
        m = fit.weights.size
        return JumpTables(
            times=np.array([float(event_time)]),
            jumps=np.stack([np.ones(m), np.asarray(fit.jumps, dtype=float)]),
            d_jumps=np.stack([np.zeros((m, fit.d_jumps.shape[1])), fit.d_jumps]),
            d_weights=np.asarray(fit.d_weights, dtype=float),
            weights=np.asarray(fit.weights, dtype=float),
        )
    nodes, paths = fit.nodes, fit.paths
    _, _, effective = _branch_arrays(nodes)
    times = np.unique([node.time for node in nodes])
    path_times = tree_path_times(nodes, paths)
    n_leaves, n_branches = paths.shape[0], effective.size
    jumps = np.ones((times.size + 1, n_leaves))
    d_jumps = np.zeros((times.size + 1, n_leaves, n_branches))
    for r in range(1, times.size + 1):
        seen = (paths >= 0) & (path_times <= times[r - 1])
        jumps[r] = _products(effective, paths, seen)
        if derivatives:
            d_jumps[r] = _product_derivatives(
                nodes=nodes, paths=paths, active=seen, values=effective, weights=False
            )
    return JumpTables(times, jumps, d_jumps, np.asarray(fit.d_weights), np.asarray(fit.weights))
