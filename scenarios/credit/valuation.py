"""Valuation of a book of CDS contracts under a scenario set: the one call the service makes.

Each scenario's par curves (:func:`scenarios.credit.curves.scenario_curves`) are bootstrapped to
piecewise-flat hazard curves and the contracts priced by the ISDA standard model
(:mod:`pricing.credit.cds`), all scenarios and entities of one tenor set at once, plus the base
curves (today's market, no scenario). Scenario figures are mixed with the pricing measure q
of :func:`scenarios.fx.valuation.fit_measure` — the same q the FX book is priced with, so one
scenario set drives FX and credit together.

Conventions: USD contracts, figures per unit of notional unless named ``*_values``; quotes as
for a protection buyer (``pricing.credit.cds``): par spread in bp, clean and dirty upfront and
accrued as decimals of notional (0.01 = 1 point, a positive upfront paid by the buyer), risky
PV01 per bp of running spread. Holder figures are signed by ``side``: ``values``, the contract's
PV on the valuation date (protection leg − coupon × clean risky annuity, i.e. QuantLib's NPV with
the accrual rebate = clean upfront × DF(cash settlement)), and ``jump_to_defaults``, the P&L if the
entity defaulted now ((1 − R) − clean upfront for a buyer). The USD curve's pillars are
interpolated log-linearly in the discount factor, as the ISDA model requires, whatever the
snapshot's interpolation setting. Simplification: a scenario's curve holds from the
valuation date (the decision is weeks away; credit before it is priced on the scenario curve).

References: ISDA CDS Standard Model (cdsmodel.com); Markit, "The CDS Big Bang" (2009).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from pricing.credit.cds import (
    CdsSchedule,
    HazardCurves,
    bootstrap_hazard_curves,
    cds_schedule,
    price_cds,
    standard_maturities,
)
from pricing.mixture.measure import Measure, MeasureFit
from scenarios import checks
from scenarios.credit.curves import (
    MAX_SPREAD_BP,
    CreditMarket,
    CurveSource,
    ScenarioCredit,
    ScenarioCurves,
    scenario_curves,
)
from scenarios.errors import DomainError, FieldError
from scenarios.fx.valuation import fit_measure
from scenarios.market import MarketSnapshot
from scenarios.positions import Side
from scenarios.scenario import ScenarioSet

MAX_CONTRACT_YEARS = 30
_TENOR = re.compile(r"^([1-9]\d{0,2})([MY])$")
_ROLL_MONTHS = (3, 6, 9, 12)


@dataclass(frozen=True)
class CdsContract:
    """A standard single-name CDS: ``maturity`` a roll date (20 Mar/Jun/Sep/Dec), ``coupon_bp``
    running, ``notional`` in ``currency``; ``tenor`` echoes how the maturity was given."""

    entity: str
    maturity: dt.date
    coupon_bp: float
    notional: float = 1.0
    side: Side = Side.BUY
    currency: str = "USD"
    label: str | None = None
    tenor: str | None = None


@lru_cache(maxsize=1024)
def _maturities(valuation_date: dt.date, tenors: tuple[str, ...]) -> tuple[dt.date, ...]:
    """Standard maturities of ``tenors`` traded on ``valuation_date`` (QuantLib, cached)."""
    return standard_maturities(valuation_date=valuation_date, tenors=tenors)


def _check_maturity(field: str, valuation_date: dt.date, maturity: dt.date) -> None:
    checks.within_horizon(field, valuation_date, maturity)
    step_in = valuation_date + dt.timedelta(days=1)
    if maturity <= step_in:
        raise DomainError.field(
            field,
            f"must be after the protection start (step-in) {step_in.isoformat()}, "
            f"got {maturity.isoformat()}",
        )
    if maturity.day != 20 or maturity.month not in _ROLL_MONTHS:
        raise DomainError.field(
            field,
            f"must be a standard CDS maturity, the 20th of March, June, September or "
            f"December, got {maturity.isoformat()}",
        )
    if maturity.year - valuation_date.year > MAX_CONTRACT_YEARS:
        raise DomainError.field(
            field, f"must be within {MAX_CONTRACT_YEARS} years, got {maturity.isoformat()}"
        )


def build_cds_contract(
    *,
    credit: CreditMarket,
    entity: str,
    tenor: str | None = None,
    maturity: dt.date | None = None,
    coupon_bp: float | None = None,
    notional: float = 1.0,
    side: Side | str = Side.BUY,
    label: str | None = None,
) -> CdsContract:
    """Validate one contract against ``credit`` and resolve its maturity; raise naming the
    field. A tenor (``6M``, ``5Y``, up to 30Y) gives the standard maturity of a trade on the
    valuation date (CDS2015 roll); the coupon defaults to the entity's standard coupon."""
    index = credit.index(entity)
    if index is None:
        raise DomainError.field(
            "entity",
            f"no entity {entity!r} in the credit market; known: {', '.join(credit.entity_names)}",
        )
    if (tenor is None) == (maturity is None):
        raise DomainError.field("maturity", "give exactly one of tenor or maturity (a date)")
    if tenor is not None:
        match = _TENOR.match(tenor) if isinstance(tenor, str) else None
        years = int(match.group(1)) / (12 if match.group(2) == "M" else 1) if match else 0
        if match is None or years > MAX_CONTRACT_YEARS:
            raise DomainError.field(
                "tenor", f"must be a tenor such as 6M or 5Y, at most 30Y, got {tenor!r}"
            )
        maturity = _maturities(credit.valuation_date, (tenor,))[0]
    assert maturity is not None
    _check_maturity("tenor" if tenor else "maturity", credit.valuation_date, maturity)
    curve = credit.entities[index]
    coupon = curve.coupon_bp if coupon_bp is None else checks.finite("coupon_bp", coupon_bp)
    if not 0.0 < coupon <= MAX_SPREAD_BP:
        raise DomainError.field("coupon_bp", f"must be in (0, 10000] bp, got {coupon!r}")
    checks.notional("notional", notional)
    if side not in tuple(Side):
        raise DomainError.field("side", f"must be 'buy' or 'sell', got {side!r}")
    return CdsContract(
        entity, maturity, coupon, float(notional), Side(side), curve.currency, label, tenor
    )


