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
so results depend on the seed only — not on worker count or execution order — and float sums
are combined in block order. Within a block the scenario counts are a systematic sample
(one uniform per block), so every scenario gets its share ±1 path and paths are grouped by
scenario (paths are exchangeable, so the grouping changes no law). Sobol: ``R`` replicates,
each an independently scrambled Sobol sequence (``scipy.stats.qmc.Sobol``, seed spawned with
key ``(1, r)``), coordinate 0 drawing the scenario and the others fed through a Brownian
bridge on the grid; standard errors come from the spread across replicates (randomised QMC).
Antithetic: each drawn normal vector is used with both signs, and the pair average is the
sampling unit for standard errors.

Memory. One block holds ``(k+1) × BLOCK_PATHS`` floats per array; at most ``2·workers`` blocks
are in flight. Statistics stream: moment sums per (replicate, scenario), and per-date
histograms for the quantile bands.

Estimators. Means are post-stratified, ``Σ_i w_i·mean_i`` with the model's weights, so neither
the scenario draw nor the rounding of the counts adds noise; their errors come from the
within-scenario variances (pseudo-random) or from the spread of the replicates (Sobol).

Quantiles. Per scenario and date, a histogram of ``quantile_bins`` bins over ±8 standard
deviations of that scenario's log spot around its mean; the mixture's bands invert
``Σ_i w_i·F_i`` of those histograms (density uniform within a bin). Integer counts add exactly,
so the bands do not depend on chunking or order (P² and per-chunk reservoirs do). The error
against the sample quantile is below one bin width (16σ/bins: 0.016σ at 1024 bins) and of
order width²·f′/f for smooth densities (≈10⁻⁴σ), under the Monte Carlo error of a 5 % quantile
even at 10⁶ paths (≈0.002σ). Mass beyond ±8σ (≈10⁻¹⁵) lands in overflow bins; a band that
falls there is flagged in the ``*_resolved`` masks. Memory: ``m·(k+1)·(bins+2)`` int64.

Conventions: spot and forwards JPY per USD; vols annualised decimals; times years ACT/365F.

References: Glasserman, *Monte Carlo Methods in Financial Engineering* (2004), §3.1 (Brownian
bridge), §4.1–4.3 (antithetics, stratification), §5.5 (randomised QMC); Owen (1997), scrambled
nets; DESIGN.md (the model).
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import numpy as np
from scipy.special import ndtri
from scipy.stats import qmc

BLOCK_PATHS = 4096
_TIME_TOL = 1e-10

T = TypeVar("T")
A = TypeVar("A")


class Sampling(StrEnum):
    """How the normals are drawn."""

    PSEUDO = "pseudo"
    SOBOL = "sobol"


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
        scenario_vols, jumps, weights: ``[m]`` post-event vol, jump ratio J_i, probability.
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


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


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
        workers: threads simulating blocks (numpy releases the GIL); results do not depend on it.
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


def unit_values(values: np.ndarray, *, antithetic: bool) -> np.ndarray:
    """Per sampling unit values ``[..., n_units]`` from per-path ``values [..., n]``."""
    if not antithetic:
        return values
    half = values.shape[-1] // 2
    return 0.5 * (values[..., :half] + values[..., half:])


@dataclass
class MomentSums:
    """Streaming sums of per-unit statistics ``[s]`` by (replicate, scenario).

    ``offsets`` [s] are subtracted before summing (e.g. the forward) to keep the
    variance ``Σx² − (Σx)²/n`` free of cancellation.
    """

    counts: np.ndarray
    sums: np.ndarray
    squares: np.ndarray
    offsets: np.ndarray

    @classmethod
    def zeros(cls, *, replicates: int, scenarios: int, offsets: np.ndarray) -> MomentSums:
        shape = (replicates, scenarios, offsets.size)
        return cls(np.zeros((replicates, scenarios)), np.zeros(shape), np.zeros(shape), offsets)

    def add(self, *, replicate: int, scenario: int, values: np.ndarray) -> None:
        """Add ``values [s, n_units]`` of one scenario's sampling units."""
        centred = values - self.offsets[:, None]
        self.counts[replicate, scenario] += values.shape[1]
        self.sums[replicate, scenario] += centred.sum(axis=1)
        self.squares[replicate, scenario] += np.einsum("ij,ij->i", centred, centred)

    def merge(self, other: MomentSums) -> MomentSums:
        self.counts += other.counts
        self.sums += other.sums
        self.squares += other.squares
        return self


