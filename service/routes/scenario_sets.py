"""Scenario sets and market snapshots as versioned resources (``/v1/scenario-sets``,
``/v1/markets``): create, list, read by version, history, replace, patch, retire.

Writes, lists and histories run on the thread pool: a commit waits for the disk (SQLite's
fsync, PostgreSQL's round trip) and must not stall the event loop's other requests; reading
one version (a primary-key read, ~50 µs) stays on the loop.

One router factory serves both kinds (:func:`versioned_router`); the rules live in
:mod:`service.versioned`, the SQL in :mod:`store.repository`. Every write answers with the
new version's ``ETag`` and ``Location``; ``PUT`` and ``PATCH`` need ``If-Match``.
"""

# no ``from __future__ import annotations``: the factory's route signatures name the kind's
# schemas through local variables, which FastAPI must see as classes

import datetime as dt
import json
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from scenarios.errors import DomainError, ErrorKind
from scenarios.scenario import Scenario
from service import versioned
from service.auth import principal_of
from service.deps import SettingsDep
from service.problems import problem_responses
from service.schemas.stored import (
    MAX_VERSION,
    MarketWrite,
    ScenarioSetWrite,
    StoredMarketRead,
    StoredMarketSummary,
    StoredScenarioSetRead,
    StoredSetSummary,
)
from service.settings import Settings
from store.repository import Store, VersionRecord

Version = Annotated[int, Path(ge=1, le=MAX_VERSION, description="The version number, 1, 2, …")]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag of the version this write is based on (or `*`).",
    ),
]
_JSON_PATCH_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["op", "path"],
        "properties": {
            "op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
            "path": {"type": "string", "examples": ["/scenarios/1/probability"]},
            "from": {"type": "string"},
            "value": {},
        },
    },
}


_HEADERS = {
    "ETag": {
        "description": "The version's entity tag: send it as `If-Match` to write the next one.",
        "schema": {"type": "string", "examples": ['"2.d82b41a0f92df1cb"']},
    },
    "Location": {"description": "The resource (its latest version).", "schema": {"type": "string"}},
    "Content-Location": {
        "description": "This version, which never changes.",
        "schema": {"type": "string"},
    },
}


