"""A batch run's sweep: its grid as data, the kernel points it needs, and the cube it gives.

A sweep is a list of axes; its grid is their product, in axis order. Each axis is a
per-request override of ``POST /v1/price`` (``overrides``, or the set named), so every
point is exactly what a pricing request with that override gives:

=================  ============================================  ===========================
axis               values                                        the point's request
=================  ============================================  ===========================
``probability``    ``scenario`` and ``values`` (each in [0, 1]),  ``overrides.probabilities:
                   or ``from``, ``to``, ``points`` (2 … 1001)    {scenario: v}`` (others
                                                                 rescaled to sum to 1)
``spot``           relative shifts, 0.01 = +1%                   ``overrides.spot_bump``
``spot_jpy``       JPY added to today's spot                     ``overrides.spot``
``level``          relative shifts of every post-event level     ``overrides.level_bump``
``vol``            vol points, 0.01 = +1 (every vol)             ``overrides.vol_bump``
``event_date``     calendar days the decision moves              ``overrides.event_delay_days``
``scenario_set``   ``ID`` or ``ID@VERSION`` (stored or built-in)  ``scenario_set_id`` (+ version)
=================  ============================================  ===========================

**A probability ladder does not re-run the kernel.** Under the ``tilt`` and ``none``
measures a scenario's price depends on its level and vol, not on the probabilities: a
line's price is Σ_i q_i × its scenario price, so each ladder point is the measure re-solved
(:func:`ladder_weights`, the same code a request with that override runs) and a
recombination of the scenario values already priced. Under ``scale`` the levels
themselves are rescaled by Σ p·J, so there each probability is a kernel point (priced like
any other axis). A decision tree's leaves follow from its branches: it takes no
probability axis.

The cube (``<stem>.cube.<fmt>``) has one row per (point, scenario): ``point`` (0, 1, …, in
grid order, the last axis fastest), one column per axis with the point's value
(``probability.<scenario>``, ``spot_bump``, ``spot``, ``level_bump``, ``vol_bump``,
``event_delay_days``, ``scenario_set``), ``scenario``, ``p`` and ``q`` (the subjective and
risk-neutral probability at that point), ``level`` (JPY per USD), ``scenario_value`` (the
book's value if that scenario happens), ``scenario_pnl`` (that minus ``value``), ``value``
(the book's mixture value at the point) — in the run's reporting currency — and ``lines``
(priced at that point). With ``sweep_lines`` ``<stem>.cube_lines.<fmt>`` has one row per
line, ``row`` and ``point.<k>``: the line's signed value at each point (its own currency).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Discriminator, Field, TypeAdapter, ValidationError, model_validator

from pricing.mixture.measure import Measure
from scenarios.book_totals import ReportingCurrency, Totals
from scenarios.errors import DomainError
from scenarios.fx.valuation import fit_measure
from service.batch.spec import RunSpec, reference, resolve_run
from service.schemas.common import FiniteFloat, Schema
from service.schemas.context import Context, apply_overrides
from service.schemas.stored import OverridesIn
from service.settings import Settings

MAX_AXES = 8
MAX_VALUES = 1001
MAX_KERNEL_POINTS = 1001

Values = Annotated[list[FiniteFloat], Field(min_length=1, max_length=MAX_VALUES)]


class ProbabilityAxis(Schema):
    """One scenario's subjective probability over a range, the others rescaled."""

    axis: Literal["probability"]
    scenario: str = Field(max_length=100, examples=["no_deal"])
    values: (
        Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(max_length=MAX_VALUES)] | None
    ) = None
    from_: Annotated[float, Field(ge=0, le=1)] | None = Field(default=None, alias="from")
    to: Annotated[float, Field(ge=0, le=1)] | None = None
    points: Annotated[int, Field(ge=2, le=MAX_VALUES)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ProbabilityAxis:
        ranged = (self.from_, self.to, self.points)
        if (self.values is None) == all(v is None for v in ranged) or (
            self.values is None and any(v is None for v in ranged)
        ):
            raise ValueError("give values, or from, to and points")
        if self.values is not None and not self.values:
            raise ValueError("values must not be empty")
        return self

    def grid(self) -> list[float]:
        if self.values is not None:
            return list(self.values)
        assert self.from_ is not None and self.to is not None and self.points is not None
        return [float(v) for v in np.linspace(self.from_, self.to, self.points)]


class ShiftAxis(Schema):
    """Spot, levels, vols or the event date shifted, one value per point."""

    axis: Literal["spot", "spot_jpy", "level", "vol", "event_date"]
    values: Values = Field(examples=[[-0.05, 0.0, 0.05]])


class SetsAxis(Schema):
    """Several stored sets or versions, one per point."""

    axis: Literal["scenario_set"]
    values: Annotated[list[str], Field(min_length=1, max_length=MAX_VALUES)] = Field(
        examples=[["desk-view@1", "desk-view@2"]]
    )


SweepAxisIn = Annotated[ProbabilityAxis | ShiftAxis | SetsAxis, Discriminator("axis")]
_AXES: TypeAdapter[list[Any]] = TypeAdapter(
    Annotated[list[SweepAxisIn], Field(max_length=MAX_AXES)]
)
_COLUMN = {
    "spot": "spot_bump",
    "spot_jpy": "spot",
    "level": "level_bump",
    "vol": "vol_bump",
    "event_date": "event_delay_days",
    "scenario_set": "scenario_set",
}


def parse_axes(sweep: Sequence[dict[str, Any]]) -> list[Any]:
    """The sweep's axis objects checked; errors name ``sweep[i].<field>``."""
    from service.problems import validation_errors

    try:
        axes = _AXES.validate_python(list(sweep))
    except ValidationError as exc:
        errors = validation_errors(exc.errors())
        raise DomainError(
            [dataclasses.replace(e, field=_sweep_field(e.field)) for e in errors]
        ) from None
    if sum(isinstance(a, ProbabilityAxis) for a in axes) > 1:
        raise DomainError.field("sweep", "takes at most one probability axis")
    for i, a in enumerate(axes):
        whole = isinstance(a, ShiftAxis) and a.axis == "event_date"
        if whole and any(v != int(v) for v in a.values):
            raise DomainError.field(f"sweep[{i}].values", "must be whole days")
    return axes


_TAG = re.compile(r"^\[(\d+)\]\.(probability|spot|spot_jpy|level|vol|event_date|scenario_set)\b\.?")


def _sweep_field(path: str) -> str:
    """A pydantic path of the axes list as the request's (the union's tag left out)."""
    if path == "body":  # the list itself (too many axes)
        return "sweep"
    path = _TAG.sub(lambda m: f"[{m.group(1)}]" + ("." if m.group(0).endswith(".") else ""), path)
    return "sweep" + path if path.startswith("[") else f"sweep.{path}"


def parse_sweep_text(text: str) -> dict[str, Any] | list[dict[str, Any]]:
    """``--sweep``'s forms: ``probability:no_deal=0.1:0.9:101`` (from:to:points),
    ``probability:no_deal=0.1,0.5,0.9``, ``spot=-0.05,0,0.05``, ``spot_jpy=-2,0,2``,
    ``level=…``, ``vol=…``, ``event_date=0,7,+30d``, ``scenario_set=ID@1,ID@2``, or
    ``@FILE.json`` (an axis object or a list of them)."""
    text = text.strip()
    if text.startswith("@"):
        try:
            loaded: Any = json.loads(Path(text[1:]).read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DomainError.field("--sweep", f"cannot read {text[1:]}: {exc}") from None
        if isinstance(loaded, dict | list):
            return loaded
        raise DomainError.field(
            "--sweep", f"{text[1:]} must hold an axis object or a list of them, got JSON {loaded!r}"
        )
    name, eq, rest = text.partition("=")
    if not eq or not rest:
        raise DomainError.field("--sweep", f"must be AXIS=VALUES (see --help), got {text!r}")
    axis, _, scenario = name.partition(":")
    axis = axis.strip()
    if axis == "probability":
        if not scenario:
            raise DomainError.field("--sweep", "probability needs a scenario: probability:NAME=…")
        if rest.count(":") == 2:
            start, stop, points = rest.split(":")
            return {"axis": axis, "scenario": scenario, "from": _number(start),
                    "to": _number(stop), "points": int(_number(points))}  # fmt: skip
        return {"axis": axis, "scenario": scenario, "values": [_number(v) for v in rest.split(",")]}
    if axis == "scenario_set":
        return {"axis": axis, "values": [v.strip() for v in rest.split(",")]}
    if axis not in _COLUMN:
        raise DomainError.field(
            "--sweep", f"unknown axis {axis!r}: probability, {', '.join(_COLUMN)}"
        )
    if axis == "event_date":
        return {
            "axis": axis,
            "values": [_number(v.strip().removesuffix("d")) for v in rest.split(",")],
        }
    return {"axis": axis, "values": [_number(v) for v in rest.split(",")]}


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DomainError.field("--sweep", f"{text.strip()!r} is not a number") from None


@dataclass(frozen=True)
class Ladder:
    """The probability axis recombined: ``scenario`` over ``values``."""

    index: int  # its place among the axes
    scenario: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Grid:
    """A sweep resolved: ``contexts`` the kernel points' contexts other than the run's own;
    ``points`` the grid's points in order, each (coordinates, context index — 0 the run's
    own, k the k-th of ``contexts`` — and the ladder value or None)."""

    contexts: tuple[Context, ...]
    points: tuple[tuple[dict[str, Any], int, float | None], ...]
    ladder: Ladder | None
    columns: tuple[str, ...]


def resolve_grid(
    sweep: Sequence[dict[str, Any]],
    sources: dict[str, Any],
    measure: Measure,
    settings: Settings,
    diffusion: str,
    base: Context,
) -> Grid:
    """The grid of ``sweep`` over the run's ``sources``: one context per kernel point."""
    axes = parse_axes(sweep)
    tree = base.scenario_set.tree is not None
    names = [s.name for s in base.scenario_set.scenarios]
    ladder: Ladder | None = None
    kernel: list[tuple[int, Any]] = []
    for i, axis in enumerate(axes):
        if isinstance(axis, ProbabilityAxis):
            if tree:
                raise DomainError.field(
                    f"sweep[{i}]",
                    "a tree's leaves follow from its branches: sweep a stored tree's versions "
                    "(scenario_set) instead",
                )
            if axis.scenario not in names:
                raise DomainError.field(
                    f"sweep[{i}].scenario",
                    f"no scenario {axis.scenario!r}; known: {', '.join(names)}",
                )
            if measure is not Measure.SCALE:
                ladder = Ladder(i, axis.scenario, tuple(axis.grid()))
                continue
        kernel.append((i, axis))
    columns = tuple(_column(a) for _, a in kernel)
    if ladder is not None:
        columns = (*columns, f"probability.{ladder.scenario}")
    value_lists = [_axis_values(a) for _, a in kernel]
    count = int(np.prod([len(v) for v in value_lists])) if value_lists else 1
    if count > MAX_KERNEL_POINTS:
        raise DomainError.field(
            "sweep", f"needs {count:,} kernel points: at most {MAX_KERNEL_POINTS:,} per run"
        )
    contexts: list[Context] = []
    points: list[tuple[dict[str, Any], int, float | None]] = []
    for combo in itertools.product(*value_lists):
        point_sources = dict(sources)
        overrides = dict(point_sources.get("overrides") or {})
        coordinates: dict[str, Any] = {}
        for (i, axis), value in zip(kernel, combo, strict=True):
            coordinates[_column(axis)] = value
            _apply(axis, value, i, point_sources, overrides, base)
        # a shift of zero is the run's own point: priced once
        overrides = {k: v for k, v in overrides.items() if not (k in _ZERO_IS_NONE and v == 0)}
        if overrides:
            point_sources["overrides"] = overrides
        else:
            point_sources.pop("overrides", None)
            if "overrides" in sources:
                point_sources["overrides"] = sources["overrides"]
        if point_sources == sources:
            index = 0
        else:
            spec = RunSpec(sources=point_sources, diffusion=diffusion)
            contexts.append(_at_point(spec, settings, kernel))
            index = len(contexts)
        for v in ladder.values if ladder is not None else (None,):
            point = dict(coordinates)
            if ladder is not None:
                point[f"probability.{ladder.scenario}"] = v
            points.append((point, index, v))
    return Grid(tuple(contexts), tuple(points), ladder, columns)


def _at_point(spec: Any, settings: Settings, kernel: list[tuple[int, Any]]) -> Context:
    try:
        return resolve_run(spec, settings)
    except DomainError as exc:
        where = ", ".join(f"sweep[{i}]" for i, _ in kernel)
        raise DomainError(
            [
                dataclasses.replace(e, reason=f"{e.reason} (at a point of {where})")
                for e in exc.errors
            ]
        ) from None


def _column(axis: Any) -> str:
    if isinstance(axis, ProbabilityAxis):
        return f"probability.{axis.scenario}"
    return _COLUMN[axis.axis]


def _axis_values(axis: Any) -> list[Any]:
    if isinstance(axis, ProbabilityAxis):
        return axis.grid()
    if isinstance(axis, ShiftAxis) and axis.axis == "event_date":
        return [int(v) for v in axis.values]
    return list(axis.values)


_ZERO_IS_NONE = frozenset({"spot_bump", "level_bump", "vol_bump", "event_delay_days"})
_OVERRIDE = {
    "spot": "spot_bump",
    "spot_jpy": "spot",
    "level": "level_bump",
    "vol": "vol_bump",
    "event_date": "event_delay_days",
}


def _apply(
    axis: Any,
    value: Any,
    i: int,
    sources: dict[str, Any],
    overrides: dict[str, Any],
    base: Context,
) -> None:
    """Put one axis's value into a point's sources (refusing a clash with the run's own)."""
    if isinstance(axis, SetsAxis):
        if "scenario_set" in sources:
            raise DomainError.field(f"sweep[{i}]", "sweeps stored sets: the run's set is inline")
        set_id, version = reference(value, f"sweep[{i}].values")
        sources["scenario_set_id"] = set_id
        sources.pop("scenario_set_version", None)
        if version is not None:
            sources["scenario_set_version"] = version
        return
    if isinstance(axis, ProbabilityAxis):  # under scale: a kernel point
        key, setting = "probabilities", {axis.scenario: value}
    else:
        key = _OVERRIDE[axis.axis]
        setting = base.market.spot + value if axis.axis == "spot_jpy" else value
    if key in overrides:
        raise DomainError.field(f"sweep[{i}]", f"the run's overrides already set {key}")
    overrides[key] = setting


def ladder_weights(context: Context, measure: Measure, ladder: Ladder) -> np.ndarray:
    """``[K, m]``: q at each ladder value, as ``POST /v1/price`` with
    ``overrides.probabilities: {scenario: value}`` on ``context`` solves it; also p."""
    return ladder_measures(context, measure, ladder)[1]


def ladder_measures(
    context: Context, measure: Measure, ladder: Ladder
) -> tuple[np.ndarray, np.ndarray]:
    """``(p, q)``, each ``[K, m]``, at each ladder value."""
    ps, qs = [], []
    for k, v in enumerate(ladder.values):
        override = OverridesIn.model_validate({"probabilities": {ladder.scenario: v}})
        try:
            scenario_set, market, _ = apply_overrides(
                override, context.scenario_set, context.market
            )
            fit = fit_measure(market, scenario_set, measure)
        except DomainError as exc:
            raise DomainError(
                [
                    dataclasses.replace(e, field=f"sweep[{ladder.index}].values[{k}]")
                    for e in exc.errors
                ]
            ) from None
        ps.append([s.probability for s in scenario_set.scenarios])
        qs.append(fit.weights)
    return np.array(ps, dtype=float), np.array(qs, dtype=float)


def recombine(scenario_values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``[..., K]``: values ``[..., m]`` recombined with each row of ``weights [K, m]``."""
    product: np.ndarray = np.asarray(scenario_values) @ np.asarray(weights).T
    return product


def cube(
    grid: Grid,
    contexts: Sequence[Context],
    totals: Sequence[Totals],
    measure: Measure,
    reporting: ReportingCurrency,
    conversion_rates: Sequence[float],
) -> pa.Table:
    """The cube's rows (see the module's docstring): ``contexts`` and ``totals`` indexed
    as ``grid``'s points index them (0 the run's own); ``conversion_rates`` the mixture
    rate of each context (JPY per USD: today's value converts at it)."""
    names = [s.name for s in contexts[0].scenario_set.scenarios]
    ladders: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    rows: dict[str, list[Any]] = {c: [] for c in grid.columns}
    rest = ("point", "scenario", "p", "q", "level", "scenario_value", "scenario_pnl", "value",
            "lines")  # fmt: skip
    rows.update({c: [] for c in rest})
    for point, (coordinates, index, v) in enumerate(grid.points):
        context, t = contexts[index], totals[index]
        fit = fit_measure(context.market, context.scenario_set, measure)
        p = np.array([s.probability for s in context.scenario_set.scenarios])
        q = fit.weights
        value = t.value
        if v is not None and grid.ladder is not None:
            if index not in ladders:
                ladders[index] = ladder_measures(context, measure, grid.ladder)
            k = grid.ladder.values.index(v)
            p, q = ladders[index][0][k], ladders[index][1][k]
            jpy = float(t.scenario_values_by_currency["JPY"] @ q)
            usd = float(t.scenario_values_by_currency["USD"] @ q)
            rate = conversion_rates[index]
            value = jpy + usd * rate if reporting is ReportingCurrency.JPY else jpy / rate + usd
        levels = context.market.spot * fit.jumps
        for j, name in enumerate(names):
            for c in grid.columns:
                rows[c].append(coordinates.get(c))
            rows["point"].append(point)
            rows["scenario"].append(name)
            rows["p"].append(float(p[j]))
            rows["q"].append(float(q[j]))
            rows["level"].append(float(levels[j]))
            rows["scenario_value"].append(float(t.scenario_values[j]))
            rows["scenario_pnl"].append(float(t.scenario_values[j] - value))
            rows["value"].append(float(value))
            rows["lines"].append(t.lines)
    return pa.table(rows)


def ladder_tables(
    grid: Grid, contexts: Sequence[Context], measure: Measure
) -> dict[int, np.ndarray]:
    """q ``[K, m]`` at each ladder value, by context index (empty without a ladder)."""
    if grid.ladder is None:
        return {}
    used = sorted({index for _, index, _ in grid.points})
    return {i: ladder_weights(contexts[i], measure, grid.ladder) for i in used}


def line_values(
    grid: Grid,
    weights: dict[int, np.ndarray],
    point_values: np.ndarray,
    point_scenario_values: np.ndarray,
) -> np.ndarray:
    """``[n, points]``: each line's signed value at every point of ``grid`` — a kernel
    point's as priced, a ladder point's recombined from that point's scenario values."""
    out = np.empty((point_values.shape[1], len(grid.points)))
    for k, (_, index, v) in enumerate(grid.points):
        if v is None or grid.ladder is None:
            out[:, k] = point_values[index]
        else:
            q = weights[index][grid.ladder.values.index(v)]
            out[:, k] = point_scenario_values[index] @ q
    return out
