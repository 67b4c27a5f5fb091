"""``POST /v1/cds``: request and response schemas.

Units: par spreads, coupons and shifts in bp; upfronts and accrued as decimals of notional
(0.01 = 1 point, a positive upfront paid by the protection buyer); ``risky_pv01`` per bp of
running spread per unit notional; ``price`` the contract's PV per unit notional to a
protection buyer (unsigned, as every line's price: :mod:`scenarios.positions`), ``value`` =
±price × notional by ``side``, in the contract currency (USD); ``jump_to_default`` the
holder's P&L per unit notional if the entity defaulted now (signed by ``side``: it is P&L).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
from pydantic import ConfigDict, Field

from pricing.credit.cds import STANDARD_TENORS
from pricing.mixture.measure import Measure
from scenarios.credit.curves import (
    CreditMarket,
    CurveOverride,
    CurveSource,
    EntityCurve,
    ScenarioCredit,
)
from scenarios.credit.valuation import CdsBookValuation, CdsContract, build_cds_contract
from scenarios.errors import DomainError
from scenarios.market import MarketSnapshot
from scenarios.positions import Side
from scenarios.scenario import ScenarioSet
from service.schemas.common import Choice, Date, FiniteFloat, PositiveFloat, Schema, under
from service.schemas.consistency import (
    CONSISTENCY_DESCRIPTION,
    ConsistencyRead,
    consistency_block,
)
from service.schemas.context import SourceFields, resolve_context
from service.schemas.results import BUILTIN_SET, MeasureRead, ScenarioPnl, scenario_pnl
from service.schemas.stored import SOURCES_DESCRIPTION, SourcesRead
from service.settings import Settings

Bps = Annotated[list[FiniteFloat], Field(min_length=1, max_length=len(STANDARD_TENORS))]


class EntityCurveIn(Schema):
    """A reference entity's par CDS curve; ``spreads_bp`` one per tenor."""

    entity: str = Field(min_length=1, max_length=100, examples=["toyota"])
    currency: str = Field(default="USD", description="USD only (the market's USD curve).")
    recovery: FiniteFloat = Field(default=0.40, description="Recovery rate in [0, 1).")
    tenors: list[str] = Field(
        default_factory=lambda: list(STANDARD_TENORS),
        max_length=len(STANDARD_TENORS),
        description=f"Standard tenors, increasing: any of {', '.join(STANDARD_TENORS)}.",
    )
    spreads_bp: Bps
    coupon_bp: FiniteFloat = Field(
        default=100.0, description="The entity's standard coupon (100, or 500 for wide names)."
    )
    sensitivities_bp_per_10pp: dict[str, FiniteFloat] = Field(
        default_factory=dict,
        max_length=16,
        description="Driver → bp of par spread per 10pp of the driver (e.g. auto_tariff_pct).",
    )
    description: str = Field(default="", max_length=200)

    def to_domain(self) -> EntityCurve:
        return EntityCurve(
            self.entity, self.currency, self.recovery, tuple(self.tenors),
            tuple(self.spreads_bp), self.coupon_bp, self.sensitivities_bp_per_10pp,
            self.description,
        )  # fmt: skip


class CreditMarketIn(Schema):
    """Base CDS curves. Reference driver levels and tenor weights default to the built-in
    credit market's; the valuation date to the market's."""

    id: str = Field(default="inline", max_length=100)
    valuation_date: Date | None = None
    entities: Annotated[list[EntityCurveIn], Field(min_length=1, max_length=100)]
    reference_drivers: dict[str, FiniteFloat] | None = Field(
        default=None, max_length=16, description="Driver levels (percent) the base curves price."
    )
    tenor_weights: dict[str, FiniteFloat] | None = Field(
        default=None, description="Tenor → share of a driver move reaching it (1 = full)."
    )

    def to_domain(self, valuation_date: dt.date, defaults: CreditMarket | None) -> CreditMarket:
        entities = tuple(
            under(f"credit.entities[{e}]", entity.to_domain)
            for e, entity in enumerate(self.entities)
        )
        references = self.reference_drivers
        weights = self.tenor_weights
        return under(
            "credit",
            lambda: CreditMarket(
                valuation_date=self.valuation_date or valuation_date,
                entities=entities,
                reference_drivers=references
                if references is not None
                else (defaults.reference_drivers if defaults else {}),
                tenor_weights=weights
                if weights is not None
                else (defaults.tenor_weights if defaults else {}),
                id=self.id,
            ),
        )


