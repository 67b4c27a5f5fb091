"""``/v1/books`` and ``/v1/jobs``: batch runs submitted over HTTP, kept in the store.

``POST /v1/books`` takes a book file as the raw body (``text/csv``,
``application/vnd.apache.parquet``, or ``application/json``: a ``POST /v1/price`` body or a
list of its lines), streamed to disk up to ``FXSCEN_MAX_BOOK_BYTES`` and checked (its
columns) before it is kept. ``POST /v1/jobs`` checks the run's parameters — the set, market
and sweep resolve, the book exists — and queues it (202, ``Location``); a runner in one of
the service's processes takes it (:mod:`service.jobs.runner`). ``GET /v1/jobs/{id}`` says
where it is; ``…/result`` and ``…/cube`` are sent as Parquet, CSV, JSON or JSON lines by
``Accept`` (JSON when it names none of them or ``*/*``), ``…/errors`` as CSV, ``…/totals``
as JSON; ``DELETE`` cancels (a queued job at once, a running one between two chunks).
"""

from __future__ import annotations

import io
import json
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

import orjson
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from scenarios.errors import DomainError, ErrorKind
from service.auth import principal_of
from service.batch.book_files import open_book
from service.batch.run import jsonl
from service.batch.spec import RunSpec, resolve_run
from service.deps import SettingsDep
from service.problems import PROBLEM_JSON, problem_responses
from service.schemas.jobs import BookRead, JobIn, JobList, JobRead, book_read, job_read
from service.settings import Settings
from service.versioned import store_at
from store.jobs import FINISHED, JobStore
from store.repository import NotFound

router = APIRouter(tags=["jobs"])

PARQUET = "application/vnd.apache.parquet"
NDJSON = "application/x-ndjson"
_BOOK_TYPES = {"text/csv": "csv", PARQUET: "parquet", "application/x-parquet": "parquet",
               "application/json": "json"}  # fmt: skip
_TABLE_TYPES = ("application/json", PARQUET, "text/csv", NDJSON)
JobId = Annotated[str, PathParam(max_length=40, description="The job's id.")]
BookId = Annotated[str, PathParam(max_length=40, description="The book's id.")]


def _jobs(settings: Settings) -> JobStore:
    return JobStore(store_at(settings.database_url))


def _not_found(exc: NotFound, field: str) -> DomainError:
    return DomainError.field(field, str(exc), ErrorKind.NOT_FOUND)


@router.post(
    "/v1/books",
    operation_id="create_book",
    status_code=201,
    response_model=BookRead,
    responses=problem_responses(401, 403, 413, 415, 422),
    summary="Upload a book file for jobs",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                PARQUET: {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "object"}},
                # any of the three, told apart by its first bytes (generated clients send this)
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def create_book(http: Request, settings: SettingsDep) -> JSONResponse:
    media = (http.headers.get("content-type") or "").split(";")[0].strip().lower()
    fmt = _BOOK_TYPES.get(media) or ("sniff" if media == "application/octet-stream" else None)
    if fmt is None:
        raise DomainError.field(
            "content-type",
            f"send the book as text/csv, {PARQUET}, application/json or "
            f"application/octet-stream, not {media or 'none'}",
            ErrorKind.UNSUPPORTED_MEDIA_TYPE,
        )
    with tempfile.TemporaryDirectory(prefix="fxscen-book-") as tmp:
        path = Path(tmp) / f"book.{fmt}"
        size = 0
        with path.open("wb") as f:
            async for piece in http.stream():
                size += len(piece)
                if size > settings.max_book_bytes:
                    raise DomainError.field(
                        "body",
                        f"must be at most {settings.max_book_bytes} bytes (FXSCEN_MAX_BOOK_BYTES)",
                        ErrorKind.TOO_LARGE,
                    )
                f.write(piece)
        author = principal_of(http.scope).name
        book_format: str = fmt

        def keep() -> dict[str, Any]:
            nonlocal path, book_format
            if book_format == "sniff":  # Parquet starts with PAR1, JSON with { or [; else CSV
                book_format = _sniffed(path)
                path = path.rename(path.with_suffix(f".{book_format}"))
            book = open_book(path, book_format)  # the columns checked before the book is kept
            record = _jobs(settings).add_book(
                uuid.uuid4().hex, book_format, path.read_bytes(), book.lines, author
            )
            return book_read(record, book.names)

        body = await run_in_threadpool(keep)
    return JSONResponse(body, status_code=201, headers={"Location": f"/v1/books/{body['id']}"})


