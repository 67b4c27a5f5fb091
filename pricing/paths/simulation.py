"""Monte Carlo paths of USD/JPY under the scenario mixture, with the decision-date jumps.

Model. On a time grid ``times`` [k+1] (``times[0] = 0``) the log spot moves as::

    x_{j+1} = x_j + ln(F_{j+1}/F_j) − ½σ_j²Δt_j + σ_j·√Δt_j·Z_j + Σ_d 1{j = e_{i,d}}·ln J_{i,d}

with ``F`` the market forward at each grid time, ``σ_j`` the pre-event vol of step ``j`` before
the first decision and from each decision on the vol of scenario ``i``'s branch there, and
``e_{i,d}`` the grid index of scenario ``i``'s ``d``-th decision (a flat set: one, the event
``T_e``, with ``J_{i,0} = J_i``; a decision tree: the nodes on leaf ``i``'s path,
:class:`pricing.paths.model.Decisions`). Each jump happens just *after* its node's time (the
grid value there is pre-jump), so an expiry on a decision date ignores that decision, as in
:mod:`pricing.mixture.european` and :mod:`pricing.mixture.tree`. Each path carries one
scenario (leaf) drawn with ``weights`` (q — a tree's ``Π q`` along the leaf — under the
risk-neutral measure, p under the real-world one; the label is passed through). Drawing the
leaf up front is drawing branch by branch at each node: the same law. No compensator is
added: with Σ q·J = 1 at every node the simulated mean at every date is the market forward;
with p it is F·Σ p_i·J_i(t).

Random streams. Path space is cut into fixed blocks of :data:`BLOCK_PATHS` paths; block ``b``
draws from ``default_rng(SeedSequence(seed, spawn_key=(0, b)))`` (the ``b``-th spawned child),
so results depend on the seed only — not on worker count or execution order — and the
consumers' float sums are combined in block order. Within a block the scenario counts are a
systematic sample (one uniform per block), so every scenario gets its share ±1 path and paths
are grouped by scenario (paths are exchangeable, so the grouping changes no law). The block's
normals are drawn step-major, exactly the stream of ``rng.standard_normal((k, units))``,
inside one compiled loop that advances the paths as it draws (numba, which runs numpy's own
``Generator`` algorithms on the same bit generator: same seed, same numbers as numpy); the
normals never exist as a ``[k, units]`` array. Sobol: see :mod:`pricing.paths.sobol`.
Antithetic: each drawn normal vector is used with both signs, and the pair average is the
sampling unit for standard errors (:func:`pricing.paths.estimates.unit_values`).

Memory. One block holds ``(k+1) × BLOCK_PATHS`` floats; at most ``2·workers`` blocks are in
flight. Consumers reduce each block to small statistics (:mod:`pricing.paths.estimates`,
:mod:`pricing.paths.fan_chart`, :mod:`pricing.paths.options`).

Conventions: spot and forwards JPY per USD; vols annualised decimals; times years ACT/365F.

References: Glasserman, *Monte Carlo Methods in Financial Engineering* (2004), §3.1, §4.1–4.3;
L'Ecuyer (1999) and O'Neill (2014) for the seeding by spawned streams (numpy's
``SeedSequence``); DESIGN.md (the model).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from pricing.cancellation import CancelToken, current_token
from pricing.compiled import njit
from pricing.paths.model import (
    BlockPlan,
    MonteCarloSettings,
    PathBlock,
    PathModel,
    Sampling,
    ScenarioPaths,
    require,
)
from pricing.paths.model import plans as block_plans
from pricing.paths.sobol import sobol_draws

T = TypeVar("T")
A = TypeVar("A")
_Floats = npt.NDArray[np.float64]  # paths [k+1, n], per-scenario steps [m, k], normals [k, units]
_Ints = npt.NDArray[np.intp]  # per unit: scenario label, path column, antithetic partner


@njit(cache=True, inline="always")
def _advance(
    x: _Floats,
    j: int,
    u: int,
    z: float,
    scales: _Floats,
    drifts: _Floats,
    labels: _Ints,
    columns: _Ints,
    partners: _Ints,
) -> None:
    """One step of unit ``u`` (and of its antithetic partner): (z·s + d) + x, numpy's order."""
    i = labels[u]
    s = scales[i, j]
    d = drifts[i, j]
    c = columns[u]
    x[j + 1, c] = (z * s + d) + x[j, c]
    p = partners[u]
    if p >= 0:
        x[j + 1, p] = (-z * s + d) + x[j, p]


