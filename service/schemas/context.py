"""Which scenario set and market a request prices on: the rule every endpoint shares.

A request names a scenario set by id — built-in or stored, its latest version or the one
``scenario_set_version`` pins — or gives one inline (``scenario_set``), never both. The
market is, in order: the inline ``market``; the one ``market_id`` names (``market_version``
pins it); the set's own default (a built-in set's market, a stored set's ``market_id``); the
built-in example's. ``overrides`` then change probabilities, levels, spot, every vol
(``vol_bump``) or the event date for this request only (:func:`apply_overrides`). The event
must lie after the market's valuation date, and each post-event level within a factor of
1,000 of its spot. ``diffusion`` says how the market's vols are read before the
decision (:class:`scenarios.market.Diffusion`; :data:`DIFFUSION_FIELD` is the request field
every pricing request declares).

The response names what it priced on (:func:`Context.sources_json`). A context is
*pinned* when every source is fixed for good — inline, built-in, or a stored version by
number — so its response can be kept and served again byte for byte.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, TypeVar

from pydantic import Field

from scenarios import checks
from scenarios.catalog import builtin_catalog, builtin_credit_markets
from scenarios.credit.curves import CreditMarket
from scenarios.dates import tenor_dates
from scenarios.errors import DomainError, ErrorKind
from scenarios.market import AtmVolCurve, Diffusion, MarketSnapshot
from scenarios.scenario import Scenario, ScenarioSet, tree_scenario_set
from scenarios.tree import Branch, DecisionTree
from scenarios.vol.smiles import ScenarioSmile, SmileQuote, check_quotes
from service import versioned
from service.schemas.common import Choice, Schema, under
from service.schemas.market import MarketIn, ScenarioSetIn
from service.schemas.results import BUILTIN_SET
from service.schemas.stored import MAX_VERSION, OverridesIn
from service.settings import Settings, get_settings
from store.repository import Store, VersionRecord

T = TypeVar("T")

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


class SourceFields(Schema):
    """What a pricing request prices on: a set by id (and version) or inline, a market by
    id (and version) or inline, and overrides for this request only."""

    scenario_set_id: str | None = Field(
        default=None,
        max_length=100,
        description="A built-in or stored scenario set; give this or `scenario_set`.",
        examples=[BUILTIN_SET],
    )
    scenario_set_version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VERSION,
        description="Pin the set's version (default: its latest). With `market_version` too "
        "the response is the same bytes whenever it is asked.",
    )
    scenario_set: ScenarioSetIn | None = None
    market_id: str | None = Field(
        default=None,
        max_length=100,
        description="A built-in or stored market (default: the set's own market).",
    )
    market_version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VERSION,
        description="Pin the market's version (default: its latest).",
    )
    market: MarketIn | None = None
    overrides: OverridesIn | None = Field(
        default=None,
        description="Probabilities, levels, spot, vols or the event date changed for this "
        "request only (no new version); reported in `sources.overrides`.",
    )


@dataclass(frozen=True)
class Source:
    id: str
    version: int | None
    digest: str | None
    origin: str  # builtin, stored, inline
    pinned: bool

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "digest": self.digest,
                "origin": self.origin}  # fmt: skip


@dataclass(frozen=True)
class Context:
    """A request's set and market, resolved, with where they came from."""

    scenario_set: ScenarioSet
    market: MarketSnapshot
    credit: CreditMarket | None  # the set's own credit market (CDS lines)
    set_source: Source
    market_source: Source
    overrides: dict[str, Any] | None  # what the overrides changed (OverridesRead)
    set_record: VersionRecord | None = None  # the set's version, when named by id
    market_ref: tuple[str, int | None] | None = None  # (id, version pinned) when named by id

    @property
    def pinned(self) -> bool:
        return self.set_source.pinned and self.market_source.pinned

    def sources_json(self) -> dict[str, Any]:
        """The response's ``sources`` (built once per context: a cached context serves many
        requests; the dict is rendered, never changed)."""
        return self._sources

    @cached_property
    def _sources(self) -> dict[str, Any]:
        return {
            "scenario_set": self.set_source.json(),
            "market": self.market_source.json(),
            "overrides": self.overrides,
        }


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


def _record_source(record: VersionRecord, pinned_by_request: bool) -> Source:
    builtin = record.created_by == versioned.BUILTIN_AUTHOR
    return Source(
        record.id,
        record.version,
        record.digest,
        "builtin" if builtin else "stored",
        pinned=builtin or pinned_by_request,
    )


