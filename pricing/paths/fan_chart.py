"""Fan-chart statistics of simulated USD/JPY paths: quantile bands per date (overall and per
scenario), mean against the market forward, level probabilities, and sample paths.

Quantiles. Per scenario and date, a histogram of ``quantile_bins`` bins over ±8 standard
deviations of that scenario's log spot around its mean; the mixture's bands invert
``Σ_i w_i·F_i`` of those histograms (density uniform within a bin). Integer counts add exactly,
so the bands do not depend on chunking or order (P² and per-chunk reservoirs do). The error
against the sample quantile is below one bin width (16σ/bins: 0.016σ at 1024 bins) and of
order width²·f′/f for smooth densities (≈10⁻⁴σ), under the Monte Carlo error of a 5 % quantile
even at 10⁶ paths (≈0.002σ). Mass beyond ±8σ (≈10⁻¹⁵) lands in overflow bins; a band that
falls there is flagged in the ``*_resolved`` masks. Memory: ``m·(k+1)·(bins+2)`` int64.

Means and probabilities are the post-stratified estimators of :mod:`pricing.paths.estimates`.

Conventions: spot levels JPY per USD; times years ACT/365F.

References: Glasserman, *Monte Carlo Methods in Financial Engineering* (2004), §4.3;
DESIGN.md (the fan chart).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pricing.compiled import njit
from pricing.paths.estimates import MomentSums, moment_estimates, unit_values
from pricing.paths.model import MonteCarloSettings, PathBlock, PathModel
from pricing.paths.simulation import fold_path_blocks


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class FanChart:
    """Fan-chart statistics of a simulation; spot levels in JPY per USD.

    Shapes: dates ``[k+1]``, quantiles ``[q]``, scenarios ``[m]``, levels ``[L]``, samples
    ``[s]``. ``scenario_*`` are conditional on the scenario — a decision tree's leaf
    (identical in law before the first decision, split at each decision on its path).
    ``*_resolved`` is False where a quantile fell outside the histogram (value clipped to its
    edge) or a scenario drew no path (value NaN).
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

    def add_counts(self, x: np.ndarray, out: np.ndarray) -> None:
        """Add the counts of ``x [k+1, n]`` to ``out [k+1, bins+2]``."""
        _add_counts(x, self.lows, self.widths, self.bins, out)


class _Histograms:
    """Counts ``[m, k+1, bins+2]`` kept per worker thread and added up at the end: integer
    sums are exact, so the total does not depend on which thread counted which block."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        self._shape = shape
        self._local = threading.local()
        self._arrays: list[np.ndarray] = []
        self._lock = threading.Lock()

    def mine(self) -> np.ndarray:
        counts = getattr(self._local, "counts", None)
        if counts is None:
            counts = self._local.counts = np.zeros(self._shape, dtype=np.int64)
            with self._lock:
                self._arrays.append(counts)
        return counts

    def total(self) -> np.ndarray:
        return np.sum(self._arrays, axis=0) if self._arrays else np.zeros(self._shape, np.int64)


@njit(cache=True, nogil=True)
def _add_counts(
    x: npt.NDArray[np.float64],
    lows: npt.NDArray[np.float64],
    widths: npt.NDArray[np.float64],
    bins: int,
    out: npt.NDArray[np.int64],
) -> None:
    """``out[r, b] +=`` the number of ``x[r, :]`` in bin ``b``: ``⌊(x − low)/width⌋ + 1``
    clipped to the underflow (0) and overflow (bins+1) bins."""
    for r in range(x.shape[0]):
        low, width = lows[r], widths[r]
        for c in range(x.shape[1]):
            u = (x[r, c] - low) / width + 1.0
            u = min(max(u, 0.0), bins + 1.0)
            out[r, int(u)] += 1


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
        probability: np.ndarray = (shares[:, None, None] * mass / totals).sum(axis=0)
        return probability

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

_Samples = dict[int, tuple[np.ndarray, int]]
"""Sample paths by path position: the path's spots ``[k+1]`` and its scenario."""


@dataclass
class _FanSums:
    """The blocks' results folded in block order (``None`` before the first block)."""

    spot: MomentSums | None = None
    level: MomentSums | None = None
    samples: _Samples = field(default_factory=dict)


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

    def consumer(block: PathBlock) -> tuple[MomentSums, MomentSums, _Samples]:
        spot_sums = MomentSums.zeros(replicates=replicates, scenarios=m, offsets=model.forwards)
        level_sums = MomentSums.zeros(replicates=replicates, scenarios=m, offsets=0.0 * levels)
        by_scenario = histograms.mine()
        samples: _Samples = {}
        for part in block.scenarios:
            i, x = part.scenario, part.log_spots
            grids[i].add_counts(x, by_scenario[i])
            spots = np.exp(x)
            values = unit_values(spots, antithetic=part.antithetic)
            spot_sums.add(replicate=block.replicate, scenario=i, values=values)
            above = (spots[-1][None, :] > levels[:, None]).astype(float)
            values = unit_values(above, antithetic=part.antithetic)
            level_sums.add(replicate=block.replicate, scenario=i, values=values)
            first = block.start + part.first_position
            for g in samples_at[(samples_at >= first) & (samples_at < first + x.shape[1])]:
                samples[int(g)] = (spots[:, g - first].copy(), i)
        return spot_sums, level_sums, samples

    def fold(acc: _FanSums, result: tuple[MomentSums, MomentSums, _Samples]) -> _FanSums:
        acc.spot = result[0] if acc.spot is None else acc.spot.merge(result[0])
        acc.level = result[1] if acc.level is None else acc.level.merge(result[1])
        acc.samples.update(result[2])
        return acc

    histograms = _Histograms((m, k + 1, quantile_bins + 2))
    sums = fold_path_blocks(
        model=model,
        settings=settings,
        consumer=consumer,
        fold=fold,
        initial=_FanSums(),
        normals=normals,
        scenario_indices=scenario_indices,
    )
    spot_sums, level_sums, samples = sums.spot, sums.level, sums.samples
    assert spot_sums is not None and level_sums is not None  # a simulation has ≥ 1 block
    by_scenario = histograms.total()
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
