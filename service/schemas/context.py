"""Which scenario set and market a request prices on: the rule every endpoint shares.

A request names a built-in scenario set (``scenario_set_id``) or gives one inline
(``scenario_set``), never both; the market is the built-in set's own unless ``market`` is
given; the event must lie after the market's valuation date, and each post-event level
within a factor of 1,000 of its spot.
"""

from __future__ import annotations

from scenarios.catalog import CatalogEntry, builtin_entry
from scenarios.errors import DomainError
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from service.schemas.common import under
from service.schemas.market import MarketIn, ScenarioSetIn
from service.schemas.results import BUILTIN_SET


def resolve_context(
    scenario_set_id: str | None, scenario_set: ScenarioSetIn | None, market: MarketIn | None
) -> tuple[CatalogEntry, ScenarioSet, MarketSnapshot]:
    """(the built-in entry the request leans on, its scenario set, its market)."""
    if (scenario_set_id is None) == (scenario_set is None):
        raise DomainError.field(
            "scenario_set_id", "give exactly one of scenario_set_id or scenario_set"
        )
    entry = builtin_entry(scenario_set_id or BUILTIN_SET)
    resolved_set = scenario_set.to_domain() if scenario_set else entry.scenario_set
    resolved_market = market.to_domain() if market else entry.market
    under(
        "scenario_set",
        lambda: resolved_set.check_against(resolved_market.valuation_date, resolved_market.spot),
    )
    return entry, resolved_set, resolved_market
