"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pricing.cancellation import Cancelled
from scenarios.catalog import builtin_catalog
from service import docs, observer, problems
from service.auth import AuthGate, first_admin_key
from service.deps import current_settings
from service.jobs.runner import JobRunner
from service.metrics import LaneStats
from service.offload import HeavyLimiter, LargeBodies, on_cancelled
from service.price_lane import PriceLane
from service.pricing_service import PricingService
from service.request_guard import RequestGuard, Uploads
from service.response_cache import ResponseCache
from service.routes import (
    calibrate,
    cds,
    health,
    jobs,
    page,
    paths,
    price,
    scenario_sets,
    vol_surface,
)
from service.settings import Settings, get_settings
from service.versioned import store_at
from service.warmup import warm_up


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    builtin_catalog()  # load and validate the built-in data before the first request
    store = store_at(app.state.settings.database_url)  # open the store, run its migrations
    first_admin_key(store, app.state.settings)  # FXSCEN_ADMIN_TOKEN, once
    warm_up()  # compile the pricing kernel before the first request, not during it
    # What start-up built (modules, compiled kernels, the catalogue: ~10⁶ objects) stays for
    # the life of the process: freezing it keeps the collector's full passes, which walk every
    # tracked object, from stalling requests (p99 of a valued one-option price: 21 → ? ms).
    gc.collect()
    gc.freeze()
    runner = None
    if app.state.settings.job_runner:  # batch jobs queued in the store (service.jobs.runner)
        settings = app.state.settings
        runner = JobRunner(store_at(settings.database_url), settings.dask_scheduler)
        runner.start()
    app.state.job_runner = runner
    app.state.ready = True  # GET /v1/ready answers 200 from here on
    yield
    if runner is not None:
        runner.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service; ``settings`` (default: from the environment) also reach every route."""
    app = PricingService(
        title="USD/JPY tariff-scenario pricing service",
        version="0.1.0",
        summary="Prices USD/JPY options under deal / no-deal scenario mixtures of the "
        "US–Japan auto-tariff talks.",
        lifespan=lifespan,
        docs_url=None,  # service.docs serves /docs and /redoc from local assets
        redoc_url=None,
    )
    problems.install(app)
    docs.install(app)
    if settings is not None:
        app.dependency_overrides[current_settings] = lambda: settings
    settings = settings or get_settings()
    app.state.settings = settings
    app.state.price_cache = ResponseCache(settings.response_cache_bytes)
    app.state.price_lane = LaneStats()
    app.state.heavy_limiter = HeavyLimiter(settings.heavy_workers)
    lane = PriceLane(
        super(PricingService, app).__call__,
        cache=app.state.price_cache,
        settings=settings,
        path="/v1/price",
        stats=app.state.price_lane,
    )
    # body limits before anything reads a body in full (service.request_guard)
    guarded = RequestGuard(
        LargeBodies(
            lane, threshold=settings.offload_body_bytes, threads=settings.large_body_threads
        ),
        max_body_bytes=settings.max_body_bytes,
        max_depth=settings.max_json_depth,
    )
    # a book upload streams to disk under its own limit (service.routes.jobs), past the guard
    uploads = Uploads(guarded, super(PricingService, app).__call__, path="/v1/books")
    app.entry = AuthGate(uploads, settings)
    app.add_exception_handler(Cancelled, on_cancelled)
    app.state.ready = False  # until the lifespan's start-up is done
    observer.install(app, settings)  # request ids, metrics, access log: outermost
    app.include_router(health.router)
    app.include_router(page.router)
    app.include_router(scenario_sets.sets_router)
    app.include_router(scenario_sets.markets_router)
    for module in (price, cds, paths, vol_surface, calibrate, jobs):
        app.include_router(module.router)
    return app
