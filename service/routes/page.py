"""The desk's page (:mod:`service.page`): ``/`` and ``/page/v1/`` serve it, ``/page/v1/<asset>``
its files. Not API operations: they stay out of the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from scenarios.errors import DomainError, ErrorKind

router = APIRouter(include_in_schema=False)

ASSETS = Path(__file__).resolve().parents[1] / "page" / "assets"
_FILES = {
    "index.html": (ASSETS / "index.html", "text/html; charset=utf-8"),
    "page.js": (ASSETS / "page.js", "text/javascript; charset=utf-8"),
    "page.css": (ASSETS / "page.css", "text/css; charset=utf-8"),
    # Plotly.js's scatter-and-bar bundle, vendored from npm (service/page/vendor/), MIT
    "plotly-basic.min.js": (ASSETS / "plotly-basic.min.js", "text/javascript; charset=utf-8"),
    "plotly-basic.LICENSE": (ASSETS / "plotly-basic.LICENSE", "text/plain; charset=utf-8"),
}


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/page/v1/", status_code=307)


@router.get("/page/v1/")
async def page() -> FileResponse:
    return _file("index.html")


@router.get("/page/v1/{name}")
async def asset(name: str) -> FileResponse:
    return _file(name)


def _file(name: str) -> FileResponse:
    found = _FILES.get(name)
    if found is None:
        raise DomainError.field("name", f"no page asset {name!r}", ErrorKind.NOT_FOUND)
    path, media = found
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})
