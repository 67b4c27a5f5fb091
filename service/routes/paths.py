"""Monte Carlo paths of USD/JPY under a scenario set: the fan chart."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from scenarios.paths import simulate_paths
from service.deps import SettingsDep
from service.problems import PROBLEM_JSON
from service.schemas.paths import PathsRequest, PathsResponse, paths_response, to_path_job

router = APIRouter(tags=["paths"])
_PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "Problem details (RFC 9457)"}


@router.post("/v1/paths", response_model=PathsResponse, responses={404: _PROBLEM, 422: _PROBLEM})
def paths(request: PathsRequest, settings: SettingsDep) -> JSONResponse:
    """Simulate USD/JPY to a horizon: a fan chart that splits at the decision date.

    Lognormal diffusion around the market forward with the ATM curve's vols before the event
    and each scenario's vol after it; at the event date every path draws a scenario — with q
    (``risk_neutral``, default: the mean stays on the market forward) or with the analyst's p
    (``real_world``, labelled so in the response) — and jumps to its level. Returns quantile
    bands per date overall and per scenario, the simulated mean against the forward with its
    standard error, the probability of finishing above / below each level, the paths drawn
    per scenario and a few whole sample paths. The seed is echoed: the same request gives the
    same numbers. Runs on a worker thread (a sync handler): simulations take milliseconds to
    seconds, and the event loop stays free.
    """
    job = to_path_job(request, settings)
    simulation = simulate_paths(
        market=job.market, scenario_set=job.scenario_set, request=job.request
    )
    return JSONResponse(paths_response(job, simulation))
