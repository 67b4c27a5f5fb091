"""One error shape for every failure: RFC 9457 ``application/problem+json``.

Body: ``{"type", "title", "status", "detail", "errors": [{"field", "reason"}]}``. Domain
errors, request-schema errors (pydantic's ``loc`` rewritten as the same field path, e.g.
``instruments[0].strike``), unknown routes and anything unexpected all leave in this shape.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from scenarios.errors import DomainError, ErrorKind

PROBLEM_JSON = "application/problem+json"
_BASE = "https://fxscen.dev/problems/"
_STATUS = {
    ErrorKind.INVALID: 422,
    ErrorKind.NO_MEASURE: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
}
_TITLES = {
    ErrorKind.INVALID: "Invalid request",
    ErrorKind.NO_MEASURE: "No risk-neutral measure",
    ErrorKind.NOT_FOUND: "Not found",
    ErrorKind.CONFLICT: "Conflict",
}
log = logging.getLogger("service")
# member tags of the discriminated unions in the schemas (service.schemas.price)
_UNION_TAGS = frozenset(
    {"fx", "cds", "path", "barrier", "one_touch", "no_touch", "double_no_touch"}
)


def problem_body(
    status: int, kind: str, title: str, errors: Sequence[dict[str, str]], detail: str = ""
) -> dict[str, Any]:
    """The RFC 9457 body with our ``errors`` extension member."""
    return {
        "type": _BASE + kind,
        "title": title,
        "status": status,
        "detail": detail or "; ".join(f"{e['field']}: {e['reason']}" for e in errors),
        "errors": list(errors),
    }


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
    rows = []
    for err in errors:
        reason = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        if err.get("type") == "missing":
            reason = "is required"
        elif "input" in err and err.get("type") != "json_invalid":
            reason = f"{reason}, got {_short(err['input'])}"
        rows.append({"field": field_path(err.get("loc", ())), "reason": reason})
    return problem_body(422, "invalid", "Invalid request", rows)


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
        kind = "not-found" if exc.status_code == 404 else "http-error"
        return problem(
            exc.status_code,
            kind,
            str(exc.detail),
            [{"field": "path", "reason": f"{request.url.path}: {exc.detail}"}],
        )

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem(500, "internal", "Internal error", [], "an unexpected error; it is logged")