def _with_headers(status: int, *problems: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: ``status`` with the version headers, and ``problems``."""
    return {status: {"headers": _HEADERS}, **problem_responses(*problems)}


def _store(settings: Settings) -> Store:
    return versioned.store_at(settings.database_url)


def _meta(record: VersionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "version": record.version,
        "etag": versioned.etag(record.version, record.digest),
        "digest": record.digest,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "change_note": record.change_note,
        "changes": list(record.changes),
        "latest_version": record.latest_version,
        "retired_at": record.retired_at,
        "retired_by": record.retired_by,
        "read_only": record.created_by == versioned.BUILTIN_AUTHOR,
    }


def _headers(kind: versioned.Kind[Any], record: VersionRecord) -> dict[str, str]:
    return {
        "ETag": versioned.etag(record.version, record.digest),
        "Location": f"{kind.path}/{record.id}",
        "Content-Location": f"{kind.path}/{record.id}/versions/{record.version}",
    }


def _set_read(record: VersionRecord, settings: Settings) -> dict[str, Any]:
    body = _meta(record)
    body["document"] = json.loads(record.document)
    doc = versioned.parse_document(versioned.SETS, record.document)
    body["market_id"] = doc.market_id or versioned.default_market_id(record.id)
    body["leaves"] = None
    if doc.tree is not None:
        body["leaves"] = [
            {
                "name": s.name,
                "probability": s.probability,
                "level": s.level,
                "vol": s.vol,
                "description": s.description,
            }
            for s in _leaves(record, settings)
        ]
    return body


def _leaves(record: VersionRecord, settings: Settings) -> tuple[Scenario, ...]:
    """A tree set's leaves as priced on its default market (the spot the branches' levels
    are read at)."""
    spot = versioned.default_spot(record, lambda: _store(settings))
    return versioned.domain_set(record.document, spot).scenarios


def _market_read(record: VersionRecord, settings: Settings) -> dict[str, Any]:
    return {**_meta(record), "document": json.loads(record.document)}


def _set_summary(record: VersionRecord, settings: Settings) -> dict[str, Any]:
    doc = versioned.parse_document(versioned.SETS, record.document)
    if doc.tree is not None:  # a tree's scenarios are its leaves, as it is priced
        names = [s.name for s in _leaves(record, settings)]
    else:
        names = [s.name for s in doc.scenarios or ()]
    return {
        "id": record.id,
        "version": record.version,
        "etag": versioned.etag(record.version, record.digest),
        "name": record.name,
        "event_date": record.as_of,
        "scenario_names": names,
        "market_id": doc.market_id or versioned.default_market_id(record.id),
        "created_at": record.created_at,
        "created_by": record.created_by,
        "retired_at": record.retired_at,
        "read_only": record.created_by == versioned.BUILTIN_AUTHOR,
    }


def _market_summary(record: VersionRecord, settings: Settings) -> dict[str, Any]:
    doc = versioned.parse_document(versioned.MARKETS, record.document)
    return {
        "id": record.id,
        "version": record.version,
        "etag": versioned.etag(record.version, record.digest),
        "name": record.name,
        "valuation_date": record.as_of,
        "spot": doc.spot,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "retired_at": record.retired_at,
        "read_only": record.created_by == versioned.BUILTIN_AUTHOR,
    }


async def _body(http: Request, settings: Settings) -> Any:
    """The request body as JSON, refused with 413 over ``FXSCEN_MAX_DOCUMENT_BYTES``."""
    raw = await http.body()
    if len(raw) > settings.max_document_bytes:
        raise DomainError.field(
            "body",
            f"a document may be at most {settings.max_document_bytes} bytes "
            f"(FXSCEN_MAX_DOCUMENT_BYTES), got {len(raw)}",
            ErrorKind.TOO_LARGE,
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DomainError.field("body", f"is not JSON: {exc}") from exc


def versioned_router(
    kind: versioned.Kind[Any],
    *,
    singular: str,
    plural: str,
    path_param: str,
    write_schema: Any,
    read_schema: Any,
    summary_schema: Any,
    render: Any,
    summarise: Any,
    date_filter: str,
    tag: str,
) -> APIRouter:
    """The eight routes of one kind, with operation ids ``create_<singular>`` …"""
    router = APIRouter(tags=[tag])
    item = f"{kind.path}/{{{path_param}}}"
    Id = Annotated[
        str, Path(alias=path_param, max_length=100, description=f"The {kind.label}'s id.")
    ]

    def respond(record: VersionRecord, settings: Settings, status: int = 200) -> JSONResponse:
        return JSONResponse(
            render(record, settings), status_code=status, headers=_headers(kind, record)
        )

    @router.post(
        kind.path,
        operation_id=f"create_{singular}",
        status_code=201,
        response_model=read_schema,
        responses=_with_headers(201, 401, 403, 409, 413, 415, 422),
        summary=f"Create a {kind.label} (version 1)",
    )
    async def create(body: write_schema, http: Request, settings: SettingsDep) -> JSONResponse:
        raw = await _body(http, settings)
        author = principal_of(http.scope).name
        record = await run_in_threadpool(versioned.create, kind, _store(settings), raw, author)
        return respond(record, settings, 201)

    @router.get(
        kind.path,
        operation_id=f"list_{plural}",
        response_model=list[summary_schema],
        responses=problem_responses(401, 403, 422),
        summary=f"The latest version of every {kind.label}",
    )
    async def listing(
        settings: SettingsDep,
        name: Annotated[
            str | None, Query(max_length=200, description="Part of the name (any case).")
        ] = None,
        as_of: Annotated[
            dt.date | None,
            Query(alias=date_filter, description=f"Only those with this {date_filter}."),
        ] = None,
        include_retired: Annotated[bool, Query(description="Also retired ones.")] = False,
    ) -> JSONResponse:
        def rows() -> list[dict[str, Any]]:
            found = versioned.listing(
                kind,
                _store(settings),
                name_contains=name,
                as_of=as_of.isoformat() if as_of else None,
                include_retired=include_retired,
            )
            return [summarise(r, settings) for r in found]

        return JSONResponse(await run_in_threadpool(rows))

    @router.get(
        item,
        operation_id=f"get_{singular}",
        response_model=read_schema,
        responses=_with_headers(200, 401, 403, 404, 422),
        summary=f"The latest version of a {kind.label}",
    )
    async def get_latest(id: Id, settings: SettingsDep) -> JSONResponse:
        return respond(
            versioned.read(kind, lambda: _store(settings), id, None, path_param), settings
        )

    @router.get(
        item + "/versions",
        operation_id=f"list_{singular}_versions",
        response_model=list[read_schema],
        responses=problem_responses(401, 403, 404, 422),
        summary=f"Every version of a {kind.label}, oldest first: who, when, why, what changed",
    )
    async def versions(id: Id, settings: SettingsDep) -> JSONResponse:
        def rows() -> list[dict[str, Any]]:
            return [render(r, settings) for r in versioned.history(kind, _store(settings), id)]

        return JSONResponse(await run_in_threadpool(rows))

    @router.get(
        item + "/versions/{version}",
        operation_id=f"get_{singular}_version",
        response_model=read_schema,
        responses=_with_headers(200, 401, 403, 404, 422),
        summary=f"One version of a {kind.label} (immutable)",
    )
    async def one_version(id: Id, version: Version, settings: SettingsDep) -> JSONResponse:
        record = versioned.read(kind, lambda: _store(settings), id, version, "version")
        return respond(record, settings)

    @router.put(
        item,
        operation_id=f"replace_{singular}",
        response_model=read_schema,
        responses=_with_headers(200, 401, 403, 404, 409, 410, 412, 413, 415, 422, 428),
        summary=f"Write the next version of a {kind.label} (If-Match required)",
    )
    async def replace(
        id: Id,
        body: write_schema,
        http: Request,
        settings: SettingsDep,
        if_match: IfMatch = None,
    ) -> JSONResponse:
        raw = await _body(http, settings)
        author = principal_of(http.scope).name
        record = await run_in_threadpool(
            versioned.replace, kind, _store(settings), id, raw, if_match, author
        )
        return respond(record, settings)

    @router.patch(
        item,
        operation_id=f"patch_{singular}",
        response_model=read_schema,
        responses=_with_headers(200, 401, 403, 404, 409, 410, 412, 413, 415, 422, 428),
        summary=f"Change part of a {kind.label}: the next version (If-Match required)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    versioned.MERGE_PATCH: {
                        "schema": {"type": "object"},
                        "example": {"change_note": "a new name", "name": "desk view, revised"},
                    },
                    versioned.JSON_PATCH: {
                        "schema": _JSON_PATCH_SCHEMA,
                        "example": [
                            {"op": "replace", "path": "/scenarios/1/probability", "value": 0.25},
                            {"op": "replace", "path": "/scenarios/3/probability", "value": 0.30},
                            {"op": "add", "path": "/change_note", "value": "after the meeting"},
                        ],
                    },
                },
            }
        },
    )
    async def patch(
        id: Id, http: Request, settings: SettingsDep, if_match: IfMatch = None
    ) -> JSONResponse:
        raw = await _body(http, settings)
        media = (http.headers.get("content-type") or "").split(";")[0].strip().lower()
        author = principal_of(http.scope).name
        record = await run_in_threadpool(
            versioned.patch, kind, _store(settings), id, raw, media, if_match, author
        )
        return respond(record, settings)

    @router.delete(
        item,
        operation_id=f"retire_{singular}",
        status_code=204,
        response_class=Response,
        responses=problem_responses(401, 403, 404, 409, 410, 412, 422),
        summary=f"Retire a {kind.label}: no new versions; every version stays readable",
    )
    async def retire(
        id: Id, http: Request, settings: SettingsDep, if_match: IfMatch = None
    ) -> Response:
        author = principal_of(http.scope).name
        record = await run_in_threadpool(
            versioned.retire, kind, _store(settings), id, if_match, author
        )
        return Response(
            status_code=204, headers={"ETag": versioned.etag(record.version, record.digest)}
        )

    return router


sets_router = versioned_router(
    versioned.SETS,
    singular="scenario_set",
    plural="scenario_sets",
    path_param="scenario_set_id",
    write_schema=ScenarioSetWrite,
    read_schema=StoredScenarioSetRead,
    summary_schema=StoredSetSummary,
    render=_set_read,
    summarise=_set_summary,
    date_filter="event_date",
    tag="scenario sets",
)
markets_router = versioned_router(
    versioned.MARKETS,
    singular="market",
    plural="markets",
    path_param="market_id",
    write_schema=MarketWrite,
    read_schema=StoredMarketRead,
    summary_schema=StoredMarketSummary,
    render=_market_read,
    summarise=_market_summary,
    date_filter="valuation_date",
    tag="markets",
)
