"""Monte Carlo paths of USD/JPY under the scenario mixture, with the decision-date jump.

Model. On a time grid ``times`` [k+1] (``times[0] = 0``) the log spot moves as::

    x_{j+1} = x_j + ln(F_{j+1}/F_j) − ½σ_j²Δt_j + σ_j·√Δt_j·Z_j + 1{j = e}·ln J_i

with ``F`` the market forward at each grid time, ``σ_j`` the pre-event vol of step ``j`` before
the event and scenario ``i``'s vol from the event on, and ``e`` the grid index of the event
time ``T_e``. The jump happens just *after* ``T_e`` (the grid value at ``T_e`` is pre-jump), so
an expiry on the event date ignores the scenarios, as in :mod:`pricing.mixture`. Each path
carries one scenario drawn with ``weights`` (q under the risk-neutral measure, p under the
real-world one; the label is passed through). No compensator is added: with Σ q_i·J_i = 1 the
simulated mean at every date is the market forward; with p it is F·Σ p_i·J_i.

Random streams. Path space is cut into fixed blocks of :data:`BLOCK_PATHS` paths; block ``b``
draws from ``default_rng(SeedSequence(seed, spawn_key=(0, b)))`` (the ``b``-th spawned child),
so results depend on the seed only — not on worker count or execution order — and the
consumers' float sums are combined in block order. Within a block the scenario counts are a
systematic sample (one uniform per block), so every scenario gets its share ±1 path and paths
are grouped by scenario (paths are exchangeable, so the grouping changes no law). The block's
normals are drawn step-major, exactly the stream of ``rng.standard_normal((k, units))``,
inside one compiled loop that advances the paths as it draws (numba, which runs numpy's own
``Generator`` algorithms on the same bit generator: same seed, same numbers as numpy); the
normals never exist as a ``[k, units]`` array. Sobol: see :mod:`pricing.sobol_paths`.
Antithetic: each drawn normal vector is used with both signs, and the pair average is the
sampling unit for standard errors (:func:`pricing.path_estimates.unit_values`).

Memory. One block holds ``(k+1) × BLOCK_PATHS`` floats; at most ``2·workers`` blocks are in
flight. Consumers reduce each block to small statistics (:mod:`pricing.path_estimates`,
:mod:`pricing.fan_chart`, :mod:`pricing.path_options`).

Conventions: spot and forwards JPY per USD; vols annualised decimals; times years ACT/365F.

References: Glasserman, *Monte Carlo Methods in Financial Engineering* (2004), §3.1, §4.1–4.3;
L'Ecuyer (1999) and O'Neill (2014) for the seeding by spawned streams (numpy's
``SeedSequence``); DESIGN.md (the model).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import numba as nb
import numpy as np

from pricing.cancellation import CancelToken, current_token
from pricing.sobol_paths import sobol_draws

BLOCK_PATHS = 4096
_TIME_TOL = 1e-10

T = TypeVar("T")
A = TypeVar("A")


class Sampling(StrEnum):
    """How the normals are drawn."""

    PSEUDO = "pseudo"
    SOBOL = "sobol"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class PathModel:
    """Market and scenarios on the simulation grid (validated when built).

    Attributes:
        spot: S0, JPY per USD.
        times: ``[k+1]`` grid in years, ``times[0] == 0``, strictly increasing; must contain
            ``event_time`` if the event falls strictly inside the grid.
        forwards: ``[k+1]`` market forward ``F(t) = S0·DF_f/DF_d`` at each grid time.
        pre_vols: ``[k]`` (or scalar) vol of each step before the event; forward vols of a
            term structure, ``σ_j² = (V(t_{j+1}) − V(t_j))/Δt_j``. Steps after the event
            ignore it.
        scenario_vols, jumps, weights: ``[m]`` post-event vol, jump ratio J_i, probability
            with which paths draw the scenario.
        event_time: ``T_e`` in years, or None (no event before the horizon).
        measure: label echoed in results (e.g. ``"risk_neutral"``, ``"real_world"``).
    """

    spot: float
    times: np.ndarray
    forwards: np.ndarray
    pre_vols: np.ndarray
    scenario_vols: np.ndarray
    jumps: np.ndarray
    weights: np.ndarray
    event_time: float | None
    measure: str
    event_index: int = field(init=False)

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=float)
        k = times.size - 1
        forwards = np.asarray(self.forwards, dtype=float)
        pre_vols = np.broadcast_to(np.asarray(self.pre_vols, dtype=float), (max(k, 0),)).copy()
        arrays = {
            name: np.atleast_1d(np.asarray(getattr(self, name), dtype=float))
            for name in ("scenario_vols", "jumps", "weights")
        }
        _require(k >= 1 and times[0] == 0.0, "times must start at 0 with at least one step")
        _require(bool(np.all(np.diff(times) > 0)), "times must be strictly increasing")
        _require(forwards.shape == times.shape, "forwards must have the shape of times")
        _require(bool(np.all(np.isfinite(forwards) & (forwards > 0))), "forwards must be > 0")
        _require(abs(forwards[0] - self.spot) <= 1e-12 * self.spot, "forwards[0] must be spot")
        _require(bool(np.all(np.isfinite(pre_vols) & (pre_vols > 0))), "pre_vols must be > 0")
        m = arrays["weights"].size
        _require(all(a.shape == (m,) for a in arrays.values()), "scenario arrays must be [m]")
        _require(bool(np.all(arrays["scenario_vols"] > 0)), "scenario_vols must be > 0")
        _require(bool(np.all(arrays["jumps"] > 0)), "jumps must be > 0")
        weights = arrays["weights"]
        _require(bool(np.all(weights >= 0)), "weights must be >= 0")
        _require(abs(weights.sum() - 1.0) <= 1e-9, f"weights must sum to 1, got {weights.sum()}")
        for name, value in (("times", times), ("forwards", forwards), ("pre_vols", pre_vols)):
            object.__setattr__(self, name, value)
        for name, value in arrays.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "event_index", _event_index(times, self.event_time))

    @property
    def steps(self) -> int:
        return self.times.size - 1

    @property
    def n_scenarios(self) -> int:
        return self.weights.size

    def step_vols(self) -> np.ndarray:
        """``[m, k]`` vol of each step per scenario (pre-event vol, then the scenario's)."""
        vols = np.repeat(self.pre_vols[None, :], self.n_scenarios, axis=0)
        vols[:, self.event_index :] = self.scenario_vols[:, None]
        return vols

    def total_vars(self) -> np.ndarray:
        """``[m, k+1]`` variance of ln S(t) per scenario (0 at t = 0)."""
        increments = self.step_vols() ** 2 * np.diff(self.times)[None, :]
        return np.concatenate([np.zeros((self.n_scenarios, 1)), np.cumsum(increments, 1)], 1)

    def log_means(self) -> np.ndarray:
        """``[m, k+1]`` mean of ln S(t) per scenario: ln F + 1{t > T_e}·ln J − ½·variance."""
        after = np.arange(self.steps + 1) > self.event_index
        return (
            np.log(self.forwards)[None, :]
            + after[None, :] * np.log(self.jumps)[:, None]
            - 0.5 * self.total_vars()
        )


def _event_index(times: np.ndarray, event_time: float | None) -> int:
    """Grid index of the event; ``k`` when it lies at or beyond the horizon (no jump)."""
    if event_time is None or event_time >= times[-1] - _TIME_TOL:
        return times.size - 1
    _require(event_time >= 0.0, f"event_time must be >= 0, got {event_time}")
    index = int(np.argmin(np.abs(times - event_time)))
    _require(
        abs(times[index] - event_time) <= _TIME_TOL,
        f"event_time {event_time} must be a grid time (see time_grid)",
    )
    return index


def time_grid(*, horizon: float, steps: int, event_time: float | None) -> np.ndarray:
    """Uniform grid ``[steps+1]`` on ``[0, horizon]`` with the nearest point moved onto the event.

    The event time (if inside ``(0, horizon)``) replaces the closest interior grid point, so
    the step count stays ``steps``; if that would leave a zero-length step the grid is kept
    and the event inserted instead (``steps+1`` steps).
    """
    _require(horizon > 0 and steps >= 1, "horizon must be > 0 and steps >= 1")
    times = np.linspace(0.0, horizon, steps + 1)
    if event_time is None or not 0.0 < event_time < horizon:
        return times
    index = int(np.clip(np.rint(event_time / horizon * steps), 1, steps - 1)) if steps > 1 else 1
    candidate = times.copy()
    if steps > 1:
        candidate[index] = event_time
        if np.all(np.diff(candidate) > _TIME_TOL):
            return candidate
    return np.sort(np.append(times, event_time))


@dataclass(frozen=True)
class MonteCarloSettings:
    """How many paths and how they are drawn.

    Attributes:
        n_paths: number of paths (even with antithetics; a multiple of ``sobol_replicates``
            with Sobol).
        seed: non-negative integer; same seed, same numbers.
        antithetic: use each normal vector with both signs (pseudo-random only).
        sampling: :class:`Sampling`.
        sobol_replicates: independently scrambled Sobol sequences (≥ 2) for the error estimate.
        workers: threads simulating blocks (the compiled loop releases the GIL); results do
            not depend on it.
    """

    n_paths: int
    seed: int
    antithetic: bool = False
    sampling: Sampling = Sampling.PSEUDO
    sobol_replicates: int = 16
    workers: int = 1

    def __post_init__(self) -> None:
        _require(self.n_paths >= 2, f"n_paths must be >= 2, got {self.n_paths}")
        _require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        _require(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        _require(not self.antithetic or self.n_paths % 2 == 0, "antithetic needs even n_paths")
        if self.sampling == Sampling.SOBOL:
            _require(not self.antithetic, "antithetic is for pseudo-random sampling only")
            _require(self.sobol_replicates >= 2, "sobol_replicates must be >= 2")
            _require(
                self.n_paths % self.sobol_replicates == 0,
                f"n_paths ({self.n_paths}) must be a multiple of sobol_replicates",
            )

    @property
    def replicates(self) -> int:
        return self.sobol_replicates if self.sampling == Sampling.SOBOL else 1


@dataclass(frozen=True)
class ScenarioPaths:
    """The paths of one scenario within one block.

    Attributes:
        scenario: scenario index.
        log_spots: ``[k+1, n]`` ln S at each grid time (time-major; pre-jump at ``T_e``).
        antithetic: columns ``[0, n/2)`` and ``[n/2, n)`` are antithetic partners.
        first_position: position of column 0 in the block's path order.
    """

    scenario: int
    log_spots: np.ndarray
    antithetic: bool
    first_position: int


@dataclass(frozen=True)
class PathBlock:
    """One block of paths: global paths ``[start, start + size)``, grouped by scenario."""

    index: int
    replicate: int
    start: int
    size: int
    scenarios: tuple[ScenarioPaths, ...]


@dataclass(frozen=True)
class BlockPlan:
    """Where a block sits: global paths ``[start, start + size)``, ``offset`` within its
    replicate (the Sobol position)."""

    index: int
    replicate: int
    start: int
    size: int
    offset: int


def _plans(settings: MonteCarloSettings) -> list[BlockPlan]:
    per_replicate = settings.n_paths // settings.replicates
    plans = []
    for replicate in range(settings.replicates):
        for offset in range(0, per_replicate, BLOCK_PATHS):
            size = min(BLOCK_PATHS, per_replicate - offset)
            start = replicate * per_replicate + offset
            plans.append(BlockPlan(len(plans), replicate, start, size, offset))
    return plans


@nb.njit(cache=True, inline="always")
def _advance(x, j, u, z, scales, drifts, labels, columns, partners):  # type: ignore[no-untyped-def]
    """One step of unit ``u`` (and of its antithetic partner): (z·s + d) + x, numpy's order."""
    i = labels[u]
    s = scales[i, j]
    d = drifts[i, j]
    c = columns[u]
    x[j + 1, c] = (z * s + d) + x[j, c]
    p = partners[u]
    if p >= 0:
        x[j + 1, p] = (-z * s + d) + x[j, p]


@nb.njit(cache=True, nogil=True)
def _walk_drawn(rng, x, scales, drifts, labels, columns, partners):  # type: ignore[no-untyped-def]
    """Fill ``x[1:]`` drawing the normals step-major from ``rng`` as they are used."""
    for j in range(x.shape[0] - 1):
        for u in range(labels.size):
            _advance(x, j, u, rng.standard_normal(), scales, drifts, labels, columns, partners)


@nb.njit(cache=True, nogil=True)
def _walk_given(normals, x, scales, drifts, labels, columns, partners):  # type: ignore[no-untyped-def]
    """Fill ``x[1:]`` from given normals ``[k, units]``."""
    for j in range(x.shape[0] - 1):
        for u in range(labels.size):
            _advance(x, j, u, normals[j, u], scales, drifts, labels, columns, partners)


@dataclass(frozen=True)
class _Steps:
    """Per-step drift ``[m, k]`` (the jump folded into the event step) and scale σ√Δt."""

    drifts: np.ndarray
    scales: np.ndarray

    @classmethod
    def of(cls, model: PathModel) -> _Steps:
        dt = np.diff(model.times)
        vols = model.step_vols()
        drifts = np.diff(np.log(model.forwards))[None, :] - 0.5 * vols**2 * dt[None, :]
        if model.event_index < model.steps:
            drifts[:, model.event_index] += np.log(model.jumps)
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
    _require(settings.sampling == Sampling.PSEUDO, "normals are injected with pseudo sampling")
    normals = np.asarray(normals, dtype=float)
    _require(normals.shape == (units_total, model.steps), f"normals must be [{units_total}, k]")
    if scenario_indices is not None:
        scenario_indices = np.asarray(scenario_indices, dtype=np.intp)
        _require(scenario_indices.shape == (units_total,), "scenario_indices must be [n_units]")

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

    plans = _plans(settings)
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