@dataclass(frozen=True)
class MomentEstimates:
    """Means and standard errors; ``scenario_*`` are conditional on the scenario ``[m, s]``.

    ``scenario_valid`` is False where a scenario has too few units for an error estimate
    (its mean and error are then NaN).
    """

    means: np.ndarray
    standard_errors: np.ndarray
    scenario_means: np.ndarray
    scenario_standard_errors: np.ndarray
    scenario_valid: np.ndarray


def moment_estimates(sums: MomentSums, *, weights: np.ndarray) -> MomentEstimates:
    """Post-stratified means ``Σ_i w_i·mean_i`` and their standard errors.

    One replicate (pseudo-random): ``Var = Σ_i w_i²·s_i²/n_i`` from the within-scenario sample
    variances, so neither the scenario draw nor the ±1 rounding of the counts adds noise.
    Several replicates (Sobol): the spread of the replicates' estimates. A scenario that drew
    no unit drops out and the other weights are renormalised (possible only for weights of
    order 1/n).
    """
    counts, total, squares, offsets = sums.counts, sums.sums, sums.squares, sums.offsets
    replicates = counts.shape[0]
    present = counts > 0
    shares = weights[None, :] * present
    shares = shares / shares.sum(axis=1, keepdims=True)
    pooled = counts.sum(axis=0)[:, None]
    pooled_means = total.sum(axis=0) / np.maximum(pooled, 1)
    if replicates == 1:
        n = counts[0][:, None]
        variances = np.maximum(squares[0] - total[0] * pooled_means, 0.0) / np.maximum(n - 1, 1)
        valid = np.broadcast_to(n >= 2, variances.shape)
        variances = np.where(valid, variances, 0.0)
        means = (shares[0][:, None] * pooled_means).sum(axis=0)
        errors = np.sqrt((shares[0][:, None] ** 2 * variances / np.maximum(n, 1)).sum(axis=0))
        scenario_errors = np.sqrt(variances / np.maximum(n, 1))
    else:
        conditional = total / np.maximum(counts, 1)[:, :, None]
        estimates = (shares[:, :, None] * conditional).sum(axis=1)
        means = estimates.mean(axis=0)
        errors = estimates.std(axis=0, ddof=1) / np.sqrt(replicates)
        n_rep = present.sum(axis=0)[:, None]
        centre = (conditional * present[:, :, None]).sum(axis=0) / np.maximum(n_rep, 1)
        spread = (((conditional - centre) ** 2) * present[:, :, None]).sum(axis=0)
        scenario_errors = np.sqrt(spread / np.maximum(n_rep - 1, 1) / np.maximum(n_rep, 1))
        valid = np.broadcast_to(n_rep >= 2, spread.shape)
    return MomentEstimates(
        means=means + offsets,
        standard_errors=errors,
        scenario_means=np.where(valid, pooled_means + offsets, np.nan),
        scenario_standard_errors=np.where(valid, scenario_errors, np.nan),
        scenario_valid=np.asarray(valid),
    )


class _BridgePlan:
    """Brownian-bridge construction order on a grid (coarse points first)."""

    def __init__(self, times: np.ndarray) -> None:
        k = times.size - 1
        self.times = times
        self.steps: list[tuple[int, int, int, float, float, float]] = []
        queue = deque([(0, k)])
        while queue:
            left, right = queue.popleft()
            if right - left < 2:
                continue
            mid = (left + right) // 2
            t_l, t_m, t_r = times[left], times[mid], times[right]
            span = t_r - t_l
            sd = float(np.sqrt((t_m - t_l) * (t_r - t_m) / span))
            self.steps.append((mid, left, right, (t_r - t_m) / span, (t_m - t_l) / span, sd))
            queue.extend([(left, mid), (mid, right)])

    def normals(self, gaussians: np.ndarray) -> np.ndarray:
        """Step normals ``[k, n]`` from bridge-ordered gaussians ``[k, n]``."""
        k = self.times.size - 1
        walk = np.zeros((k + 1, gaussians.shape[1]))
        walk[k] = np.sqrt(self.times[k]) * gaussians[0]
        for row, (mid, left, right, w_l, w_r, sd) in enumerate(self.steps, start=1):
            walk[mid] = w_l * walk[left] + w_r * walk[right] + sd * gaussians[row]
        return np.diff(walk, axis=0) / np.sqrt(np.diff(self.times))[:, None]


