"""The market-consistency report every response under a scenario set carries.

Units: quotes (``market``, ``mixture``) are annualised vols as decimals (0.115 = 11.5%; risk
reversals and butterflies too); ``differences_vol_points`` are mixture − market in vol points
(1 = 0.01 of vol); variances are total variances of ``ln S`` (decimals squared); event-day
vols annualised decimals. Quotes are read in the market surface's conventions (USD/JPY:
premium-adjusted delta, spot delta to 1Y, delta-neutral straddle ATM, broker butterfly).
A figure that could not be solved for is ``null`` (with a ``note``), never NaN.
(:mod:`scenarios.vol.consistency`.)
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from pydantic import Field

from pricing.mixture.measure import Measure
from pricing.vol.event_strip import EventSizing
from scenarios.market import Diffusion, MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.vol.consistency import (
    ConsistencyReport,
    PillarConsistency,
    Quotes,
    consistency_report,
)
from service.schemas.common import Schema

CONSISTENCY_DESCRIPTION = (
    "How far the mixture sits from the market: at every market pillar expiring after the "
    "event, the market's ATM/RR25/BF25 as quoted beside the mixture's quoted back in the "
    "market's conventions, their differences in vol points, and the event's variance as the "
    "market's quotes hold it and as the scenarios' jumps carry it, under this response's "
    "pricing measure and diffusion."
)
PATHS_CONSISTENCY_DESCRIPTION = (
    CONSISTENCY_DESCRIPTION + " For paths: under the risk-neutral measure of `adjustment` "
    "(q), also when the paths are drawn real_world with the analyst's p: a mixture under p "
    "does not reprice the market's forward, so it is not quoted against it."
)


class VolQuotesRead(Schema):
    atm: float | None = Field(
        description="ATM vol (delta-neutral straddle in USD/JPY's conventions), annualised "
        "decimal (0.115 = 11.5%); null when it could not be solved for."
    )
    rr25: float | None = Field(
        description="25-delta risk reversal (call vol − put vol), decimal vol; null without a "
        "market surface (ATM curve only) or when it could not be solved for."
    )
    bf25: float | None = Field(
        description="25-delta broker (market-strangle) butterfly, decimal vol; null without a "
        "market surface or when it could not be solved for."
    )


class VolDifferencesRead(Schema):
    atm: float | None = Field(description="Mixture ATM − market ATM, vol points (1 = 0.01).")
    rr25: float | None = Field(description="Mixture RR25 − market RR25, vol points.")
    bf25: float | None = Field(description="Mixture BF25 − market BF25, vol points.")


class PillarConsistencyRead(Schema):
    tenor: str | None = Field(
        description="The surface pillar's tenor (1M …); null for a dated pillar or an ATM "
        "curve pillar."
    )
    expiry: dt.date = Field(description="The pillar's expiry date.")
    delivery: dt.date = Field(
        description="Its delivery date (an ATM curve pillar: the USD/JPY spot date of its date)."
    )
    time: float = Field(description="Expiry in years ACT/365F from the valuation date.")
    market: VolQuotesRead = Field(description="The market's quotes, as given (decimals).")
    mixture: VolQuotesRead = Field(
        description="The mixture's price inverted and quoted back (decimals)."
    )
    differences_vol_points: VolDifferencesRead = Field(
        description="Mixture − market, vol points (null where either side has no figure)."
    )
    consistent: bool = Field(
        description="Every difference within the tolerances (ATM only without a surface)."
    )
    note: str | None = Field(description="Why a mixture figure is missing; null otherwise.")


class ConsistencyRead(Schema):
    consistent: bool = Field(
        description="True iff every post-event pillar is quoted and has |ATM difference| ≤ "
        "`atm_tolerance_vol_points` and |RR25|, |BF25| differences ≤ "
        "`wing_tolerance_vol_points` (ATM only without a surface; true when no pillar "
        "expires after the event, see `note`)."
    )
    reason: str | None = Field(
        description="One line on why not (the jumps' variance against the market's, the "
        "pillar quote furthest out); null when consistent."
    )
    note: str | None = Field(
        description="No pillar after the event, or why the mixture could not be quoted at "
        "all (e.g. no risk-neutral measure); null otherwise."
    )
    measure: Measure = Field(description="The pricing measure the mixture is quoted under.")
    diffusion: Diffusion = Field(description="How the market's vols were read (the request's).")
    event_date: dt.date
    event_sizing: EventSizing = Field(
        description="How the market's event variance was read: term_structure (beyond the "
        "next event-free interval's rate) or event_day_weight (the surface's stated extra "
        "days; under diffusion quoted without one, nothing is stripped)."
    )
    market_event_variance: float = Field(
        description="Total variance of ln S the market's quotes hold for the decision "
        "(decimal², e.g. 0.00015); 0 when they hold none (diffusion quoted, no stated weight)."
    )
    market_event_day_vol: float = Field(
        description="The annualised vol of one day carrying it, √(365·v), decimal."
    )
    jump_variance: float | None = Field(
        description="Var_q(ln J) = Σ q (ln J)² − (Σ q ln J)² of the scenarios' jumps under the "
        "pricing measure (decimal²); null without a risk-neutral measure."
    )
    jump_event_day_vol: float | None = Field(
        description="√(365·jump_variance), annualised decimal; null with it."
    )
    jump_variance_ratio: float | None = Field(
        description="jump_variance / market_event_variance; null when the market's is 0 or "
        "there is no measure."
    )
    atm_tolerance_vol_points: float = Field(
        description="Largest |ATM difference| of a consistent pillar, vol points."
    )
    wing_tolerance_vol_points: float = Field(
        description="Largest |RR25| and |BF25| difference of a consistent pillar, vol points."
    )
    pillars: list[PillarConsistencyRead] = Field(
        description="The market's pillars expiring after the event: the surface's, or the "
        "ATM curve's without a surface."
    )


def _quotes(q: Quotes) -> dict[str, Any]:
    return {"atm": q.atm, "rr25": q.rr25, "bf25": q.bf25}


def _pillar(p: PillarConsistency) -> dict[str, Any]:
    return {
        "tenor": p.tenor,
        "expiry": p.expiry.isoformat(),
        "delivery": p.delivery.isoformat(),
        "time": p.time,
        "market": _quotes(p.market),
        "mixture": _quotes(p.mixture),
        "differences_vol_points": _quotes(p.differences),
        "consistent": p.consistent,
        "note": p.note,
    }


def consistency_json(report: ConsistencyReport) -> dict[str, Any]:
    """The report as plain JSON types (every float finite or None)."""
    return {
        "consistent": report.consistent,
        "reason": report.reason,
        "note": report.note,
        "measure": report.measure.value,
        "diffusion": report.diffusion.value,
        "event_date": report.event_date.isoformat(),
        "event_sizing": report.sizing.value,
        "market_event_variance": report.market_event_variance,
        "market_event_day_vol": report.market_event_day_vol,
        "jump_variance": report.jump_variance,
        "jump_event_day_vol": report.jump_event_day_vol,
        "jump_variance_ratio": report.variance_ratio,
        "atm_tolerance_vol_points": report.atm_tolerance,
        "wing_tolerance_vol_points": report.wing_tolerance,
        "pillars": [_pillar(p) for p in report.pillars],
    }


@lru_cache(maxsize=256)
def consistency_block(
    market: MarketSnapshot, scenario_set: ScenarioSet, measure: Measure
) -> dict[str, Any]:
    """:func:`consistency_json` of the cached report, built once per (market, set, measure)
    and shared by the responses: read only."""
    return consistency_json(consistency_report(market, scenario_set, measure))