@njit(cache=True, nogil=True)
def _walk_drawn(
    rng: np.random.Generator,
    x: _Floats,
    scales: _Floats,
    drifts: _Floats,
    labels: _Ints,
    columns: _Ints,
    partners: _Ints,
) -> None:
    """Fill ``x[1:]`` drawing the normals step-major from ``rng`` as they are used."""
    for j in range(x.shape[0] - 1):
        for u in range(labels.size):
            _advance(x, j, u, rng.standard_normal(), scales, drifts, labels, columns, partners)


@njit(cache=True, nogil=True)
def _walk_given(
    normals: _Floats,
    x: _Floats,
    scales: _Floats,
    drifts: _Floats,
    labels: _Ints,
    columns: _Ints,
    partners: _Ints,
) -> None:
    """Fill ``x[1:]`` from given normals ``[k, units]``."""
    for j in range(x.shape[0] - 1):
        for u in range(labels.size):
            _advance(x, j, u, normals[j, u], scales, drifts, labels, columns, partners)


@dataclass(frozen=True)
class _Steps:
    """Per-step drift ``[m, k]`` (each decision's ln J folded into its step) and scale σ√Δt."""

    drifts: np.ndarray
    scales: np.ndarray

    @classmethod
    def of(cls, model: PathModel) -> _Steps:
        dt = np.diff(model.times)
        vols = model.step_vols()
        drifts = np.diff(np.log(model.forwards))[None, :] - 0.5 * vols**2 * dt[None, :]
        drifts += model.step_log_jumps()  # 0 off the decision steps: those drifts' bits stay
        return cls(np.ascontiguousarray(drifts), np.ascontiguousarray(vols * np.sqrt(dt)[None, :]))


BlockDraws = Callable[[BlockPlan], tuple[np.ndarray, np.ndarray]]
"""Given normals ``[k, units]`` grouped by scenario and unit counts ``[m]`` for a block."""


def _simulate_block(
    plan: BlockPlan,
    *,
    model: PathModel,
    settings: MonteCarloSettings,
    steps: _Steps,
    draws: BlockDraws | None,
) -> PathBlock:
    m = model.n_scenarios
    units = plan.size // 2 if settings.antithetic else plan.size
    rng = None
    if draws is None:
        cumulative = np.cumsum(model.weights)
        cumulative[-1] = np.inf
        seed = np.random.SeedSequence(settings.seed, spawn_key=(0, plan.index))
        rng = np.random.default_rng(seed)
        positions = (np.arange(units) + rng.random()) / units  # systematic scenario sample
        counts = np.bincount(np.searchsorted(cumulative, positions, side="right"), minlength=m)
    else:
        normals, counts = draws(plan)
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    labels = np.repeat(np.arange(m), counts)
    columns = np.arange(units)  # paths grouped by scenario …
    partners = np.full(units, -1)
    if settings.antithetic:  # … each scenario's units followed by their antithetic partners
        columns += np.repeat(firsts, counts)
        partners = columns + np.repeat(counts, counts)
    x = np.empty((model.steps + 1, plan.size))
    x[0] = np.log(model.spot)
    arrays = (steps.scales, steps.drifts, labels, columns, partners)
    if rng is not None:
        _walk_drawn(rng, x, *arrays)
    else:
        _walk_given(np.ascontiguousarray(normals), x, *arrays)
    slices = []
    copies = 2 if settings.antithetic else 1
    for scenario in np.flatnonzero(counts).tolist():
        first, width = copies * int(firsts[scenario]), copies * int(counts[scenario])
        part = x[:, first : first + width]
        slices.append(ScenarioPaths(scenario, part, settings.antithetic, first))
    return PathBlock(plan.index, plan.replicate, plan.start, plan.size, tuple(slices))


