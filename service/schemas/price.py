"""``POST /v1/price``: request and response schemas.

Positions (one convention for every kind, :mod:`scenarios.positions`): each line has a
``side`` (``buy``/``sell``) and a positive ``notional``. ``price`` is per unit and unsigned;
``value``, ``position``, the scenario matrix and the totals carry the sign.

Units: ``price`` is the mixture premium in JPY per unit of notional, discounted to the
valuation date (per USD for vanillas, forwards and USD-paying digitals; per JPY of payout for
JPY-paying digitals). ``greeks`` are per unit of notional and per 1.00: ``delta`` in USD per
unit (∂price/∂S0), ``gamma`` per JPY, ``vega`` per 1.00 of vol, ``theta`` per year,
``rho_jpy``/``rho_usd`` per 1.00 of rate. ``position`` holds the same in desk units for the
position (delta in USD, JPY and % of notional, gamma per big figure, vega per vol point,
theta per calendar day, rho per bp; :mod:`scenarios.book_totals`), and ``totals``/``groups``
their sums with the book's value per scenario converted to ``reporting_currency``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import ConfigDict, Discriminator, Field, PlainValidator, Tag, WithJsonSchema
from pydantic_core import PydanticCustomError

from pricing.mixture.measure import Measure, MeasureFit
from scenarios.book import MixedBook, MixedValuation
from scenarios.book_totals import DESK_GREEKS, ReportingCurrency
from scenarios.calibration.fit import Calibration
from scenarios.credit.curves import CreditMarket
from scenarios.credit.valuation import CdsContract, build_cds_contract
from scenarios.errors import DomainError
from scenarios.fx.instruments import Currency, FxOption, OptionKind, build_fx_option
from scenarios.fx.strike_spec import ResolvedStrike, parse_strike_spec, resolve_strikes
from scenarios.fx.valuation import fit_measure
from scenarios.market import MarketSnapshot
from scenarios.positions import Side
from scenarios.scenario import ScenarioSet
from service.schemas.book_totals import (
    BookTotalsRead,
    GroupTotalsRead,
    PositionRisk,
    book_conversion,
    fx_position_risk,
    totals_json,
    valued_rows,
)
from service.schemas.cds import (
    CdsContractIn,
    CdsFiguresRead,
    CreditMarketIn,
    CurveOverrideIn,
    cds_figures,
)
from service.schemas.common import (
    Choice,
    Date,
    PositionFields,
    PositiveFloat,
    Schema,
    TagKey,
    Tags,
    under,
)
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
from service.schemas.path_instruments import (
    BarrierOptionIn,
    DoubleBarrierOptionIn,
    DoubleNoTouchIn,
    DoubleOneTouchIn,
    KikoIn,
    PathInstrumentIn,
    PathPriceResult,
    PathPricingIn,
    TouchOptionIn,
    path_results,
)
from service.schemas.paths import path_limits
from service.schemas.results import (
    BUILTIN_SET,
    INLINE_SET_AND_MARKET,
    MeasureRead,
    ScenarioPnl,
    measure_read,
    scenario_pnl,
)
from service.schemas.stored import SOURCES_DESCRIPTION, SourcesRead
from service.settings import Settings


def _strike_input(value: Any) -> float | str:
    """A strike is a number > 0 (not a bool) or a short text for :func:`parse_strike_spec`."""
    if isinstance(value, str) and len(value) <= 16:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value) and value > 0:
            return float(value)
        raise PydanticCustomError("strike", "must be a finite number > 0 (JPY per USD)")
    raise PydanticCustomError(
        "strike",
        "must be a number (JPY per USD) or a strike in desk terms of at most 16 characters "
        "('25D', '10D', 'ATM', 'ATMF')",
    )


StrikeInput = Annotated[
    float | str,
    PlainValidator(_strike_input),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "maxLength": 16, "pattern": "^(ATMF?|\\d+(\\.\\d+)?D)$"},
            ]
        }
    ),
]


class InstrumentIn(PositionFields):
    """One European payoff. Give ``expiry`` (a date) or ``tenor`` (ON, 1W … 2Y)."""

    kind: Choice[OptionKind]
    strike: StrikeInput = Field(
        description='JPY per USD, or in desk terms: "25D", "10D" (any "<n>D", 0 < n '
        '< 50; call delta for calls, put delta for puts), "ATM" (delta-neutral straddle) or '
        '"ATMF" (the forward), read off the market surface in its delta convention '
        "(premium-adjusted spot delta to 1Y, forward beyond); the resolved strike is returned.",
        examples=[150.0, "25D", "ATM"],
    )
    expiry: Date | None = None
    tenor: str | None = Field(default=None, examples=["3M"])
    delivery: Date | None = Field(
        default=None,
        description="Settlement date; defaults to the USD/JPY spot date of the expiry (T+2, "
        "New York/Tokyo) for a dated expiry, and to the USD/JPY spot rule for a tenor.",
    )
    payout_currency: Choice[Currency] | None = Field(
        default=None, description="Digitals only: the currency of the fixed payout."
    )
    notional: PositiveFloat = 1.0
    label: str | None = Field(default=None, max_length=200)

    def to_domain(self, valuation_date: dt.date, index: int, spec_strike: float = 1.0) -> FxOption:
        """The contract; a strike in desk terms is built at ``spec_strike`` and resolved by
        :func:`to_job` once the line's dates are known."""
        strike = spec_strike if isinstance(self.strike, str) else self.strike
        try:  # every field by name: model_dump costs more than the build (~5 µs a line)
            return build_fx_option(
                valuation_date=valuation_date,
                kind=self.kind,
                strike=strike,
                expiry=self.expiry,
                tenor=self.tenor,
                delivery=self.delivery,
                payout_currency=self.payout_currency,
                notional=self.notional,
                label=self.label,
            )
        except DomainError as exc:
            raise exc.prefixed(f"instruments[{index}]") from None