@dataclass(frozen=True)
class CdsFigures:
    """Per contract, arrays [n] (mixture, base) or [n, m] (per scenario), per unit notional;
    units and signs in the module docstring."""

    par_spreads_bp: np.ndarray
    clean_upfronts: np.ndarray
    dirty_upfronts: np.ndarray
    accrued: np.ndarray
    risky_pv01s: np.ndarray
    jump_to_defaults: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class CdsBookValuation:
    """A CDS book under a scenario set: ``n`` contracts, ``m`` scenarios.

    Attributes:
        fit: the pricing measure (q by scenario, as for the FX book).
        scenario_names: [m] in the set's order.
        contracts: [n] as priced.
        curves: the par spreads each scenario gave each entity, and where they came from.
        scenarios: figures [n, m] per scenario.
        mixture: figures [n] under q (PVs mix linearly; the par spread is Σ q·protection /
            Σ q·annuity, the spread at which the mixture value is zero).
        base: figures [n] on the base curves (today's market, no scenario).
        notionals: [n].
    """

    fit: MeasureFit
    scenario_names: tuple[str, ...]
    contracts: tuple[CdsContract, ...]
    curves: ScenarioCurves
    scenarios: CdsFigures
    mixture: CdsFigures
    base: CdsFigures
    notionals: np.ndarray

    @cached_property
    def signs(self) -> np.ndarray:
        """[n] +1 for a protection buyer, −1 for a seller (:class:`scenarios.positions.Side`)."""
        return np.array([c.side.sign for c in self.contracts])

    @property
    def scenario_values(self) -> np.ndarray:
        """[n, m] value × notional if scenario i happens, signed by side, contract currency."""
        values: np.ndarray = self.scenarios.values * self.notionals[:, None]
        return values

    @property
    def mixture_values(self) -> np.ndarray:
        """[n] q-weighted value × notional, signed by side, contract currency."""
        values: np.ndarray = self.mixture.values * self.notionals
        return values


