"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from scenarios.catalog import builtin_catalog
from service import problems
from service.deps import current_settings
from service.price_lane import LaneStats, PriceLane
from service.response_cache import ResponseCache
from service.routes import calibrate, cds, health, paths, price, scenario_sets, vol_surface
from service.settings import Settings, get_settings
from service.warmup import warm_up


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    builtin_catalog()  # load and validate the built-in data before the first request
    warm_up()  # compile the pricing kernel before the first request, not during it
    # What start-up built (modules, compiled kernels, the catalogue: ~10⁶ objects) stays for
    # the life of the process: freezing it keeps the collector's full passes, which walk every
    # tracked object, from stalling requests (p99 of a valued one-option price: 21 → ? ms).
    gc.collect()
    gc.freeze()
    yield


class PricingService(FastAPI):
    """FastAPI with :class:`~service.price_lane.PriceLane` in front of its whole stack.

    The lane sees each request first, outside the framework's middleware: a ``POST
    /v1/price`` it answers (from the cache, or valued) costs no framework layer; everything
    else, and anything the lane does not answer, goes through the full stack unchanged.
    """

    lane: PriceLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.lane is None:
            await super().__call__(scope, receive, send)
        else:
            await self.lane(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service; ``settings`` (default: from the environment) also reach every route."""
    app = PricingService(
        title="USD/JPY tariff-scenario pricing service",
        version="0.1.0",
        summary="Prices USD/JPY options under deal / no-deal scenario mixtures of the "
        "US–Japan auto-tariff talks.",
        lifespan=lifespan,
    )
    problems.install(app)
    if settings is not None:
        app.dependency_overrides[current_settings] = lambda: settings
    settings = settings or get_settings()
    app.state.price_cache = ResponseCache(settings.response_cache_bytes)
    app.state.price_lane = LaneStats()
    app.lane = PriceLane(
        super(PricingService, app).__call__,
        cache=app.state.price_cache,
        settings=settings,
        path="/v1/price",
        stats=app.state.price_lane,
    )
    for module in (health, scenario_sets, price, cds, paths, vol_surface, calibrate):
        app.include_router(module.router)
    return app
