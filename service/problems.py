"""One error shape for every failure: RFC 9457 ``application/problem+json``.

Body: ``{"type", "title", "status", "detail", "errors": [{"field", "reason"}]}``
(:class:`Problem`, the schema the OpenAPI document gives every error response). Domain
errors, request-schema errors (pydantic's ``loc`` rewritten as the same field path, e.g.
``instruments[0].strike``), refused bodies (:mod:`service.request_guard`), unknown routes
and anything unexpected all leave in this shape.

``field`` is a path into the request body (``instruments[0].strike``), ``body`` for the
body as a whole (too large, malformed JSON), ``content-type`` for that header, and
``path`` only for the URL path (no route, or a route that does not take the method).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from scenarios.errors import DomainError, ErrorKind
from scenarios.errors import FieldError as DomainFieldError
from service.request_context import current_request_id

PROBLEM_JSON = "application/problem+json"
_BASE = "https://fxscen.dev/problems/"
_STATUS = {
    ErrorKind.INVALID: 422,
    ErrorKind.NO_MEASURE: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.GONE: 410,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.PRECONDITION_FAILED: 412,
    ErrorKind.PRECONDITION_REQUIRED: 428,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_ACCEPTABLE: 406,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: 415,
}
_TITLES = {
    ErrorKind.INVALID: "Invalid request",
    ErrorKind.NO_MEASURE: "No risk-neutral measure",
    ErrorKind.NOT_FOUND: "Not found",
    ErrorKind.CONFLICT: "Conflict",
    ErrorKind.GONE: "Gone",
    ErrorKind.TOO_LARGE: "Content too large",
    ErrorKind.PRECONDITION_FAILED: "Precondition failed",
    ErrorKind.PRECONDITION_REQUIRED: "Precondition required",
    ErrorKind.UNAUTHORIZED: "Unauthorized",
    ErrorKind.FORBIDDEN: "Forbidden",
    ErrorKind.NOT_ACCEPTABLE: "Not acceptable",
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: "Unsupported media type",
}
log = logging.getLogger("service")
# member tags of the discriminated unions in the schemas (service.schemas.price)
_UNION_TAGS = frozenset(
    {"fx", "cds", "path", "barrier", "one_touch", "no_touch", "double_no_touch"}
    | {"double_one_touch", "double_barrier", "kiko", "koki"}
)


class FieldError(BaseModel):
    """One broken rule: where (``field``) and what (``reason``)."""

    field: str = Field(
        description="Path into the request: `instruments[0].strike`; `body` for the whole "
        "body, `content-type` for that header, `path` for the URL path.",
        examples=["instruments[0].strike"],
    )
    reason: str = Field(examples=["must be > 0, got -1.0"])


class Problem(BaseModel):
    """RFC 9457 problem details with an ``errors`` extension: every error response."""

    type: str = Field(examples=["https://fxscen.dev/problems/invalid"])
    title: str = Field(examples=["Invalid request"])
    status: int = Field(description="The HTTP status, repeated.", examples=[422])
    detail: str = Field(description="The errors as one line of text.")
    errors: list[FieldError]
    request_id: str | None = Field(
        default=None, description="The request's id, as in its `X-Request-ID` header."
    )


# what each status means for a client; every operation declares those it can send
_RESPONSES = {
    201: "Created: version 1 of the resource (`Location` and `ETag` headers name it).",
    401: "No API key, or one that is not valid or is revoked: send `Authorization: Bearer "
    "<token>` (`FXSCEN_AUTH` says which requests need one); `field` is `Authorization`.",
    403: "The key's role does not allow this request (`reader` < `writer` < `admin`).",
    404: "Not found: an id the request names (e.g. `scenario_set_id`) is not known.",
    406: "Not acceptable: none of the media types `Accept` names can be sent (the response "
    "lists those that can); `field` is `accept`.",
    409: "Conflict: the id is taken, or names a built-in (read-only) resource.",
    410: "Gone: the resource was retired; its versions stay readable by number (pin "
    "`scenario_set_version` / `market_version` to price on one).",
    412: "Precondition failed: `If-Match` names a version that is no longer the latest.",
    428: "Precondition required: send `If-Match` with the `ETag` of the version this write is "
    "based on.",
    413: "The body is larger than the service accepts (`FXSCEN_MAX_BODY_BYTES`); `field` is "
    "`body`. Sent as soon as the size is known, before the rest is read.",
    415: "The body is not JSON: send `Content-Type: application/json`; `field` is `content-type`.",
    422: "The request breaks a rule: malformed JSON (the reason gives line and column), a "
    "duplicate key, nesting deeper than the service accepts, or a schema or domain rule; "
    "each error names its field.",
    503: "The service could not answer in time (deadline), is overloaded, or its store does "
    "not answer (`field` `store`): retry later "
    "(`Retry-After`).",
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: each of ``statuses`` as a :class:`Problem`."""
    return {
        status: {
            "description": _RESPONSES[status],
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
        }
        for status in statuses
    }