def _usd_curve(market: MarketSnapshot) -> tuple[np.ndarray, np.ndarray]:
    curve, today = market.usd_curve, market.valuation_date
    times = np.array([(d - today).days / 365.0 for d in curve.pillar_dates])
    return times, np.array(curve.zero_rates)


def _check_bootstrap(
    hazards: HazardCurves, curves: ScenarioCurves, members: list[int], credit: CreditMarket
) -> None:
    """Name every tenor whose contract the bootstrap could not reprice, or that implies a
    negative hazard rate; row m of the batch is the base curve."""
    m = len(curves.scenario_names)
    errors: dict[str, FieldError] = {}  # one per field: a base curve serves many scenarios
    for row, g, k in zip(*np.nonzero(~hazards.converged | ~hazards.arbitrage_free), strict=True):
        e = members[g]
        curve = credit.entities[e]
        where = f"credit.entities[{e}].spreads_bp[{k}]" if row == m else curves.fields[row][e][k]
        if where in errors:
            continue
        on_base = row == m or curves.sources[row][e] is CurveSource.BASE
        scenario = "the base curve" if on_base else f"scenario {curves.scenario_names[row]!r}"
        spread = curve.spreads_bp[k] if row == m else curves.spreads_bp[e][row, k]
        why = (
            "admits no hazard curve: the shorter tenors leave too little survival to pay it"
            if not hazards.converged[row, g, k]
            else "implies a negative hazard rate since the previous tenor: spreads fall too "
            "fast (arbitrage)"
        )
        errors[where] = FieldError(
            where,
            f"{curve.entity!r} {curve.tenors[k]} par spread {spread:.6g}bp in {scenario} {why}",
        )
    if errors:
        raise DomainError(list(errors.values())[:20])


