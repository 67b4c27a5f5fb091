"""Vol surfaces of a scenario set: the market's, each scenario's, and their mixture's."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from scenarios.surface_view import vol_surface_view
from service.problems import PROBLEM_JSON
from service.schemas.vol_surface import (
    VolSurfaceRequest,
    VolSurfaceResponse,
    vol_surface_response,
)

router = APIRouter(tags=["vol surfaces"])
_PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "Problem details (RFC 9457)"}


@router.post(
    "/v1/vol-surface",
    response_model=VolSurfaceResponse,
    responses={404: _PROBLEM, 422: _PROBLEM},
)
async def vol_surface(request: VolSurfaceRequest) -> JSONResponse:
    """The smile by tenor of the market, of each scenario, and of their mixture.

    Each comes as ATM, risk reversals and butterflies (broker and smile) at the requested
    deltas in the market's conventions, as vols on a strike grid, and as the density of spot
    at expiry on the same grid. A scenario's smile is the one its component of the mixture
    carries — the pre-event diffusion, the jump to its level, then its post-event smile (its
    own quotes, a shift of the market's, or its flat vol). The mixture's is its price
    inverted and quoted back: a single event bends it into a "W" near the event date and
    kinks the ATM term structure there. The arbitrage report covers the market's surface,
    each scenario's post-event surface and the mixture's densities and calendar.
    """
    scenario_set, market = request.resolve()
    # ~0.1–1 s of solves: off the event loop so other requests keep being served
    view = await run_in_threadpool(
        vol_surface_view,
        market=market,
        scenario_set=scenario_set,
        tenors=request.tenors,
        strikes=request.strike_grid(market.spot),
        deltas=request.deltas,
        measure=request.measure,
    )
    return JSONResponse(vol_surface_response(scenario_set, market, view))
