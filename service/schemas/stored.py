"""Schemas of the stored resources: scenario-set and market documents, their versions, and
what a pricing response says it priced on.

A stored document has the shape a pricing request takes inline (``scenario_set``,
``market``) plus its ``id`` and, for a set, the market and credit market it is priced on by
default. It is kept as canonical JSON (:mod:`store.documents`), so a version reads back as the
bytes it was written as.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import ConfigDict, Field

from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from service.schemas.common import Date, FiniteFloat, PositiveFloat, Schema
from service.schemas.market import (
    MarketIn,
    RatePillar,
    ScenarioIn,
    ScenarioSetIn,
    TreeIn,
    VolPillar,
)
from service.schemas.smiles import ScenarioSmileIn, SmileQuoteIn, SurfaceConventionsIn

MAX_VERSION = 2**31 - 1  # the store's version column is a 32-bit integer
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
ID_FIELD = Field(
    pattern=ID_PATTERN,
    max_length=100,
    description="The resource's id: letters, digits, '.', '_' and '-', at most 100; it names "
    "one history for good (a retired id is not reused).",
    examples=["desk-tariff-view"],
)
CHANGE_NOTE = Field(
    default="",
    max_length=2000,
    description="Why this version was written; kept with it (not part of the document).",
    examples=["no_deal 0.25 → 0.30 after the 2025-07-07 letters"],
)


class StoredScenarioSetIn(ScenarioSetIn):
    """A scenario set as stored: the inline set's fields, its id, and what it is priced on
    by default."""

    id: str = ID_FIELD
    market_id: str | None = Field(
        default=None,
        max_length=100,
        description="The market it is priced on when a request names none: a stored or "
        "built-in market id (default: the built-in example's market).",
    )
    market_version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VERSION,
        description="Pin the default market to this version (default: its latest).",
    )
    credit_id: str | None = Field(
        default=None,
        max_length=100,
        description="The built-in credit market its CDS lines are priced on (e.g. "
        "`automakers-2025-06-13`); none: CDS requests must give `credit`.",
    )


class ScenarioSetWrite(StoredScenarioSetIn):
    """The body of ``POST``/``PUT /v1/scenario-sets``: the document and a change note."""

    change_note: str = CHANGE_NOTE

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "desk-tariff-view",
                    "name": "Desk view of the 2025-07-09 deadline",
                    "event_date": "2025-07-09",
                    "market_id": "usdjpy-2025-06-13",
                    "credit_id": "japan-autos-cds-2025-06-13",
                    "scenarios": [
                        {"name": "deal", "probability": 0.45, "level": 150.0, "vol": 0.095,
                         "drivers": {"auto_tariff_pct": 15.0, "reciprocal_tariff_pct": 15.0}},
                        {"name": "extension", "probability": 0.35, "level": 144.0,
                         "vol": 0.105},
                        {"name": "no_deal", "probability": 0.20, "level": 137.0, "vol": 0.14,
                         "drivers": {"auto_tariff_pct": 25.0, "reciprocal_tariff_pct": 24.0}},
                    ],
                    "change_note": "the desk's view after the 2025-06-13 close",
                }
            ]
        }
    )  # fmt: skip


class StoredMarketIn(MarketIn):
    """A market snapshot as stored: the inline market's fields, its id, a name."""

    id: str = ID_FIELD
    name: str = Field(default="", max_length=200, examples=["USD/JPY close 2025-06-13"])
    description: str = Field(default="", max_length=4000)


class MarketWrite(StoredMarketIn):
    """The body of ``POST``/``PUT /v1/markets``: the document and a change note."""

    change_note: str = CHANGE_NOTE

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "usdjpy-close-2025-06-16",
                    "name": "USD/JPY close 2025-06-16",
                    "valuation_date": "2025-06-16",
                    "spot": 144.7,
                    "usd_curve": [{"tenor": "3M", "rate": 0.0432}, {"tenor": "1Y", "rate": 0.0405}],
                    "jpy_curve": [{"tenor": "3M", "rate": 0.0047}, {"tenor": "1Y", "rate": 0.0062}],
                    "atm_vols": [{"tenor": "1M", "vol": 0.112}, {"tenor": "3M", "vol": 0.106},
                                 {"tenor": "1Y", "vol": 0.101}],
                    "change_note": "the 2025-06-16 close",
                }
            ]
        }
    )  # fmt: skip