class CurveOverrideIn(Schema):
    """One entity's curve in one scenario: exactly one of the three."""

    spreads_bp: Bps | None = Field(default=None, description="Par spreads on the base tenors.")
    shift_bp: Bps | None = Field(default=None, description="Per-tenor shift from the base.")
    parallel_shift_bp: FiniteFloat | None = Field(default=None, description="Parallel shift.")

    def to_domain(self, path: str) -> CurveOverride:
        return under(
            path,
            lambda: CurveOverride(
                tuple(self.spreads_bp) if self.spreads_bp is not None else None,
                tuple(self.shift_bp) if self.shift_bp is not None else None,
                self.parallel_shift_bp,
            ),
        )


class CdsContractIn(Schema):
    """A standard contract: give ``tenor`` (6M, 5Y … 30Y: the standard maturity of a trade
    today) or ``maturity`` (a roll date, the 20th of Mar/Jun/Sep/Dec)."""

    entity: str = Field(examples=["toyota"])
    tenor: str | None = Field(default=None, examples=["5Y"])
    maturity: Date | None = None
    coupon_bp: FiniteFloat | None = Field(
        default=None, description="Running coupon; defaults to the entity's standard coupon."
    )
    notional: PositiveFloat = 1.0
    side: Choice[Side] = Field(default=Side.BUY, description="buy or sell protection.")
    label: str | None = Field(default=None, max_length=200)

    def to_domain(self, credit: CreditMarket, index: int) -> CdsContract:
        return under(
            f"contracts[{index}]", lambda: build_cds_contract(credit=credit, **self.model_dump())
        )


class CdsRequest(SourceFields):
    """CDS contracts under a built-in scenario set (by id) or an inline one.

    The market and the credit market default to the built-in set's (for an inline set, to
    those of ``us-japan-tariff-2025-07-09``); inline ones replace them. ``scenario_credit``
    overrides curves by scenario name, then entity.
    """

    credit: CreditMarketIn | None = None
    scenario_credit: dict[str, dict[str, CurveOverrideIn]] = Field(
        default_factory=dict, description="scenario → entity → curve override."
    )
    measure: Choice[Measure] = Field(
        default=Measure.TILT, description="The FX pricing measure whose q mixes the scenarios."
    )
    contracts: Annotated[list[CdsContractIn], Field(min_length=1)]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scenario_set_id": BUILTIN_SET,
                    "contracts": [
                        {"entity": "toyota", "tenor": "5Y", "label": "Toyota 5Y"},
                        {"entity": "nissan", "tenor": "5Y", "side": "sell", "notional": 1e7},
                        {"entity": "japan_autos", "maturity": "2030-06-20", "coupon_bp": 100},
                    ],
                },
                {
                    "scenario_set_id": BUILTIN_SET,
                    "measure": "scale",
                    "scenario_credit": {
                        "escalation": {"nissan": {"parallel_shift_bp": 150.0}},
                        "comprehensive_deal": {
                            "toyota": {"spreads_bp": [10, 12, 16, 21, 26, 30, 37, 43]}
                        },
                    },
                    "contracts": [
                        {"entity": "nissan", "tenor": "3Y"},
                        {"entity": "toyota", "tenor": "10Y", "notional": 5e6},
                    ],
                },
                {
                    "scenario_set": {
                        "event_date": "2025-07-09",
                        "scenarios": [
                            {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09,
                             "drivers": {"auto_tariff_pct": 10.0}},
                            {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13,
                             "drivers": {"auto_tariff_pct": 25.0}},
                        ],
                    },
                    "market": {
                        "valuation_date": "2025-06-13",
                        "spot": 144.1,
                        "usd_curve": [{"tenor": "1Y", "rate": 0.04},
                                      {"tenor": "5Y", "rate": 0.036}],
                        "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
                        "atm_vols": [{"tenor": "1M", "vol": 0.115}, {"tenor": "1Y", "vol": 0.103}],
                    },
                    "credit": {
                        "reference_drivers": {"auto_tariff_pct": 16.0},
                        "entities": [
                            {"entity": "mazda", "recovery": 0.4, "tenors": ["1Y", "3Y", "5Y"],
                             "spreads_bp": [40, 70, 95], "coupon_bp": 100,
                             "sensitivities_bp_per_10pp": {"auto_tariff_pct": 25.0}},
                        ],
                    },
                    "contracts": [{"entity": "mazda", "tenor": "5Y", "notional": 1e7}],
                },
            ]
        }
    )  # fmt: skip


