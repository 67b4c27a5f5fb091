"""A batch run: a book file priced chunk by chunk to a results file, its errors and totals.

:func:`run_batch` is what ``fxscen batch`` and the service's job runner call. It resolves
the run's scenario set and market once (and each kernel point of a sweep:
:mod:`service.batch.sweeps`), reads the book in chunks (:mod:`service.batch.book_files`),
hands each chunk to an executor (this process, or a ``dask.distributed`` cluster:
:mod:`service.batch.executors`) as a pure task (:func:`service.batch.chunk.price_chunk`),
and writes the results in book order as they come back, so memory holds a few chunks
whatever the book's size. The totals add the chunks' compensated sums exactly
(:func:`math.fsum`) in book order: the same figures whichever executor ran the chunks.

Files written beside ``out`` (``<stem>`` its name without the suffix):

* ``out`` — one row per priced line (:mod:`service.batch.results`), Parquet, CSV or JSON
  lines by its suffix;
* ``<stem>.errors.csv`` — ``row, point, field, reason`` per refused line (``point``: the
  sweep point where only that point failed; empty for the run's own);
* ``<stem>.totals.json`` — counts, the sources priced on, the measure, and the book's
  totals as ``POST /v1/price`` reports them (value, value per scenario, scenario P&L,
  ∂value/∂q, ∂value/∂L, desk Greeks; converted to the reporting currency);
* ``<stem>.cube.<fmt>`` — with a sweep: point × scenario × totals (:mod:`service.batch.sweeps`),
  and ``<stem>.cube_lines.<fmt>`` — line × point values when asked for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pricing.mixture.measure import Measure
from scenarios.book_totals import Conversion, ReportingCurrency, Totals, totals_from_sums
from scenarios.errors import DomainError
from scenarios.fx.valuation import fit_measure, level_names
from scenarios.market import Diffusion
from service.batch import sweeps
from service.batch.book_files import BookFile, open_book
from service.batch.chunk import ChunkResult, ChunkTask, LineError, RunParameters, price_chunk
from service.batch.executors import ChunkExecutor, LocalExecutor
from service.batch.results import results_schema
from service.batch.spec import RunSpec, resolve_run
from service.schemas.book_totals import book_conversion, totals_read
from service.schemas.context import Context
from service.schemas.results import measure_read
from service.settings import Settings, get_settings

OUT_FORMATS = ("parquet", "csv", "jsonl")


@dataclass(frozen=True)
class Progress:
    """Where a run is: lines read and priced so far (``lines_total`` None while unknown),
    lines refused, seconds since it started, lines per second and the seconds left at
    that rate."""

    lines_done: int
    lines_total: int | None
    errors: int
    elapsed_seconds: float
    lines_per_second: float
    eta_seconds: float | None


@dataclass(frozen=True)
class RunSummary:
    """A finished (or cancelled, or stopped by ``strict``) run."""

    lines: int
    priced: int
    errors: int
    cancelled: bool
    stopped: bool
    elapsed_seconds: float
    outputs: dict[str, Path]
    totals: dict[str, Any]


def output_format(out: Path, given: str | None = None) -> str:
    """``given``, or the results format ``out``'s suffix names."""
    fmt = (given or out.suffix.lstrip(".")).lower()
    fmt = {"pq": "parquet", "json": "jsonl", "ndjson": "jsonl"}.get(fmt, fmt)
    if fmt not in OUT_FORMATS:
        raise DomainError.field("out", f"{out.name}: write .parquet, .csv or .jsonl results")
    return fmt


def outputs_of(out: Path, fmt: str) -> dict[str, Path]:
    """The files a run writes for results file ``out``."""
    stem = out.with_suffix("")
    suffix = out.suffix or f".{fmt}"
    return {
        "results": out,
        "errors": Path(f"{stem}.errors.csv"),
        "totals": Path(f"{stem}.totals.json"),
        "cube": Path(f"{stem}.cube{suffix}"),
        "cube_lines": Path(f"{stem}.cube_lines{suffix}"),
    }


