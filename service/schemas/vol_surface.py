"""``POST /v1/vol-surface``: request and response schemas.

Units: strikes and forwards JPY per USD; vols annualised decimals (0.115 = 11.5%; risk
reversals and butterflies too, −0.014 = −1.4 vol); times in years ACT/365F; densities of
``S_T`` per JPY of strike (T-forward measure). Quotes in the market surface's conventions
(USD/JPY: premium-adjusted delta, spot delta to 1Y, delta-neutral ATM, broker butterfly;
the smile butterfly is given beside it). A null is a figure that could not be solved for
(see ``converged``), never a silent NaN.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

import numpy as np
from pydantic import ConfigDict, Field

from pricing.mixture.measure import Measure
from pricing.vol.arbitrage import ArbitrageReport
from pricing.vol.quoting import SmileQuotes
from scenarios.calibration.fit import Calibration
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.vol.surface_view import SmileView, SurfaceView
from service.schemas.common import Choice, FiniteFloat, PositiveFloat, Schema
from service.schemas.consistency import (
    CONSISTENCY_DESCRIPTION,
    ConsistencyRead,
    consistency_block,
)
from service.schemas.context import (
    DIFFUSION_FIELD,
    Context,
    DiffusionField,
    SourceFields,
    resolve_context,
)
from service.schemas.market_fit import (
    FIT_TO_MARKET_FIELD,
    FitToMarketField,
    MarketFitRead,
    fitted_for_pricing,
    market_fit_read,
)
from service.schemas.results import BUILTIN_SET, MeasureRead, measure_read
from service.schemas.stored import SOURCES_DESCRIPTION, SourcesRead
from service.settings import Settings

DEFAULT_TENORS = ("1W", "1M", "2M", "3M", "6M", "9M", "1Y", "18M", "2Y")
DEFAULT_STRIKE_SPAN = 0.25  # default strike grid: spot·e^{±0.25}, 51 points

_INLINE_EXAMPLE: dict[str, Any] = {
    "scenario_set": {
        "event_date": "2025-07-09",
        "scenarios": [
            {
                "name": "deal",
                "probability": 0.6,
                "level": 156.0,
                "vol": 0.09,
                "smile": {"shift": {"atm": -0.02, "rr25": 0.008}},
            },
            {
                "name": "no_deal",
                "probability": 0.4,
                "level": 138.0,
                "vol": 0.13,
                "smile": {
                    "quotes": [
                        {"tenor": "1M", "atm": 0.13, "rr25": -0.025, "bf25": 0.004},
                        {"tenor": "1Y", "atm": 0.12, "rr25": -0.03, "bf25": 0.005},
                    ]
                },
            },
        ],
    },
    "market": {
        "valuation_date": "2025-06-13",
        "spot": 144.1,
        "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
        "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
        "atm_vols": [{"tenor": "1M", "vol": 0.115}, {"tenor": "1Y", "vol": 0.103}],
        "surface": [
            {"tenor": "1M", "atm": 0.115, "rr25": -0.014, "bf25": 0.003},
            {"tenor": "3M", "atm": 0.108, "rr25": -0.018, "bf25": 0.0035},
            {"tenor": "1Y", "atm": 0.103, "rr25": -0.022, "bf25": 0.004},
        ],
    },
    "tenors": ["1M", "3M", "6M", "1Y"],
    "deltas": [0.25, 0.10],
    "strikes": [130.0, 135.0, 140.0, 145.0, 150.0, 155.0, 160.0],
}


class SetRequest(SourceFields):
    """A built-in scenario set by id or an inline one, on its market or an inline one."""

    diffusion: DiffusionField = DIFFUSION_FIELD
    measure: Choice[Measure] = Field(
        default=Measure.TILT,
        description="tilt: q ∝ p·J^λ with Σ q·J = 1 (default); scale: J ← J/Σ p·J; none: as given.",
    )

    def resolve(self, settings: Settings | None = None) -> Context:
        """The set and market the request prices on, with where they came from."""
        return resolve_context(self, settings, self.diffusion)


class VolSurfaceRequest(SetRequest):
    """Market, per-scenario and mixture smiles at ``tenors``, quoted and on a strike grid."""

    tenors: Annotated[list[str], Field(min_length=1, max_length=40)] = Field(
        default_factory=lambda: list(DEFAULT_TENORS),
        description="Option tenors (1W … 2Y, USD/JPY date rules), sorted.",
    )
    deltas: Annotated[list[FiniteFloat], Field(min_length=1, max_length=6)] = Field(
        default_factory=lambda: [0.25, 0.10],
        description="Wing deltas to quote risk reversals and butterflies at, each in (0, 0.5).",
    )
    strikes: Annotated[list[PositiveFloat], Field(min_length=1, max_length=401)] | None = Field(
        default=None,
        description="Strike grid (JPY per USD) for vols and densities; default 51 strikes "
        "from spot·e^-0.25 to spot·e^0.25.",
    )
    fit_to_market: FitToMarketField = FIT_TO_MARKET_FIELD

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"scenario_set_id": BUILTIN_SET}, _INLINE_EXAMPLE]}
    )

    def resolve_fitted(
        self, settings: Settings | None = None
    ) -> tuple[ScenarioSet, MarketSnapshot, Calibration | None, Context]:
        """The set to quote (the fitted one under ``fit_to_market``), its market, the fit,
        and the context they came from."""
        context = self.resolve(settings)
        scenario_set, market = context.scenario_set, context.market
        if self.fit_to_market is None:
            return scenario_set, market, None, context
        fit, fitted = fitted_for_pricing(market, scenario_set, self.measure, self.fit_to_market)
        return fitted, market, fit, context

    def strike_grid(self, spot: float) -> np.ndarray:
        if self.strikes is not None:
            return np.array(self.strikes, dtype=float)
        return spot * np.exp(np.linspace(-DEFAULT_STRIKE_SPAN, DEFAULT_STRIKE_SPAN, 51))


class WingRead(Schema):
    delta: float
    call_strike: float | None
    put_strike: float | None
    call_vol: float | None
    put_vol: float | None
    rr: float | None = Field(description="Risk reversal: call vol − put vol at ±delta.")
    bf_broker: float | None = Field(description="Broker (market) strangle butterfly.")
    bf_smile: float | None = Field(description="Smile strangle butterfly.")


class TenorQuotesRead(Schema):
    tenor: str
    atm_strike: float | None
    atm_vol: float | None
    wings: list[WingRead]
    converged: bool = Field(description="Every strike and strangle solve of the tenor converged.")


class SmileRead(Schema):
    quotes: list[TenorQuotesRead]
    vols: list[list[float | None]] = Field(description="[tenor][strike] implied vols.")
    densities: list[list[float]] = Field(description="[tenor][strike] density per JPY.")


class ScenarioSmileRead(Schema):
    name: str
    weight: float = Field(description="Pricing weight q.")
    jump_ratio: float
    smile_source: str = Field(description="flat | quotes | shift: the post-event vols' origin.")
    smile: SmileRead = Field(
        description="The smile of the scenario's component: what the expiry would be quoted "
        "at if the scenario were known to happen (the market's before the event)."
    )


class TenorRead(Schema):
    tenor: str
    expiry: dt.date
    delivery: dt.date
    time: float
    forward: float
    after_event: bool


class ButterflyRead(Schema):
    expiry: float
    log_moneyness: float | None = Field(description="Where g < 0; null for a wing (see where).")
    where: str = Field(description="grid | left_wing | right_wing (wing steeper than Lee's 2).")
    value: float = Field(description="Durrleman's g (negative) or the wing's slope (> 2).")


class CalendarRead(Schema):
    earlier_expiry: float
    later_expiry: float
    log_moneyness: float | None
    where: str
    variance_drop: float


class ArbitrageRead(Schema):
    arbitrage_free: bool
    butterfly: list[ButterflyRead]
    calendar: list[CalendarRead]


class MixtureCheckRead(Schema):
    arbitrage_free: bool
    negative_densities: list[dict[str, float]] = Field(
        description="{tenor_index, strike, density} where the mixture density is negative."
    )
    calendar: list[dict[str, float]] = Field(
        description="{earlier_index, later_index, log_moneyness, variance_drop}."
    )


class ArbitrageReads(Schema):
    market: ArbitrageRead | None = Field(description="The market surface's; null if flat.")
    scenarios: dict[str, ArbitrageRead | None] = Field(
        description="Each scenario's post-event surface (tenors from the event); null if flat."
    )
    mixture: MixtureCheckRead


class VolSurfaceResponse(Schema):
    scenario_set_id: str
    sources: SourcesRead = Field(description=SOURCES_DESCRIPTION)
    valuation_date: dt.date
    event_date: dt.date
    spot: float
    measure: MeasureRead
    conventions: dict[str, Any]
    strikes: list[float]
    deltas: list[float]
    tenors: list[TenorRead]
    market: SmileRead
    scenarios: list[ScenarioSmileRead]
    mixture: SmileRead
    arbitrage: ArbitrageReads
    consistency: ConsistencyRead = Field(description=CONSISTENCY_DESCRIPTION)
    fit_to_market: MarketFitRead | None = Field(
        description="The set quoted when `fit_to_market` was asked for: fitted set, fit mode, "
        "status and residuals (null otherwise)."
    )


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _quotes(quotes: SmileQuotes, tenors: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for i, tenor in enumerate(tenors):
        wings = [
            {
                "delta": float(delta),
                "call_strike": _num(quotes.call_strikes[i, j]),
                "put_strike": _num(quotes.put_strikes[i, j]),
                "call_vol": _num(quotes.call_vols[i, j]),
                "put_vol": _num(quotes.put_vols[i, j]),
                "rr": _num(quotes.risk_reversals[i, j]),
                "bf_broker": _num(quotes.broker_butterflies[i, j]),
                "bf_smile": _num(quotes.smile_butterflies[i, j]),
            }
            for j, delta in enumerate(quotes.deltas)
        ]
        rows.append(
            {
                "tenor": tenor,
                "atm_strike": _num(quotes.atm_strikes[i]),
                "atm_vol": _num(quotes.atm_vols[i]),
                "wings": wings,
                "converged": bool(quotes.converged[i].all()) and math.isfinite(quotes.atm_vols[i]),
            }
        )
    return rows


def _smile(view: SmileView, tenors: tuple[str, ...]) -> dict[str, Any]:
    return {
        "quotes": _quotes(view.quotes, tenors),
        "vols": [[_num(v) for v in row] for row in view.vols.tolist()],
        "densities": view.densities.tolist(),
    }


def _where(k: float) -> tuple[float | None, str]:
    if math.isinf(k):
        return None, "right_wing" if k > 0 else "left_wing"
    return k, "grid"


def arbitrage_read(report: ArbitrageReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "arbitrage_free": report.arbitrage_free,
        "butterfly": [
            dict(zip(("log_moneyness", "where"), _where(v.log_moneyness), strict=True))
            | {"expiry": v.expiry, "value": v.value}
            for v in report.butterfly
        ],
        "calendar": [
            dict(zip(("log_moneyness", "where"), _where(v.log_moneyness), strict=True))
            | {
                "earlier_expiry": v.earlier_expiry,
                "later_expiry": v.later_expiry,
                "variance_drop": v.variance_drop,
            }
            for v in report.calendar
        ],
    }


def vol_surface_response(
    scenario_set: ScenarioSet,
    market: MarketSnapshot,
    view: SurfaceView,
    market_fit: Calibration | None = None,
    sources: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The response body as plain JSON types (``market_fit``: the fit ``scenario_set`` came
    from under ``fit_to_market``)."""
    tenors = view.tenors
    c = view.conventions
    e = view.expiries
    names = [s.name for s in scenario_set.scenarios]
    check = view.mixture_check
    return {
        "scenario_set_id": scenario_set.id,
        "sources": sources or {},
        "valuation_date": market.valuation_date.isoformat(),
        "event_date": scenario_set.event_date.isoformat(),
        "spot": market.spot,
        "measure": measure_read(view.fit, scenario_set),
        "conventions": {
            "premium_adjusted": c.premium_adjusted,
            "spot_delta_max_expiry": c.spot_delta_max_expiry,
            "atm": c.atm_type.value,
            "butterfly": c.butterfly.value,
        },
        "strikes": view.strikes.tolist(),
        "deltas": view.deltas.tolist(),
        "tenors": [
            {
                "tenor": tenor,
                "expiry": view.expiry_dates[i].isoformat(),
                "delivery": view.delivery_dates[i].isoformat(),
                "time": float(e.times[i]),
                "forward": float(e.forwards[i]),
                "after_event": bool(view.after_event[i]),
            }
            for i, tenor in enumerate(tenors)
        ],
        "market": _smile(view.market, tenors),
        "scenarios": [
            {
                "name": name,
                "weight": float(view.fit.weights[j]),
                "jump_ratio": float(view.fit.jumps[j]),
                "smile_source": view.sources[j].value,
                "smile": _smile(view.scenarios[j], tenors),
            }
            for j, name in enumerate(names)
        ],
        "mixture": _smile(view.mixture, tenors),
        "arbitrage": {
            "market": arbitrage_read(view.market_arbitrage),
            "scenarios": {
                name: arbitrage_read(report)
                for name, report in zip(names, view.scenario_arbitrage, strict=True)
            },
            "mixture": {
                "arbitrage_free": not check.negative_densities and not check.calendar,
                "negative_densities": [
                    {"tenor_index": i, "strike": k, "density": d}
                    for i, k, d in check.negative_densities
                ],
                "calendar": [
                    {"earlier_index": a, "later_index": b, "log_moneyness": k, "variance_drop": w}
                    for a, b, k, w in check.calendar
                ],
            },
        },
        "consistency": consistency_block(market, scenario_set, view.fit.measure),
        "fit_to_market": market_fit_read(market_fit) if market_fit is not None else None,
    }
