"""Path-dependent instruments (barriers, touches, double barriers, double touches, KIKOs and
KOKIs) as request schemas, and their results as JSON rows — ready to sit next to FX options
in ``POST /v1/price``.

Units: ``price`` JPY per unit of notional (per USD for options, per unit of cash for
touches — cash in ``payout_currency``, JPY or USD; a USD amount is worth its spot in JPY when
paid), discounted to the valuation date; ``value`` = price × notional, JPY. A per-scenario
figure a scenario could not be given (too few paths) is ``null``, never NaN.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from pricing.paths.model import Sampling
from pricing.paths.options import Monitoring
from scenarios.fx.instruments import Currency
from scenarios.paths.instruments import (
    BarrierOption,
    BarrierType,
    Direction,
    DoubleBarrierOption,
    DoubleBarrierType,
    DoubleNoTouch,
    DoubleOneTouch,
    KnockInKnockOut,
    KnockInKnockOutStyle,
    OptionType,
    PathInstrument,
    TouchOption,
    TouchType,
    build_barrier_option,
    build_double_barrier_option,
    build_double_no_touch,
    build_double_one_touch,
    build_knock_in_knock_out,
    build_touch_option,
)
from scenarios.paths.simulation import PathMeasure, SimulationSettings
from scenarios.paths.valuation import PathBookValuation
from scenarios.positions import Side
from service.schemas.common import Choice, Date, FiniteFloat, PositionFields, Schema, under


class _Dated(PositionFields):
    """Numbers are only typed here: the domain checks their rules, so a broken rule's field
    path carries no union tag (``instruments[0].cash``, not ``instruments[0].one_touch.cash``)."""

    expiry: Date | None = None
    tenor: str | None = Field(default=None, examples=["3M"])
    notional: FiniteFloat = Field(default=1.0, description="> 0.")
    label: str | None = Field(default=None, max_length=200)


class BarrierOptionIn(_Dated):
    """A knock-in or knock-out call/put; the barrier is watched continuously to expiry."""

    kind: Literal["barrier"]
    option_type: Choice[OptionType]
    barrier_type: Choice[BarrierType]
    strike: FiniteFloat = Field(description="JPY per USD, > 0.")
    barrier: FiniteFloat = Field(description="JPY per USD; above spot for up_and_*.")
    rebate: FiniteFloat = Field(default=0.0, description="JPY per USD, ≥ 0.")
    rebate_at_hit: bool = Field(default=False, description="Knock-outs: rebate paid at the hit.")

    def to_domain(self, valuation_date: dt.date, spot: float, index: int) -> BarrierOption:
        fields = self.contract_fields()
        return under(
            f"instruments[{index}]",
            lambda: build_barrier_option(valuation_date=valuation_date, spot=spot, **fields),
        )


_PAYOUT = (
    "Currency of cash: JPY, or USD (worth the touched barrier in JPY at the hit, spot at "
    "expiry). Price and value stay in JPY."
)


class TouchOptionIn(_Dated):
    """One-touch (pays if spot touches the barrier) or no-touch (pays if it never does)."""

    kind: Literal["one_touch", "no_touch"]
    direction: Choice[Direction] = Field(description="up: barrier above spot; down: below.")
    barrier: FiniteFloat = Field(description="JPY per USD.")
    cash: FiniteFloat = Field(description="Paid per unit of notional in payout_currency, > 0.")
    pay_at_hit: bool = Field(default=False, description="One-touches: paid at the hit.")
    payout_currency: Choice[Currency] = Field(default=Currency.JPY, description=_PAYOUT)

    def to_domain(self, valuation_date: dt.date, spot: float, index: int) -> TouchOption:
        fields = self.contract_fields()
        return under(
            f"instruments[{index}]",
            lambda: build_touch_option(
                valuation_date=valuation_date,
                spot=spot,
                touch_type=TouchType(self.kind),
                **fields,
            ),
        )


class DoubleNoTouchIn(_Dated):
    """Pays ``cash`` at expiry if spot stays strictly between the two barriers."""

    kind: Literal["double_no_touch"]
    lower_barrier: FiniteFloat = Field(description="JPY per USD, below spot.")
    upper_barrier: FiniteFloat = Field(description="JPY per USD, above spot.")
    cash: FiniteFloat = Field(description="Paid per unit of notional in payout_currency, > 0.")
    payout_currency: Choice[Currency] = Field(default=Currency.JPY, description=_PAYOUT)

    def to_domain(self, valuation_date: dt.date, spot: float, index: int) -> DoubleNoTouch:
        fields = self.contract_fields()
        return under(
            f"instruments[{index}]",
            lambda: build_double_no_touch(valuation_date=valuation_date, spot=spot, **fields),
        )


class DoubleOneTouchIn(_Dated):
    """Pays ``cash`` if spot touches either barrier: at the hit, or at expiry."""

    kind: Literal["double_one_touch"]
    lower_barrier: FiniteFloat = Field(description="JPY per USD, below spot.")
    upper_barrier: FiniteFloat = Field(description="JPY per USD, above spot.")
    cash: FiniteFloat = Field(description="Paid per unit of notional in payout_currency, > 0.")
    pay_at_hit: bool = Field(default=False, description="Paid at the hit (else at expiry).")
    payout_currency: Choice[Currency] = Field(default=Currency.JPY, description=_PAYOUT)

    def to_domain(self, valuation_date: dt.date, spot: float, index: int) -> DoubleOneTouch:
        fields = self.contract_fields()
        return under(
            f"instruments[{index}]",
            lambda: build_double_one_touch(valuation_date=valuation_date, spot=spot, **fields),
        )


class DoubleBarrierOptionIn(_Dated):
    """A call/put that dies if spot touches either barrier (``knock_out``), or comes alive if
    it does (``knock_in``: the vanilla less the knock-out); both watched continuously to
    expiry, no rebate."""

    kind: Literal["double_barrier"]
    option_type: Choice[OptionType]
    barrier_type: Choice[DoubleBarrierType]
    strike: FiniteFloat = Field(description="JPY per USD, > 0.")
    lower_barrier: FiniteFloat = Field(description="JPY per USD, below spot.")
    upper_barrier: FiniteFloat = Field(description="JPY per USD, above spot.")

    def to_domain(self, valuation_date: dt.date, spot: float, index: int) -> DoubleBarrierOption:
        fields = self.contract_fields()
        return under(
            f"instruments[{index}]",
            lambda: build_double_barrier_option(valuation_date=valuation_date, spot=spot, **fields),
        )


class KikoIn(_Dated):
    """A call/put that knocks in at one barrier and out at the other (opposite sides of
    spot); pays the vanilla at expiry if knocked in and not out. ``kiko``: the knock-out is
    watched the whole life (closed form before the event); ``koki``: only until the
    knock-in, after which it is a vanilla (path-order dependent: always Monte Carlo)."""

    kind: Literal["kiko", "koki"]
    option_type: Choice[OptionType]
    strike: FiniteFloat = Field(description="JPY per USD, > 0.")
    knock_in_barrier: FiniteFloat = Field(description="JPY per USD, on one side of spot.")
    knock_out_barrier: FiniteFloat = Field(description="JPY per USD, on the other side.")

    def to_domain(self, valuation_date: dt.date, spot: float, index: int) -> KnockInKnockOut:
        fields = self.contract_fields()
        return under(
            f"instruments[{index}]",
            lambda: build_knock_in_knock_out(
                valuation_date=valuation_date,
                spot=spot,
                style=KnockInKnockOutStyle(self.kind),
                **fields,
            ),
        )


PathInstrumentIn = Annotated[
    BarrierOptionIn
    | TouchOptionIn
    | DoubleNoTouchIn
    | DoubleOneTouchIn
    | DoubleBarrierOptionIn
    | KikoIn,
    Field(discriminator="kind"),
]


class PathPricingIn(Schema):
    """How path-dependent instruments are simulated (unused when all expire by the event)."""

    n_paths: int = 50_000
    seed: int = Field(default=0, description="Same seed, same prices; echoed back.")
    antithetic: bool = False
    sampling: Choice[Sampling] = Sampling.PSEUDO
    sobol_replicates: int = 16
    steps_per_year: int | None = Field(default=None, description="null: daily grid.")
    monitoring: Choice[Monitoring] = Field(
        default=Monitoring.BRIDGE,
        description="bridge: continuous, Brownian-bridge crossing probability per step; "
        "bgk: grid checks against the barrier shifted by 0.5826·σ√Δt; discrete: grid checks.",
    )
    measure: Choice[PathMeasure] = PathMeasure.RISK_NEUTRAL

    def to_domain(self, workers: int, prefix: str = "paths") -> SimulationSettings:
        fields = self.model_dump(exclude={"measure"})
        return under(prefix, lambda: SimulationSettings(workers=workers, **fields))


class PathPriceResult(Schema):
    """A barrier, touch, double-barrier, double-touch or KIKO/KOKI line of a
    ``POST /v1/price`` book."""

    label: str | None
    kind: Literal[
        "barrier",
        "one_touch",
        "no_touch",
        "double_no_touch",
        "double_one_touch",
        "double_barrier",
        "kiko",
        "koki",
    ]
    expiry: dt.date
    tenor: str | None
    payout_currency: Currency | None = Field(
        description="Touches: the currency of the cash (price and value are JPY); else null."
    )
    notional: float
    side: Side
    tags: dict[str, str]
    currency: Literal["JPY"] = Field(description="Currency of price and value.")
    after_event: bool = Field(
        description="False: expires on or before the event; the scenarios do not matter."
    )
    price: float = Field(description="Mixture price, JPY per unit of notional.")
    standard_error: float = Field(description="Monte Carlo standard error of price (0: exact).")
    value: float = Field(description="±price × notional by side (sell: −), JPY.")
    scenario_prices: dict[str, float | None] = Field(
        description="Price if each scenario happens; null where too few paths drew it."
    )
    scenario_standard_errors: dict[str, float | None]
    method: Literal["closed_form", "monte_carlo"]
    monitoring: Literal["bridge", "bgk", "discrete", "continuous"] = Field(
        description="How the barrier was watched: continuous for a closed form."
    )
    measure: PathMeasure
    n_paths: int | None = Field(description="Monte Carlo only, as the next three.")
    seed: int | None
    sampling: Sampling | None
    antithetic: bool | None


def _nullable(values: np.ndarray, ok: np.ndarray) -> list[float | None]:
    keep = ok & np.isfinite(values)
    return [float(v) if k else None for v, k in zip(values.tolist(), keep.tolist(), strict=True)]


def path_results(valuation: PathBookValuation) -> list[dict[str, Any]]:
    """One JSON row per contract: price, standard error, per-scenario prices, method
    (:class:`PathPriceResult` once ``POST /v1/price`` adds its currency)."""
    names = valuation.scenario_names
    s = valuation.simulation
    rows = []
    for i, inst in enumerate(valuation.instruments):
        method = valuation.methods[i].value
        ok = valuation.scenario_valid[i]
        rows.append(
            {
                "label": inst.label,
                "kind": _kind(inst),
                "expiry": inst.expiry.isoformat(),
                "tenor": inst.tenor,
                "payout_currency": _payout(inst),
                "notional": inst.notional,
                "after_event": bool(valuation.after_event[i]),
                "price": float(valuation.prices[i]),
                "standard_error": float(valuation.standard_errors[i]),
                "value": float(valuation.values[i]),
                "scenario_prices": dict(
                    zip(names, _nullable(valuation.scenario_prices[i], ok), strict=True)
                ),
                "scenario_standard_errors": dict(
                    zip(names, _nullable(valuation.scenario_standard_errors[i], ok), strict=True)
                ),
                "method": method,
                "monitoring": s.monitoring.value if method == "monte_carlo" else "continuous",
                "measure": valuation.measure.value,
                "n_paths": s.n_paths if method == "monte_carlo" else None,
                "seed": s.seed if method == "monte_carlo" else None,
                "sampling": s.sampling.value if method == "monte_carlo" else None,
                "antithetic": s.antithetic if method == "monte_carlo" else None,
            }
        )
    return rows


def _kind(inst: PathInstrument) -> str:
    if isinstance(inst, BarrierOption):
        return "barrier"
    if isinstance(inst, TouchOption):
        return inst.touch_type.value
    if isinstance(inst, KnockInKnockOut):
        return inst.style.value
    if isinstance(inst, DoubleBarrierOption):
        return "double_barrier"
    if isinstance(inst, DoubleOneTouch):
        return "double_one_touch"
    return "double_no_touch"


def _payout(inst: PathInstrument) -> str | None:
    currency = getattr(inst, "payout_currency", None)
    return currency.value if currency is not None else None
