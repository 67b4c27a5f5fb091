"""The scenario probabilities the option market implies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.requests import Request

from scenarios.calibration.fit import calibrate
from service.cost import calibrate_work, check_budget
from service.deps import SettingsDep
from service.offload import off_loop
from service.problems import problem_responses
from service.schemas.calibrate import CalibrateRequest, CalibrateResponse, calibrate_response

router = APIRouter(tags=["calibration"])


@router.post(
    "/v1/calibrate",
    response_model=CalibrateResponse,
    operation_id="calibrate",
    responses=problem_responses(404, 413, 415, 422, 503),
)
async def calibrate_weights(
    request: CalibrateRequest, settings: SettingsDep, http: Request
) -> JSONResponse:
    """What deal probability is the option market pricing? The implied scenario weights.

    Fits the weights q (q ≥ 0, Σ q = 1, Σ q·J = 1, so the mixture forward is the market's)
    to quotes after the event — ATM/RR/BF by tenor (by default the market surface's own
    pillars after the event) and/or option vols at strikes — and reports them beside the
    analyst's probabilities and the prior measure, with each quote's fit in vol points.
    Scenarios the quotes cannot tell apart (to within `vol_tolerance` for a shift of
    `probability_resolution`) are named, with the range each weight may take and the
    group's total where it is known, rather than an arbitrary split; a scenario the fit puts
    at zero weight is counted apart ("2 of 5 scenarios carry weight; 2 identified").
    Optionally refits the post-event levels and vols in an outer loop, held near the
    analyst's by `prior_weight`.

    `fit` chooses what else is solved for: one common jump scale κ (ln J_i → κ·ln J_i, the
    measure re-solved from the analyst's p), one common post-event vol factor, or a stated
    combination with the probabilities. `status` is `fits` only when every quote's residual
    is within its tolerance (`fit_tolerances`); otherwise `does_not_fit`, and `reasons` name
    the worst misses and how the jumps' event variance compares with what the market's ATM
    term structure holds for the decision. `fit.converged` is the optimisers' own flag only.
    `fitted_set` is the set after the fit in the shape `scenario_set` takes: paste it into
    `/v1/price` to price under it.

    A decision tree (`scenario_set.tree`, fit `probabilities`) is fitted node by node: each
    node's branch weights q with Σ q = 1 and Σ q·J = 1 at that node, the leaves weighing Π q,
    to quotes between the decisions and after them. `nodes` reports each node's q beside
    the analyst's p, and says where the quotes cannot fix a node's split (quotes only after
    a later decision whose leaves coincide with earlier ones) with each branch's range;
    `fitted_set` is the tree with each branch's probability its fitted q.
    """
    work = calibrate_work(request)
    check_budget(work, settings, "/v1/calibrate")

    def whole() -> dict[str, Any]:
        context = request.resolve(settings)
        scenario_set, market = context.scenario_set, context.market
        options, option_dates = request.domain_options(market)
        calibration = calibrate(
            market=market,
            scenario_set=scenario_set,
            quotes=request.domain_quotes(market),
            options=options,
            option_dates=option_dates,
            measure=request.measure,
            settings=request.settings(),
        )
        return calibrate_response(scenario_set, market, calibration, context.sources_json())

    # ~0.1 s of solves (a few seconds with a refit): off the event loop
    return JSONResponse(
        await off_loop(http, whole, units=work.units, settings=settings, route="/v1/calibrate")
    )