class CdsFiguresRead(Schema):
    par_spread_bp: float
    clean_upfront: float = Field(description="Points upfront (decimal) paid by a buyer.")
    dirty_upfront: float = Field(description="Clean upfront − accrued: the cash to settle.")
    accrued: float = Field(description="Coupon accrued to the step-in date (decimal).")
    risky_pv01: float = Field(description="PV of 1bp running, per unit notional.")
    jump_to_default: float = Field(description="Holder's P&L on default now, per unit.")
    price: float = Field(
        description="PV per unit notional to a protection buyer (unsigned, as every line's price)."
    )
    value: float = Field(
        description="The position's PV: ±price × notional by side (sell: −), contract currency."
    )


class CdsResult(Schema):
    label: str | None
    entity: str
    currency: str
    side: Side
    tenor: str | None
    maturity: dt.date
    coupon_bp: float
    notional: float
    mixture: CdsFiguresRead = Field(description="Under the pricing measure q.")
    base: CdsFiguresRead = Field(description="On today's base curves, no scenario.")
    scenarios: dict[str, CdsFiguresRead] = Field(description="If each scenario happens.")


class CurveRead(Schema):
    source: CurveSource = Field(description="base | drivers | shift | direct")
    spreads_bp: list[float]


class EntityRead(Schema):
    entity: str
    currency: str
    recovery: float
    coupon_bp: float
    tenors: list[str]
    spreads_bp: list[float] = Field(description="Base par spreads.")


class CdsResponse(Schema):
    scenario_set_id: str
    sources: SourcesRead = Field(description=SOURCES_DESCRIPTION)
    credit_id: str
    valuation_date: dt.date
    event_date: dt.date
    measure: MeasureRead
    entities: list[EntityRead]
    curves: dict[str, dict[str, CurveRead]] = Field(description="scenario → entity → curve.")
    results: list[CdsResult]
    scenario_pnl: ScenarioPnl
    consistency: ConsistencyRead = Field(
        description=CONSISTENCY_DESCRIPTION + " The FX market read with diffusion ex_event "
        "(a CDS request takes no diffusion)."
    )


@dataclass(frozen=True)
class CdsJob:
    """A CDS request resolved to domain objects: the keyword arguments of value_cds_book."""

    market: MarketSnapshot
    scenario_set: ScenarioSet
    credit: CreditMarket
    contracts: tuple[CdsContract, ...]
    measure: Measure
    scenario_credit: ScenarioCredit
    sources: dict[str, Any] = field(default_factory=dict)  # SourcesRead


def to_cds_job(request: CdsRequest, max_contracts: int, settings: Settings | None = None) -> CdsJob:
    """Resolve the set, the markets, the overrides and the contracts."""
    if len(request.contracts) > max_contracts:
        raise DomainError.field(
            "contracts",
            f"must hold at most {max_contracts} contracts per request, "
            f"got {len(request.contracts)}",
        )
    context = resolve_context(request, settings)
    scenario_set, market = context.scenario_set, context.market
    if request.credit is not None:
        credit = request.credit.to_domain(market.valuation_date, context.credit)
    elif context.credit is not None:
        credit = context.credit
    else:
        raise DomainError.field("credit", f"is required: {scenario_set.id} has none")
    overrides = {
        scenario: {
            entity: o.to_domain(f"scenario_credit.{scenario}.{entity}")
            for entity, o in by_entity.items()
        }
        for scenario, by_entity in request.scenario_credit.items()
    }
    contracts = tuple(c.to_domain(credit, j) for j, c in enumerate(request.contracts))
    return CdsJob(
        market, scenario_set, credit, contracts, request.measure, overrides, context.sources_json()
    )