class _SobolSource:
    """Scrambled Sobol engines per replicate (built once, copied per block) and the bridge."""

    def __init__(self, model: PathModel, settings: MonteCarloSettings) -> None:
        self.bridge = _BridgePlan(model.times)
        self._dimension = model.steps + 1
        self._seed = settings.seed
        self._engines: dict[int, qmc.Sobol] = {}
        self._lock = threading.Lock()

    def engine(self, replicate: int) -> qmc.Sobol:
        """A fresh engine of ``replicate``: scrambled with seed key ``(1, replicate)``."""
        with self._lock:
            if replicate not in self._engines:
                seed = np.random.SeedSequence(self._seed, spawn_key=(1, replicate))
                self._engines[replicate] = qmc.Sobol(
                    self._dimension, scramble=True, rng=np.random.default_rng(seed)
                )
            return copy.deepcopy(self._engines[replicate])


@dataclass(frozen=True)
class _Plan:
    index: int
    replicate: int
    start: int
    size: int
    offset: int  # position within the replicate (Sobol)


def _plans(settings: MonteCarloSettings) -> list[_Plan]:
    per_replicate = settings.n_paths // settings.replicates
    plans = []
    for replicate in range(settings.replicates):
        for offset in range(0, per_replicate, BLOCK_PATHS):
            size = min(BLOCK_PATHS, per_replicate - offset)
            start = replicate * per_replicate + offset
            plans.append(_Plan(len(plans), replicate, start, size, offset))
    return plans


def _draw_block(
    plan: _Plan,
    *,
    model: PathModel,
    settings: MonteCarloSettings,
    sobol: _SobolSource | None,
    normals: np.ndarray | None,
    scenario_indices: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Normals ``[k, n_units]`` grouped by scenario, and per-scenario unit counts ``[m]``."""
    k, m = model.steps, model.n_scenarios
    units = plan.size // 2 if settings.antithetic else plan.size
    cumulative = np.cumsum(model.weights)
    cumulative[-1] = np.inf
    if normals is not None:
        first = plan.start // 2 if settings.antithetic else plan.start
        z = normals[first : first + units].T
        labels = (
            np.zeros(units, dtype=np.intp)
            if scenario_indices is None
            else (scenario_indices[first : first + units])
        )
        order = np.argsort(labels, kind="stable")
        return np.ascontiguousarray(z[:, order]), np.bincount(labels, minlength=m)
    if settings.sampling == Sampling.SOBOL:
        assert sobol is not None
        engine = sobol.engine(plan.replicate)
        if plan.offset == 0:  # first draw of a power-of-two size keeps scipy's balance check quiet
            points = np.vstack([engine.random(1), engine.random(units - 1)])
        else:
            engine.fast_forward(plan.offset)
            points = engine.random(units)
        labels = np.searchsorted(cumulative, points[:, 0], side="right")
        order = np.argsort(labels, kind="stable")
        tiny = 2.0**-54
        gaussians = ndtri(np.clip(points[order, 1:].T, tiny, 1.0 - tiny))
        return sobol.bridge.normals(gaussians), np.bincount(labels, minlength=m)
    rng = np.random.default_rng(np.random.SeedSequence(settings.seed, spawn_key=(0, plan.index)))
    positions = (np.arange(units) + rng.random()) / units  # systematic scenario sample
    labels = np.searchsorted(cumulative, positions, side="right")
    return rng.standard_normal((k, units)), np.bincount(labels, minlength=m)


def _simulate_block(
    plan: _Plan,
    *,
    model: PathModel,
    settings: MonteCarloSettings,
    sobol: _SobolSource | None,
    normals: np.ndarray | None,
    scenario_indices: np.ndarray | None,
) -> PathBlock:
    z, counts = _draw_block(
        plan,
        model=model,
        settings=settings,
        sobol=sobol,
        normals=normals,
        scenario_indices=scenario_indices,
    )
    dt = np.diff(model.times)
    vols = model.step_vols()
    drifts = np.diff(np.log(model.forwards))[None, :] - 0.5 * vols**2 * dt[None, :]
    if model.event_index < model.steps:
        drifts[:, model.event_index] += np.log(model.jumps)
    scales = vols * np.sqrt(dt)[None, :]
    slices = []
    unit_start = 0
    for scenario, count in enumerate(counts.tolist()):
        if count == 0:
            continue
        shocks = z[:, unit_start : unit_start + count]
        if settings.antithetic:
            shocks = np.concatenate([shocks, -shocks], axis=1)
        x = np.empty((model.steps + 1, shocks.shape[1]))
        x[0] = np.log(model.spot)
        np.multiply(shocks, scales[scenario][:, None], out=x[1:])
        x[1:] += drifts[scenario][:, None]
        for row in range(1, x.shape[0]):  # row by row: ~8× faster than cumsum(axis=0) here
            x[row] += x[row - 1]
        position = 2 * unit_start if settings.antithetic else unit_start
        slices.append(ScenarioPaths(scenario, x, settings.antithetic, position))
        unit_start += count
    return PathBlock(plan.index, plan.replicate, plan.start, plan.size, tuple(slices))


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

    Args:
        normals: optional injected normals ``[n_units, k]`` (path-major; ``n_units`` is
            ``n_paths`` or ``n_paths/2`` with antithetics); pseudo-random sampling only.
        scenario_indices: optional injected scenario of each unit ``[n_units]`` (with
            ``normals``; default all scenario 0).
    """
    if normals is not None:
        units = settings.n_paths // 2 if settings.antithetic else settings.n_paths
        _require(settings.sampling == Sampling.PSEUDO, "normals are injected with pseudo sampling")
        normals = np.asarray(normals, dtype=float)
        _require(normals.shape == (units, model.steps), f"normals must be [{units}, k]")
        if scenario_indices is not None:
            scenario_indices = np.asarray(scenario_indices, dtype=np.intp)
            _require(scenario_indices.shape == (units,), "scenario_indices must be [n_units]")
    sobol = _SobolSource(model, settings) if settings.sampling == Sampling.SOBOL else None

    def run(plan: _Plan) -> T:
        block = _simulate_block(
            plan,
            model=model,
            settings=settings,
            sobol=sobol,
            normals=normals,
            scenario_indices=scenario_indices,
        )
        return consumer(block)

    accumulator = initial
    for result in _ordered_map(run, _plans(settings), settings.workers):
        accumulator = fold(accumulator, result)
    return accumulator


def _ordered_map(function: Callable[[Any], T], items: list[Any], workers: int) -> Iterator[T]:
    """``map`` in order with at most ``2·workers`` items in flight (bounded memory)."""
    if workers == 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="paths") as pool:
        pending: deque[Any] = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@dataclass(frozen=True)