class VersionMeta(Schema):
    """Who wrote a version, when, why, and what it changed."""

    id: str
    version: int = Field(description="1, 2, …; a version never changes once written.")
    etag: str = Field(description="The version's entity tag, as the `ETag` header gives it.")
    digest: str = Field(description="SHA-256 of the document's canonical JSON, hex.")
    created_at: str = Field(description="ISO 8601 UTC, to the microsecond.")
    created_by: str = Field(description="The name of the API key that wrote it.")
    change_note: str
    changes: list[str] = Field(
        description="Field paths that differ from the previous version "
        "(`scenarios[1].probability`)."
    )
    latest_version: int = Field(description="The resource's latest version when this was read.")
    retired_at: str | None = Field(description="When the resource was retired (null: live).")
    retired_by: str | None = Field(description="The name of the key that retired it.")
    read_only: bool = Field(description="A built-in resource: read-only version 1.")


class LeafRead(Schema):
    """A tree's leaf as priced: the branches' names joined with '/', Π p, S0·Π J."""

    name: str
    probability: float
    level: float
    vol: float
    description: str


class StoredScenarioSetRead(VersionMeta):
    """One version of a scenario set: its metadata and its document."""

    document: StoredScenarioSetIn = Field(
        description="The set as stored: what `PUT` takes and a merge patch applies to."
    )
    market_id: str = Field(description="The market it is priced on when a request names none.")
    leaves: list[LeafRead] | None = Field(
        description="For a tree: its leaves, read at its default market's spot (null: flat)."
    )


class StoredMarketRead(VersionMeta):
    """One version of a market snapshot: its metadata and its document."""

    document: StoredMarketIn


class StoredSetSummary(Schema):
    """A set's latest version, as the list gives it."""

    id: str
    version: int
    etag: str
    name: str
    event_date: dt.date
    scenario_names: list[str]
    market_id: str
    created_at: str
    created_by: str
    retired_at: str | None
    read_only: bool


class StoredMarketSummary(Schema):
    id: str
    version: int
    etag: str
    name: str
    valuation_date: dt.date
    spot: float
    created_at: str
    created_by: str
    retired_at: str | None
    read_only: bool


class SaveIn(Schema):
    """Save a calibration's fitted set as a stored version, in the same call."""

    scenario_set_id: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        max_length=100,
        description="Where to: default the request's `scenario_set_id`, as its next version "
        "(refused with 412 if the version calibrated is no longer the latest); a new id "
        "creates a set. The saved set keeps the calibrated set's market and credit market.",
    )
    change_note: str = CHANGE_NOTE


class SavedRead(Schema):
    """The version a calibration was saved as."""

    id: str
    version: int
    etag: str
    location: str


