"""Vol surfaces of a scenario set: the market's, each scenario's, and their mixture's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.requests import Request

from scenarios.vol.surface_view import vol_surface_view
from service.cost import check_budget, vol_surface_work
from service.deps import SettingsDep
from service.offload import off_loop
from service.problems import problem_responses
from service.schemas.vol_surface import (
    VolSurfaceRequest,
    VolSurfaceResponse,
    vol_surface_response,
)

router = APIRouter(tags=["vol surfaces"])


@router.post(
    "/v1/vol-surface",
    response_model=VolSurfaceResponse,
    operation_id="vol_surface",
    responses=problem_responses(404, 413, 415, 422, 503),
)
async def vol_surface(
    request: VolSurfaceRequest, settings: SettingsDep, http: Request
) -> JSONResponse:
    """The smile by tenor of the market, of each scenario, and of their mixture.

    Each comes as ATM, risk reversals and butterflies (broker and smile) at the requested
    deltas in the market's conventions, as vols on a strike grid, and as the density of spot
    at expiry on the same grid. A scenario's smile is the one its component of the mixture
    carries — the pre-event diffusion, the jump to its level, then its post-event smile (its
    own quotes, a shift of the market's, or its flat vol). The mixture's is its price
    inverted and quoted back: a single event bends it into a "W" near the event date and
    kinks the ATM term structure there. The arbitrage report covers the market's surface,
    each scenario's post-event surface and the mixture's densities and calendar. With
    `fit_to_market` the set is first fitted to the market's own pillars after the event (as
    `/v1/calibrate` with that `fit`), the surfaces are the fitted set's, and the response
    reports the fitted set and whether it fits.
    """
    work = vol_surface_work(request)
    check_budget(work, settings, "/v1/vol-surface")

    def whole() -> dict[str, Any]:
        scenario_set, market, market_fit, context = request.resolve_fitted(settings)
        view = vol_surface_view(
            market=market,
            scenario_set=scenario_set,
            tenors=request.tenors,
            strikes=request.strike_grid(market.spot),
            deltas=request.deltas,
            measure=request.measure,
        )
        return vol_surface_response(scenario_set, market, view, market_fit, context.sources_json())

    # ~0.1–1 s of solves (and smile fits of an inline market): off the event loop
    return JSONResponse(
        await off_loop(http, whole, units=work.units, settings=settings, route="/v1/vol-surface")
    )
