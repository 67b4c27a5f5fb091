"""``fxscen batch``: price a book file to a results file, with its errors and totals.

    fxscen batch BOOK.{csv,parquet,json} --scenario-set ID[@VERSION] [--market ID[@VERSION]]
        --out RESULTS.{parquet,csv,jsonl} [--sweep AXIS ...] [--sweep-lines]
        [--scheduler ADDRESS] [--measure tilt|scale|none] [--reporting-currency JPY|USD]
        [--chunk-lines N] [--strict] [--paths JSON] [--quiet]

Writes ``RESULTS``, ``<stem>.errors.csv``, ``<stem>.totals.json`` and, with a sweep,
``<stem>.cube.<fmt>`` (:mod:`service.batch.run`). Progress goes to stderr: a bar on a
terminal, otherwise a line at most once a second (lines done, lines per second, ETA); then
a summary. Exit status: 0 every line priced; 1 some lines refused (the summary says how
many, the errors file which and why) or ``--strict`` stopped at the first; 2 the run itself
was refused (problem JSON on stderr, as the API's 4xx); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from scenarios.errors import DomainError
from service.batch.spec import reference


def add_command(sub: Any) -> None:
    """Register ``batch`` on the ``fxscen`` parser's subcommands."""
    batch = sub.add_parser(
        "batch",
        help="price a CSV/Parquet/JSON book file under a scenario set (and its sweeps)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    batch.add_argument("book", type=Path)
    batch.add_argument("--scenario-set", metavar="ID[@VERSION]", help="default: the JSON book's")
    batch.add_argument("--market", metavar="ID[@VERSION]", help="default: the set's own market")
    batch.add_argument("--out", type=Path, required=True, metavar="RESULTS")
    batch.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="AXIS",
        help="e.g. probability:no_deal=0.1:0.9:101, spot=-0.05,0,0.05, vol=-0.01,0,0.01, "
        "level=-0.01,0.01, event_date=0,7,30, scenario_set=ID@1,ID@2, @sweep.json; "
        "several give their product",
    )
    batch.add_argument("--sweep-lines", action="store_true", help="each line at every point too")
    batch.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler")
    batch.add_argument("--measure", default="tilt", choices=("tilt", "scale", "none"))
    batch.add_argument("--diffusion", default="ex_event", choices=("ex_event", "quoted"))
    batch.add_argument("--reporting-currency", default="JPY", choices=("JPY", "USD"))
    batch.add_argument("--chunk-lines", type=int, default=None, metavar="N")
    batch.add_argument("--book-format", choices=("csv", "parquet", "json"))
    batch.add_argument("--strict", action="store_true", help="stop at the first refused line")
    batch.add_argument("--paths", metavar="JSON", help="Monte Carlo settings for barrier lines")
    batch.add_argument("--quiet", action="store_true", help="no progress, only the summary")
    batch.set_defaults(run=run_command)


def sources_of(args: argparse.Namespace) -> dict[str, Any]:
    """The run's sources from ``--scenario-set`` and ``--market``."""
    sources: dict[str, Any] = {}
    if args.scenario_set:
        sources["scenario_set_id"], version = reference(args.scenario_set, "--scenario-set")
        if version is not None:
            sources["scenario_set_version"] = version
    if args.market:
        sources["market_id"], version = reference(args.market, "--market")
        if version is not None:
            sources["market_version"] = version
    return sources


def run_command(args: argparse.Namespace) -> int:
    from service.batch.executors import executor_for
    from service.batch.run import run_batch
    from service.batch.spec import RunSpec
    from service.problems import domain_problem
    from service.settings import get_settings

    settings = get_settings()
    try:
        sweep: tuple[dict[str, Any], ...] = ()
        if args.sweep:
            from service.batch.sweeps import parse_sweep_text

            sweep = tuple(a for text in args.sweep for a in _axes(parse_sweep_text(text)))
        paths = json.loads(args.paths) if args.paths else None
        spec = RunSpec(
            sources=sources_of(args),
            measure=args.measure,
            diffusion=args.diffusion,
            reporting_currency=args.reporting_currency,
            sweep=sweep,
            sweep_lines=args.sweep_lines,
            chunk_lines=args.chunk_lines or settings.batch_chunk_lines,
            strict=args.strict,
            paths=paths,
        )
        progress = None if args.quiet else ProgressPrinter(sys.stderr)
        with executor_for(args.scheduler or settings.dask_scheduler) as executor:
            summary = run_batch(
                spec,
                args.book,
                args.out,
                book_format=args.book_format,
                executor=executor,
                on_progress=progress,
                settings=settings,
            )
        if progress is not None:
            progress.close()
    except json.JSONDecodeError as exc:
        print(json.dumps(_problem("--paths", f"is not JSON: {exc}"), indent=2), file=sys.stderr)
        return 2
    except DomainError as exc:
        print(json.dumps(domain_problem(exc), indent=2), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fxscen batch: interrupted", file=sys.stderr)
        return 130
    print(summary_line(summary.lines, summary.priced, summary.errors, summary.elapsed_seconds,
                       summary.outputs, summary.stopped), file=sys.stderr)  # fmt: skip
    return 1 if summary.errors or summary.stopped else 0


def _axes(parsed: Any) -> list[dict[str, Any]]:
    return list(parsed) if isinstance(parsed, list) else [parsed]


def _problem(field: str, reason: str) -> dict[str, Any]:
    from service.problems import problem_body

    return problem_body(422, "invalid", "Invalid request", [{"field": field, "reason": reason}])


def summary_line(
    lines: int,
    priced: int,
    errors: int,
    seconds: float,
    outputs: dict[str, Path],
    stopped: bool,
) -> str:
    """The run's last line on stderr."""
    rate = lines / seconds if seconds > 0 else 0.0
    text = (
        f"fxscen batch: priced {priced:,} of {lines:,} lines in {seconds:.2f} s "
        f"({rate:,.0f} lines/s)"
    )
    if errors:
        text += f"; {errors:,} refused (see {outputs['errors']})"
    if stopped:
        text += "; stopped at the first refused line (--strict)"
    written = ", ".join(str(p) for k, p in outputs.items() if k != "errors")
    return f"{text}; wrote {written}"


class ProgressPrinter:
    """The run's progress on ``stream``: a tqdm bar on a terminal, else a plain line at most
    once a second (and the last one)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: Any = None
        self.tty = stream.isatty()
        self._last = 0.0

    def __call__(self, p: Any) -> None:
        if self.tty:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(
                    total=p.lines_total, unit=" lines", unit_scale=True, file=self.stream
                )
            self.bar.update(p.lines_done - self.bar.n)
            self.bar.set_postfix(errors=p.errors, refresh=False)
            return
        now = time.monotonic()
        final = p.lines_total is not None and p.lines_done >= p.lines_total
        if now - self._last < 1.0 and not final:
            return
        self._last = now
        print(progress_line(p), file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def progress_line(p: Any) -> str:
    """``lines 300,000/1,000,000 (30.0%), 0 refused, 512,000 lines/s, ETA 1.4 s``."""
    total = (
        f"/{p.lines_total:,} ({100 * p.lines_done / p.lines_total:.1f}%)" if p.lines_total else ""
    )
    eta = f", ETA {p.eta_seconds:.1f} s" if p.eta_seconds is not None else ""
    return (
        f"lines {p.lines_done:,}{total}, {p.errors:,} refused, "
        f"{p.lines_per_second:,.0f} lines/s{eta}"
    )
