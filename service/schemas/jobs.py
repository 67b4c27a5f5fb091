"""``/v1/books`` and ``/v1/jobs``: request and response schemas of batch jobs.

A job is a batch run (:mod:`service.batch.run`) over an uploaded book (``book_id``) or the
lines given inline (``instruments``, as ``POST /v1/price`` takes them), on the set and
market its sources name, with the run's parameters. Progress is in lines of the book;
``lines_per_second`` and ``eta_seconds`` are the run's rate so far and the time left at it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from pricing.mixture.measure import Measure
from scenarios.book_totals import ReportingCurrency
from scenarios.market import Diffusion
from service.batch.sweeps import MAX_AXES, SweepAxisIn
from service.schemas.common import Choice, Schema
from service.schemas.context import SourceFields
from service.schemas.path_instruments import PathPricingIn
from service.schemas.price import Instrument
from service.schemas.results import BUILTIN_SET
from store.jobs import BookRecord, JobRecord

JobState = Literal["queued", "running", "cancelling", "done", "failed", "cancelled", "interrupted"]
MAX_INLINE_LINES = 100_000


class BookRead(Schema):
    id: str
    format: Literal["csv", "parquet", "json"]
    size: int = Field(description="Bytes, as uploaded.")
    sha256: str
    lines: int | None = Field(description="Lines of the book (rows after the header).")
    columns: list[str] | None = Field(default=None, description="The book's columns.")
    created_at: str
    created_by: str


class JobIn(SourceFields):
    """A batch run to do: the book (uploaded, or inline) and what to price it on."""

    book_id: str | None = Field(
        default=None, max_length=40, description="A book uploaded with POST /v1/books."
    )
    instruments: (
        Annotated[list[Instrument], Field(min_length=1, max_length=MAX_INLINE_LINES)] | None
    ) = Field(
        default=None, description="The lines inline, as POST /v1/price takes them (or book_id)."
    )
    measure: Choice[Measure] = Measure.TILT
    diffusion: Choice[Diffusion] = Diffusion.EX_EVENT
    reporting_currency: Choice[ReportingCurrency] = ReportingCurrency.JPY
    sweep: Annotated[list[SweepAxisIn], Field(max_length=MAX_AXES)] = Field(
        default_factory=list,
        description="Axes of the run's grid (their product): probability ladders, spot, "
        "level, vol and event-date shifts, several sets; the cube is a result of its own.",
    )
    sweep_lines: bool = Field(default=False, description="Each line's value at every point too.")
    strict: bool = Field(default=False, description="Stop at the first refused line.")
    paths: PathPricingIn | None = Field(
        default=None, description="Monte Carlo settings for barrier and touch lines."
    )
    chunk_lines: int | None = Field(default=None, ge=1, le=10_000_000)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scenario_set_id": BUILTIN_SET,
                    "instruments": [
                        {"kind": "call", "strike": 150.0, "tenor": "3M", "notional": 1e6},
                        {"kind": "put", "strike": 140.0, "tenor": "3M", "side": "sell"},
                    ],
                    "sweep": [
                        {"axis": "probability", "scenario": "no_deal", "from": 0.1,
                         "to": 0.5, "points": 5}
                    ],
                }
            ]
        }
    )  # fmt: skip

    def run_parameters(self, chunk_lines: int) -> dict[str, Any]:
        """The :class:`service.batch.run.RunSpec` fields of this job, as JSON."""
        sources = self.model_dump(
            mode="json",
            include={"scenario_set_id", "scenario_set_version", "scenario_set", "market_id",
                     "market_version", "market", "overrides"},
            exclude_none=True, by_alias=True,
        )  # fmt: skip
        return {
            "sources": sources,
            "measure": self.measure.value,
            "diffusion": self.diffusion.value,
            "reporting_currency": self.reporting_currency.value,
            "sweep": [
                a.model_dump(mode="json", by_alias=True, exclude_none=True) for a in self.sweep
            ],
            "sweep_lines": self.sweep_lines,
            "strict": self.strict,
            "paths": self.paths.model_dump(mode="json") if self.paths is not None else None,
            "chunk_lines": self.chunk_lines or chunk_lines,
        }


class JobProgress(Schema):
    lines_done: int
    lines_total: int | None
    errors: int = Field(description="Lines refused so far (GET …/errors says which).")
    fraction: float | None = Field(description="lines_done / lines_total.")
    lines_per_second: float | None
    eta_seconds: float | None


class JobLinks(Schema):
    self: str
    result: str
    errors: str
    totals: str
    cube: str | None
    book: str


class JobRead(Schema):
    id: str
    state: JobState = Field(
        description="queued → running → done | failed; cancelling → cancelled (DELETE); "
        "interrupted when the process running it stopped (a crash or kill)."
    )
    created_at: str
    created_by: str
    started_at: str | None
    finished_at: str | None
    book_id: str
    params: dict[str, Any] = Field(description="The run's parameters as the runner reads them.")
    progress: JobProgress
    message: str | None = Field(description="Why it failed, stopped or was interrupted.")
    files: list[str] = Field(description="The files a finished job keeps.")
    links: JobLinks


class JobList(Schema):
    jobs: list[JobRead]


def book_read(record: BookRecord, columns: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": record.id,
        "format": record.format,
        "size": record.size,
        "sha256": record.sha256,
        "lines": record.lines,
        "columns": columns,
        "created_at": record.created_at,
        "created_by": record.created_by,
    }


def job_read(record: JobRecord, files: list[str]) -> dict[str, Any]:
    base = f"/v1/jobs/{record.id}"
    total = record.lines_total
    return {
        "id": record.id,
        "state": record.state,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "book_id": record.book_id,
        "params": json.loads(record.params),
        "progress": {
            "lines_done": record.lines_done,
            "lines_total": total,
            "errors": record.errors,
            "fraction": record.lines_done / total if total else None,
            "lines_per_second": record.lines_per_second,
            "eta_seconds": record.eta_seconds,
        },
        "message": record.message,
        "files": files,
        "links": {
            "self": base,
            "result": f"{base}/result",
            "errors": f"{base}/errors",
            "totals": f"{base}/totals",
            "cube": f"{base}/cube" if "cube" in files else None,
            "book": f"/v1/books/{record.book_id}",
        },
    }
