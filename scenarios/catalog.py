"""The built-in markets and scenario sets, loaded from ``scenarios/data/*.toml`` at start-up.

Each data file holds one market and one scenario set with every figure traced to
MARKET_FACTS.md or marked as an assumption in a comment beside it.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from pricing.curve import CurveInterpolation
from scenarios.dates import pillar_date
from scenarios.errors import DomainError, ErrorKind
from scenarios.market import AtmVolCurve, DiscountCurve, MarketSnapshot
from scenarios.scenario import Scenario, ScenarioSet

DATA_FILES = ("tariff_2025.toml",)


@dataclass(frozen=True)
class CatalogEntry:
    """A built-in scenario set with the market it is priced on by default."""

    scenario_set: ScenarioSet
    market_id: str
    market: MarketSnapshot


def _pillar(valuation: dt.date, row: dict[str, Any]) -> dt.date:
    if "date" in row:
        return row["date"]
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
    )


def _load(name: str) -> CatalogEntry:
    raw = tomllib.loads(resources.files("scenarios.data").joinpath(name).read_text("utf-8"))
    market = _market(raw["market"])
    s = raw["scenario_set"]
    scenario_set = ScenarioSet(
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
            )
            for r in s["scenarios"]
        ),
    )
    scenario_set.check_against(market.valuation_date)
    return CatalogEntry(scenario_set, raw["market"]["id"], market)


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