def _live(
    record: VersionRecord, retired_at: str | None, pinned: bool, field: str, label: str
) -> None:
    """410 for a retired resource asked for by its latest version."""
    if retired_at is not None and not pinned:
        raise DomainError.field(
            field,
            f"{label} {record.id!r} was retired at {retired_at}; pin a version "
            f"({field.removesuffix('_id')}_version, latest {record.version}) to price on it",
            ErrorKind.GONE,
        )


def resolve_context(
    request: SourceFields,
    settings: Settings | None = None,
    diffusion: Diffusion = Diffusion.EX_EVENT,
) -> Context:
    """The set, market and credit market ``request`` prices on, read with ``diffusion``."""
    settings = settings or get_settings()
    if (request.scenario_set_id is None) == (request.scenario_set is None):
        raise DomainError.field(
            "scenario_set_id", "give exactly one of scenario_set_id or scenario_set"
        )
    if request.scenario_set_version is not None and request.scenario_set_id is None:
        raise DomainError.field("scenario_set_version", "is only read with scenario_set_id")
    if request.market_id is not None and request.market is not None:
        raise DomainError.field("market_id", "give at most one of market_id or market")
    if request.market_version is not None and request.market_id is None:
        raise DomainError.field("market_version", "is only read with market_id")
    url = settings.database_url

    def store() -> Store:
        return versioned.store_at(url)

    overrides = (
        request.overrides if request.overrides and not request.overrides.is_empty() else None
    )
    set_record: VersionRecord | None = None
    set_pinned = request.scenario_set_version is not None
    if request.scenario_set_id is not None:
        set_record, retired_at = versioned.resolve(
            versioned.SETS,
            store,
            request.scenario_set_id,
            request.scenario_set_version,
            "scenario_set_version" if set_pinned else "scenario_set_id",
        )
        _live(set_record, retired_at, set_pinned, "scenario_set_id", "scenario set")
    credit, default_market = _set_defaults(set_record)
    market_record: VersionRecord | None = None
    market_version = request.market_version if request.market_id else default_market[1]
    if request.market is None:
        market_id = request.market_id or default_market[0]
        field = "market_id" if request.market_id is not None else "scenario_set_id"
        field = "market_version" if request.market_version is not None else field
        market_record, retired_at = versioned.resolve(
            versioned.MARKETS, store, market_id, market_version, field
        )
        _live(market_record, retired_at, market_version is not None, "market_id", "market")
        if set_record is not None and overrides is None:  # all by id: built once per pair
            key = (set_record.id, set_record.version, set_record.digest, set_pinned,
                   market_record.id, market_record.version, market_record.digest,
                   market_version, diffusion)  # fmt: skip
            found = _BY_IDS.get(key)
            if found is None:
                if len(_BY_IDS) >= _BY_IDS_SIZE:
                    _BY_IDS.clear()
                found = _BY_IDS[key] = _by_ids(
                    set_record, set_pinned, market_record, market_version, diffusion
                )
            return found
    if market_record is not None:
        market = _snapshot(market_record)
        market_source = _record_source(market_record, market_version is not None)
    else:
        assert request.market is not None
        market = request.market.to_domain()
        market_source = Source("inline", None, None, "inline", pinned=True)
    market = market.with_diffusion(diffusion)
    if request.scenario_set is not None:
        scenario_set = request.scenario_set.to_domain(spot=market.spot)
        set_source = Source("inline", None, None, "inline", pinned=True)
    else:
        assert set_record is not None
        scenario_set = _domain_set(set_record, market.spot)
        set_source = _record_source(set_record, set_pinned)
    changed: dict[str, Any] | None = None
    if overrides is not None:
        scenario_set, market, changed = apply_overrides(overrides, scenario_set, market)
    return _context(
        scenario_set, market, credit, set_source, market_source, changed, set_record,
        (market_source.id, market_version) if market_record is not None else None,
    )  # fmt: skip


# contexts of requests naming both by id, keyed by versions and digests (strings hash once)
_BY_IDS: dict[tuple[Any, ...], Context] = {}
_BY_IDS_SIZE = 512


def _by_ids(
    set_record: VersionRecord,
    set_pinned: bool,
    market_record: VersionRecord,
    market_version: int | None,
    diffusion: Diffusion,
) -> Context:
    """The context of a request that names its set and market by id, with no overrides:
    immutable for given versions, so built (and checked) once per pair."""
    credit, _ = _set_defaults(set_record)
    market = _snapshot(market_record).with_diffusion(diffusion)
    return _context(
        _domain_set(set_record, market.spot),
        market,
        credit,
        _record_source(set_record, set_pinned),
        _record_source(market_record, market_version is not None),
        None,
        set_record,
        (market_record.id, market_version),
    )


