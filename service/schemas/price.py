"""``POST /v1/price``: request and response schemas.

Units: ``price`` is the mixture premium in JPY per unit of notional, discounted to the
valuation date (per USD for vanillas, forwards and USD-paying digitals; per JPY of payout for
JPY-paying digitals). Greeks are per unit of notional: ``delta`` in USD per unit (∂price/∂S0),
``gamma`` per JPY, ``vega`` per 1.00 of vol (×0.01 for a vol point), ``theta`` per year,
``rho_jpy``/``rho_usd`` per 1.00 of rate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import ConfigDict, Field

from pricing.measure import Measure
from scenarios.catalog import builtin_entry
from scenarios.errors import DomainError
from scenarios.instruments import Currency, FxOption, OptionKind, build_fx_option
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.valuation import BookValuation
from service.schemas.common import PositiveFloat, Schema, under
from service.schemas.market import MarketIn, ScenarioSetIn

BUILTIN_SET = "us-japan-tariff-2025-07-09"


class InstrumentIn(Schema):
    """One European payoff. Give ``expiry`` (a date) or ``tenor`` (ON, 1W … 2Y)."""

    kind: OptionKind
    strike: PositiveFloat = Field(description="JPY per USD.")
    expiry: dt.date | None = None
    tenor: str | None = Field(default=None, examples=["3M"])
    delivery: dt.date | None = Field(
        default=None,
        description="Settlement date; defaults to the expiry for a dated expiry, and to the "
        "USD/JPY spot rule for a tenor.",
    )
    payout_currency: Currency | None = Field(
        default=None, description="Digitals only: the currency of the fixed payout."
    )
    notional: PositiveFloat = 1.0
    label: str | None = Field(default=None, max_length=200)

    def to_domain(self, valuation_date: dt.date, index: int) -> FxOption:
        return under(
            f"instruments[{index}]",
            lambda: build_fx_option(valuation_date=valuation_date, **self.model_dump()),
        )


class PriceRequest(Schema):
    """Price instruments under a built-in scenario set (by id) or an inline one.

    The market defaults to the built-in set's market; an inline ``market`` overrides it.
    """

    scenario_set_id: str | None = Field(default=None, examples=[BUILTIN_SET])
    scenario_set: ScenarioSetIn | None = None
    market: MarketIn | None = None
    measure: Measure = Field(
        default=Measure.TILT,
        description="tilt: q ∝ p·J^λ with Σ q·J = 1 (default); scale: J ← J/Σ p·J; "
        "none: as given, forward mismatch reported.",
    )
    instruments: Annotated[list[InstrumentIn], Field(min_length=1)]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scenario_set_id": BUILTIN_SET,
                    "instruments": [
                        {"kind": "call", "strike": 150.0, "tenor": "3M", "label": "3M 150 call"},
                        {"kind": "put", "strike": 140.0, "expiry": "2025-09-12"},
                        {
                            "kind": "digital_call",
                            "strike": 155.0,
                            "tenor": "1M",
                            "payout_currency": "JPY",
                        },
                    ],
                },
                {
                    "scenario_set": {
                        "event_date": "2025-07-09",
                        "scenarios": [
                            {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09},
                            {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13},
                        ],
                    },
                    "market": {
                        "valuation_date": "2025-06-13",
                        "spot": 144.1,
                        "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
                        "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
                        "atm_vols": [{"tenor": "1M", "vol": 0.115}, {"tenor": "1Y", "vol": 0.103}],
                    },
                    "measure": "tilt",
                    "instruments": [{"kind": "call", "strike": 145.0, "tenor": "1M"}],
                },
            ]
        }
    )


class Greeks(Schema):
    delta: float = Field(description="∂price/∂S0 at fixed jump ratios, USD per unit.")
    delta_premium_adjusted: float = Field(description="delta − price/S0 (premium in USD).")
    gamma: float = Field(description="∂²price/∂S0², per JPY.")
    vega: float = Field(description="∂price/∂σ, parallel shift of every vol, per 1.00 of vol.")
    theta: float = Field(description="∂price/∂t per year as the valuation date rolls.")
    rho_jpy: float = Field(description="∂price/∂r_JPY per 1.00 of rate.")
    rho_usd: float = Field(description="∂price/∂r_USD per 1.00 of rate.")


class InstrumentResult(Schema):
    label: str | None
    kind: OptionKind
    strike: float
    expiry: dt.date
    delivery: dt.date
    tenor: str | None
    payout_currency: Currency | None
    notional: float
    after_event: bool = Field(
        description="False: expires on or before the event; the scenarios do not matter."
    )
    forward: float = Field(description="Market forward to delivery, JPY per USD.")
    price: float = Field(description="Mixture premium, JPY per unit of notional.")
    value: float = Field(description="price × notional, JPY.")
    greeks: Greeks
    scenario_prices: dict[str, float] = Field(
        description="Price in each scenario (= ∂price/∂q_i), JPY per unit of notional."
    )
    dprice_dlevel: dict[str, float] = Field(
        description="∂price/∂L_i per JPY of post-event level, through the re-solved measure."
    )
    implied_vol: float | None = Field(description="Black vol of the mixture price (vanillas).")
    implied_vol_status: str = Field(
        description="converged | not_vanilla | below_intrinsic | above_upper_bound | "
        "no_time_value | bad_input | not_converged"
    )


class MeasureRead(Schema):
    measure: Measure
    tilt_lambda: float | None = Field(description="λ of the tilt, null for scale/none.")
    forward_mismatch: float = Field(description="Σ q·J − 1 embedded in the prices.")
    subjective_forward_mismatch: float = Field(description="Σ p·J − 1 before any adjustment.")
    probabilities: dict[str, float] = Field(description="Subjective p by scenario.")
    weights: dict[str, float] = Field(description="Pricing weights q by scenario.")
    jump_ratios: dict[str, float] = Field(description="Jump ratios J priced with, by scenario.")


class ScenarioPnl(Schema):
    scenarios: list[str]
    instruments: list[str] = Field(description="Each instrument's label, or its path.")
    values: list[list[float]] = Field(
        description="[scenario][instrument]: value × notional if the scenario happens."
    )
    pnl: list[list[float]] = Field(
        description="[scenario][instrument]: value in the scenario minus today's mixture value."
    )


class PriceResponse(Schema):
    scenario_set_id: str
    valuation_date: dt.date
    event_date: dt.date
    spot: float
    measure: MeasureRead
    results: list[InstrumentResult]
    scenario_pnl: ScenarioPnl


_IV_STATUS = {
    -1: "not_vanilla",
    0: "converged",
    1: "below_intrinsic",
    2: "above_upper_bound",
    3: "no_time_value",
    4: "bad_input",
    5: "not_converged",
}


@dataclass(frozen=True)
class PriceJob:
    """A price request resolved to domain objects."""

    scenario_set: ScenarioSet
    market: MarketSnapshot
    options: tuple[FxOption, ...]
    measure: Measure


def to_job(request: PriceRequest, max_instruments: int) -> PriceJob:
    """Resolve the set (built-in or inline), the market and the instruments."""
    if (request.scenario_set_id is None) == (request.scenario_set is None):
        raise DomainError.field(
            "scenario_set_id", "give exactly one of scenario_set_id or scenario_set"
        )
    if len(request.instruments) > max_instruments:
        raise DomainError.field(
            "instruments",
            f"must hold at most {max_instruments} instruments per request, "
            f"got {len(request.instruments)}",
        )
    entry = builtin_entry(request.scenario_set_id or BUILTIN_SET)
    scenario_set = request.scenario_set.to_domain() if request.scenario_set else entry.scenario_set
    market = request.market.to_domain() if request.market else entry.market
    under("scenario_set", lambda: scenario_set.check_against(market.valuation_date))
    options = tuple(
        inst.to_domain(market.valuation_date, i) for i, inst in enumerate(request.instruments)
    )
    return PriceJob(scenario_set, market, options, request.measure)


def price_response(job: PriceJob, valuation: BookValuation) -> dict[str, Any]:
    """The response body as plain JSON types (built directly: books can be large)."""
    names = valuation.scenario_names
    fit = valuation.fit
    g = valuation.greeks
    columns = {
        name: getattr(g, name).tolist()
        for name in (
            "price",
            "delta",
            "delta_premium_adjusted",
            "gamma",
            "vega",
            "theta",
            "rho_jpy",
            "rho_usd",
        )
    }
    scenario_values = g.scenario_values.tolist()
    d_levels = valuation.d_levels.tolist()
    forwards = valuation.forwards.tolist()
    after = valuation.after_event.tolist()
    ivs = valuation.implied_vols.tolist()
    iv_ok = valuation.implied_ok.tolist()
    iv_status = valuation.implied_status.tolist()
    notionals = np.array([o.notional for o in job.options])
    results = []
    for i, o in enumerate(job.options):
        price = columns["price"][i]
        results.append(
            {
                "label": o.label,
                "kind": o.kind.value,
                "strike": o.strike,
                "expiry": o.expiry.isoformat(),
                "delivery": o.delivery.isoformat(),
                "tenor": o.tenor,
                "payout_currency": o.payout_currency.value if o.payout_currency else None,
                "notional": o.notional,
                "after_event": after[i],
                "forward": forwards[i],
                "price": price,
                "value": price * o.notional,
                "greeks": {k: columns[k][i] for k in columns if k != "price"},
                "scenario_prices": dict(zip(names, scenario_values[i], strict=True)),
                "dprice_dlevel": dict(zip(names, d_levels[i], strict=True)),
                "implied_vol": ivs[i] if iv_ok[i] else None,
                "implied_vol_status": _IV_STATUS[iv_status[i]],
            }
        )
    scenarios = job.scenario_set.scenarios
    return {
        "scenario_set_id": job.scenario_set.id,
        "valuation_date": job.market.valuation_date.isoformat(),
        "event_date": job.scenario_set.event_date.isoformat(),
        "spot": job.market.spot,
        "measure": {
            "measure": fit.measure.value,
            "tilt_lambda": fit.tilt,
            "forward_mismatch": fit.forward_mismatch,
            "subjective_forward_mismatch": fit.subjective_mismatch,
            "probabilities": {s.name: s.probability for s in scenarios},
            "weights": dict(zip(names, fit.weights.tolist(), strict=True)),
            "jump_ratios": dict(zip(names, fit.jumps.tolist(), strict=True)),
        },
        "results": results,
        "scenario_pnl": scenario_pnl(
            names,
            [o.label or f"instruments[{i}]" for i, o in enumerate(job.options)],
            g.scenario_values * notionals[:, None],
            g.price * notionals,
        ),
    }


def scenario_pnl(
    names: tuple[str, ...], labels: list[str], values: np.ndarray, mixture: np.ndarray
) -> dict[str, Any]:
    """Scenario × instrument matrix: value if scenario i happens, and P&L against today's
    mixture value (both × notional, in each instrument's currency)."""
    return {
        "scenarios": list(names),
        "instruments": labels,
        "values": values.T.tolist(),
        "pnl": (values - mixture[:, None]).T.tolist(),
    }
