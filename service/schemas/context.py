"""Which scenario set and market a request prices on: the rule every endpoint shares.

A request names a built-in scenario set (``scenario_set_id``) or gives one inline
(``scenario_set``), never both; the market is the built-in set's own unless ``market`` is
given; the event must lie after the market's valuation date, and each post-event level
within a factor of 1,000 of its spot. ``diffusion`` says how the market's vols are read
before the decision (:class:`scenarios.market.Diffusion`; :data:`DIFFUSION_FIELD` is the
request field every pricing request declares).
"""

from __future__ import annotations

from pydantic import Field

from scenarios.catalog import CatalogEntry, builtin_entry
from scenarios.errors import DomainError
from scenarios.market import Diffusion, MarketSnapshot
from scenarios.scenario import ScenarioSet, tree_scenario_set
from service.schemas.common import Choice, under
from service.schemas.market import MarketIn, ScenarioSetIn
from service.schemas.results import BUILTIN_SET

DiffusionField = Choice[Diffusion]
DIFFUSION_FIELD = Field(
    default=Diffusion.EX_EVENT,
    description="How the market's vols are read before the decision. ex_event (default): "
    "the quotes after the event date hold the event's variance, so the diffusion is the "
    "quoted term structure with it removed (the variance the interval holding the event "
    "carries beyond the next event-free interval's rate, or the stated event-day weight) and "
    "the scenarios' jumps carry the event; quoted: the quotes as they stand (the event's "
    "premium then counts twice after it). The response reports the event variance stripped.",
)


def at_spot(scenario_set: ScenarioSet, spot: float) -> ScenarioSet:
    """A tree set's leaves read at ``spot`` (a built-in tree on an inline market); a flat set
    as it is."""
    if scenario_set.tree is None or scenario_set.tree_spot == spot:
        return scenario_set
    return under(
        "scenario_set.tree",
        lambda: tree_scenario_set(
            id=scenario_set.id,
            name=scenario_set.name,
            tree=scenario_set.tree,  # type: ignore[arg-type]
            spot=spot,
            description=scenario_set.description,
        ),
    )


def resolve_context(
    scenario_set_id: str | None,
    scenario_set: ScenarioSetIn | None,
    market: MarketIn | None,
    diffusion: Diffusion = Diffusion.EX_EVENT,
) -> tuple[CatalogEntry, ScenarioSet, MarketSnapshot]:
    """(the built-in entry the request leans on, its scenario set, its market read with
    ``diffusion``)."""
    if (scenario_set_id is None) == (scenario_set is None):
        raise DomainError.field(
            "scenario_set_id", "give exactly one of scenario_set_id or scenario_set"
        )
    entry = builtin_entry(scenario_set_id or BUILTIN_SET)
    resolved_market = (market.to_domain() if market else entry.market).with_diffusion(diffusion)
    spot = resolved_market.spot
    resolved_set = (
        scenario_set.to_domain(spot=spot) if scenario_set else at_spot(entry.scenario_set, spot)
    )
    under(
        "scenario_set",
        lambda: resolved_set.check_against(resolved_market.valuation_date, resolved_market.spot),
    )
    return entry, resolved_set, resolved_market
