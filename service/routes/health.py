"""Liveness, readiness and the version and build being run."""

from __future__ import annotations

from importlib import metadata

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.deps import SettingsDep
from service.problems import PROBLEM_JSON, problem
from service.schemas.health import HealthRead, ReadinessRead

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
    responses={503: {**_PROBLEM, "description": "Start-up is not done (RFC 9457 problem)"}},
)
async def ready(request: Request, settings: SettingsDep) -> ReadinessRead | JSONResponse:
    """Readiness: 200 once start-up (loading the catalogue, compiling the pricing kernels)
    is done, 503 with a problem body before. A load balancer sends traffic only on 200."""
    if not request.app.state.ready:
        return problem(
            503,
            "not-ready",
            "Not ready",
            [],
            "start-up is not done: the catalogue is loading or the kernels are compiling",
        )
    return ReadinessRead(status="ready", version=VERSION, build=settings.build)
