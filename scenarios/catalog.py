"""The built-in markets and scenario sets, loaded from ``scenarios/data/*.toml`` at start-up.

Each data file holds one scenario set — flat (``[[scenario_set.scenarios]]``) or a tree of
dated decisions (``[scenario_set.tree]``) — and its market, or names the file whose market it
is priced on (``market_file``), with every figure traced to MARKET_FACTS.md or marked as an
assumption in a comment beside it. A scenario set may name a
credit market (``credit = "<id>"``), loaded from the credit files: its base CDS curves and the
sensitivities that map the scenarios' drivers to spreads.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from pricing.curve import CurveInterpolation
from pricing.vol.quotes import SmileConventions
from scenarios.credit.curves import CreditMarket, EntityCurve
from scenarios.dates import pillar_date, tenor_dates
from scenarios.errors import DomainError, ErrorKind
from scenarios.market import AtmVolCurve, DiscountCurve, MarketSnapshot
from scenarios.scenario import Scenario, ScenarioSet, tree_scenario_set
from scenarios.tree import DecisionTree
from scenarios.vol.smiles import MarketSurface, ScenarioSmile, SmileQuote

DATA_FILES = ("tariff_2025.toml", "tariff_2025_consistent.toml", "tariff_2025_tree.toml")
ANALYST_SET = "us-japan-tariff-2025-07-09"  # the analyst's view, as published
CREDIT_FILES = ("credit_2025.toml",)
# credit-file keys of the drivers the sensitivities and reference levels are given for
_CREDIT_DRIVERS = ("auto_tariff", "reciprocal_tariff")


@dataclass(frozen=True)
class CatalogEntry:
    """A built-in scenario set with the market it is priced on by default."""

    scenario_set: ScenarioSet
    market_id: str
    market: MarketSnapshot
    credit: CreditMarket | None = None


def _pillar(valuation: dt.date, row: dict[str, Any]) -> dt.date:
    if "date" in row:
        date: dt.date = row["date"]  # TOML dates load as datetime.date
        return date
    return pillar_date("tenor", valuation, row["tenor"])


def _market(raw: dict[str, Any]) -> MarketSnapshot:
    valuation = raw["valuation_date"]
    interpolation = CurveInterpolation(raw.get("curve_interpolation", "log_linear_discount"))

    def curve(rows: list[dict[str, Any]]) -> DiscountCurve:
        return DiscountCurve(
            valuation,
            tuple(_pillar(valuation, r) for r in rows),
            tuple(r["rate"] for r in rows),
            interpolation,
        )

    return MarketSnapshot(
        valuation_date=valuation,
        spot=raw["spot"],
        usd_curve=curve(raw["usd_curve"]),
        jpy_curve=curve(raw["jpy_curve"]),
        atm_vols=AtmVolCurve(
            valuation,
            tuple(_pillar(valuation, r) for r in raw["atm_vols"]),
            tuple(r["vol"] for r in raw["atm_vols"]),
        ),
        surface=_surface(valuation, raw),
    )


def _surface(valuation: dt.date, raw: dict[str, Any]) -> MarketSurface | None:
    """``[[market.surface]]`` rows (tenor, atm, rr25, bf25, optional rr10/bf10), USD/JPY
    conventions; ``surface_event_extra_days`` weighs the decision day (default 0)."""
    if "surface" not in raw:
        return None
    quotes = tuple(
        SmileQuote(
            *tenor_dates("surface", valuation, r["tenor"]),
            atm=r["atm"],
            rr25=r["rr25"],
            bf25=r["bf25"],
            rr10=r.get("rr10"),
            bf10=r.get("bf10"),
            tenor=r["tenor"],
        )
        for r in raw["surface"]
    )
    return MarketSurface(quotes, SmileConventions(), raw.get("surface_event_extra_days", 0.0))


def _read(name: str) -> dict[str, Any]:
    return tomllib.loads(resources.files("scenarios.data").joinpath(name).read_text("utf-8"))


def _credit(raw: dict[str, Any]) -> CreditMarket:
    """A credit file: ``[credit]`` (date, recovery, tenors, tenor weights, reference tariff
    levels) and ``[[entities]]`` (spreads, coupon, bp per 10pp of each tariff)."""
    c = raw["credit"]
    return CreditMarket(
        valuation_date=c["valuation_date"],
        id=c["id"],
        reference_drivers={f"{d}_pct": c[f"reference_{d}_pct"] for d in _CREDIT_DRIVERS},
        tenor_weights=dict(zip(c["tenors"], c["tenor_weights"], strict=True)),
        entities=tuple(
            EntityCurve(
                entity=e["name"],
                currency=c["currency"],
                recovery=e.get("recovery", c["recovery"]),
                tenors=tuple(c["tenors"]),
                spreads_bp=tuple(e["spreads_bp"]),
                coupon_bp=e["coupon_bp"],
                sensitivities_bp_per_10pp={
                    f"{d}_pct": e[f"{d}_bp_per_10pp"] for d in _CREDIT_DRIVERS
                },
                description=e.get("description", ""),
            )
            for e in raw["entities"]
        ),
    )


@lru_cache(maxsize=1)
def builtin_credit_markets() -> dict[str, CreditMarket]:
    """Every built-in credit market by id (loaded once)."""
    markets = (_credit(_read(name)) for name in CREDIT_FILES)
    return {market.id: market for market in markets}


def _load(name: str) -> CatalogEntry:
    raw = _read(name)
    s = raw["scenario_set"]
    market_raw = _read(s["market_file"])["market"] if "market_file" in s else raw["market"]
    market = _market(market_raw)
    if "tree" in s:
        tree = DecisionTree.build(root=s["tree"]["root"], nodes=s["tree"]["nodes"])
        scenario_set = tree_scenario_set(
            id=s["id"],
            name=s["name"],
            tree=tree,
            spot=market.spot,
            description=s.get("description", ""),
        )
    else:
        scenario_set = _flat_set(s)
    scenario_set.check_against(market.valuation_date, market.spot)
    credit = builtin_credit_markets()[s["credit"]] if "credit" in s else None
    if credit is not None and credit.valuation_date != market.valuation_date:
        raise ValueError(f"{name}: credit {credit.id} is not dated {market.valuation_date}")
    return CatalogEntry(scenario_set, market_raw["id"], market, credit)


def analyst_entry() -> CatalogEntry:
    """The analyst's built-in set on its market, loaded from its own file alone (the
    consistent set is derived from it: scenarios.calibration.consistent_set)."""
    return _load(DATA_FILES[0])


def _smile(rows: list[dict[str, Any]] | None) -> ScenarioSmile | None:
    """``[[scenario_set.scenarios.smile]]`` rows: dated post-event quotes."""
    if not rows:
        return None
    return ScenarioSmile(
        quotes=tuple(
            SmileQuote(r["expiry"], r["delivery"], atm=r["atm"], rr25=r["rr25"], bf25=r["bf25"])
            for r in rows
        )
    )


def _flat_set(s: dict[str, Any]) -> ScenarioSet:
    return ScenarioSet(
        id=s["id"],
        name=s["name"],
        event_date=s["event_date"],
        description=s.get("description", ""),
        scenarios=tuple(
            Scenario(
                name=r["name"],
                probability=r["probability"],
                level=r["level"],
                vol=r["vol"],
                description=r.get("description", ""),
                drivers=r.get("drivers", {}),
                smile=_smile(r.get("smile")),
            )
            for r in s["scenarios"]
        ),
    )


@lru_cache(maxsize=1)
def builtin_catalog() -> dict[str, CatalogEntry]:
    """Every built-in scenario set by id (loaded once)."""
    entries = (_load(name) for name in DATA_FILES)
    return {entry.scenario_set.id: entry for entry in entries}


def builtin_entry(scenario_set_id: str, field: str = "scenario_set_id") -> CatalogEntry:
    """The built-in entry ``scenario_set_id``; a not-found error naming ``field`` otherwise."""
    catalog = builtin_catalog()
    if scenario_set_id not in catalog:
        raise DomainError.field(
            field,
            f"no scenario set {scenario_set_id!r}; known: {', '.join(sorted(catalog))}",
            ErrorKind.NOT_FOUND,
        )
    return catalog[scenario_set_id]
