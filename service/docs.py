"""``/docs`` (Swagger UI) and ``/redoc`` from assets the service serves itself.

FastAPI's pages load their JavaScript and CSS from a CDN, so on a desk machine without
internet they are blank. Here every script, style sheet and icon comes from
``/docs-assets`` (under the ASGI ``root_path``, so behind a proxy too): the files the
``fastapi-offline`` package ships — Swagger UI 5 (Apache-2.0) and ReDoc 2's standalone
bundle (MIT) — read from its installed package. The app is built with ``docs_url=None``
and ``redoc_url=None``; :func:`install` adds these pages instead.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
_FILES = files("fastapi_offline") / "static"


def install(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets (module docstring)."""
    app.mount(ASSETS, StaticFiles(directory=str(_FILES)), name="docs-assets")
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} — Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} — ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