def cds_figures(v: CdsBookValuation, which: str, notionals: np.ndarray) -> list[Any]:
    """Rows of figures per contract; ``which`` is mixture, base or scenarios ([n, m])."""
    f = getattr(v, which)
    names = ("par_spreads_bp", "clean_upfronts", "dirty_upfronts", "accrued", "risky_pv01s",
             "jump_to_defaults", "values")  # fmt: skip
    keys = ("par_spread_bp", "clean_upfront", "dirty_upfront", "accrued", "risky_pv01",
            "jump_to_default", "price")  # fmt: skip
    columns = {k: getattr(f, name) for k, name in zip(keys, names, strict=True)}
    shape = (-1, 1) if which == "scenarios" else (-1,)
    columns["price"] = f.values * v.signs.reshape(shape)  # the buyer's, as every line's price
    columns["value"] = f.values * notionals.reshape(shape)
    lists = {k: c.tolist() for k, c in columns.items()}
    n = len(notionals)
    if which != "scenarios":
        return [{k: lists[k][j] for k in lists} for j in range(n)]
    return [
        {s: {k: lists[k][j][i] for k in lists} for i, s in enumerate(v.scenario_names)}
        for j in range(n)
    ]


def cds_response(job: CdsJob, v: CdsBookValuation) -> dict[str, Any]:
    """The response body as plain JSON types."""
    fit, names, credit = v.fit, v.scenario_names, job.credit
    mixture, base = cds_figures(v, "mixture", v.notionals), cds_figures(v, "base", v.notionals)
    scenarios = cds_figures(v, "scenarios", v.notionals)
    results = [
        {
            "label": c.label,
            "entity": c.entity,
            "currency": c.currency,
            "side": c.side.value,
            "tenor": c.tenor,
            "maturity": c.maturity.isoformat(),
            "coupon_bp": c.coupon_bp,
            "notional": c.notional,
            "mixture": mixture[j],
            "base": base[j],
            "scenarios": scenarios[j],
        }
        for j, c in enumerate(v.contracts)
    ]
    curves = {
        s: {
            entity: {
                "source": v.curves.sources[i][e].value,
                "spreads_bp": v.curves.spreads_bp[e][i].tolist(),
            }
            for e, entity in enumerate(v.curves.entities)
        }
        for i, s in enumerate(names)
    }
    return {
        "scenario_set_id": job.scenario_set.id,
        "sources": job.sources,
        "credit_id": credit.id,
        "valuation_date": job.market.valuation_date.isoformat(),
        "event_date": job.scenario_set.event_date.isoformat(),
        "measure": {
            "measure": fit.measure.value,
            "tilt_lambda": fit.tilt,
            "forward_mismatch": fit.forward_mismatch,
            "subjective_forward_mismatch": fit.subjective_mismatch,
            "probabilities": {s.name: s.probability for s in job.scenario_set.scenarios},
            "weights": dict(zip(names, fit.weights.tolist(), strict=True)),
            "jump_ratios": dict(zip(names, fit.jumps.tolist(), strict=True)),
        },
        "entities": [
            {
                "entity": e.entity,
                "currency": e.currency,
                "recovery": e.recovery,
                "coupon_bp": e.coupon_bp,
                "tenors": list(e.tenors),
                "spreads_bp": list(e.spreads_bp),
            }
            for e in credit.entities
        ],
        "curves": curves,
        "results": results,
        "scenario_pnl": scenario_pnl(
            names,
            [c.label or f"contracts[{j}]" for j, c in enumerate(v.contracts)],
            v.scenario_values,
            v.mixture_values,
        ),
        "consistency": consistency_block(job.market, job.scenario_set, job.measure),
    }