class FanChart:
    """Fan-chart statistics of a simulation; spot levels in JPY per USD.

    Shapes: dates ``[k+1]``, quantiles ``[q]``, scenarios ``[m]``, levels ``[L]``, samples
    ``[s]``. ``scenario_*`` are conditional on the scenario (identical in law before the
    event, split after it). ``*_resolved`` is False where a quantile fell outside the
    histogram (value clipped to its edge) or a scenario drew no path (value NaN).
    """

    times: np.ndarray
    forwards: np.ndarray
    quantiles: np.ndarray
    bands: np.ndarray  # [q, k+1]
    bands_resolved: np.ndarray
    scenario_bands: np.ndarray  # [m, q, k+1]
    scenario_bands_resolved: np.ndarray
    means: np.ndarray  # [k+1]
    mean_standard_errors: np.ndarray
    scenario_means: np.ndarray  # [m, k+1]
    scenario_mean_standard_errors: np.ndarray
    levels: np.ndarray  # [L]
    probabilities_above: np.ndarray  # P(S_T > level) at the last date
    probabilities_below: np.ndarray
    probability_standard_errors: np.ndarray
    scenario_probabilities_above: np.ndarray  # [m, L]
    scenario_probability_standard_errors: np.ndarray
    scenario_path_counts: np.ndarray  # [m]
    sample_paths: np.ndarray  # [s, k+1]
    sample_scenarios: np.ndarray  # [s]
    n_paths: int
    seed: int
    measure: str
    sampling: str
    antithetic: bool


