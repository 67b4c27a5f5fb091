"""Liveness, readiness and the version and build being run."""

from __future__ import annotations

import logging
from importlib import metadata

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from service.deps import SettingsDep
from service.problems import PROBLEM_JSON, problem
from service.schemas.health import HealthRead, ReadinessRead
from service.versioned import store_at

log = logging.getLogger("service")

router = APIRouter(tags=["operations"])
_PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "Problem details (RFC 9457)"}


def _version() -> str:
    try:
        return metadata.version("tariff-scenario-pricer")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


VERSION = _version()


@router.get("/v1/health", operation_id="health", response_model=HealthRead)
async def health(settings: SettingsDep) -> HealthRead:
    """Liveness: 200 while the process serves requests, start-up included; which version
    and build it runs. A probe that restarts the process on failure belongs here."""
    return HealthRead(status="ok", version=VERSION, build=settings.build)


@router.get(
    "/v1/ready",
    operation_id="ready",
    response_model=ReadinessRead,
    responses={
        503: {
            **_PROBLEM,
            "description": "Start-up is not done, or the store does not answer (RFC 9457 problem)",
        }
    },
)
async def ready(request: Request, settings: SettingsDep) -> ReadinessRead | JSONResponse:
    """Readiness: 200 once start-up (loading the catalogue, compiling the pricing kernels,
    migrating the store) is done and the store answers; 503 with a problem body before, or
    while the store (a PostgreSQL server, say) cannot be reached. A load balancer sends
    traffic only on 200."""
    if not request.app.state.ready:
        return problem(
            503,
            "not-ready",
            "Not ready",
            [],
            "start-up is not done: the catalogue is loading or the kernels are compiling",
        )
    store = store_at(settings.database_url)
    try:
        revision = await run_in_threadpool(store.revision)
    except SQLAlchemyError as exc:
        log.warning("readiness: the store does not answer: %s", type(exc).__name__)
        return problem(
            503, "not-ready", "Not ready", [], f"the store ({store.backend}) does not answer"
        )
    return ReadinessRead(
        status="ready", version=VERSION, build=settings.build, store=store.backend,
        store_revision=revision or "",
    )  # fmt: skip
