"""One chunk of a book priced under a run's scenario sets: the unit of work of a batch run.

:func:`price_chunk` is a pure function of its :class:`ChunkTask` — the chunk's rows (Arrow),
the resolved contexts (scenario set, market, credit market: one per kernel point of the
run, the run's own first) and the run's parameters — so it gives the same bytes in this
process or on a ``dask.distributed`` worker, which needs no store.

Each line is valued by one of two paths. Clean FX European lines (:mod:`service.batch.fx_lines`)
as columns through the compiled kernel. Every other line — barriers, touches, CDS, strikes
in desk terms, and every line the columns could not vouch for — line by line through
``POST /v1/price``'s own schema and domain (:func:`service.schemas.price.to_job`,
:func:`scenarios.book.value_mixed_book`): priced as the API prices it, or refused with the
field and reason the API would give, that line alone.

Totals are returned as compensated column sums ``[2, K]`` (JPY lines, USD lines) in the
layout of :class:`scenarios.book_totals.BookRows`, per kernel point, so the run adds the
chunks up in book order whatever ran them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import TypeAdapter, ValidationError

from pricing.fx.book import Problem, value_fx_options
from pricing.mixture.measure import Measure
from pricing.positions import fx_positions
from pricing.sums import grouped_column_sums
from scenarios.book import value_mixed_book
from scenarios.book_totals import DESK_GREEKS, SUMMED_GREEKS, ReportingCurrency
from scenarios.errors import DomainError
from scenarios.fx.valuation import book_tables, fit_measure
from scenarios.vol.model import build_vol_model
from service.batch import book_columns as bc
from service.batch import fx_lines
from service.batch.results import GREEKS, flatten_result, rows_table, table_of
from service.problems import validation_errors
from service.schemas.book_totals import fx_position_risk, valued_rows
from service.schemas.context import Context
from service.schemas.path_instruments import PathPricingIn
from service.schemas.price import Instrument, PriceRequest, price_response, to_job
from service.settings import Settings

_INSTRUMENT: TypeAdapter[Any] = TypeAdapter(Instrument)
_KINDS = pa.array(["call", "put", "digital_call", "digital_put", "forward"])
_SIDES = pa.array(["buy", "sell"])
_JPY = pa.array(["JPY"])
_INDEXED = re.compile(r"^instruments\[(\d+)\]\.?")
_STATUS = pa.array(
    [
        "not_vanilla",
        "converged",
        "below_intrinsic",
        "above_upper_bound",
        "no_time_value",
        "bad_input",
        "not_converged",
    ]
)


@dataclass(frozen=True)
class RunParameters:
    """What every chunk of a run shares besides its contexts."""

    measure: Measure
    reporting_currency: ReportingCurrency
    settings: Settings
    schema: pa.Schema  # the results file's (service.batch.results.results_schema)
    scenario_names: tuple[str, ...]
    level_names: tuple[str, ...]
    paths: dict[str, Any] | None = None  # Monte Carlo settings (PathPricingIn JSON)
    line_points: bool = False  # each line's value at every kernel point, too


@dataclass(frozen=True)
class ChunkTask:
    """Rows ``start`` … ``start + batch.num_rows − 1`` of the book, to price under each of
    ``points`` (the run's own context first)."""

    start: int
    batch: pa.RecordBatch
    points: tuple[Context, ...]
    run: RunParameters


@dataclass(frozen=True)
class LineError:
    """A line that could not be priced: its book row, the field and why (``point``: the
    kernel point of a sweep where that alone failed, None for the run's own)."""

    row: int
    field: str
    reason: str
    point: int | None = None


@dataclass
class ChunkResult:
    """A priced chunk.

    Attributes:
        start: the book row of its first line.
        lines: the results rows of the lines priced under the run's own context, by row.
        errors: the lines refused, by row.
        sums: ``[P, 2, K]`` compensated column sums per kernel point (JPY, USD lines).
        priced, with_greeks: ``[P]`` lines in each point's sums, and those with Greeks.
        point_values: ``[P, n]`` each line's signed value at each point (NaN: not priced
            there), when the run asks for lines × points; else None.
        point_scenario_values: ``[P, n, m]`` the same per scenario (a ladder recombines
            them), with ``point_values``.
    """

    start: int
    lines: pa.Table
    errors: list[LineError]
    sums: np.ndarray
    priced: np.ndarray
    with_greeks: np.ndarray
    point_values: np.ndarray | None = None
    point_scenario_values: np.ndarray | None = None


def price_chunk(task: ChunkTask) -> ChunkResult:
    """Price the chunk under every kernel point of its run."""
    batch = task.batch
    n = batch.num_rows
    columns = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
    fx = fx_lines.read_fx_columns(columns, n)
    slow = _SlowLines(columns, n, task.start)
    run = task.run
    m, b = len(run.scenario_names), len(run.level_names)
    k = 1 + m + b + len(SUMMED_GREEKS)
    points = len(task.points)
    sums = np.zeros((points, 2, k))
    priced = np.zeros(points, dtype=np.int64)
    with_greeks = np.zeros(points, dtype=np.int64)
    values = np.full((points, n), np.nan) if run.line_points else None
    scenario_values = np.full((points, n, m), np.nan) if run.line_points else None
    lines = None
    errors: list[LineError] = []
    for p, context in enumerate(task.points):
        valued = _price_point(task, context, fx, slow, want_rows=p == 0)
        sums[p] = valued.sums
        priced[p], with_greeks[p] = valued.priced, valued.with_greeks
        if values is not None and scenario_values is not None:
            values[p] = valued.values
            scenario_values[p] = valued.scenario_values
        errors += [e if p == 0 else LineError(e.row, e.field, e.reason, p) for e in valued.errors]
        if p == 0:
            lines = valued.rows
    assert lines is not None
    errors.sort(key=lambda e: (e.row, -1 if e.point is None else e.point))
    return ChunkResult(
        task.start, lines, errors, sums, priced, with_greeks, values, scenario_values
    )


@dataclass
class _Point:
    rows: pa.Table | None
    errors: list[LineError]
    sums: np.ndarray
    priced: int
    with_greeks: int
    values: np.ndarray
    scenario_values: np.ndarray


def _price_point(
    task: ChunkTask,
    context: Context,
    fx: fx_lines.FxColumns,
    slow: _SlowLines,
    *,
    want_rows: bool,
) -> _Point:
    run = task.run
    market, scenario_set = context.market, context.scenario_set
    n = fx.candidate.shape[0]
    dates = fx_lines.fx_dates(fx, market.valuation_date)
    fast = dates.ok & fx_lines.near_spot(fx.strike, market.spot)
    idx = np.flatnonzero(fast)
    build_vol_model(market, scenario_set)  # a scenario smile's error first, as the API
    fit_measure(market, scenario_set, run.measure)  # no measure: the run's error, by name
    tables = book_tables(market, scenario_set, run.measure)
    today = (market.valuation_date - fx_lines._EPOCH).days
    while idx.size:  # a line the kernel cannot value goes line by line, which names why
        packed = np.ascontiguousarray(
            np.stack(
                [
                    (dates.expiry[idx] - today) / 365.0,
                    (dates.delivery[idx] - today) / 365.0,
                    fx.strike[idx],
                ]
            )
        )
        result = value_fx_options(
            tables, payoffs=np.ascontiguousarray(fx.payoff[idx]), options=packed
        )
        if result.problem is Problem.NONE:
            break
        idx = np.delete(idx, result.index)
    if not idx.size:  # an empty book through the kernel: its figures, all empty
        result = value_fx_options(tables, payoffs=np.zeros(0, np.int64), options=np.zeros((3, 0)))
    fast = np.zeros(n, dtype=bool)
    fast[idx] = True
    m = len(run.scenario_names)
    c = result.columns
    signs = np.where(fx.sell[idx], -1.0, 1.0)
    notionals = fx.notional[idx]
    signed = signs * notionals
    spot = market.spot
    risk, fx_sums = fx_positions(
        price=c[0], delta=c[1], delta_premium_adjusted=c[2], gamma=c[3], vega=c[4],
        theta=c[5], rho_jpy=c[6], rho_usd=c[7], scenario_values=result.scenario_values,
        d_levels=result.d_levels, signed_notionals=signed,
        usd_notionals=np.where(fx.jpy_paid[idx], notionals / spot, notionals), spot=spot,
    )  # fmt: skip
    sums = np.zeros((2, fx_sums.shape[0]))
    sums[0] = fx_sums
    values = np.full(n, np.nan)
    values[idx] = c[0] * signed
    scenario_values = np.full((n, m), np.nan)
    scenario_values[idx] = result.scenario_values * signed[:, None]
    rows = None
    if want_rows:
        rows = _fast_rows(task, fx, dates, idx, result, risk, signed, c)
    slow_rows = np.flatnonzero(~fast)
    valued = slow.price(slow_rows, context, run, want_rows=want_rows)
    if valued.sums is not None:
        sums = _add_sums(sums, valued.sums, m)
    values[valued.rows_priced] = valued.values
    scenario_values[valued.rows_priced] = valued.scenario_values
    if want_rows and valued.table is not None and valued.table.num_rows:
        assert rows is not None
        rows = pa.concat_tables([rows, valued.table])
        rows = rows.take(pc.sort_indices(rows, sort_keys=[("row", "ascending")]))
    return _Point(
        rows,
        valued.errors,
        sums,
        int(idx.shape[0]) + valued.priced,
        int(idx.shape[0]) + valued.with_greeks,
        values,
        scenario_values,
    )


def _add_sums(fast: np.ndarray, slow: np.ndarray, m: int) -> np.ndarray:
    """The two paths' sums together (the line-by-line path's FX columns may be absent)."""
    out = fast.copy()
    if slow.shape[1] == fast.shape[1]:
        out += slow
        return out
    out[:, : 1 + m] += slow[:, : 1 + m]  # values and scenario values only
    return out


def _fast_rows(
    task: ChunkTask,
    fx: fx_lines.FxColumns,
    dates: fx_lines.FxDates,
    idx: np.ndarray,
    result: Any,
    risk: np.ndarray,
    signed: np.ndarray,
    c: np.ndarray,
) -> pa.Table:
    """The results rows of the lines the kernel valued as columns."""
    run = task.run
    batch = task.batch
    take = pa.array(idx)
    count = idx.shape[0]
    cols: dict[str, Any] = {
        "row": task.start + idx,
        "kind": _KINDS.take(pa.array(fx.kind[idx])),
        "side": _SIDES.take(pa.array(fx.sell[idx].astype(np.int8))),
        "notional": fx.notional[idx],
        "currency": _JPY.take(pa.array(np.zeros(count, np.int8))),
        "strike": fx.strike[idx],
        "expiry": fx_lines.day_dates(dates.expiry[idx]),
        "delivery": fx_lines.day_dates(dates.delivery[idx]),
        "after_event": result.after_event,
        "forward": c[8],
        "price": c[0],
        "value": c[0] * signed,
        "implied_vol": pa.array(c[14], mask=~result.implied_ok),
        "implied_vol_status": _STATUS.take(pa.array(result.implied_status.astype(np.int8) + 1)),
    }
    for j, g in enumerate(GREEKS):
        cols[g] = c[1 + j]
    for j, g in enumerate(DESK_GREEKS):
        cols[f"position.{g}"] = risk[:, j]
    for j, s in enumerate(run.scenario_names):
        cols[f"scenario_price.{s}"] = result.scenario_values[:, j]
        cols[f"scenario_value.{s}"] = result.scenario_values[:, j] * signed
    for j, lv in enumerate(run.level_names):
        cols[f"dprice_dlevel.{lv}"] = result.d_levels[:, j]
    for name in ("label", "tenor", "payout_currency"):
        if name in batch.schema.names:
            cols[name] = bc.text(batch.column(name), batch.num_rows).take(take)
    for name in batch.schema.names:
        if name.startswith(bc.TAG_PREFIX):
            cols[name] = bc.text(batch.column(name), batch.num_rows).take(take)
    return table_of(run.schema, cols, idx.shape[0])


@dataclass
class _SlowValued:
    table: pa.Table | None
    errors: list[LineError]
    sums: np.ndarray | None
    priced: int
    with_greeks: int
    rows_priced: np.ndarray
    values: np.ndarray
    scenario_values: np.ndarray


@dataclass
class _SlowLines:
    """The chunk's lines that go one by one: read into request-shaped dicts on first use,
    validated once (the schema does not depend on the market), priced per point."""

    columns: dict[str, pa.Array]
    n: int
    start: int
    _models: dict[int, Any] = field(default_factory=dict)
    _invalid: dict[int, list[LineError]] = field(default_factory=dict)

    def _read(self, rows: np.ndarray) -> dict[int, Any]:
        """The lines of ``rows`` validated (each line once over the run's points)."""
        new = np.array([i for i in rows.tolist() if i not in self._models and i not in
                        self._invalid], dtype=np.int64)  # fmt: skip
        if new.size:
            lists = _cells(self.columns, self.n, new)
            for j, i in enumerate(new.tolist()):
                line, bad = _line(lists, j)
                if bad:
                    self._invalid[i] = [LineError(self.start + i, *bad)]
                    continue
                try:
                    self._models[i] = _INSTRUMENT.validate_python(line)
                except ValidationError as exc:
                    self._invalid[i] = [
                        LineError(self.start + i, _strip_tag(e.field), e.reason)
                        for e in validation_errors(exc.errors())
                    ]
        return self._models

    def price(
        self, rows: np.ndarray, context: Context, run: RunParameters, *, want_rows: bool
    ) -> _SlowValued:
        models = self._read(rows)
        wanted = [i for i in rows.tolist() if i in models]
        errors = [e for i in rows.tolist() for e in self._invalid.get(i, ())]
        while wanted:
            try:
                request = _request([models[i] for i in wanted], run)
                job = to_job(request, len(wanted), run.settings, context)
                valuation = value_mixed_book(
                    market=job.market,
                    scenario_set=job.scenario_set,
                    book=job.book,
                    measure=job.measure,
                )
            except DomainError as exc:
                bad = _bad_line(exc)
                if bad is None:  # not one line's fault: every line left shares it
                    for i in wanted:
                        errors += [LineError(self.start + i, e.field, e.reason) for e in exc.errors]
                    wanted = []
                    break
                j, field_errors = bad
                errors += [LineError(self.start + wanted[j], f, r) for f, r in field_errors]
                del wanted[j]
                continue
            break
        empty = np.zeros(0, dtype=np.int64)
        if not wanted:
            errors.sort(key=lambda e: e.row)
            m = len(run.scenario_names)
            return _SlowValued(None, errors, None, 0, 0, empty, np.zeros(0), np.zeros((0, m)))
        fx = valuation.fx
        risk = fx_position_risk(job.book, valuation, job.market.spot)[0] if fx else None
        book_rows = valued_rows(job.book, valuation, risk)
        sums = grouped_column_sums(book_rows.columns, book_rows.is_usd.astype(np.intp), 2)
        table = None
        if want_rows:
            body = price_response(job, valuation)
            flat = [
                flatten_result(r, self.start + i)
                for r, i in zip(body["results"], wanted, strict=True)
            ]
            matrix = valuation.scenario_values.tolist()  # NaN: no simulated path drew it
            for row, line_values in zip(flat, matrix, strict=True):
                for s, v in zip(run.scenario_names, line_values, strict=True):
                    row[f"scenario_value.{s}"] = None if math.isnan(v) else v
            table = rows_table(run.schema, flat)
        errors.sort(key=lambda e: e.row)
        return _SlowValued(
            table,
            errors,
            sums,
            len(wanted),
            int(np.count_nonzero(book_rows.has_greeks)),
            np.array(wanted, dtype=np.int64),
            valuation.values.copy(),
            valuation.scenario_values.copy(),
        )


def _request(models: list[Any], run: RunParameters) -> PriceRequest:
    """The request the lines would make, its sources left out (the context is given)."""
    fields: dict[str, Any] = {
        "instruments": models,
        "measure": run.measure,
        "reporting_currency": run.reporting_currency,
    }
    if run.paths is not None:
        fields["paths"] = PathPricingIn.model_validate(run.paths)
    return PriceRequest.model_construct(**fields)


def _bad_line(exc: DomainError) -> tuple[int, list[tuple[str, str]]] | None:
    """(the line's index in the request, its (field, reason)s) if ``exc`` names one line."""
    found: int | None = None
    out = []
    for e in exc.errors:
        match = _INDEXED.match(e.field)
        if match is None:
            return None
        j = int(match.group(1))
        if found is not None and j != found:
            continue
        found = j
        out.append((e.field[match.end() :] or "line", e.reason))
    return None if found is None else (found, out)


def _strip_tag(path: str) -> str:
    """A pydantic error path without the union member's name (``fx.strike`` → ``strike``)."""
    head, _, rest = path.partition(".")
    from service.problems import _UNION_TAGS

    return rest if head in _UNION_TAGS and rest else path


def _cells(columns: dict[str, pa.Array], n: int, rows: np.ndarray) -> dict[str, list[Any]]:
    """The cells of ``rows`` as Python values: numbers parsed, dates as ISO text, text kept;
    a malformed cell as :data:`_BAD`."""
    take = pa.array(rows)
    out: dict[str, list[Any]] = {}
    for name, column in columns.items():
        if name in bc.NUMBER_COLUMNS:
            parsed = bc.numbers(column, n)
        elif name in bc.DATE_COLUMNS:
            parsed = bc.dates(column, n)
        elif name in bc.BOOL_COLUMNS:
            parsed = bc.booleans(column, n)
        else:
            text = bc.text(column, n).take(take).to_pylist()
            if name == "strike":
                out[name] = [_strike(t) for t in text]
            else:
                out[name] = text
            continue
        values = parsed.values[rows]
        present, bad = parsed.present[rows], parsed.bad[rows]
        if name in bc.DATE_COLUMNS:
            cells: list[Any] = [
                (dt.date(1970, 1, 1) + dt.timedelta(days=int(v))).isoformat() for v in values
            ]
        else:
            cells = values.tolist()
        out[name] = [
            _BAD if b else (c if p else None)
            for c, p, b in zip(cells, present.tolist(), bad.tolist(), strict=True)
        ]
    return out


_BAD = object()
_WHAT = {
    **{name: "must be a number" for name in bc.NUMBER_COLUMNS},
    **{name: "must be a date, YYYY-MM-DD" for name in bc.DATE_COLUMNS},
    **{name: "must be true or false" for name in bc.BOOL_COLUMNS},
}


def _strike(text: str | None) -> float | str | None:
    """A strike cell: a number as a float, desk terms (25D, ATM) as text."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text.strip()


def _line(cells: dict[str, list[Any]], j: int) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """Line ``j`` as a ``POST /v1/price`` instrument, or the first malformed cell's
    (field, reason)."""
    line: dict[str, Any] = {}
    tags: dict[str, Any] = {}
    for name, values in cells.items():
        value = values[j]
        if value is None:
            continue
        if value is _BAD:
            return line, (name, _WHAT[name])
        if name.startswith(bc.TAG_PREFIX):
            tags[name[len(bc.TAG_PREFIX) :]] = value
        else:
            line[name] = value
    if tags:
        line["tags"] = tags
    return line, None


def chunk_rows(results: Sequence[ChunkResult]) -> int:
    """Lines priced under the run's own context over ``results``."""
    return sum(r.lines.num_rows for r in results)