@dataclass(frozen=True)
class _Grid:
    """Histogram of one scenario's log spot per date: ``bins`` bins from ``lows`` [k+1] with
    ``widths`` [k+1], plus an underflow (index 0) and an overflow (index bins+1) bin."""

    lows: np.ndarray
    widths: np.ndarray
    bins: int

    def counts(self, x: np.ndarray) -> np.ndarray:
        """Counts ``[k+1, bins+2]`` of ``x [k+1, n]``."""
        u = x - self.lows[:, None]
        u /= self.widths[:, None]
        u += 1.0
        np.clip(u, 0.0, self.bins + 1.0, out=u)
        index = u.astype(np.intp)
        index += (np.arange(x.shape[0]) * (self.bins + 2))[:, None]
        size = x.shape[0] * (self.bins + 2)
        return np.bincount(index.ravel(), minlength=size).reshape(x.shape[0], self.bins + 2)


def _mixture_quantiles(
    *, grids: list[_Grid], counts: np.ndarray, weights: np.ndarray, probabilities: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles ``[q, k+1]`` of log spot under ``Σ w_i·F_i`` and a resolved mask.

    ``F_i`` is scenario i's histogram CDF (density uniform within a bin); the root of the
    piecewise-linear mixture CDF is found by bisection to machine precision.
    """
    drawn = counts[:, 0, :].sum(axis=1) > 0
    shares = weights * drawn
    chosen = np.flatnonzero(shares > 0)
    shares = shares[chosen] / shares[chosen].sum()
    bins = grids[0].bins
    lows = np.stack([grids[i].lows for i in chosen])[:, None, :]  # [c, 1, k+1]
    widths = np.stack([grids[i].widths for i in chosen])[:, None, :]
    cells = counts[chosen]  # [c, k+1, bins+2]
    cumulative = np.cumsum(cells, axis=2)
    totals = cumulative[:, :, -1][:, None, :]
    scenario = np.arange(chosen.size)[:, None, None]
    dates = np.arange(cells.shape[1])[None, None, :]
    targets = probabilities[:, None]

    def cdf(x: np.ndarray) -> np.ndarray:
        u = (x[None] - lows) / widths
        whole = np.clip(np.floor(u), 0, bins - 1).astype(np.intp)
        part = np.clip(u - whole, 0.0, 1.0)
        mass = cumulative[scenario, dates, whole] + part * cells[scenario, dates, whole + 1]
        return (shares[:, None, None] * mass / totals).sum(axis=0)

    shape = (probabilities.size, cells.shape[1])
    low = np.broadcast_to(lows.min(axis=0), shape).copy()
    high = np.broadcast_to((lows + bins * widths).max(axis=0), shape).copy()
    resolved = (cdf(low) < targets) & (cdf(high) >= targets)
    for _ in range(64):
        middle = 0.5 * (low + high)
        above = cdf(middle) >= targets
        high = np.where(above, middle, high)
        low = np.where(above, low, middle)
    return high, resolved


_HALF_RANGE = 8.0  # histogram half-width in standard deviations of each scenario's log spot


def simulate_fan_chart(
    *,
    model: PathModel,
    settings: MonteCarloSettings,
    quantiles: np.ndarray,
    levels: np.ndarray,
    n_sample_paths: int,
    quantile_bins: int = 1024,
    normals: np.ndarray | None = None,
    scenario_indices: np.ndarray | None = None,
) -> FanChart:
    """Quantile bands per date (overall and per scenario), forward check, level probabilities.

    Args:
        quantiles: ``[q]`` probabilities in (0, 1).
        levels: ``[L]`` spot levels; P(S_T > level) at the last grid date, with errors.
        n_sample_paths: paths returned whole (spread evenly over path space), ≤ n_paths.
        quantile_bins: histogram bins per date and scenario (memory ``(m+1)·(k+1)·bins``
            int64).
        normals, scenario_indices: injected draws, see :func:`fold_path_blocks`.
    """
    probabilities = np.atleast_1d(np.asarray(quantiles, dtype=float))
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    _require(bool(np.all((probabilities > 0) & (probabilities < 1))), "quantiles in (0, 1)")
    _require(0 <= n_sample_paths <= settings.n_paths, "n_sample_paths must be in [0, n_paths]")
    _require(quantile_bins >= 16, "quantile_bins must be >= 16")
    m, k, replicates = model.n_scenarios, model.steps, settings.replicates
    centres = model.log_means()
    deviations = np.sqrt(model.total_vars())
    deviations[:, 0] = 1.0  # date 0 is the spot itself; its band is set exactly below
    lows, highs = centres - _HALF_RANGE * deviations, centres + _HALF_RANGE * deviations
    grids = [_Grid(lows[i], (highs[i] - lows[i]) / quantile_bins, quantile_bins) for i in range(m)]
    samples_at = (np.arange(n_sample_paths) + 0.5) * settings.n_paths / max(n_sample_paths, 1)
    samples_at = samples_at.astype(np.int64)

    def consumer(block: PathBlock) -> tuple[Any, ...]:
        spot_sums = MomentSums.zeros(replicates=replicates, scenarios=m, offsets=model.forwards)
        level_sums = MomentSums.zeros(replicates=replicates, scenarios=m, offsets=0.0 * levels)
        by_scenario = np.zeros((m, k + 1, quantile_bins + 2), dtype=np.int64)
        samples = {}
        for part in block.scenarios:
            i, x = part.scenario, part.log_spots
            by_scenario[i] += grids[i].counts(x)
            spots = np.exp(x)
            values = unit_values(spots, antithetic=part.antithetic)
            spot_sums.add(replicate=block.replicate, scenario=i, values=values)
            above = (spots[-1][None, :] > levels[:, None]).astype(float)
            values = unit_values(above, antithetic=part.antithetic)
            level_sums.add(replicate=block.replicate, scenario=i, values=values)
            first = block.start + part.first_position
            for g in samples_at[(samples_at >= first) & (samples_at < first + x.shape[1])]:
                samples[int(g)] = (spots[:, g - first].copy(), i)
        return spot_sums, level_sums, by_scenario, samples

    def fold(acc: list[Any], result: tuple[Any, ...]) -> list[Any]:
        acc[0] = result[0] if acc[0] is None else acc[0].merge(result[0])
        acc[1] = result[1] if acc[1] is None else acc[1].merge(result[1])
        acc[2] += result[2]
        acc[3].update(result[3])
        return acc

    initial = [None, None, 0, {}]
    spot_sums, level_sums, by_scenario, samples = fold_path_blocks(
        model=model,
        settings=settings,
        consumer=consumer,
        fold=fold,
        initial=initial,
        normals=normals,
        scenario_indices=scenario_indices,
    )
    spot = moment_estimates(spot_sums, weights=model.weights)
    level = moment_estimates(level_sums, weights=model.weights)
    log_bands, resolved = _mixture_quantiles(
        grids=grids, counts=by_scenario, weights=model.weights, probabilities=probabilities
    )
    scenario_bands = np.full((m, probabilities.size, k + 1), np.nan)
    scenario_resolved = np.zeros((m, probabilities.size, k + 1), dtype=bool)
    path_counts = by_scenario[:, 0, :].sum(axis=1)
    for i in np.flatnonzero(path_counts):
        values, ok = _mixture_quantiles(
            grids=grids, counts=by_scenario, weights=np.eye(m)[i], probabilities=probabilities
        )
        scenario_bands[i], scenario_resolved[i] = np.exp(values), ok
    bands = np.exp(log_bands)
    bands[:, 0], resolved[:, 0] = model.spot, True
    drawn = path_counts > 0
    scenario_bands[drawn, :, 0], scenario_resolved[drawn, :, 0] = model.spot, True
    order = sorted(samples)
    sample_paths = np.array([samples[g][0] for g in order]).reshape(len(order), k + 1)
    return FanChart(
        times=model.times,
        forwards=model.forwards,
        quantiles=probabilities,
        bands=bands,
        bands_resolved=resolved,
        scenario_bands=scenario_bands,
        scenario_bands_resolved=scenario_resolved,
        means=spot.means,
        mean_standard_errors=spot.standard_errors,
        scenario_means=spot.scenario_means,
        scenario_mean_standard_errors=spot.scenario_standard_errors,
        levels=levels,
        probabilities_above=level.means,
        probabilities_below=1.0 - level.means,
        probability_standard_errors=level.standard_errors,
        scenario_probabilities_above=level.scenario_means,
        scenario_probability_standard_errors=level.scenario_standard_errors,
        scenario_path_counts=path_counts,
        sample_paths=sample_paths,
        sample_scenarios=np.array([samples[g][1] for g in order], dtype=np.intp),
        n_paths=settings.n_paths,
        seed=settings.seed,
        measure=model.measure,
        sampling=str(settings.sampling),
        antithetic=settings.antithetic,
    )
