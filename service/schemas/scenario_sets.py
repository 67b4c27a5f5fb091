"""Read schemas for the scenario sets the service knows."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from pricing.curve import CurveInterpolation
from scenarios.catalog import CatalogEntry
from service.schemas.common import Schema
from service.schemas.market import TreeIn
from service.schemas.smiles import ScenarioSmileIn, SmileQuoteIn, SurfaceConventionsIn


class ScenarioRead(Schema):
    name: str
    probability: float
    level: float
    vol: float
    description: str
    drivers: dict[str, float] = Field(default_factory=dict)
    smile: ScenarioSmileIn | None = None


class DatedRate(Schema):
    date: dt.date
    rate: float


class DatedVol(Schema):
    date: dt.date
    vol: float


class MarketRead(Schema):
    id: str
    valuation_date: dt.date
    spot: float
    curve_interpolation: CurveInterpolation
    usd_curve: list[DatedRate]
    jpy_curve: list[DatedRate]
    atm_vols: list[DatedVol]
    surface: list[SmileQuoteIn] | None = None
    surface_conventions: SurfaceConventionsIn | None = None


class ScenarioSetSummary(Schema):
    id: str
    name: str
    event_date: dt.date
    scenario_names: list[str]
    market_id: str


class ScenarioSetRead(Schema):
    id: str
    name: str
    description: str
    event_date: dt.date
    scenarios: list[ScenarioRead] = Field(
        description="The outcomes; for a tree, its leaves (named by their branches joined with "
        "'/', probability Π p, level S0·Π J, the last branch's vol)."
    )
    tree: TreeIn | None = Field(
        default=None, description="The dated decisions, for a tree set (as a request takes it)."
    )
    market: MarketRead

    @classmethod
    def from_entry(cls, entry: CatalogEntry) -> ScenarioSetRead:
        s, m = entry.scenario_set, entry.market
        return cls(
            id=s.id,
            name=s.name,
            description=s.description,
            event_date=s.event_date,
            scenarios=[
                ScenarioRead(
                    **{
                        **sc.__dict__,
                        "drivers": dict(sc.drivers),  # strict: a dict, not a read-only view
                        "smile": ScenarioSmileIn.from_domain(sc.smile),
                    }
                )
                for sc in s.scenarios
            ],
            tree=TreeIn.from_domain(s.tree),
            market=MarketRead(
                id=entry.market_id,
                valuation_date=m.valuation_date,
                spot=m.spot,
                curve_interpolation=m.usd_curve.interpolation,
                usd_curve=[
                    DatedRate(date=d, rate=r)
                    for d, r in zip(m.usd_curve.pillar_dates, m.usd_curve.zero_rates, strict=True)
                ],
                jpy_curve=[
                    DatedRate(date=d, rate=r)
                    for d, r in zip(m.jpy_curve.pillar_dates, m.jpy_curve.zero_rates, strict=True)
                ],
                atm_vols=[
                    DatedVol(date=d, vol=v)
                    for d, v in zip(m.atm_vols.pillar_dates, m.atm_vols.vols, strict=True)
                ],
                surface=[SmileQuoteIn.from_domain(q) for q in m.surface.quotes]
                if m.surface
                else None,
                surface_conventions=SurfaceConventionsIn.from_domain(m.surface)
                if m.surface
                else None,
            ),
        )


def summary(entry: CatalogEntry) -> ScenarioSetSummary:
    s = entry.scenario_set
    return ScenarioSetSummary(
        id=s.id,
        name=s.name,
        event_date=s.event_date,
        scenario_names=[sc.name for sc in s.scenarios],
        market_id=entry.market_id,
    )