class CdsInstrumentIn(CdsContractIn):
    """A standard CDS contract on an automaker (see ``POST /v1/cds``) inside a mixed book."""

    kind: Literal["cds"]
    tags: Tags = Field(default_factory=dict)


_PATH_KINDS = frozenset(
    {"barrier", "one_touch", "no_touch", "double_no_touch"}
    | {"double_one_touch", "double_barrier", "kiko", "koki"}
)


def _family(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    if not isinstance(kind, str):  # a missing or malformed kind: the fx member names it
        return "fx"
    if kind == "cds":
        return "cds"
    return "path" if kind in _PATH_KINDS else "fx"


# the tag names appear in pydantic's error locations; service.problems drops them
Instrument = Annotated[
    Annotated[InstrumentIn, Tag("fx")]
    | Annotated[CdsInstrumentIn, Tag("cds")]
    | Annotated[PathInstrumentIn, Tag("path")],
    Discriminator(_family),
]


class PriceRequest(SourceFields):
    """Price instruments under a built-in scenario set (by id) or an inline one.

    The market defaults to the built-in set's market; an inline ``market`` overrides it.
    """

    diffusion: DiffusionField = DIFFUSION_FIELD
    measure: Choice[Measure] = Field(
        default=Measure.TILT,
        description="tilt: q ∝ p·J^λ with Σ q·J = 1 (default); scale: J ← J/Σ p·J; "
        "none: as given, forward mismatch reported.",
    )
    fit_to_market: FitToMarketField = FIT_TO_MARKET_FIELD
    instruments: Annotated[list[Instrument], Field(min_length=1)]
    credit: CreditMarketIn | None = Field(
        default=None, description="Credit market for CDS lines; defaults to the set's own."
    )
    scenario_credit: dict[str, dict[str, CurveOverrideIn]] = Field(
        default_factory=dict, description="Per-scenario CDS curve overrides: scenario → entity."
    )
    paths: PathPricingIn = Field(
        default_factory=PathPricingIn,
        description="Monte Carlo settings for barrier and touch lines (seeded: same seed, "
        "same prices); unused when every such line expires by the event (closed forms).",
    )
    reporting_currency: Choice[ReportingCurrency] = Field(
        default=ReportingCurrency.JPY,
        description="Currency of the book's converted totals: today's value at the market "
        "forward to the event, each scenario's at its post-event level (rates returned).",
    )
    group_by: Annotated[list[TagKey], Field(max_length=8)] = Field(
        default_factory=list,
        description="Tag keys to sub-total by: one group per value of each key (lines "
        "without the tag in a group of their own).",
        examples=[["desk"]],
    )
    totals: bool = Field(default=True, description="false: lines only, no book totals.")

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
                    **INLINE_SET_AND_MARKET,
                    "measure": "tilt",
                    "instruments": [{"kind": "call", "strike": 145.0, "tenor": "1M"}],
                },
                {
                    "scenario_set_id": BUILTIN_SET,
                    "instruments": [
                        {"kind": "put", "strike": 140.0, "tenor": "3M", "notional": 1e6},
                        {
                            "kind": "one_touch",
                            "direction": "up",
                            "barrier": 155.0,
                            "cash": 1.0,
                            "tenor": "3M",
                            "pay_at_hit": True,
                            "notional": 1e6,
                        },
                        {"kind": "cds", "entity": "nissan", "tenor": "5Y", "notional": 1e7},
                    ],
                    "paths": {"n_paths": 20000, "seed": 7},
                },
                {
                    "scenario_set_id": BUILTIN_SET,
                    "reporting_currency": "USD",
                    "group_by": ["desk"],
                    "instruments": [
                        {
                            "kind": "call",
                            "strike": 150.0,
                            "tenor": "3M",
                            "notional": 1e7,
                            "side": "buy",
                            "tags": {"desk": "g10", "trader": "x"},
                        },
                        {
                            "kind": "put",
                            "strike": 140.0,
                            "tenor": "3M",
                            "notional": 1e7,
                            "side": "sell",
                            "tags": {"desk": "g10", "trader": "y"},
                        },
                        {
                            "kind": "cds",
                            "entity": "toyota",
                            "tenor": "5Y",
                            "notional": 1e7,
                            "side": "sell",
                            "tags": {"desk": "credit"},
                        },
                    ],
                },
                {
                    "scenario_set_id": BUILTIN_SET,
                    "fit_to_market": "jump_scale",
                    "instruments": [{"kind": "call", "strike": 150.0, "tenor": "3M"}],
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
    strike: float = Field(description="JPY per USD: as given, or resolved from `strike_spec`.")
    strike_spec: str | None = Field(description="The strike as given in desk terms, or null.")
    strike_delta_convention: str | None = Field(
        description="The delta convention a desk-terms strike was read in "
        "(premium_adjusted_spot | premium_adjusted_forward | spot | forward), null otherwise."
    )
    strike_vol: float | None = Field(
        description="The market smile's vol at the resolved strike (desk-terms strikes)."
    )
    expiry: dt.date
    delivery: dt.date
    tenor: str | None
    payout_currency: Currency | None
    notional: float
    side: Side
    tags: dict[str, str]
    currency: Literal["JPY"] = Field(description="Currency of price and value.")
    after_event: bool = Field(
        description="False: expires on or before the event; the scenarios do not matter."
    )
    forward: float = Field(description="Market forward to delivery, JPY per USD.")
    price: float = Field(description="Mixture premium, JPY per unit of notional (unsigned).")
    value: float = Field(description="±price × notional by side (sell: −), JPY.")
    greeks: Greeks = Field(description="Per unit of notional, unsigned, per 1.00 (see units).")
    position: PositionRisk = Field(description="The position's Greeks in desk units.")
    scenario_prices: dict[str, float] = Field(
        description="Price in each scenario (= ∂price/∂q_i), JPY per unit of notional."
    )
    dprice_dlevel: dict[str, float] = Field(
        description="∂price/∂L_i per JPY of post-event level, through the re-solved measure: "
        "per scenario, or for a tree per branch ('<node id>/<branch name>', L = S0·J of that "
        "decision alone)."
    )
    implied_vol: float | None = Field(description="Black vol of the mixture price (vanillas).")
    implied_vol_status: str = Field(
        description="converged | not_vanilla | below_intrinsic | above_upper_bound | "
        "no_time_value | bad_input | not_converged"
    )


class CdsPriceResult(Schema):
    """A CDS line of the book: the holder's PV under the mixture, base and each scenario."""

    label: str | None
    kind: Literal["cds"]
    entity: str
    side: Side
    tags: dict[str, str]
    tenor: str | None
    maturity: dt.date
    coupon_bp: float
    notional: float
    currency: str
    price: float = Field(
        description="PV per unit notional to a protection buyer under the mixture (unsigned)."
    )
    value: float = Field(description="±price × notional by side, contract currency.")
    scenario_prices: dict[str, float]
    mixture: CdsFiguresRead
    base: CdsFiguresRead
    scenarios: dict[str, CdsFiguresRead]


class PriceResponse(Schema):
    scenario_set_id: str
    sources: SourcesRead = Field(description=SOURCES_DESCRIPTION)
    valuation_date: dt.date
    event_date: dt.date
    spot: float
    measure: MeasureRead
    results: list[InstrumentResult | CdsPriceResult | PathPriceResult] = Field(
        description="One row per instrument, in the request's order: an FX option's, a CDS "
        "contract's or a barrier / touch line's (by `kind`)."
    )
    scenario_pnl: ScenarioPnl
    totals: BookTotalsRead | None = Field(
        description="The book's totals (null when the request asks for none)."
    )
    groups: list[GroupTotalsRead] = Field(
        description="Sub-totals per value of each `group_by` tag key, in that order."
    )
    consistency: ConsistencyRead = Field(description=CONSISTENCY_DESCRIPTION)
    fit_to_market: MarketFitRead | None = Field(
        description="The set the book was priced under when `fit_to_market` was asked for: "
        "fitted set, fit mode, status and residuals (null otherwise)."
    )


_IV_STATUS = {
    -1: "not_vanilla",
    0: "converged",
    1: "below_intrinsic",
    2: "above_upper_bound",
    3: "no_time_value",
    4: "bad_input",
    5: "not_converged",
}


_PATH_TYPES = (
    BarrierOptionIn,
    TouchOptionIn,
    DoubleNoTouchIn,
    DoubleOneTouchIn,
    DoubleBarrierOptionIn,
    KikoIn,
)


@dataclass(slots=True)  # per request, read only (see scenarios.book.MixedBook)
class PriceJob:
    """A price request resolved to domain objects."""

    scenario_set: ScenarioSet
    market: MarketSnapshot
    book: MixedBook
    measure: Measure
    labels: tuple[str, ...]
    tags: tuple[dict[str, str], ...]
    reporting_currency: ReportingCurrency = ReportingCurrency.JPY
    group_by: list[str] = field(default_factory=list)
    totals: bool = True
    strike_specs: dict[int, tuple[str, ResolvedStrike]] = field(default_factory=dict)  # by row
    market_fit: Calibration | None = None  # the fit scenario_set came from (fit_to_market)
    sources: dict[str, Any] = field(default_factory=dict)  # SourcesRead: what it priced on
    pinned: bool = True  # every source fixed for good: the response may be served again


def to_job(
    request: PriceRequest,
    max_instruments: int,
    settings: Settings | None = None,
    context: Context | None = None,
) -> PriceJob:
    """Resolve the set (built-in or inline), the market, the credit market and the book;
    ``context`` given (a batch run's, resolved once), the request's sources are not read."""
    if len(request.instruments) > max_instruments:
        raise DomainError.field(
            "instruments",
            f"must hold at most {max_instruments} instruments per request, "
            f"got {len(request.instruments)}",
        )
    settings = settings or Settings()
    if context is None:
        context = resolve_context(request, settings, request.diffusion)
    scenario_set, market = context.scenario_set, context.market
    market_fit = None
    if request.fit_to_market is not None:  # price under the fitted set (cached per set)
        market_fit, scenario_set = fitted_for_pricing(
            market, scenario_set, request.measure, request.fit_to_market
        )
    today = market.valuation_date
    strike_specs: dict[int, tuple[str, ResolvedStrike]] = {}
    # by exact type: pydantic's isinstance check costs ~8 µs a call (80 ms for 10,000 lines)
    fx: list[tuple[int, InstrumentIn]] = []
    cds: list[tuple[int, CdsInstrumentIn]] = []
    path: list[tuple[int, Any]] = []
    for i, x in enumerate(request.instruments):
        if type(x) is InstrumentIn:
            fx.append((i, x))
        elif type(x) is CdsInstrumentIn:
            cds.append((i, x))
        elif type(x) in _PATH_TYPES:
            path.append((i, x))
    credit: CreditMarket | None = None
    if cds:
        if request.credit is not None:
            credit = request.credit.to_domain(today, context.credit)
        elif context.credit is not None:
            credit = context.credit
        else:
            raise DomainError.field("credit", "is required to price CDS: the set has none")
    book = MixedBook(
        options=_fx_options(fx, market, scenario_set, strike_specs),
        option_rows=tuple(i for i, _ in fx),
        cds=_cds_contracts(cds, credit),
        cds_rows=tuple(i for i, _ in cds),
        credit=credit,
        scenario_credit={
            scenario: {
                entity: o.to_domain(f"scenario_credit.{scenario}.{entity}")
                for entity, o in by_entity.items()
            }
            for scenario, by_entity in request.scenario_credit.items()
        },
        paths=tuple(x.to_domain(today, market.spot, i) for i, x in path),
        path_rows=tuple(i for i, _ in path),
        signs=_signs(request.instruments),
        **_path_fields(request, settings, bool(path)),
    )
    labels = tuple(x.label or f"instruments[{i}]" for i, x in enumerate(request.instruments))
    return PriceJob(
        scenario_set,
        market,
        book,
        request.measure,
        labels,
        tuple(x.tags for x in request.instruments),
        request.reporting_currency,
        list(request.group_by),
        request.totals,
        strike_specs,
        market_fit,
        context.sources_json(),
        context.pinned,
    )


def _cds_contracts(
    cds: list[tuple[int, CdsInstrumentIn]], credit: CreditMarket | None
) -> tuple[CdsContract, ...]:
    """The CDS lines as contracts on ``credit`` (set whenever there are CDS lines)."""
    if not cds:
        return ()
    assert credit is not None
    return tuple(
        under(
            f"instruments[{i}]",
            partial(build_cds_contract, credit=credit, **x.model_dump(exclude={"kind", "tags"})),
        )
        for i, x in cds
    )


def _fx_options(
    fx: list[tuple[int, InstrumentIn]],
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    resolved: dict[int, tuple[str, ResolvedStrike]],
) -> tuple[FxOption, ...]:
    """The FX lines as contracts, strikes given in desk terms resolved on the market's smile
    (:mod:`scenarios.fx.strike_spec`) and recorded in ``resolved`` by request row."""
    today = market.valuation_date
    options = [x.to_domain(today, i, market.spot) for i, x in fx]
    spec_lines = [k for k, (_, x) in enumerate(fx) if isinstance(x.strike, str)]
    if not spec_lines:
        return tuple(options)
    specs = []
    for k in spec_lines:
        row, line = fx[k]
        assert isinstance(line.strike, str)  # spec_lines holds the lines with text strikes
        specs.append(under(f"instruments[{row}]", partial(parse_strike_spec, line.strike)))
    try:
        strikes = resolve_strikes(
            market,
            kinds=[options[k].kind for k in spec_lines],
            specs=specs,
            expiries=[options[k].expiry for k in spec_lines],
            deliveries=[options[k].delivery for k in spec_lines],
            event_date=scenario_set.event_date,
        )
    except DomainError as exc:  # fields under [j], the j-th line with a desk strike
        rows = [fx[k][0] for k in spec_lines]
        raise exc.prefixed("instruments").renumbered("instruments", rows) from None
    for j, k in enumerate(spec_lines):
        options[k] = dataclasses.replace(options[k], strike=float(strikes.strikes[j]))
        resolved[fx[k][0]] = (specs[j].text, strikes[j])
    return tuple(options)


def _signs(instruments: list[Any]) -> np.ndarray | None:
    """±1 per line in request order; None when every line is bought (nothing to apply)."""
    sides = [x.side for x in instruments]
    if Side.SELL not in sides:
        return None
    return np.array([-1.0 if side is Side.SELL else 1.0 for side in sides])


def _path_fields(request: PriceRequest, settings: Settings, has_paths: bool) -> dict[str, Any]:
    """The book's Monte Carlo settings: checked when the request gives them or has a path
    line; a book without either keeps the defaults, which nothing reads (~20 µs a request)."""
    if not has_paths and "paths" not in request.model_fields_set:
        return {}
    return {
        "path_settings": request.paths.to_domain(settings.path_workers),
        "path_measure": request.paths.measure,
        "path_limits": path_limits(settings),
    }


_GREEKS = (
    "delta",
    "delta_premium_adjusted",
    "gamma",
    "vega",
    "theta",
    "rho_jpy",
    "rho_usd",
)


def _fx_rows(
    job: PriceJob, valuation: MixedValuation, risk: np.ndarray | None
) -> list[dict[str, Any]]:
    """One result per FX line, built column by column; ``risk`` its desk Greeks [n, 10]."""
    fx = valuation.fx
    if fx is None or risk is None:
        return []
    names = fx.scenario_names
    g = fx.greeks
    greeks = [dict(zip(_GREEKS, row, strict=True)) for row in
              zip(*(getattr(g, k).tolist() for k in _GREEKS), strict=True)]  # fmt: skip
    positions = [dict(zip(DESK_GREEKS, row, strict=True)) for row in risk.tolist()]
    scenario_prices = [dict(zip(names, row, strict=True)) for row in g.scenario_values.tolist()]
    level_names = fx.level_names  # the scenarios of a flat set, a tree's branches
    d_levels = [dict(zip(level_names, row, strict=True)) for row in fx.d_levels.tolist()]
    rows = job.book.option_rows
    values = (
        valuation.values[list(rows)].tolist()
        if job.book.cds or job.book.paths
        else (valuation.values.tolist())
    )
    columns = zip(
        job.book.options,
        rows,
        g.price.tolist(),
        values,
        fx.forwards.tolist(),
        fx.after_event.tolist(),
        fx.implied_vols.tolist(),
        fx.implied_ok.tolist(),
        fx.implied_status.tolist(),
        greeks,
        positions,
        scenario_prices,
        d_levels,
        strict=True,
    )
    sides = _sides(job)
    tags = job.tags
    specs = job.strike_specs
    rows_with_specs = {row: _spec_fields(job, row) for row in specs}
    return [
        {
            "label": o.label,
            "kind": o.kind.value,
            "strike": o.strike,
            **rows_with_specs.get(row, _NO_SPEC),
            "expiry": o.expiry.isoformat(),
            "delivery": o.delivery.isoformat(),
            "tenor": o.tenor,
            "payout_currency": o.payout_currency.value if o.payout_currency else None,
            "notional": o.notional,
            "side": sides[row],
            "tags": tags[row],
            "currency": "JPY",
            "after_event": after,
            "forward": forward,
            "price": price,
            "value": value,
            "greeks": greek,
            "position": position,
            "scenario_prices": prices,
            "dprice_dlevel": levels,
            "implied_vol": iv if iv_ok else None,
            "implied_vol_status": _IV_STATUS[status],
        }
        for (
            o,
            row,
            price,
            value,
            forward,
            after,
            iv,
            iv_ok,
            status,
            greek,
            position,
            prices,
            levels,
        ) in columns
    ]


_NO_SPEC: dict[str, Any] = {
    "strike_spec": None,
    "strike_delta_convention": None,
    "strike_vol": None,
}


def _spec_fields(job: PriceJob, row: int) -> dict[str, Any]:
    text, resolved = job.strike_specs[row]
    return {
        "strike_spec": text,
        "strike_delta_convention": resolved.delta_convention,
        "strike_vol": resolved.vol,
    }


def _sides(job: PriceJob) -> list[str]:
    signs = job.book.signs
    if signs is None:
        return ["buy"] * job.book.size
    return ["sell" if v < 0 else "buy" for v in signs.tolist()]


def _cds_rows(job: PriceJob, valuation: MixedValuation) -> list[dict[str, Any]]:
    v = valuation.cds
    if v is None:
        return []
    mixture = cds_figures(v, "mixture", v.notionals)
    base = cds_figures(v, "base", v.notionals)
    scenarios = cds_figures(v, "scenarios", v.notionals)
    return [
        {
            "label": c.label,
            "kind": "cds",
            "entity": c.entity,
            "side": c.side.value,
            "tags": job.tags[row],
            "tenor": c.tenor,
            "maturity": c.maturity.isoformat(),
            "coupon_bp": c.coupon_bp,
            "notional": c.notional,
            "currency": c.currency,
            "price": mixture[j]["price"],
            "value": mixture[j]["value"],
            "scenario_prices": {s: f["price"] for s, f in scenarios[j].items()},
            "mixture": mixture[j],
            "base": base[j],
            "scenarios": scenarios[j],
        }
        for j, (c, row) in enumerate(zip(v.contracts, job.book.cds_rows, strict=True))
    ]


_MEASURE_BLOCKS: dict[tuple[ScenarioSet, float, Measure], dict[str, Any]] = {}


def _measure_block(
    fit: MeasureFit, scenario_set: ScenarioSet, spot: float, measure: Measure
) -> dict[str, Any]:
    """:func:`measure_read` once per (set, spot, measure), which determine ``fit``
    (:func:`scenarios.fx.valuation.fit_measure`); shared by the responses, read only."""
    key = (scenario_set, spot, measure)
    block = _MEASURE_BLOCKS.get(key)
    if block is None:
        if len(_MEASURE_BLOCKS) >= 256:  # inline sets come and go: keep the memory bounded
            _MEASURE_BLOCKS.clear()
        block = _MEASURE_BLOCKS[key] = measure_read(fit, scenario_set)
    return block


def price_response(job: PriceJob, valuation: MixedValuation) -> dict[str, Any]:
    """The response body as plain JSON types (built directly: books can be large)."""
    fx = valuation.fx
    spot = job.market.spot
    risk, fx_sums = fx_position_risk(job.book, valuation, spot) if fx is not None else (None, None)
    fx_only = valuation.cds is None and valuation.paths is None
    if fx_only:  # the common book: FX lines in request order, every figure finite
        results = _fx_rows(job, valuation, risk)
    else:
        results = [{} for _ in range(job.book.size)]
        for row, result in zip(job.book.option_rows, _fx_rows(job, valuation, risk), strict=True):
            results[row] = result
        for row, result in zip(job.book.cds_rows, _cds_rows(job, valuation), strict=True):
            results[row] = result
        if valuation.paths is not None:
            sides = _sides(job)
            rows = path_results(valuation.paths)
            for row, result in zip(job.book.path_rows, rows, strict=True):
                results[row] = {
                    **result,
                    "value": float(valuation.values[row]),
                    "side": sides[row],
                    "tags": job.tags[row],
                    "currency": "JPY",
                }
    fit = fx.fit if fx is not None else fit_measure(job.market, job.scenario_set, job.measure)
    names = (
        fx.scenario_names if fx is not None else tuple(s.name for s in job.scenario_set.scenarios)
    )
    matrix = scenario_pnl(
        names, list(job.labels), valuation.scenario_values, valuation.values, finite=fx_only
    )
    matrix["currencies"] = list(valuation.currencies)
    totals: dict[str, Any] | None = None
    groups: list[dict[str, Any]] = []
    if job.totals:
        conv = book_conversion(job.market, job.scenario_set, fit.jumps, job.reporting_currency)
        totals, groups = totals_json(
            lambda: valued_rows(job.book, valuation, risk),
            conv,
            names,
            job.tags,
            job.group_by,
            fx_sums if fx_only else None,
            fx.level_names if fx is not None else None,
        )
    return {
        "scenario_set_id": job.scenario_set.id,
        "sources": job.sources,
        "valuation_date": job.market.valuation_date.isoformat(),
        "event_date": job.scenario_set.event_date.isoformat(),
        "spot": spot,
        "measure": _measure_block(fit, job.scenario_set, spot, job.measure),
        "results": results,
        "scenario_pnl": matrix,
        "totals": totals,
        "groups": groups,
        "consistency": consistency_block(job.market, job.scenario_set, job.measure),
        "fit_to_market": market_fit_read(job.market_fit) if job.market_fit is not None else None,
    }