def _sniffed(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(64)
    if head.startswith(b"PAR1"):
        return "parquet"
    return "json" if head.lstrip()[:1] in (b"{", b"[") else "csv"


@router.get(
    "/v1/books/{book_id}",
    operation_id="get_book",
    response_model=BookRead,
    responses=problem_responses(401, 403, 404, 422),
    summary="An uploaded book's size, digest and lines",
)
async def get_book(book_id: BookId, settings: SettingsDep) -> JSONResponse:
    try:
        record = await run_in_threadpool(_jobs(settings).book, book_id)
    except NotFound as exc:
        raise _not_found(exc, "book_id") from None
    return JSONResponse(book_read(record))


@router.post(
    "/v1/jobs",
    operation_id="submit_job",
    status_code=202,
    response_model=JobRead,
    responses=problem_responses(401, 403, 404, 410, 413, 415, 422),
    summary="Queue a batch run of a book (202; poll the Location)",
)
async def submit_job(body: JobIn, http: Request, settings: SettingsDep) -> JSONResponse:
    if (body.book_id is None) == (body.instruments is None):
        raise DomainError.field("book_id", "give exactly one of book_id or instruments")
    author = principal_of(http.scope).name
    params = body.run_parameters(settings.batch_chunk_lines)
    jobs = _jobs(settings)

    def queue() -> dict[str, Any]:
        spec = RunSpec(**{**params, "sweep": tuple(params["sweep"])})
        base = resolve_run(spec, settings)  # the set, market and sweep resolve, or a 4xx now
        if spec.sweep:
            from service.batch.sweeps import resolve_grid

            resolve_grid(spec.sweep, spec.sources, base_measure(spec), settings, spec.diffusion,
                         base)  # fmt: skip
        if body.instruments is not None:
            lines = [x.model_dump(mode="json", exclude_unset=True) for x in body.instruments]
            content = orjson.dumps({"instruments": lines})
            book = jobs.add_book(uuid.uuid4().hex, "json", content, len(lines), author)
        else:
            assert body.book_id is not None
            try:
                book = jobs.book(body.book_id)
            except NotFound as exc:
                raise _not_found(exc, "book_id") from None
        record = jobs.create(uuid.uuid4().hex, json.dumps(params), book.id, author, book.lines)
        return job_read(record, [])

    read = await run_in_threadpool(queue)
    runner = getattr(http.app.state, "job_runner", None)
    if runner is not None:
        runner.wake()
    return JSONResponse(read, status_code=202, headers={"Location": f"/v1/jobs/{read['id']}"})


def base_measure(spec: RunSpec) -> Any:
    from pricing.mixture.measure import Measure

    return Measure(spec.measure)


@router.get(
    "/v1/jobs",
    operation_id="list_jobs",
    response_model=JobList,
    responses=problem_responses(401, 403, 422),
    summary="Jobs, newest first (at most 100)",
)
async def list_jobs(settings: SettingsDep) -> JSONResponse:
    def rows() -> dict[str, Any]:
        jobs = _jobs(settings)
        return {"jobs": [job_read(j, jobs.file_names(j.id)) for j in jobs.list(100)]}

    return JSONResponse(await run_in_threadpool(rows))


@router.get(
    "/v1/jobs/{job_id}",
    operation_id="get_job",
    response_model=JobRead,
    responses=problem_responses(401, 403, 404, 422),
    summary="A job's state and progress",
)
async def get_job(job_id: JobId, settings: SettingsDep) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(_read, settings, job_id))


def _read(settings: Settings, job_id: str) -> dict[str, Any]:
    jobs = _jobs(settings)
    try:
        return job_read(jobs.get(job_id), jobs.file_names(job_id))
    except NotFound as exc:
        raise _not_found(exc, "job_id") from None


@router.delete(
    "/v1/jobs/{job_id}",
    operation_id="cancel_job",
    status_code=202,
    response_model=JobRead,
    responses={
        **problem_responses(401, 403, 404, 422),
        409: {
            "description": "The job has finished: nothing to cancel.",
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        },
    },
    summary="Cancel a job (queued: at once; running: between chunks)",
)
async def cancel_job(job_id: JobId, settings: SettingsDep) -> JSONResponse:
    def cancel() -> dict[str, Any]:
        jobs = _jobs(settings)
        try:
            before = jobs.get(job_id)
        except NotFound as exc:
            raise _not_found(exc, "job_id") from None
        if before.state in FINISHED:
            raise DomainError.field(
                "job_id", f"the job is {before.state}: nothing to cancel", ErrorKind.CONFLICT
            )
        return job_read(jobs.cancel(job_id), jobs.file_names(job_id))

    return JSONResponse(await run_in_threadpool(cancel), status_code=202)


_TABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The table as the first media type of `Accept` it can be sent as.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            PARQUET: {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string"}},
            NDJSON: {"schema": {"type": "string"}},
        },
    },
    **problem_responses(401, 403, 404, 406, 422),
    409: {"description": "The job has not finished (or has no such file: no sweep).",
          "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}},
}  # fmt: skip


def _finished_file(settings: Settings, job_id: str, name: str) -> tuple[bytes, str | None]:
    jobs = _jobs(settings)
    try:
        job = jobs.get(job_id)
    except NotFound as exc:
        raise _not_found(exc, "job_id") from None
    if name not in jobs.file_names(job_id):
        why = f"the job is {job.state}" if job.state not in FINISHED else f"it has no {name} file"
        raise DomainError.field("job_id", f"{why}: no {name} to send", ErrorKind.CONFLICT)
    return jobs.file(job_id, name).content, job.summary


def _negotiate(accept: str | None) -> str:
    """The first of the table's media types ``accept`` allows (JSON for none or ``*/*``)."""
    if not accept:
        return "application/json"
    ranked = []
    for i, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            key, _, value = p.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, media.strip().lower()))
    for neg_q, _, media in sorted(ranked):
        if neg_q == 0:
            continue
        if media in ("*/*", "application/*"):
            return "application/json"
        if media in _TABLE_TYPES:
            return media
        if media == "application/x-parquet":
            return PARQUET
    raise DomainError.field(
        "accept", f"can send {', '.join(_TABLE_TYPES)}; not {accept}", ErrorKind.NOT_ACCEPTABLE
    )


def _table_response(content: bytes, media: str, summary: str | None, key: str) -> Response:
    if media == PARQUET:
        return Response(content, media_type=PARQUET)
    table = pq.read_table(io.BytesIO(content))
    if media == "text/csv":
        sink = io.BytesIO()
        pacsv.write_csv(table, sink)
        return Response(sink.getvalue(), media_type="text/csv")
    if media == NDJSON:
        return Response(jsonl(table), media_type=NDJSON)
    totals = json.loads(summary) if summary else None
    return Response(orjson.dumps({key: table.to_pylist(), "totals": totals}),
                    media_type="application/json")  # fmt: skip


@router.get(
    "/v1/jobs/{job_id}/result",
    operation_id="get_job_result",
    responses=_TABLE_RESPONSES,
    summary="A finished job's results, one row per line (by Accept)",
)
async def get_job_result(job_id: JobId, http: Request, settings: SettingsDep) -> Response:
    return await _table(http, settings, job_id, "results", "lines")


async def _table(http: Request, settings: Settings, job_id: str, name: str, key: str) -> Response:
    """A finished job's table file ``name`` in the media type ``Accept`` asks for."""
    media = _negotiate(http.headers.get("accept"))
    content, summary = await run_in_threadpool(_finished_file, settings, job_id, name)
    return await run_in_threadpool(_table_response, content, media, summary, key)


@router.get(
    "/v1/jobs/{job_id}/cube",
    operation_id="get_job_cube",
    responses=_TABLE_RESPONSES,
    summary="A finished sweep's cube: point × scenario × totals (by Accept)",
)
async def get_job_cube(job_id: JobId, http: Request, settings: SettingsDep) -> Response:
    return await _table(http, settings, job_id, "cube", "rows")


@router.get(
    "/v1/jobs/{job_id}/errors",
    operation_id="get_job_errors",
    responses={
        200: {
            "description": "row, point, field, reason per refused line.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **{k: v for k, v in _TABLE_RESPONSES.items() if k != 200},
    },
    summary="A finished job's refused lines, as CSV",
)
async def get_job_errors(job_id: JobId, settings: SettingsDep) -> Response:
    content, _ = await run_in_threadpool(_finished_file, settings, job_id, "errors")
    return Response(content, media_type="text/csv")


@router.get(
    "/v1/jobs/{job_id}/totals",
    operation_id="get_job_totals",
    responses={
        200: {
            "description": "The run's totals file: counts, sources, measure, totals, sweep.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **{k: v for k, v in _TABLE_RESPONSES.items() if k != 200},
    },
    summary="A finished job's totals, as POST /v1/price reports a book's",
)
async def get_job_totals(job_id: JobId, settings: SettingsDep) -> Response:
    content, _ = await run_in_threadpool(_finished_file, settings, job_id, "totals")
    return Response(content, media_type="application/json")
