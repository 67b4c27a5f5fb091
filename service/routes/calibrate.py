"""The scenario probabilities the option market implies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.requests import Request

from scenarios.calibration.fit import calibrate
from scenarios.errors import DomainError, ErrorKind
from service import versioned
from service.auth import Principal, principal_of
from service.cost import calibrate_work, check_budget
from service.deps import SettingsDep
from service.offload import off_loop
from service.problems import problem_responses
from service.schemas.calibrate import CalibrateRequest, CalibrateResponse, calibrate_response
from service.schemas.context import Context
from service.settings import AuthMode, Settings
from store.keys import Role

router = APIRouter(tags=["calibration"])


def save(
    request: CalibrateRequest,
    context: Context,
    body: dict[str, Any],
    settings: Settings,
    principal: Principal,
) -> dict[str, Any]:
    """Store the response's fitted set (``request.save``) and say where it went."""
    assert request.save is not None
    if settings.auth is not AuthMode.OFF and not (
        principal.role is not None and principal.role.allows(Role.WRITER)
    ):
        kind = ErrorKind.UNAUTHORIZED if principal.role is None else ErrorKind.FORBIDDEN
        raise DomainError.field(
            "Authorization", "save needs a writer key: send Authorization: Bearer <token>", kind
        )
    if body["fitted_set"] is None:
        raise DomainError.field("save", f"there is no fitted set: {body['fitted_set_note']}")
    target = request.save.scenario_set_id or request.scenario_set_id
    if target is None:
        raise DomainError.field(
            "save.scenario_set_id", "is required when the set calibrated is inline"
        )
    if context.market_ref is None:
        raise DomainError.field(
            "save", "the market is inline: calibrate on a stored or built-in market (market_id)"
        )
    record = versioned.save_fitted(
        versioned.store_at(settings.database_url),
        body["fitted_set"],
        target=target,
        calibrated=context.set_record,
        market=context.market_ref,
        author=principal.name,
        note=request.save.change_note,
    )
    return {
        "id": record.id,
        "version": record.version,
        "etag": versioned.etag(record.version, record.digest),
        "location": f"/v1/scenario-sets/{record.id}/versions/{record.version}",
    }


@router.post(
    "/v1/calibrate",
    response_model=CalibrateResponse,
    operation_id="calibrate",
    responses=problem_responses(401, 403, 404, 409, 410, 412, 413, 415, 422, 503),
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

    With `save`, the fitted set is stored in the same call as the next version of the stored
    set calibrated (refused with 412 if that version is no longer the latest) or as a new
    set, keeping its market and credit market; `saved` names the version written.
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
        body = calibrate_response(scenario_set, market, calibration, context.sources_json())
        if request.save is not None:
            body["saved"] = save(request, context, body, settings, principal_of(http.scope))
        return body

    # ~0.1 s of solves (a few seconds with a refit): off the event loop
    return JSONResponse(
        await off_loop(http, whole, units=work.units, settings=settings, route="/v1/calibrate")
    )