def problem_body(
    status: int, kind: str, title: str, errors: Sequence[dict[str, str]], detail: str = ""
) -> dict[str, Any]:
    """The RFC 9457 body with our ``errors`` extension member, and ``request_id`` (the
    ``X-Request-ID`` of the request it answers) when there is a request."""
    body: dict[str, Any] = {
        "type": _BASE + kind,
        "title": title,
        "status": status,
        "detail": detail or "; ".join(f"{e['field']}: {e['reason']}" for e in errors),
        "errors": list(errors),
    }
    request_id = current_request_id()
    if request_id is not None:  # None in the CLI's fxscen price, which serves no request
        body["request_id"] = request_id
    return body


def problem(
    status: int, kind: str, title: str, errors: Sequence[dict[str, str]], detail: str = ""
) -> JSONResponse:
    body = problem_body(status, kind, title, errors, detail)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def domain_problem(exc: DomainError) -> dict[str, Any]:
    return problem_body(
        _STATUS[exc.kind],
        exc.kind.value.replace("_", "-"),
        _TITLES[exc.kind],
        [{"field": e.field, "reason": e.reason} for e in exc.errors],
    )


def validation_problem(errors: Sequence[Any]) -> dict[str, Any]:
    """Pydantic errors as one problem body, ``loc`` rewritten as a field path."""
    rows = [{"field": e.field, "reason": e.reason} for e in validation_errors(errors)]
    return problem_body(422, "invalid", "Invalid request", rows)


def validation_errors(errors: Sequence[Any]) -> list[DomainFieldError]:
    """Pydantic errors as domain field errors: ``loc`` a field path, a short reason."""
    rows = []
    for err in errors:
        reason = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        if err.get("type") == "missing":
            reason = "is required"
        elif "input" in err and err.get("type") != "json_invalid":
            reason = f"{reason}, got {_short(err['input'])}"
        loc = tuple(err.get("loc", ()))
        if len(loc) >= 2 and loc[-1] == "[key]":  # a mapping's key: name the mapping
            loc, reason = loc[:-2], f"has a bad key {_short(loc[-2])}: {reason}"
        rows.append(DomainFieldError(field_path(loc), reason))
    return rows


def field_path(loc: Sequence[str | int]) -> str:
    """``("body", "instruments", 0, "strike")`` → ``instruments[0].strike``."""
    path = ""
    previous: str | int | None = None
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path") else loc:
        after_index = isinstance(previous, int) or previous in _UNION_TAGS
        previous = part
        if after_index and part in _UNION_TAGS:
            continue  # a tagged-union member name, not a field of the request
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("function-after", "function-before", "function-plain"):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into a problem response."""

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, exc: DomainError) -> JSONResponse:
        body = domain_problem(exc)
        return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_problem(exc.errors()), 422, media_type=PROBLEM_JSON)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, *_http_problem(request, exc))
        for name, value in (exc.headers or {}).items():  # 405's Allow among them
            response.headers[name] = value
        return response

    _register_problem_schema(app)

    @app.exception_handler(DBAPIError)
    async def on_store_down(request: Request, exc: DBAPIError) -> JSONResponse:
        # the database did not answer (a PostgreSQL server restarting, a full disk): the
        # request may succeed later; no figure was computed from a half-read store
        log.warning("store error on %s: %s", request.url.path, type(exc.orig).__name__)
        response = problem(
            503,
            "store-unavailable",
            "Store unavailable",
            [{"field": "store", "reason": "the store does not answer; retry shortly"}],
        )
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem(500, "internal", "Internal error", [], "an unexpected error; it is logged")


def _http_problem(
    request: Request, exc: StarletteHTTPException
) -> tuple[str, str, list[dict[str, str]]]:
    """(kind, title, errors) of a framework HTTP error: routing's 404 and 405 are about the
    URL path; anything else the framework refuses (a body it could not read) is the body."""
    method, path = request.method, request.url.path
    if exc.status_code == 404:
        return "not-found", "Not found", [{"field": "path", "reason": f"no route {path}"}]
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        reason = f"the route {path} does not take {method}; it takes {allowed}"
        return "method-not-allowed", "Method not allowed", [{"field": "path", "reason": reason}]
    return "http-error", str(exc.detail), [{"field": "body", "reason": str(exc.detail)}]


def _register_problem_schema(app: FastAPI) -> None:
    """Add :class:`Problem` to the OpenAPI components, where ``problem_responses`` point,
    and give it to any ``application/problem+json`` response declared without a schema."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if PROBLEM_JSON in content and "schema" not in content[PROBLEM_JSON]:
                        content[PROBLEM_JSON]["schema"] = dict(_PROBLEM_REF)
        schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(schema.pop("$defs", {}))
        schemas["Problem"] = schema
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook
