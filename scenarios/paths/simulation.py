"""USD/JPY paths under a scenario set: simulation settings, the grid, the path model built from
the market, and the fan chart of one path request.

The model (DESIGN.md, :mod:`pricing.paths.simulation`): lognormal diffusion around the market
forward, the pre-event vol before the event date and each scenario's vol after it, and at the event
one scenario drawn per path with its jump ``J_i``. Under a decision tree (``ScenarioSet.tree``,
:mod:`scenarios.tree`) the scenarios are its leaves: a path draws its leaf and at *each* node
date on the leaf's path jumps by that branch's ratio, diffusing between node dates with the vol
of the branch taken at the last node passed (:class:`pricing.paths.model.Decisions`). What is
read from where:

* forwards ``F(t) = S0·exp((r_JPY(t) − r_USD(t))·t)`` from the market's curves at every grid
  date; JPY discount factors ``exp(−r_JPY(t)·t)`` likewise;
* pre-event step vols are the diffusion's *forward* vols, ``σ_j² = (V(t_{j+1}) − V(t_j))/Δt``
  with ``V`` the total variance of the ATM curve less the event
  (:meth:`scenarios.market.MarketSnapshot.diffusion_atm`; a tree's: less the event of every
  node that decides something, :attr:`scenarios.scenario.ScenarioSet.event_dates`), so the
  simulated variance to any date before the (first) event is the diffusion's own, as the
  closed forms read it (floored at ``(1e-8)²·Δt`` where the curve is flat in
  variance);
* ``measure`` ``risk_neutral`` (default): scenarios drawn with q and the effective jumps of
  :func:`scenarios.fx.valuation.fit_measure` (``adjustment`` tilt/scale/none), so the simulated
  mean is the market forward; ``real_world``: drawn with the analyst's p and the jumps as
  given, ``J_i = L_i/S0`` — the mean after the event is then ``F·Σ p_i·J_i``, not the forward.
  A tree: each node adjusted on its own (:func:`scenarios.tree.fit_tree_measure`), leaves
  drawn with ``Π q`` and every branch's effective jump, so the mean is the forward at every
  date; ``real_world``: leaves drawn with ``Π p``, branch jumps as given. Every result carries
  the label.

Grid. ``steps_per_year`` None (default): a daily grid of weekdays (FX trades Monday to Friday;
holidays are not removed) from the valuation date to the horizon, with the valuation date,
event date (every node date of a tree: :func:`decision_dates`), horizon and any expiry always
on it; steps are ACT/365F, so a weekend step holds
three days of variance. ``steps_per_year`` N: ``⌈N·T⌉`` equal steps, with the nearest grid
point moved onto each required date (or the date inserted when the nearest is taken); its
``dates`` are then the calendar days the grid times fall on.

Conventions: spot and levels JPY per USD; rates continuously compounded decimals (JPY
domestic, USD foreign); vols annualised decimals; times years ACT/365F.

References: DESIGN.md (paths); Glasserman (2004) for the estimators (see
:mod:`pricing.paths.simulation`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from pricing.mixture.measure import Measure, MeasureFit
from pricing.mixture.tree import TreeMeasureFit
from pricing.paths.fan_chart import FanChart, simulate_fan_chart
from pricing.paths.model import Decisions, MonteCarloSettings, PathModel, Sampling
from pricing.paths.options import Monitoring
from scenarios import checks
from scenarios.dates import MAX_TENOR_YEARS, tenor_dates, year_fraction
from scenarios.errors import DomainError
from scenarios.fx.valuation import fit_measure
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.tree import LEAF_SEPARATOR, fit_tree_measure

MAX_SEED = 2**63 - 1
MAX_QUANTILES = 25
MAX_LEVELS = 50
MAX_STEPS_PER_YEAR = 100_000
DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_MIN_FORWARD_VOL = 1e-8
_HISTOGRAM_BYTES = 32 * 2**20  # per worker thread: bins shrink on long grids / many scenarios


class PathMeasure(StrEnum):
    """Which probabilities draw the scenario at the event."""

    RISK_NEUTRAL = "risk_neutral"
    REAL_WORLD = "real_world"


@dataclass(frozen=True)
class PathLimits:
    """What one request may ask for (the service reads them from its settings)."""

    max_paths: int = 1_000_000
    max_steps: int = 3_000
    max_sample_paths: int = 200
    max_path_steps: int = 300_000_000  # n_paths × steps: bounds the work of one request


def integer(field: str, value: object, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``; a DomainError naming ``field`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError.field(field, f"must be an integer, got {value!r}")
    if value < low:
        raise DomainError.field(field, f"must be >= {low}, got {value}")
    if value > high:
        raise DomainError.field(field, f"must be <= {high:,}, got {value:,}")
    return value


@dataclass(frozen=True)
class SimulationSettings:
    """How paths are simulated; validated when built (limits: :meth:`check_limits`).

    Attributes:
        n_paths: paths (≥ 2; even with antithetics; a multiple of ``sobol_replicates`` with
            Sobol).
        seed: non-negative integer; the same seed gives the same numbers on any worker count.
        antithetic: each normal vector used with both signs (pseudo-random only).
        sampling: ``pseudo`` or ``sobol`` (scrambled, Brownian bridge, ``sobol_replicates``
            independent replicates for the standard error).
        steps_per_year: None for the daily (weekday) grid, else equal steps.
        monitoring: barrier monitoring of path-dependent contracts (bridge, bgk, discrete).
        workers: threads; results do not depend on it.
    """

    n_paths: int = 20_000
    seed: int = 0
    antithetic: bool = False
    sampling: Sampling = Sampling.PSEUDO
    sobol_replicates: int = 16
    steps_per_year: int | None = None
    monitoring: Monitoring = Monitoring.BRIDGE
    workers: int = 1

    def __post_init__(self) -> None:
        integer("n_paths", self.n_paths, 2, 2**62)
        integer("seed", self.seed, 0, MAX_SEED)
        integer("workers", self.workers, 1, 64)
        if self.steps_per_year is not None:
            integer("steps_per_year", self.steps_per_year, 1, MAX_STEPS_PER_YEAR)
        if self.sampling == Sampling.SOBOL:
            integer("sobol_replicates", self.sobol_replicates, 2, 1024)
            if self.antithetic:
                raise DomainError.field(
                    "antithetic", "applies to pseudo-random sampling only, not to sobol"
                )
            if self.n_paths % self.sobol_replicates:
                raise DomainError.field(
                    "n_paths",
                    f"must be a multiple of sobol_replicates ({self.sobol_replicates}) with "
                    f"sobol sampling, got {self.n_paths}",
                )
        if self.antithetic and self.n_paths % 2:
            raise DomainError.field(
                "n_paths", f"must be even with antithetic sampling, got {self.n_paths}"
            )

    def check_limits(
        self, limits: PathLimits, *, steps: int, grid_field: str, prefix: str = ""
    ) -> None:
        """Refuse more paths or steps than ``limits`` allow (``grid_field`` names what set
        the steps when ``steps_per_year`` is not given; ``prefix`` goes before the settings'
        own field names)."""
        n_paths = f"{prefix}.n_paths" if prefix else "n_paths"
        if self.n_paths > limits.max_paths:
            raise DomainError.field(
                n_paths, f"must be at most {limits.max_paths:,}, got {self.n_paths:,}"
            )
        per_year = f"{prefix}.steps_per_year" if prefix else "steps_per_year"
        field = grid_field if self.steps_per_year is None else per_year
        if steps > limits.max_steps:
            raise DomainError.field(
                field,
                f"gives a grid of {steps:,} steps, more than the limit of {limits.max_steps:,}"
                + (" (daily grid; give steps_per_year)" if self.steps_per_year is None else ""),
            )
        if self.n_paths * steps > limits.max_path_steps:
            raise DomainError.field(
                n_paths,
                f"{self.n_paths:,} paths × {steps:,} steps exceeds the limit of "
                f"{limits.max_path_steps:,} path-steps per request",
            )

    def monte_carlo(self) -> MonteCarloSettings:
        return MonteCarloSettings(
            n_paths=self.n_paths,
            seed=self.seed,
            antithetic=self.antithetic,
            sampling=self.sampling,
            sobol_replicates=self.sobol_replicates,
            workers=self.workers,
        )


@dataclass(frozen=True)
class PathGrid:
    """Grid ``times [k+1]`` (years from the valuation date) and the calendar ``dates`` they
    fall on."""

    times: np.ndarray
    dates: tuple[dt.date, ...]

    @property
    def steps(self) -> int:
        return self.times.size - 1

    def index_of(self, date: dt.date, valuation_date: dt.date) -> int:
        """Grid index of a required date (on the grid by construction)."""
        t = year_fraction(valuation_date, date)
        index = int(np.searchsorted(self.times, t - 1e-12))
        if index >= self.times.size or abs(self.times[index] - t) > 1e-12:
            raise ValueError(f"{date.isoformat()} is not on the grid")
        return index


def path_grid(
    *,
    valuation_date: dt.date,
    horizon: dt.date,
    steps_per_year: int | None,
    required: tuple[dt.date, ...] = (),
) -> PathGrid:
    """The grid from ``valuation_date`` to ``horizon`` with every ``required`` date inside
    ``(valuation_date, horizon)`` on it (see the module docstring)."""
    inside = sorted({d for d in required if valuation_date < d < horizon})
    span = (horizon - valuation_date).days
    if steps_per_year is None:
        days = {
            d
            for d in (valuation_date + dt.timedelta(days=i) for i in range(1, span))
            if d.weekday() < 5
        }
        dates = sorted({valuation_date, horizon, *inside, *days})
        times = np.array([year_fraction(valuation_date, d) for d in dates])
        return PathGrid(times, tuple(dates))
    total = year_fraction(valuation_date, horizon)
    steps = max(1, math.ceil(steps_per_year * total - 1e-9))
    times = np.linspace(0.0, total, steps + 1)
    taken = {0, steps}
    extra = []
    for date in inside:
        t = year_fraction(valuation_date, date)
        index = int(np.rint(t / total * steps))
        if index in taken:
            extra.append(t)
        else:
            times[index] = t
            taken.add(index)
    times = np.unique(np.concatenate([times, extra]))
    on_days = tuple(valuation_date + dt.timedelta(days=math.floor(t * 365 + 1e-9)) for t in times)
    return PathGrid(times, on_days)


@dataclass(frozen=True)
class PathMarket:
    """The path model of a scenario set on a market, with what it was built from.

    Attributes:
        model: the :class:`pricing.paths.simulation.PathModel` (its ``weights`` draw the scenarios).
        discount_factors: ``[k+1]`` JPY discount factors at the grid times.
        measure: the label.
        weights: ``[m]`` the measure's scenario probabilities (q or p; a tree's leaf
            weights ``Π q`` or ``Π p``).
        jumps: ``[m]`` jump ratios simulated (a tree's leaf: its total ``Π J``).
        fit: the risk-neutral fit of a flat set (None for real-world and for a tree).
        event_index: grid index of the event date, None if at or after the horizon.
        tree_fit: a tree's risk-neutral fit, node by node (None otherwise).
        decision_dates: every decision date in order (a flat set: its event date; a tree:
            each distinct node date).
        decision_indices: grid index of each, None where at or after the horizon (no jump).
    """

    model: PathModel
    discount_factors: np.ndarray
    measure: PathMeasure
    weights: np.ndarray
    jumps: np.ndarray
    fit: MeasureFit | None
    event_index: int | None
    tree_fit: TreeMeasureFit | None = None
    decision_dates: tuple[dt.date, ...] = ()
    decision_indices: tuple[int | None, ...] = ()


def decision_dates(scenario_set: ScenarioSet) -> tuple[dt.date, ...]:
    """The dates the set's paths jump on, in order: the event date, or every distinct node
    date of its tree. Grids put each on (``required``)."""
    if scenario_set.tree is None:
        return (scenario_set.event_date,)
    return tuple(sorted({node.date for node in scenario_set.tree.nodes}))


@dataclass(frozen=True)
class _TreePaths:
    """A tree's leaves as the path model reads them (see :func:`_tree_paths`)."""

    weights: np.ndarray  # [L]
    decisions: Decisions
    fit: TreeMeasureFit | None
    node_times: tuple[float, ...]  # distinct node times, years, sorted


def _tree_paths(
    market: MarketSnapshot, scenario_set: ScenarioSet, measure: PathMeasure, adjustment: Measure
) -> _TreePaths:
    """Leaf weights and each leaf's decisions (node times, branch jumps and vols).

    Risk-neutral: every node adjusted with ``adjustment``
    (:func:`scenarios.tree.fit_tree_measure`), leaves weighted ``Π q`` with the effective
    branch jumps. Real-world: ``Π p`` with the jumps as given (``level/S0`` or ``jump``).
    Leaf ``ℓ`` is ``scenario_set.scenarios[ℓ]`` (both depth first in branch order).
    """
    tree = scenario_set.tree
    assert tree is not None
    today, spot = market.valuation_date, market.spot
    scenario_set.check_against(today, spot)
    fit: TreeMeasureFit | None = None
    if measure == PathMeasure.RISK_NEUTRAL:
        inputs, fit = fit_tree_measure(tree, valuation_date=today, spot=spot, measure=adjustment)
        branch_jumps, weights = fit.jumps, fit.leaf_weights
    else:
        inputs = tree.inputs(valuation_date=today, spot=spot)
        branch_jumps = inputs.jumps
    shape = inputs.shape
    paths = shape.paths  # [L, D] branch index per level, -1 past the leaf
    live, taken = paths >= 0, np.maximum(paths, 0)
    if fit is None:
        leaf_p = np.prod(np.where(live, inputs.probabilities[taken], 1.0), axis=1)
        weights = leaf_p / leaf_p.sum()
    branch_names = [branch.name for node in tree.nodes for branch in node.branches]
    leaves = [LEAF_SEPARATOR.join(branch_names[b] for b in row if b >= 0) for row in paths]
    if leaves != [s.name for s in scenario_set.scenarios]:
        raise ValueError(f"the tree's leaves {leaves} are not the set's scenarios")
    vols = inputs.vols[taken]
    for level in range(1, vols.shape[1]):  # past a leaf: its last vol (ignored)
        vols[:, level] = np.where(live[:, level], vols[:, level], vols[:, level - 1])
    decisions = Decisions(
        times=shape.path_times, jumps=np.where(live, branch_jumps[taken], 1.0), vols=vols
    )
    node_times = tuple(sorted({float(t) for t in shape.node_times}))
    return _TreePaths(weights, decisions, fit, node_times)


def path_market(
    *,
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    grid: PathGrid,
    measure: PathMeasure = PathMeasure.RISK_NEUTRAL,
    adjustment: Measure = Measure.TILT,
    draw_weights: np.ndarray | None = None,
) -> PathMarket:
    """Build the path model on ``grid``; ``draw_weights`` [m] overrides the probabilities
    the paths draw scenarios with (estimators then recombine with the measure's weights).

    A tree set (``scenario_set.tree``) needs every node date strictly inside the grid on it
    (:func:`decision_dates` as ``required``)."""
    times = grid.times
    tree = None
    decisions = None
    fit: MeasureFit | None
    if scenario_set.tree is not None:
        tree = _tree_paths(market, scenario_set, measure, adjustment)
        fit = None
        weights, decisions = tree.weights, tree.decisions
        jumps = decisions.total_jumps
    elif measure == PathMeasure.RISK_NEUTRAL:
        fit = fit_measure(market, scenario_set, adjustment)
        assert fit is not None
        weights, jumps = fit.weights, fit.jumps
    else:
        scenario_set.check_against(market.valuation_date, market.spot)
        fit = None
        p = np.array([s.probability for s in scenario_set.scenarios])
        weights = p / p.sum()
        jumps = np.array([s.level for s in scenario_set.scenarios]) / market.spot
    t_event = year_fraction(market.valuation_date, scenario_set.event_date)
    strip = scenario_set.event_times(market.valuation_date)
    variances = market.diffusion_atm(strip).total_variance(times)
    dts = np.diff(times)
    pre_vols = np.sqrt(np.maximum(np.diff(variances), _MIN_FORWARD_VOL**2 * dts) / dts)
    forwards = market.forwards(times)
    forwards[0] = market.spot
    model = PathModel(
        spot=market.spot,
        times=times,
        forwards=forwards,
        pre_vols=pre_vols,
        scenario_vols=(
            np.array([s.vol for s in scenario_set.scenarios])
            if decisions is None
            else decisions.last_vols
        ),
        jumps=jumps,
        weights=weights if draw_weights is None else draw_weights,
        event_time=t_event if t_event < times[-1] else None,
        measure=measure.value,
        decisions=decisions,
    )
    event = model.event_index if model.event_index < model.steps else None
    dfs = np.exp(-market.jpy_curve.zero_rates_at(times) * times)
    dates = decision_dates(scenario_set)
    indices = []
    for date in dates:
        t = year_fraction(market.valuation_date, date)
        indices.append(int(np.argmin(np.abs(times - t))) if t < times[-1] - 1e-10 else None)
    return PathMarket(
        model, dfs, measure, weights, jumps, fit, event,
        tree_fit=None if tree is None else tree.fit,
        decision_dates=dates,
        decision_indices=tuple(indices),
    )  # fmt: skip


def check_horizon(field: str, valuation_date: dt.date, horizon: dt.date) -> None:
    """A simulation horizon lies after the valuation date and within MAX_TENOR_YEARS."""
    if horizon <= valuation_date:
        raise DomainError.field(
            field,
            f"must be after the valuation date {valuation_date.isoformat()}, "
            f"got {horizon.isoformat()}",
        )
    if year_fraction(valuation_date, horizon) > MAX_TENOR_YEARS + 0.01:
        raise DomainError.field(
            field,
            f"must be within {MAX_TENOR_YEARS} years of the valuation date, "
            f"got {horizon.isoformat()}",
        )


@dataclass(frozen=True)
class PathRequest:
    """A fan-chart request, validated by :func:`build_path_request`.

    Attributes:
        horizon: last grid date; ``tenor`` the tenor it was given as, if any.
        simulation: how the paths are drawn.
        measure, adjustment: see the module docstring.
        quantiles: ``[q]`` in (0, 1); levels: ``[L]`` JPY per USD, for P(S_T above/below).
        n_sample_paths: whole paths returned (spread evenly over path space).
    """

    horizon: dt.date
    tenor: str | None
    simulation: SimulationSettings
    measure: PathMeasure
    adjustment: Measure
    quantiles: tuple[float, ...]
    levels: tuple[float, ...]
    n_sample_paths: int


def build_path_request(
    *,
    valuation_date: dt.date,
    simulation: SimulationSettings,
    horizon: dt.date | None = None,
    tenor: str | None = None,
    measure: PathMeasure = PathMeasure.RISK_NEUTRAL,
    adjustment: Measure = Measure.TILT,
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES,
    levels: tuple[float, ...] = (),
    n_sample_paths: int = 10,
    limits: PathLimits = PathLimits(),
) -> PathRequest:
    """Validate a path request against ``valuation_date`` and ``limits``; raise naming the
    field (``horizon``, ``tenor``, ``quantiles[2]``, ``n_paths``, ``steps_per_year`` …)."""
    if (horizon is None) == (tenor is None):
        raise DomainError.field("horizon", "give exactly one of horizon (a date) or tenor")
    field = "horizon"
    if tenor is not None:
        field = "tenor"
        horizon, _ = tenor_dates("tenor", valuation_date, tenor)
    assert horizon is not None
    check_horizon(field, valuation_date, horizon)
    if not 1 <= len(quantiles) <= MAX_QUANTILES:
        raise DomainError.field(
            "quantiles", f"must hold 1 to {MAX_QUANTILES} values, got {len(quantiles)}"
        )
    for i, q in enumerate(quantiles):
        checks.finite(f"quantiles[{i}]", q)
        if not 0.0 < q < 1.0:
            raise DomainError.field(f"quantiles[{i}]", f"must be in (0, 1), got {q!r}")
    if len(levels) > MAX_LEVELS:
        raise DomainError.field("levels", f"must hold at most {MAX_LEVELS}, got {len(levels)}")
    for i, level in enumerate(levels):
        checks.positive(f"levels[{i}]", level)
    top = min(simulation.n_paths, limits.max_sample_paths)
    integer("n_sample_paths", n_sample_paths, 0, top)
    grid = path_grid(
        valuation_date=valuation_date, horizon=horizon, steps_per_year=simulation.steps_per_year
    )
    simulation.check_limits(limits, steps=grid.steps, grid_field=field)
    return PathRequest(
        horizon=horizon,
        tenor=tenor,
        simulation=simulation,
        measure=measure,
        adjustment=adjustment,
        quantiles=tuple(float(q) for q in quantiles),
        levels=tuple(float(v) for v in levels),
        n_sample_paths=n_sample_paths,
    )


def quantile_bins(*, scenarios: int, steps: int) -> int:
    """Histogram bins per date and scenario: 1024, fewer when ``scenarios·(steps+1)`` rows
    would take more than 32 MiB per thread (never under 32)."""
    rows = scenarios * (steps + 1)
    return int(np.clip(_HISTOGRAM_BYTES // (8 * rows) - 2, 32, 1024))


@dataclass(frozen=True)
class PathSimulation:
    """A fan chart with the grid's dates and the measure it was drawn under."""

    request: PathRequest
    dates: tuple[dt.date, ...]
    scenario_names: tuple[str, ...]
    market: PathMarket
    chart: FanChart
    quantile_bins: int


def simulate_paths(
    *, market: MarketSnapshot, scenario_set: ScenarioSet, request: PathRequest
) -> PathSimulation:
    """Simulate ``request`` under ``scenario_set`` on ``market``: the fan chart."""
    grid = path_grid(
        valuation_date=market.valuation_date,
        horizon=request.horizon,
        steps_per_year=request.simulation.steps_per_year,
        required=decision_dates(scenario_set),
    )
    built = path_market(
        market=market,
        scenario_set=scenario_set,
        grid=grid,
        measure=request.measure,
        adjustment=request.adjustment,
    )
    bins = quantile_bins(scenarios=len(scenario_set.scenarios), steps=grid.steps)
    chart = simulate_fan_chart(
        model=built.model,
        settings=request.simulation.monte_carlo(),
        quantiles=np.array(request.quantiles),
        levels=np.array(request.levels),
        n_sample_paths=request.n_sample_paths,
        quantile_bins=bins,
    )
    names = tuple(s.name for s in scenario_set.scenarios)
    return PathSimulation(request, grid.dates, names, built, chart, bins)
