"""Monte Carlo paths of USD/JPY under a scenario set: the fan chart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.requests import Request

from scenarios.paths.simulation import simulate_paths
from service.cost import check_budget, paths_work
from service.deps import SettingsDep
from service.offload import off_loop
from service.problems import problem_responses
from service.schemas.paths import PathsRequest, PathsResponse, paths_response, to_path_job

router = APIRouter(tags=["paths"])


@router.post(
    "/v1/paths",
    response_model=PathsResponse,
    operation_id="simulate_paths",
    responses=problem_responses(404, 413, 415, 422, 503),
)
async def paths(request: PathsRequest, settings: SettingsDep, http: Request) -> JSONResponse:
    """Simulate USD/JPY to a horizon: a fan chart that splits at the decision date.

    Lognormal diffusion around the market forward with the ATM curve's vols before the event
    and each scenario's vol after it; at the event date every path draws a scenario — with q
    (``risk_neutral``, default: the mean stays on the market forward) or with the analyst's p
    (``real_world``, labelled so in the response) — and jumps to its level. Returns quantile
    bands per date overall and per scenario, the simulated mean against the forward with its
    standard error, the probability of finishing above / below each level, the paths drawn
    per scenario and a few whole sample paths. The seed is echoed: the same request gives the
    same numbers. Runs on a worker thread: simulations take milliseconds to seconds, and the
    event loop stays free; a client that disconnects stops the simulation.
    """
    work = paths_work(request)
    check_budget(work, settings, "/v1/paths")

    def whole() -> dict[str, Any]:
        job = to_path_job(request, settings)
        simulation = simulate_paths(
            market=job.market, scenario_set=job.scenario_set, request=job.request
        )
        return paths_response(job, simulation)

    return JSONResponse(
        await off_loop(http, whole, units=work.units, settings=settings, route="/v1/paths")
    )
