"""The built-in scenario sets."""

from __future__ import annotations

from fastapi import APIRouter

from scenarios.catalog import builtin_catalog, builtin_entry
from service.problems import problem_responses
from service.schemas.scenario_sets import ScenarioSetRead, ScenarioSetSummary, summary

router = APIRouter(tags=["scenario sets"])


@router.get("/v1/scenario-sets", operation_id="list_scenario_sets")
async def list_scenario_sets() -> list[ScenarioSetSummary]:
    """Every scenario set the service can price against, with its default market's id."""
    return [summary(entry) for entry in builtin_catalog().values()]


@router.get(
    "/v1/scenario-sets/{scenario_set_id}",
    operation_id="get_scenario_set",
    responses=problem_responses(404, 422),
)
async def get_scenario_set(scenario_set_id: str) -> ScenarioSetRead:
    """One scenario set: its scenarios (p, post-event level, vol) and its default market."""
    return ScenarioSetRead.from_entry(builtin_entry(scenario_set_id, field="scenario_set_id"))