def run_batch(
    spec: RunSpec,
    book: Path,
    out: Path,
    *,
    book_format: str | None = None,
    out_format: str | None = None,
    executor: ChunkExecutor | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    settings: Settings | None = None,
) -> RunSummary:
    """Price ``book`` under ``spec`` to ``out`` (and the files beside it: :func:`outputs_of`)."""
    started = time.perf_counter()
    settings = settings or get_settings()
    fmt = output_format(out, out_format)
    measure = _choice(Measure, spec.measure, "measure")
    reporting = _choice(ReportingCurrency, spec.reporting_currency, "reporting_currency")
    _choice(Diffusion, spec.diffusion, "diffusion")
    if not 1 <= spec.chunk_lines <= 10_000_000:
        raise DomainError.field("chunk_lines", "must be between 1 and 10,000,000")
    book_file = open_book(book, book_format)
    sources = spec.sources or _body_sources(book_file)
    spec = RunSpec(**{**spec.__dict__, "sources": sources})
    base = resolve_run(spec, settings)
    grid = _grid(spec, measure, settings, base)
    contexts = (base, *grid.contexts)
    scenario_set = base.scenario_set
    fit = fit_measure(base.market, scenario_set, measure)
    for context in grid.contexts:  # every point has the run's scenarios (the cube's columns)
        if tuple(s.name for s in context.scenario_set.scenarios) != _names(base):
            raise DomainError.field(
                "sweep", "every point must have the run's scenarios (the same names)"
            )
    names = _names(base)
    levels = level_names(scenario_set)
    schema = results_schema(names, levels, book_file.tag_keys)
    run = RunParameters(
        measure=measure,
        reporting_currency=reporting,
        settings=settings,
        schema=schema,
        scenario_names=names,
        level_names=levels,
        paths=spec.paths,
        line_points=spec.sweep_lines and grid.points is not None,
    )
    weights = sweeps.ladder_tables(grid, contexts, measure) if grid.points is not None else {}
    files = outputs_of(out, fmt)
    executor = executor or LocalExecutor()
    tasks = _tasks(book_file, spec.chunk_lines, contexts, run)
    writer = _ResultsWriter(out, fmt, schema)
    errors_writer = _ErrorsWriter(files["errors"])
    sums: list[np.ndarray] = []
    priced = np.zeros(len(contexts), dtype=np.int64)
    greeks = np.zeros(len(contexts), dtype=np.int64)
    lines_writer = (
        _ResultsWriter(files["cube_lines"], fmt, _lines_schema(len(grid.points)))
        if run.line_points and grid.points is not None
        else None
    )
    done = refused = 0
    was_cancelled = stopped = False
    results = executor.map_ordered(
        price_chunk, tasks, max_in_flight=getattr(executor, "in_flight", 2)
    )
    try:
        for result in results:
            writer.write(result.lines)
            errors_writer.write(result.errors)
            sums.append(result.sums)
            priced += result.priced
            greeks += result.with_greeks
            if lines_writer is not None and grid.points is not None:
                assert result.point_values is not None
                assert result.point_scenario_values is not None
                lines_writer.write(_line_cube(result, grid, weights))
            done += _chunk_lines(result)
            refused += len({e.row for e in result.errors})
            if on_progress is not None:
                on_progress(_progress(done, book_file.lines, refused, started))
            if spec.strict and result.errors:
                stopped = True
                break
            if cancelled is not None and cancelled():
                was_cancelled = True
                break
    finally:
        if isinstance(results, Iterator) and hasattr(results, "close"):
            results.close()
        writer.close()
        errors_writer.close()
        if lines_writer is not None:
            lines_writer.close()
    total = _exact_sum(sums, len(contexts), schema, names, levels)
    totals = {
        "lines": done,
        "priced": int(priced[0]),
        "errors": refused,
        "cancelled": was_cancelled,
        "stopped_at_first_error": stopped,
        "sources": base.sources_json(),
        "valuation_date": base.market.valuation_date.isoformat(),
        "event_date": scenario_set.event_date.isoformat(),
        "spot": base.market.spot,
        "measure": measure_read(fit, scenario_set),
        "reporting_currency": reporting.value,
        "paths": spec.paths,
        "executor": getattr(executor, "address", "local"),  # the scheduler's, on Dask
        "totals": _totals(base, total[0], int(priced[0]), int(greeks[0]), measure, reporting),
    }
    written = {k: files[k] for k in ("results", "errors", "totals")}
    if grid.points is not None:
        per_context = [
            _totals_of(c, total[p], int(priced[p]), int(greeks[p]), measure, reporting)
            for p, c in enumerate(contexts)
        ]
        cube = sweeps.cube(grid, contexts, [t for t, _ in per_context], measure, reporting,
                           [conv.mixture_rate for _, conv in per_context])  # fmt: skip
        _write_table(cube, files["cube"], fmt)
        written["cube"] = files["cube"]
        totals["sweep"] = {
            "points": len(grid.points),
            "kernel_points": len(contexts),
            "columns": list(grid.columns),
            "ladder": None if grid.ladder is None else grid.ladder.scenario,
            "point_sources": [c.sources_json() for c in contexts],
        }
        if lines_writer is not None:
            written["cube_lines"] = files["cube_lines"]
    totals["elapsed_seconds"] = time.perf_counter() - started
    files["totals"].write_bytes(orjson.dumps(totals, option=orjson.OPT_INDENT_2))
    return RunSummary(
        lines=done,
        priced=int(priced[0]),
        errors=refused,
        cancelled=was_cancelled,
        stopped=stopped,
        elapsed_seconds=time.perf_counter() - started,
        outputs=written,
        totals=totals,
    )


