"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from scenarios.catalog import builtin_catalog
from service import problems
from service.routes import calibrate, cds, health, paths, price, scenario_sets, vol_surface
from service.warmup import warm_up


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    builtin_catalog()  # load and validate the built-in data before the first request
    warm_up()  # compile the pricing kernel before the first request, not during it
    yield


def create_app() -> FastAPI:
    app = FastAPI(
        title="USD/JPY tariff-scenario pricing service",
        version="0.1.0",
        summary="Prices USD/JPY options under deal / no-deal scenario mixtures of the "
        "US–Japan auto-tariff talks.",
        lifespan=lifespan,
    )
    problems.install(app)
    for module in (health, scenario_sets, price, cds, paths, vol_surface, calibrate):
        app.include_router(module.router)
    return app
