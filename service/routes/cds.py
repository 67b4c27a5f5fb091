"""Automaker credit protection under a scenario mixture."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.requests import Request

from scenarios.credit.valuation import value_cds_book
from service.cost import cds_work, check_budget
from service.deps import SettingsDep
from service.offload import off_loop
from service.problems import problem_responses
from service.schemas.cds import CdsRequest, CdsResponse, cds_response, to_cds_job

router = APIRouter(tags=["credit"])


@router.post(
    "/v1/cds",
    response_model=CdsResponse,
    operation_id="price_cds",
    responses=problem_responses(404, 413, 415, 422, 503),
)
async def cds(request: CdsRequest, settings: SettingsDep, http: Request) -> JSONResponse:
    """Price standard CDS contracts (ISDA model) under each scenario and their mixture.

    Each scenario's curve per entity is given directly, as a shift from the base curve, or
    derived from the scenario's tariff drivers through the entity's sensitivities (the
    built-in set moves Toyota, Honda, Nissan and the sector curve this way). For each
    contract: par spread, clean and dirty upfront, accrued, risky PV01, jump-to-default and
    value per scenario, on today's base curves and mixed with the FX pricing measure's q —
    one scenario set drives FX and credit together. The response also shows every
    scenario's curves with their source and the scenario × contract P&L matrix.
    """
    work = cds_work(request)
    check_budget(work, settings, "/v1/cds")

    def whole() -> dict[str, Any]:
        job = to_cds_job(request, settings.max_instruments, settings)
        valuation = value_cds_book(
            market=job.market,
            scenario_set=job.scenario_set,
            credit=job.credit,
            contracts=job.contracts,
            measure=job.measure,
            scenario_credit=job.scenario_credit,
        )
        return cds_response(job, valuation)

    # ~5 ms for the built-in book (bootstrap + pricing in numpy, QuantLib only for the
    # contract terms): always off the event loop so other requests keep being served.
    return JSONResponse(
        await off_loop(http, whole, units=work.units, settings=settings, route="/v1/cds")
    )
