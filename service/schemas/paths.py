"""``POST /v1/paths``: request and response schemas, and their translation.

Units: spot levels JPY per USD; probabilities decimals; ``times`` years ACT/365F from the
valuation date. Every figure that could not be estimated — a quantile band outside the
histogram's range, a scenario that drew too few paths — is ``null``, never NaN.

Under a decision tree the scenarios are its leaves (``extension/late_deal``): per-scenario
bands, means and sample paths are per leaf, ``jump_ratio`` a leaf's total ``Π J``, and the
paths jump at every node date, listed in ``decision_dates`` (``event_date`` is the root's).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ConfigDict, Field

from pricing.mixture.measure import Measure
from pricing.paths.model import Sampling
from scenarios.market import MarketSnapshot
from scenarios.paths.simulation import (
    DEFAULT_QUANTILES,
    PathLimits,
    PathMeasure,
    PathRequest,
    PathSimulation,
    SimulationSettings,
    build_path_request,
)
from scenarios.scenario import ScenarioSet
from service.schemas.common import Choice, Date, Schema
from service.schemas.consistency import (
    PATHS_CONSISTENCY_DESCRIPTION,
    ConsistencyRead,
    consistency_block,
)
from service.schemas.context import DIFFUSION_FIELD, DiffusionField, SourceFields, resolve_context
from service.schemas.results import BUILTIN_SET, INLINE_SET_AND_MARKET
from service.schemas.stored import SOURCES_DESCRIPTION, SourcesRead
from service.settings import Settings


class PathsRequest(SourceFields):
    """Simulate USD/JPY paths under a built-in scenario set (by id) or an inline one.

    Give the horizon as ``horizon`` (a date) or ``tenor`` (1W … 10Y). The market defaults to
    the built-in set's market; an inline ``market`` overrides it.
    """

    diffusion: DiffusionField = DIFFUSION_FIELD
    horizon: Date | None = Field(default=None, description="Last date of the paths.")
    tenor: str | None = Field(default=None, examples=["3M"], description="Horizon as a tenor.")
    steps_per_year: int | None = Field(
        default=None,
        description="Equal steps per year; null (default) for a daily grid of weekdays. The "
        "event date is always on the grid.",
    )
    n_paths: int = Field(default=20_000, description="Paths (≥ 2; limits in the settings).")
    seed: int = Field(default=0, description="Same seed, same numbers; echoed back.")
    antithetic: bool = False
    sampling: Choice[Sampling] = Field(
        default=Sampling.PSEUDO,
        description="pseudo, or sobol (scrambled, Brownian bridge; n_paths a multiple of "
        "sobol_replicates).",
    )
    sobol_replicates: int = Field(default=16, description="Independent Sobol replicates.")
    measure: Choice[PathMeasure] = Field(
        default=PathMeasure.RISK_NEUTRAL,
        description="risk_neutral: scenarios drawn with q (mean = market forward); "
        "real_world: with the analyst's p and the levels as given.",
    )
    adjustment: Choice[Measure] = Field(
        default=Measure.TILT,
        description="How q is made risk-neutral (tilt, scale, none); risk_neutral only.",
    )
    quantiles: list[float] = Field(default=list(DEFAULT_QUANTILES), description="In (0, 1).")
    levels: list[float] = Field(
        default_factory=list, description="Spot levels for P(S_T above / below) at the horizon."
    )
    n_sample_paths: int = Field(default=10, description="Whole paths returned.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scenario_set_id": BUILTIN_SET,
                    "tenor": "3M",
                    "n_paths": 20000,
                    "seed": 7,
                    "quantiles": [0.05, 0.25, 0.5, 0.75, 0.95],
                    "levels": [140.0, 155.0],
                    "n_sample_paths": 5,
                },
                {
                    **INLINE_SET_AND_MARKET,
                    "horizon": "2025-12-15",
                    "steps_per_year": 52,
                    "measure": "real_world",
                    "sampling": "sobol",
                    "n_paths": 16384,
                    "sobol_replicates": 16,
                    "seed": 11,
                    "levels": [140.0],
                    "n_sample_paths": 3,
                },
            ]
        }
    )


class Band(Schema):
    quantile: float
    values: list[float | None] = Field(description="Spot per date; null where unresolved.")


class ScenarioPaths(Schema):
    name: str = Field(description="The scenario, or a tree's leaf: its branches joined by '/'.")
    weight: float = Field(description="Probability the paths drew this scenario with.")
    jump_ratio: float = Field(description="Its jump J (a tree's leaf: Π J along its path).")
    path_count: int
    bands: list[Band] = Field(description="Quantiles conditional on the scenario.")
    means: list[float | None]
    mean_standard_errors: list[float | None]
    probabilities_above: list[float | None] = Field(description="Per level, at the horizon.")


class LevelProbability(Schema):
    level: float
    probability_above: float
    probability_below: float
    standard_error: float


class SamplePath(Schema):
    scenario: str
    spots: list[float]


class ScenarioWeights(Schema):
    measure: PathMeasure
    adjustment: Measure | None
    tilt_lambda: float | None = Field(
        description="The tilt's λ; null when not tilted, and for a tree of several nodes "
        "(each node has its own)."
    )
    forward_mismatch: float = Field(description="Σ w·J − 1 embedded in the paths.")
    probabilities: dict[str, float] = Field(description="Subjective p by scenario.")
    weights: dict[str, float] = Field(description="Probabilities the scenarios are drawn with.")
    jump_ratios: dict[str, float]


class SimulationRead(Schema):
    n_paths: int
    seed: int
    antithetic: bool
    sampling: Sampling
    sobol_replicates: int | None
    steps_per_year: int | None
    steps: int
    quantile_bins: int


class PathsResponse(Schema):
    scenario_set_id: str
    sources: SourcesRead = Field(description=SOURCES_DESCRIPTION)
    valuation_date: dt.date
    event_date: dt.date
    horizon: dt.date
    spot: float
    measure: PathMeasure = Field(description="risk_neutral or real_world: how to read it all.")
    scenario_weights: ScenarioWeights
    simulation: SimulationRead
    dates: list[dt.date]
    times: list[float]
    event_index: int | None = Field(description="Index of the event date; the jump follows it.")
    decision_dates: list[dt.date] = Field(
        description="Every date the paths jump after, in order: the event date, or each "
        "node date of a decision tree."
    )
    decision_indices: list[int | None] = Field(
        description="Index of each decision date in dates; null at or after the horizon."
    )
    forwards: list[float] = Field(description="Market forward per date.")
    model_means: list[float] = Field(description="E[S] under the model (= forward if q).")
    means: list[float] = Field(description="Simulated mean per date.")
    mean_standard_errors: list[float]
    bands: list[Band]
    scenarios: list[ScenarioPaths]
    levels: list[LevelProbability]
    sample_paths: list[SamplePath]
    consistency: ConsistencyRead = Field(description=PATHS_CONSISTENCY_DESCRIPTION)


@dataclass(frozen=True)
class PathJob:
    """A paths request resolved to domain objects."""

    scenario_set: ScenarioSet
    market: MarketSnapshot
    request: PathRequest
    sources: dict[str, Any] = field(default_factory=dict)  # SourcesRead


def path_limits(settings: Settings) -> PathLimits:
    return PathLimits(
        max_paths=settings.max_paths,
        max_steps=settings.max_steps,
        max_sample_paths=settings.max_sample_paths,
        max_path_steps=settings.max_path_steps,
    )


def to_path_job(request: PathsRequest, settings: Settings) -> PathJob:
    """Resolve the set (built-in or inline), the market and the path settings."""
    context = resolve_context(request, settings, request.diffusion)
    scenario_set, market = context.scenario_set, context.market
    simulation = SimulationSettings(
        n_paths=request.n_paths,
        seed=request.seed,
        antithetic=request.antithetic,
        sampling=request.sampling,
        sobol_replicates=request.sobol_replicates,
        steps_per_year=request.steps_per_year,
        workers=settings.path_workers,
    )
    path_request = build_path_request(
        valuation_date=market.valuation_date,
        simulation=simulation,
        horizon=request.horizon,
        tenor=request.tenor,
        measure=request.measure,
        adjustment=request.adjustment,
        quantiles=tuple(request.quantiles),
        levels=tuple(request.levels),
        n_sample_paths=request.n_sample_paths,
        limits=path_limits(settings),
    )
    return PathJob(scenario_set, market, path_request, context.sources_json())


def _values(values: np.ndarray, ok: np.ndarray | bool = True) -> list[float | None]:
    """Floats, with ``None`` where ``ok`` is False or the value is not finite."""
    keep = np.asarray(ok) & np.isfinite(values)
    return [float(v) if k else None for v, k in zip(values.tolist(), keep.tolist(), strict=True)]


def _finite(values: np.ndarray) -> list[float]:
    """Floats that must be finite: a broken invariant is an error, not a null or a NaN."""
    if not np.all(np.isfinite(values)):
        raise ValueError("a path statistic that must be finite is not")
    return [float(v) for v in values.tolist()]


def paths_response(job: PathJob, simulation: PathSimulation) -> dict[str, Any]:
    """The response body as plain JSON types."""
    chart, built, request = simulation.chart, simulation.market, simulation.request
    names = simulation.scenario_names
    after = np.arange(chart.times.size) > (
        built.event_index if built.event_index is not None else chart.times.size
    )
    mixture_jump = float(built.weights @ built.jumps)
    if job.scenario_set.tree is None:
        model_means = chart.forwards * np.where(after, mixture_jump, 1.0)
    else:  # F(t)·Σ w·Π J over the nodes before t
        model_means = chart.forwards * (built.weights @ built.model.jump_ratios())
    fit, tree_fit = built.fit, built.tree_fit
    tilt = fit.tilt if fit is not None else None
    if tree_fit is not None and len(tree_fit.node_fits) == 1:
        tilt = tree_fit.node_fits[0].tilt
    sampling = Sampling(chart.sampling)
    scenarios = []
    for i, name in enumerate(names):
        drawn = chart.scenario_path_counts[i] > 0
        scenarios.append(
            {
                "name": name,
                "weight": float(built.weights[i]),
                "jump_ratio": float(built.jumps[i]),
                "path_count": int(chart.scenario_path_counts[i]),
                "bands": [
                    {
                        "quantile": q,
                        "values": _values(
                            chart.scenario_bands[i, j], chart.scenario_bands_resolved[i, j]
                        ),
                    }
                    for j, q in enumerate(request.quantiles)
                ],
                "means": _values(chart.scenario_means[i], drawn),
                "mean_standard_errors": _values(chart.scenario_mean_standard_errors[i], drawn),
                "probabilities_above": _values(chart.scenario_probabilities_above[i], drawn),
            }
        )
    return {
        "scenario_set_id": job.scenario_set.id,
        "sources": job.sources,
        "valuation_date": job.market.valuation_date.isoformat(),
        "event_date": job.scenario_set.event_date.isoformat(),
        "horizon": request.horizon.isoformat(),
        "spot": job.market.spot,
        "measure": built.measure.value,
        "scenario_weights": {
            "measure": built.measure.value,
            "adjustment": (
                request.adjustment.value if fit is not None or tree_fit is not None else None
            ),
            "tilt_lambda": tilt,
            "forward_mismatch": mixture_jump - 1.0,
            "probabilities": {s.name: s.probability for s in job.scenario_set.scenarios},
            "weights": dict(zip(names, built.weights.tolist(), strict=True)),
            "jump_ratios": dict(zip(names, built.jumps.tolist(), strict=True)),
        },
        "simulation": {
            "n_paths": chart.n_paths,
            "seed": chart.seed,
            "antithetic": chart.antithetic,
            "sampling": sampling.value,
            "sobol_replicates": (
                request.simulation.sobol_replicates if sampling == Sampling.SOBOL else None
            ),
            "steps_per_year": request.simulation.steps_per_year,
            "steps": int(chart.times.size - 1),
            "quantile_bins": simulation.quantile_bins,
        },
        "dates": [d.isoformat() for d in simulation.dates],
        "times": _finite(chart.times),
        "event_index": built.event_index,
        "decision_dates": [d.isoformat() for d in built.decision_dates],
        "decision_indices": list(built.decision_indices),
        "forwards": _finite(chart.forwards),
        "model_means": _finite(model_means),
        "means": _finite(chart.means),
        "mean_standard_errors": _finite(chart.mean_standard_errors),
        "bands": [
            {"quantile": q, "values": _values(chart.bands[j], chart.bands_resolved[j])}
            for j, q in enumerate(request.quantiles)
        ],
        "scenarios": scenarios,
        "levels": [
            {
                "level": level,
                "probability_above": float(chart.probabilities_above[j]),
                "probability_below": float(chart.probabilities_below[j]),
                "standard_error": float(chart.probability_standard_errors[j]),
            }
            for j, level in enumerate(request.levels)
        ],
        "sample_paths": [
            {"scenario": names[int(s)], "spots": _finite(path)}
            for path, s in zip(chart.sample_paths, chart.sample_scenarios, strict=True)
        ],
        # under the adjustment's q even for real_world paths (the field's description)
        "consistency": consistency_block(job.market, job.scenario_set, request.adjustment),
    }