class OverridesIn(Schema):
    """Changes for this request only, on top of the set and market it names (no new version).

    The response reports them (``sources.overrides``)."""

    probabilities: dict[str, Annotated[FiniteFloat, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        max_length=64,
        description="Subjective probability p by scenario name. With `rescale_others` "
        "(default) the scenarios not named are scaled so that all sum to 1; otherwise the "
        "result must sum to 1 as given.",
        examples=[{"no_deal": 0.35}],
    )
    rescale_others: bool = True
    levels: dict[str, PositiveFloat] = Field(
        default_factory=dict,
        max_length=64,
        description="Post-event level L (JPY per USD) by scenario name.",
        examples=[{"no_deal": 140.5}],
    )
    level_bump: FiniteFloat | None = Field(
        default=None,
        gt=-0.5,
        lt=1.0,
        description="Every post-event level times (1 + level_bump), after `levels`: 0.01 = +1%.",
    )
    spot: PositiveFloat | None = Field(
        default=None, description="Today's spot, JPY per USD, in place of the market's."
    )
    spot_bump: FiniteFloat | None = Field(
        default=None,
        gt=-0.5,
        lt=1.0,
        description="Today's spot times (1 + spot_bump), after `spot`: 0.01 = +1%.",
    )
    vol_bump: FiniteFloat | None = Field(
        default=None,
        gt=-0.5,
        lt=1.0,
        description="Added to every vol, an absolute parallel shift: 0.01 = +1 vol point. "
        "It moves the market's ATM vols and its surface's ATM quotes (risk reversals and "
        "butterflies are vol differences and stay; the event variance the ex-event diffusion "
        "strips is read off the moved quotes), every scenario's post-event `vol`, the ATM of "
        "a scenario smile given as quotes (a smile given as a shift moves with the surface it "
        "shifts), and a tree's branch vols. Every vol must stay > 0.",
        examples=[0.01],
    )
    event_date: Date | None = Field(
        default=None,
        description="The decision's date for this request, after the market's valuation "
        "date. A tree's nodes all move by the days its root moves. A scenario smile's tenors "
        "count from the new date (dated quotes stay). Give this or `event_delay_days`.",
    )
    event_delay_days: int | None = Field(
        default=None,
        ge=-36_500,
        le=36_500,
        description="Calendar days the decision moves (negative: earlier); a tree's nodes all "
        "move by as many. Give this or `event_date`.",
        examples=[30],
    )

    def is_empty(self) -> bool:
        return not (
            self.probabilities
            or self.levels
            or self.level_bump is not None
            or self.spot is not None
            or self.spot_bump is not None
            or self.vol_bump is not None
            or self.event_date is not None
            or self.event_delay_days is not None
        )


class SourceRead(Schema):
    """Where a scenario set or market came from."""

    id: str = Field(description="Its id (`inline` for one the request carried).")
    version: int | None = Field(description="The version used (null: inline).")
    digest: str | None = Field(description="SHA-256 of the version's document (null: inline).")
    origin: str = Field(description="`builtin`, `stored` or `inline`.")


class OverridesRead(Schema):
    """What the request's ``overrides`` changed: each figure before and after."""

    probabilities: dict[str, list[float]] = Field(
        description="Scenario → [p as stored, p used]; every scenario whose p moved."
    )
    levels: dict[str, list[float]] = Field(
        description="Scenario → [L as stored, L used], JPY per USD; every level that moved."
    )
    spot: list[float] | None = Field(description="[spot as stored, spot used], or null.")
    vol_bump: float | None = Field(
        default=None,
        description="The parallel vol shift applied (0.01 = +1 vol point); present only when "
        "`overrides.vol_bump` is given.",
    )
    event_date: list[dt.date] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="[event date as stored, event date used] (a tree's root); present only "
        "when `overrides.event_date` or `event_delay_days` is given.",
    )


SOURCES_DESCRIPTION = (
    "What the response was priced on: the scenario set's and the market's id, version and "
    "document digest (`origin` builtin, stored or inline) and what `overrides` changed."
)


class SourcesRead(Schema):
    """What the response was priced on: with both versions pinned (and no overrides) the
    response is the same bytes whenever it is asked."""

    scenario_set: SourceRead
    market: SourceRead
    overrides: OverridesRead | None


def scenario_set_document(
    scenario_set: ScenarioSet, market_id: str | None, credit_id: str | None
) -> StoredScenarioSetIn:
    """A domain set (a built-in one) as the document ``PUT`` takes."""
    s = scenario_set
    tree = TreeIn.from_domain(s.tree)
    scenarios = None
    if tree is None:
        scenarios = [
            ScenarioIn(
                name=sc.name,
                probability=sc.probability,
                level=sc.level,
                vol=sc.vol,
                description=sc.description,
                drivers=dict(sc.drivers),
                smile=ScenarioSmileIn.from_domain(sc.smile),
            )
            for sc in s.scenarios
        ]
    return StoredScenarioSetIn(
        id=s.id,
        name=s.name,
        description=s.description,
        event_date=s.event_date,
        scenarios=scenarios,
        tree=tree,
        market_id=market_id,
        credit_id=credit_id,
    )


def market_document(id: str, name: str, m: MarketSnapshot) -> StoredMarketIn:
    """A domain market (a built-in one) as the document ``PUT`` takes: dated pillars."""
    return StoredMarketIn(
        id=id,
        name=name,
        valuation_date=m.valuation_date,
        spot=m.spot,
        curve_interpolation=m.usd_curve.interpolation,
        usd_curve=[
            RatePillar(date=d, rate=r)
            for d, r in zip(m.usd_curve.pillar_dates, m.usd_curve.zero_rates, strict=True)
        ],
        jpy_curve=[
            RatePillar(date=d, rate=r)
            for d, r in zip(m.jpy_curve.pillar_dates, m.jpy_curve.zero_rates, strict=True)
        ],
        atm_vols=[
            VolPillar(date=d, vol=v)
            for d, v in zip(m.atm_vols.pillar_dates, m.atm_vols.vols, strict=True)
        ],
        surface=[SmileQuoteIn.from_domain(q) for q in m.surface.quotes] if m.surface else None,
        surface_conventions=SurfaceConventionsIn.from_domain(m.surface)
        if m.surface
        else SurfaceConventionsIn(),
    )
