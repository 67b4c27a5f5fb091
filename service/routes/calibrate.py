"""The scenario probabilities the option market implies."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from scenarios.calibration import calibrate
from service.problems import PROBLEM_JSON
from service.schemas.calibrate import CalibrateRequest, CalibrateResponse, calibrate_response

router = APIRouter(tags=["calibration"])
_PROBLEM = {"content": {PROBLEM_JSON: {}}, "description": "Problem details (RFC 9457)"}


@router.post(
    "/v1/calibrate",
    response_model=CalibrateResponse,
    responses={404: _PROBLEM, 422: _PROBLEM},
)
async def calibrate_weights(request: CalibrateRequest) -> JSONResponse:
    """What deal probability is the option market pricing? The implied scenario weights.

    Fits the weights q (q ≥ 0, Σ q = 1, Σ q·J = 1, so the mixture forward is the market's)
    to quotes after the event — ATM/RR/BF by tenor (by default the market surface's own
    pillars after the event) and/or option vols at strikes — and reports them beside the
    analyst's probabilities and the prior measure, with each quote's fit in vol points.
    Scenarios the quotes cannot tell apart (to within `vol_tolerance` for a shift of
    `probability_resolution`) are named, with the range each weight may take and the
    group's total where it is known, rather than an arbitrary split. Optionally refits the
    post-event levels and vols in an outer loop, held near the analyst's by `prior_weight`.
    """
    scenario_set, market = request.resolve()
    options, option_dates = request.domain_options(market)
    quotes = request.domain_quotes(market)
    # ~0.1 s of solves (a few seconds with a refit): off the event loop
    calibration = await run_in_threadpool(
        calibrate,
        market=market,
        scenario_set=scenario_set,
        quotes=quotes,
        options=options,
        option_dates=option_dates,
        measure=request.measure,
        settings=request.settings(),
    )
    return JSONResponse(calibrate_response(scenario_set, market, calibration))