def _context(
    scenario_set: ScenarioSet,
    market: MarketSnapshot,
    credit: CreditMarket | None,
    set_source: Source,
    market_source: Source,
    changed: dict[str, Any] | None,
    set_record: VersionRecord | None,
    market_ref: tuple[str, int | None] | None,
) -> Context:
    """The context, once the set has been checked against its market."""
    under("scenario_set", lambda: scenario_set.check_against(market.valuation_date, market.spot))
    return Context(
        scenario_set, market, credit, set_source, market_source, changed, set_record, market_ref
    )


def _set_defaults(
    set_record: VersionRecord | None,
) -> tuple[CreditMarket | None, tuple[str, int | None]]:
    """(credit market, (market id, version pinned)) a set is priced on by default: a built-in
    set's own; a stored set's ``credit_id`` and ``market_id``; else (an inline set, or a stored
    one naming none) the built-in example's."""
    catalog = builtin_catalog()
    example = catalog[BUILTIN_SET]
    if set_record is None:
        return example.credit, (example.market_id, None)
    entry = catalog.get(set_record.id)
    if entry is not None and set_record.created_by == versioned.BUILTIN_AUTHOR:
        return entry.credit, (entry.market_id, None)
    doc = versioned.parse_document(versioned.SETS, set_record.document)
    credit = builtin_credit_markets().get(doc.credit_id) if doc.credit_id else None
    if doc.market_id is None:
        return credit, (example.market_id, None)
    return credit, (doc.market_id, doc.market_version)


def _snapshot(record: VersionRecord) -> MarketSnapshot:
    return under("market", lambda: versioned.market_of(record))


def _domain_set(record: VersionRecord, spot: float) -> ScenarioSet:
    """A set version as a domain set at ``spot`` (a built-in one from the catalogue)."""
    if record.created_by == versioned.BUILTIN_AUTHOR:
        return at_spot(builtin_catalog()[record.id].scenario_set, spot)
    return under("scenario_set", lambda: versioned.domain_set(record.document, spot))


def apply_overrides(
    overrides: OverridesIn, scenario_set: ScenarioSet, market: MarketSnapshot
) -> tuple[ScenarioSet, MarketSnapshot, dict[str, Any]]:
    """The set and market with ``overrides`` applied, and what moved (``OverridesRead``).

    In order: spot; probabilities and levels; ``vol_bump``; the event date. ``vol_bump`` and
    ``event_date`` appear in what moved only when given, so a request without them reads as
    before."""
    names = [s.name for s in scenario_set.scenarios]
    spot_before = market.spot
    if overrides.spot is not None or overrides.spot_bump is not None:
        spot = overrides.spot if overrides.spot is not None else market.spot
        spot *= 1.0 + (overrides.spot_bump or 0.0)
        market = under(
            "overrides.spot", lambda: dataclasses.replace(market, spot=spot)
        ).with_diffusion(market.diffusion)
        scenario_set = at_spot(scenario_set, market.spot)
    touches_scenarios = overrides.probabilities or overrides.levels or overrides.level_bump
    if touches_scenarios and scenario_set.tree is not None:
        raise DomainError.field(
            "overrides",
            "a tree's leaves follow from its branches: probabilities and levels cannot be "
            "overridden by leaf; write a new version of the tree instead",
        )
    for family, given in (("probabilities", overrides.probabilities), ("levels", overrides.levels)):
        for name in given:
            if name not in names:
                raise DomainError.field(
                    f"overrides.{family}.{name}",
                    f"no scenario {name!r} in {scenario_set.id!r}; known: {', '.join(names)}",
                )
    before = {s.name: (s.probability, s.level) for s in scenario_set.scenarios}
    probabilities = _probabilities(overrides, scenario_set)
    bump = 1.0 + (overrides.level_bump or 0.0)
    scenarios = tuple(
        under(
            f"overrides.levels.{s.name}" if s.name in overrides.levels else "overrides",
            partial(
                dataclasses.replace,
                s,
                probability=probabilities[s.name],
                level=overrides.levels.get(s.name, s.level) * bump,
            ),
        )
        for s in scenario_set.scenarios
    )
    if touches_scenarios:
        scenario_set = under(
            "overrides", lambda: dataclasses.replace(scenario_set, scenarios=scenarios)
        )
    moved_p = {
        s.name: [before[s.name][0], s.probability]
        for s in scenario_set.scenarios
        if s.probability != before[s.name][0]
    }
    moved_l = {
        s.name: [before[s.name][1], s.level]
        for s in scenario_set.scenarios
        if s.level != before[s.name][1]
    }
    spot_read = [spot_before, market.spot] if market.spot != spot_before else None
    changed: dict[str, Any] = {"probabilities": moved_p, "levels": moved_l, "spot": spot_read}
    if overrides.vol_bump is not None:
        scenario_set, market = _vols_bumped(overrides.vol_bump, scenario_set, market)
        changed["vol_bump"] = overrides.vol_bump
    if overrides.event_date is not None or overrides.event_delay_days is not None:
        event_before = scenario_set.event_date
        scenario_set = _event_moved(overrides, scenario_set, market.valuation_date)
        changed["event_date"] = [event_before.isoformat(), scenario_set.event_date.isoformat()]
    return scenario_set, market, changed


def _probabilities(overrides: OverridesIn, scenario_set: ScenarioSet) -> dict[str, float]:
    """Each scenario's p after ``overrides.probabilities`` (the others rescaled to sum to 1
    with ``rescale_others``); 422 naming the field when that cannot be done."""
    given = overrides.probabilities
    current = {s.name: s.probability for s in scenario_set.scenarios}
    if not given:
        return current
    named = sum(given.values())
    others = {n: p for n, p in current.items() if n not in given}
    rest = sum(others.values())
    if overrides.rescale_others and others:
        if named > 1.0 + 1e-12:
            raise DomainError.field(
                "overrides.probabilities", f"must sum to at most 1, got {named!r}"
            )
        if rest <= 0.0:
            if named < 1.0 - 1e-9:
                raise DomainError.field(
                    "overrides.probabilities",
                    f"sum to {named!r} and the other scenarios have p = 0: nothing to rescale",
                )
            return {**{n: 0.0 for n in others}, **given}
        scale = (1.0 - named) / rest
        return {**{n: p * scale for n, p in others.items()}, **given}
    return {**others, **given}


def _as(field: str, build: Callable[[], T]) -> T:
    """Run a domain constructor on figures an override moved: its error names ``field`` (the
    override) and says which figure broke which rule."""
    try:
        return build()
    except DomainError as exc:
        error = exc.errors[0]
        where = f"moves {error.field}: " if error.field else ""
        raise DomainError.field(field, f"{where}{error.reason}", exc.kind) from None


def _vols_bumped(
    bump: float, scenario_set: ScenarioSet, market: MarketSnapshot
) -> tuple[ScenarioSet, MarketSnapshot]:
    """The set and market with ``bump`` added to every vol (``OverridesIn.vol_bump``); 422
    naming ``overrides.vol_bump`` when a moved vol breaks its rule (> 0, 1e-4 at least; a
    surface that still fits; total variance that does not fall with maturity)."""
    field = "overrides.vol_bump"
    moved_set = _as(field, lambda: _set_bumped(scenario_set, bump))
    return moved_set, _as(field, lambda: _market_bumped(market, bump))


def _market_bumped(market: MarketSnapshot, bump: float) -> MarketSnapshot:
    """The ATM curve and the surface's ATM quotes moved; risk reversals and butterflies are
    vol differences and stay. The snapshot is built (its surface fitted) again."""
    atm = market.atm_vols
    vols = tuple(v + bump for v in atm.vols)
    curve = under(
        "market.atm_vols", lambda: AtmVolCurve(atm.valuation_date, atm.pillar_dates, vols)
    )
    surface = market.surface
    if surface is not None:
        quotes = _atm_bumped(surface.quotes, bump, "market.surface")
        surface = dataclasses.replace(surface, quotes=quotes)
    return under("market", lambda: dataclasses.replace(market, atm_vols=curve, surface=surface))