def _price_group(
    hazards: HazardCurves, schedule: CdsSchedule, where: np.ndarray, maturities: np.ndarray,
    coupons: np.ndarray,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Buyer figures [n_g, rows] of contracts on curves ``where`` maturing at ``maturities``
    (schedule indices), coupons decimals. Prices are affine in the coupon: two runs serve
    every coupon."""
    at_zero = price_cds(curves=hazards, schedule=schedule, coupons=0.0)
    at_one = price_cds(curves=hazards, schedule=schedule, coupons=1.0)

    def take(values: np.ndarray) -> np.ndarray:
        return values[:, where, maturities].T

    c = coupons[:, None]
    clean = (1.0 - c) * take(at_zero.clean_upfronts) + c * take(at_one.clean_upfronts)
    accrued = c * take(at_one.accrued)
    protection, annuity = take(at_zero.protection_legs), take(at_zero.risky_pv01s) * 1e4
    return {
        "par_spreads_bp": take(at_zero.par_spreads) * 1e4,
        "clean_upfronts": clean,
        "dirty_upfronts": clean - accrued,
        "accrued": accrued,
        "risky_pv01s": annuity * 1e-4,
        "jump_to_defaults": (1.0 - c) * take(at_zero.jump_to_defaults)
        + c * take(at_one.jump_to_defaults),
        "values": protection - c * annuity,
        "protection": protection,
    }


def value_cds_book(
    *,
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    credit: CreditMarket,
    contracts: tuple[CdsContract, ...],
    measure: Measure = Measure.TILT,
    scenario_credit: ScenarioCredit | None = None,
) -> CdsBookValuation:
    """Price every contract under each scenario's credit curves and their q-mixture.

    ``scenario_credit``: per-scenario overrides by scenario name, then entity
    (:mod:`scenarios.credit.curves`). Errors name request fields: ``credit.…``, ``contracts[j].…``,
    ``scenario_credit.…``, ``scenario_set.scenarios[i].drivers``, ``measure``.
    """
    today = market.valuation_date
    if credit.valuation_date != today:
        raise DomainError.field(
            "credit.valuation_date",
            f"must be the market's valuation date {today.isoformat()}, "
            f"got {credit.valuation_date.isoformat()}",
        )
    if not contracts:
        raise DomainError.field("contracts", "must hold at least one contract")
    for j, contract in enumerate(contracts):
        if credit.index(contract.entity) is None:
            raise DomainError.field(f"contracts[{j}].entity", f"unknown {contract.entity!r}")
        _check_maturity(f"contracts[{j}].maturity", today, contract.maturity)
    fit = fit_measure(market, scenario_set, measure)
    curves = scenario_curves(
        credit=credit, scenario_set=scenario_set, scenario_credit=scenario_credit
    )
    times, zeros = _usd_curve(market)
    schedule = cds_schedule(
        valuation_date=today, maturities=tuple(sorted({c.maturity for c in contracts}))
    )
    position = {d: t for t, d in enumerate(schedule.maturities)}
    entity_of = np.array([credit.index(c.entity) for c in contracts])
    m, n = len(scenario_set.scenarios), len(contracts)
    figures: dict[str, np.ndarray] = {}
    groups: dict[tuple[str, ...], list[int]] = {}
    for e in sorted(set(entity_of.tolist())):
        groups.setdefault(credit.entities[e].tenors, []).append(e)
    for tenors, members in groups.items():
        spreads = np.stack([curves.spreads_bp[e] for e in members], axis=1)  # [m, e_g, k]
        base = np.array([credit.entities[e].spreads_bp for e in members])[None]
        hazards = bootstrap_hazard_curves(
            schedule=cds_schedule(
                valuation_date=today,
                maturities=_maturities(today, tenors),
            ),
            par_spreads=np.concatenate([spreads, base]) * 1e-4,
            recoveries=np.array([credit.entities[e].recovery for e in members]),
            discount_pillar_times=times,
            discount_zero_rates=zeros,
        )
        _check_bootstrap(hazards, curves, members, credit)
        rows = np.flatnonzero(np.isin(entity_of, members))
        priced = _price_group(
            hazards, schedule,
            np.searchsorted(members, entity_of[rows]),
            np.array([position[contracts[j].maturity] for j in rows]),
            np.array([contracts[j].coupon_bp for j in rows]) * 1e-4,
        )  # fmt: skip
        for name, values in priced.items():
            figures.setdefault(name, np.empty((n, m + 1)))[rows] = values
    signs = np.array([c.side.sign for c in contracts])
    for name in ("jump_to_defaults", "values"):
        figures[name] = figures[name] * signs[:, None]
    q = fit.weights
    protection = figures.pop("protection")
    mixture = {name: values[:, :m] @ q for name, values in figures.items()}
    mixture["par_spreads_bp"] = (protection[:, :m] @ q) / mixture["risky_pv01s"]
    _check_finite(figures)
    return CdsBookValuation(
        fit=fit,
        scenario_names=curves.scenario_names,
        contracts=tuple(contracts),
        curves=curves,
        scenarios=CdsFigures(**{k: v[:, :m] for k, v in figures.items()}),
        mixture=CdsFigures(**mixture),
        base=CdsFigures(**{k: v[:, m] for k, v in figures.items()}),
        notionals=np.array([c.notional for c in contracts]),
    )


def _check_finite(figures: dict[str, np.ndarray]) -> None:
    """A non-finite figure means an input slipped past validation: refuse to return it."""
    bad = ~np.all([np.isfinite(v).all(axis=1) for v in figures.values()], axis=0)
    if bad.any():
        raise DomainError.field(
            f"contracts[{int(np.flatnonzero(bad)[0])}]",
            "cannot be priced in double precision with these inputs (a result is not finite)",
        )