def _names(context: Context) -> tuple[str, ...]:
    return tuple(s.name for s in context.scenario_set.scenarios)


def _choice(enum: Any, value: str, name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise DomainError.field(name, f"must be one of {allowed}, got {value!r}") from None


def _body_sources(book: BookFile) -> dict[str, Any]:
    """A JSON book's own sources (the POST /v1/price body's), when the run names none."""
    keys = ("scenario_set_id", "scenario_set_version", "scenario_set", "market_id",
            "market_version", "market", "overrides")  # fmt: skip
    return {k: book.body[k] for k in keys if k in book.body}


@dataclass(frozen=True)
class _NoGrid:
    contexts: tuple[Context, ...] = ()
    points: None = None


def _grid(spec: RunSpec, measure: Measure, settings: Settings, base: Context) -> Any:
    if not spec.sweep:
        return _NoGrid()
    return sweeps.resolve_grid(spec.sweep, spec.sources, measure, settings, spec.diffusion, base)


def _lines_schema(points: int) -> pa.Schema:
    return pa.schema([("row", pa.int64()), *((f"point.{k}", pa.float64()) for k in range(points))])


def _line_cube(result: ChunkResult, grid: Any, weights: dict[int, np.ndarray]) -> pa.Table:
    """A chunk's rows of the line cube: each line's signed value at every point."""
    assert result.point_values is not None and result.point_scenario_values is not None
    values = sweeps.line_values(grid, weights, result.point_values, result.point_scenario_values)
    n = values.shape[0]
    columns = {"row": np.arange(result.start, result.start + n)}
    columns.update({f"point.{k}": values[:, k] for k in range(values.shape[1])})
    return pa.table(columns, schema=_lines_schema(values.shape[1]))


def _tasks(
    book: BookFile, chunk_lines: int, contexts: tuple[Context, ...], run: RunParameters
) -> Iterator[ChunkTask]:
    start = 0
    for batch in book.chunks(chunk_lines):
        yield ChunkTask(start, batch, contexts, run)
        start += batch.num_rows


def _chunk_lines(result: ChunkResult) -> int:
    refused = {e.row for e in result.errors if e.point is None}
    return int(result.lines.num_rows) + len(refused)


def _progress(done: int, total: int | None, errors: int, started: float) -> Progress:
    elapsed = time.perf_counter() - started
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if total is not None and rate > 0 else None
    return Progress(done, total, errors, elapsed, rate, eta)


def _exact_sum(
    sums: list[np.ndarray], points: int, schema: pa.Schema, names: Any, levels: Any
) -> np.ndarray:
    """The chunks' sums added exactly (each figure the double nearest the exact sum)."""
    if not sums:
        k = 1 + len(names) + len(levels) + 8
        return np.zeros((points, 2, k))
    stacked = np.stack(sums)  # [chunks, P, 2, K]
    flat = stacked.reshape(stacked.shape[0], -1)
    return np.array([math.fsum(flat[:, j]) for j in range(flat.shape[1])]).reshape(
        stacked.shape[1:]
    )


def _totals_of(
    context: Context,
    sums: np.ndarray,
    priced: int,
    with_greeks: int,
    measure: Measure,
    reporting: ReportingCurrency,
) -> tuple[Totals, Conversion]:
    fit = fit_measure(context.market, context.scenario_set, measure)
    conv = book_conversion(context.market, context.scenario_set, fit.jumps, reporting)
    m = len(context.scenario_set.scenarios)
    return totals_from_sums(sums, priced, with_greeks, conv, m), conv


def _totals(
    context: Context,
    sums: np.ndarray,
    priced: int,
    with_greeks: int,
    measure: Measure,
    reporting: ReportingCurrency,
) -> dict[str, Any]:
    t, conv = _totals_of(context, sums, priced, with_greeks, measure, reporting)
    return totals_read(t, conv, _names(context), level_names(context.scenario_set))


class _ResultsWriter:
    """Results rows appended chunk by chunk in the run's format, on a thread of its own: a
    chunk is written while the next one is priced (pyarrow writes without the GIL). At
    most one chunk waits to be written; a write's error is raised by the next call."""

    def __init__(self, path: Path, fmt: str, schema: pa.Schema) -> None:
        self.fmt = fmt
        self.path = path
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="fxscen-results")
        self._pending: Future[None] | None = None
        if fmt == "parquet":
            # dictionaries for the text columns only: a float column seldom repeats, and
            # trying costs ~1 s a million lines; statistics are not read back
            text = [f.name for f in schema if pa.types.is_string(f.type)]
            self._parquet = pq.ParquetWriter(
                path, schema, use_dictionary=text, write_statistics=False
            )
        elif fmt == "csv":
            self._csv = pacsv.CSVWriter(path, schema)
        else:
            self._file = path.open("wb")

    def write(self, table: pa.Table) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pending = self._thread.submit(self._write, table)

    def _write(self, table: pa.Table) -> None:
        if self.fmt == "parquet":
            self._parquet.write_table(table)
        elif self.fmt == "csv":
            self._csv.write_table(table)
        else:
            self._file.write(jsonl(table))

    def close(self) -> None:
        try:
            if self._pending is not None:
                self._pending.result()
        finally:
            self._thread.shutdown()
            self._close()

    def _close(self) -> None:
        if self.fmt == "parquet":
            self._parquet.close()
        elif self.fmt == "csv":
            self._csv.close()
        else:
            self._file.close()


def jsonl(table: pa.Table) -> bytes:
    """Rows as JSON lines (dates ISO 8601, NaN and missing as null)."""
    rows = table.to_pylist()
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


_ERRORS_SCHEMA = pa.schema(
    [("row", pa.int64()), ("point", pa.int64()), ("field", pa.string()), ("reason", pa.string())]
)


class _ErrorsWriter:
    def __init__(self, path: Path) -> None:
        self._csv = pacsv.CSVWriter(path, _ERRORS_SCHEMA)

    def write(self, errors: list[LineError]) -> None:
        if not errors:
            return
        self._csv.write_table(
            pa.table(
                {
                    "row": [e.row for e in errors],
                    "point": [e.point for e in errors],
                    "field": [e.field for e in errors],
                    "reason": [e.reason for e in errors],
                },
                schema=_ERRORS_SCHEMA,
            )
        )

    def close(self) -> None:
        self._csv.close()


def _write_table(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "csv":
        pacsv.write_csv(table, path)
    else:
        path.write_bytes(jsonl(table))