def _set_bumped(scenario_set: ScenarioSet, bump: float) -> ScenarioSet:
    """Every post-event vol moved: a scenario's ``vol`` and the ATM of its smile's quotes (a
    smile given as a shift reads the market's surface, moved already), or a tree's branch
    vols (its leaves read again)."""
    tree = scenario_set.tree
    if tree is not None:
        nodes = tuple(
            dataclasses.replace(n, branches=_branches_bumped(n.branches, bump, i))
            for i, n in enumerate(tree.nodes)
        )
        return _tree_set_of(scenario_set, DecisionTree(tree.root, nodes))
    scenarios = []
    for i, s in enumerate(scenario_set.scenarios):
        at = f"scenario_set.scenarios[{i}]"
        smile = s.smile
        if smile is not None and smile.quotes:
            smile = ScenarioSmile(quotes=_atm_bumped(smile.quotes, bump, f"{at}.smile.quotes"))
        scenarios.append(under(at, partial(dataclasses.replace, s, vol=s.vol + bump, smile=smile)))
    return dataclasses.replace(scenario_set, scenarios=tuple(scenarios))


def _branches_bumped(branches: tuple[Branch, ...], bump: float, node: int) -> tuple[Branch, ...]:
    return tuple(
        under(
            f"scenario_set.tree.nodes[{node}].branches[{j}]",
            partial(dataclasses.replace, b, vol=b.vol + bump),
        )
        for j, b in enumerate(branches)
    )


def _atm_bumped(quotes: tuple[SmileQuote, ...], bump: float, at: str) -> tuple[SmileQuote, ...]:
    return tuple(
        under(f"{at}[{j}]", partial(dataclasses.replace, q, atm=q.atm + bump))
        for j, q in enumerate(quotes)
    )


def _event_moved(
    overrides: OverridesIn, scenario_set: ScenarioSet, valuation_date: dt.date
) -> ScenarioSet:
    """The set with its decision moved (``OverridesIn.event_date`` / ``event_delay_days``):
    a tree's nodes all by the days its root moves; a scenario smile's tenors counted from the
    new date (dated quotes stay, and must still expire after it). 422 naming the override
    when a moved date is not after ``valuation_date`` or beyond the horizon."""
    if overrides.event_date is not None and overrides.event_delay_days is not None:
        raise DomainError.field(
            "overrides.event_delay_days",
            "give at most one of event_date and event_delay_days, got both",
        )
    if overrides.event_date is not None:
        field = "overrides.event_date"
        delay = overrides.event_date - scenario_set.event_date
    else:
        assert overrides.event_delay_days is not None
        field = "overrides.event_delay_days"
        delay = dt.timedelta(days=overrides.event_delay_days)
    tree = scenario_set.tree
    for date in [scenario_set.event_date] if tree is None else [n.date for n in tree.nodes]:
        moved = date + delay
        if moved <= valuation_date:
            raise DomainError.field(
                field,
                f"must leave the event after the valuation date {valuation_date.isoformat()}, "
                f"got {moved.isoformat()} (from {date.isoformat()})",
            )
        _as(field, partial(checks.within_horizon, "event_date", valuation_date, moved))
    if tree is not None:
        nodes = tuple(dataclasses.replace(n, date=n.date + delay) for n in tree.nodes)
        return _as(field, lambda: _tree_set_of(scenario_set, DecisionTree(tree.root, nodes)))
    event = scenario_set.event_date + delay
    scenarios = tuple(
        _as(field, partial(_smile_redated, s, event, f"scenario_set.scenarios[{i}]"))
        for i, s in enumerate(scenario_set.scenarios)
    )
    return _as(
        field, lambda: dataclasses.replace(scenario_set, event_date=event, scenarios=scenarios)
    )


def _smile_redated(scenario: Scenario, event: dt.date, at: str) -> Scenario:
    """``scenario`` with its smile's tenors counted from ``event``, as a set sent with that
    event date reads them (:meth:`service.schemas.smiles.SmileQuoteIn.to_domain`)."""
    smile = scenario.smile
    if smile is None or not smile.quotes:
        return scenario
    at = f"{at}.smile.quotes"
    quotes = []
    for j, q in enumerate(smile.quotes):
        if q.tenor is not None:
            expiry, delivery = tenor_dates(f"{at}[{j}].tenor", event, q.tenor)
            q = dataclasses.replace(q, expiry=expiry, delivery=delivery)
        quotes.append(q)
    under(at, lambda: check_quotes(tuple(quotes), event))
    return dataclasses.replace(scenario, smile=ScenarioSmile(quotes=tuple(quotes)))


def _tree_set_of(scenario_set: ScenarioSet, tree: DecisionTree) -> ScenarioSet:
    """``scenario_set`` (a tree set) with ``tree`` in place of its own, leaves read again."""
    assert scenario_set.tree_spot is not None
    return tree_scenario_set(
        id=scenario_set.id,
        name=scenario_set.name,
        tree=tree,
        spot=scenario_set.tree_spot,
        description=scenario_set.description,
    )