def _injected_draws(
    *,
    model: PathModel,
    settings: MonteCarloSettings,
    normals: np.ndarray,
    scenario_indices: np.ndarray | None,
) -> BlockDraws:
    units_total = settings.n_paths // 2 if settings.antithetic else settings.n_paths
    require(settings.sampling == Sampling.PSEUDO, "normals are injected with pseudo sampling")
    normals = np.asarray(normals, dtype=float)
    require(normals.shape == (units_total, model.steps), f"normals must be [{units_total}, k]")
    if scenario_indices is not None:
        scenario_indices = np.asarray(scenario_indices, dtype=np.intp)
        require(scenario_indices.shape == (units_total,), "scenario_indices must be [n_units]")

    def draws(plan: BlockPlan) -> tuple[np.ndarray, np.ndarray]:
        units = plan.size // 2 if settings.antithetic else plan.size
        first = plan.start // 2 if settings.antithetic else plan.start
        labels = (
            np.zeros(units, dtype=np.intp)
            if scenario_indices is None
            else scenario_indices[first : first + units]
        )
        order = np.argsort(labels, kind="stable")
        z = normals[first : first + units].T[:, order]
        return z, np.bincount(labels, minlength=model.n_scenarios)

    return draws


def fold_path_blocks(
    *,
    model: PathModel,
    settings: MonteCarloSettings,
    consumer: Callable[[PathBlock], T],
    fold: Callable[[A, T], A],
    initial: A,
    normals: np.ndarray | None = None,
    scenario_indices: np.ndarray | None = None,
) -> A:
    """Simulate every block, reduce it with ``consumer`` and ``fold`` the results in block order.

    ``consumer`` runs on worker threads and should return something small; ``fold`` runs on
    the calling thread, in block order, so float sums do not depend on ``settings.workers``.

    Cancellation: inside a :func:`pricing.cancellation.cancel_scope`, the scope's token is
    checked before the first block, on the worker before simulating each block (the pool's
    threads do not inherit the caller's context, so the token is passed along) and on the
    calling thread after folding each block but the last; once it is cancelled no block is
    started, pending ones are dropped and :class:`pricing.cancellation.Cancelled` propagates.
    At most one block per worker already under way is finished first. Outside any scope
    nothing changes.

    Args:
        normals: optional injected normals ``[n_units, k]`` (path-major; ``n_units`` is
            ``n_paths`` or ``n_paths/2`` with antithetics); pseudo-random sampling only.
        scenario_indices: optional injected scenario of each unit ``[n_units]`` (with
            ``normals``; default all scenario 0).

    Raises:
        Cancelled: the scope's token was abandoned or its deadline passed.
    """
    token = current_token()
    _check(token)
    draws: BlockDraws | None = None
    if normals is not None:
        draws = _injected_draws(
            model=model, settings=settings, normals=normals, scenario_indices=scenario_indices
        )
    elif settings.sampling == Sampling.SOBOL:
        draws = sobol_draws(model=model, settings=settings)
    steps = _Steps.of(model)

    def run(plan: BlockPlan) -> T:
        _check(token)
        block = _simulate_block(plan, model=model, settings=settings, steps=steps, draws=draws)
        return consumer(block)

    plans = block_plans(settings)
    accumulator = initial
    results = _ordered_map(run, plans, settings.workers)
    try:
        for done, result in enumerate(results, start=1):
            accumulator = fold(accumulator, result)
            if done < len(plans):
                _check(token)
    finally:
        results.close()  # on cancellation: drop the pending blocks now, not when collected
    return accumulator


def _check(token: CancelToken | None) -> None:
    if token is not None:
        token.check()


def _ordered_map(
    function: Callable[[Any], T], items: list[Any], workers: int
) -> Generator[T, None, None]:
    """``map`` in order with at most ``2·workers`` items in flight (bounded memory).

    When the consumer stops early (an exception, or the generator closed) the items not
    started are cancelled and the ones under way awaited before returning.
    """
    if workers == 1:
        yield from map(function, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="paths")
    pending: deque[Future[T]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
