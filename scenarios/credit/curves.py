"""Automaker credit under the scenarios: entity CDS curves, the credit market, each scenario's
curves.

Conventions: par spreads, shifts and coupons in basis points (``*_bp``); recovery a decimal in
[0, 1); tenors are the standard CDS tenors of :data:`pricing.credit.cds.STANDARD_TENORS` (6M … 10Y),
each curve's in increasing order; contracts are USD and discount on the market snapshot's USD
curve. Drivers are the scenario's levels in percent (``auto_tariff_pct``, …); sensitivities
are bp of par spread per 10 percentage points of a driver.

A scenario's curve for an entity comes from, in this order:

1. an override ``scenario_credit[scenario][entity]``: par spreads given directly (``direct``),
   or a shift from the base curve, per tenor or parallel (``shift``);
2. the scenario's drivers through the entity's sensitivities (``drivers``)::

       Δs(tenor) = w(tenor) · Σ_d β_d · (x_d − x_d^ref) / 10

   with β_d the entity's bp per 10pp, x_d the scenario's level, x_d^ref the level the base
   curves are taken to price (``reference_drivers``) and w the tenor weight; a driver the
   scenario does not give sits at its reference level;
3. otherwise the base curve (``base``).

Error paths are those of the request: ``entities[e]…`` inside a credit market (the service puts
it under ``credit``), ``scenario_credit.<scenario>.<entity>.…`` for overrides,
``scenario_set.scenarios[i].drivers`` for curves derived from drivers.

References: ISDA CDS Standard Model (cdsmodel.com); Markit, "The CDS Big Bang" (2009).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from pricing.credit.cds import STANDARD_TENORS
from scenarios import checks
from scenarios.errors import DomainError
from scenarios.read_only import read_only
from scenarios.scenario import Scenario, ScenarioSet

MAX_SPREAD_BP = 10_000.0
MAX_ENTITIES = 100
CURRENCIES = ("USD",)
_ORDER = {tenor: i for i, tenor in enumerate(STANDARD_TENORS)}


def _frozen_floats(name: str, values: Mapping[str, float]) -> Mapping[str, float]:
    if not isinstance(values, Mapping):
        raise DomainError.field(name, f"must be a mapping of names to numbers, got {values!r}")
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise DomainError.field(name, f"keys must be non-empty strings, got {key!r}")
        checks.finite(f"{name}.{key}", value)
    return read_only({k: float(v) for k, v in values.items()})


def _spread(name: str, value: float) -> float:
    value = checks.finite(name, value)
    if not 0.0 < value <= MAX_SPREAD_BP:
        raise DomainError.field(name, f"must be in (0, {MAX_SPREAD_BP:g}] bp, got {value!r}")
    return value


@dataclass(frozen=True)
class EntityCurve:
    """A reference entity's par CDS curve on the valuation date.

    Attributes:
        entity: the entity's id (``toyota``).
        currency: of the contracts (USD only: the market holds the USD discount curve).
        recovery: assumed recovery rate, in [0, 1).
        tenors: standard tenors, increasing, no repeats.
        spreads_bp: par spread per tenor, bp, in (0, 10000].
        coupon_bp: the standard coupon its contracts trade (100 or 500 by market practice).
        sensitivities_bp_per_10pp: driver → bp of par spread per 10pp of the driver.
    """

    entity: str
    currency: str
    recovery: float
    tenors: tuple[str, ...]
    spreads_bp: tuple[float, ...]
    coupon_bp: float = 100.0
    sensitivities_bp_per_10pp: Mapping[str, float] = field(default_factory=dict, hash=False)
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.entity, str) or not self.entity.strip() or len(self.entity) > 100:
            raise DomainError.field("entity", f"must be a non-empty name, got {self.entity!r}")
        if self.currency not in CURRENCIES:
            raise DomainError.field(
                "currency",
                f"must be one of {', '.join(CURRENCIES)} (contracts discount on the market's "
                f"USD curve), got {self.currency!r}",
            )
        recovery = checks.finite("recovery", self.recovery)
        if not 0.0 <= recovery < 1.0:
            raise DomainError.field("recovery", f"must be in [0, 1), got {recovery!r}")
        tenors, spreads = tuple(self.tenors), tuple(self.spreads_bp)
        if not tenors:
            raise DomainError.field("tenors", "must hold at least one tenor")
        for k, tenor in enumerate(tenors):
            if tenor not in _ORDER:
                raise DomainError.field(
                    f"tenors[{k}]",
                    f"must be a standard tenor ({', '.join(STANDARD_TENORS)}), got {tenor!r}",
                )
            if tenor in tenors[:k]:
                raise DomainError.field(
                    f"tenors[{k}]", f"duplicates tenors[{tenors.index(tenor)}] ({tenor!r})"
                )
            if k and _ORDER[tenor] < _ORDER[tenors[k - 1]]:
                raise DomainError.field(
                    f"tenors[{k}]",
                    f"tenors must increase, got {tenor!r} after {tenors[k - 1]!r}",
                )
        if len(spreads) != len(tenors):
            raise DomainError.field(
                "spreads_bp",
                f"must hold one spread per tenor ({len(tenors)}), got {len(spreads)}",
            )
        spreads = tuple(_spread(f"spreads_bp[{k}]", s) for k, s in enumerate(spreads))
        object.__setattr__(self, "tenors", tenors)
        object.__setattr__(self, "spreads_bp", spreads)
        object.__setattr__(self, "recovery", recovery)
        object.__setattr__(self, "coupon_bp", _spread("coupon_bp", self.coupon_bp))
        sensitivities = _frozen_floats("sensitivities_bp_per_10pp", self.sensitivities_bp_per_10pp)
        object.__setattr__(self, "sensitivities_bp_per_10pp", sensitivities)


@dataclass(frozen=True)
class CreditMarket:
    """Base CDS curves of the entities on ``valuation_date``, and the driver model.

    ``reference_drivers``: the driver levels (percent) the base curves are taken to price;
    ``tenor_weights``: tenor → share of a driver move reaching that tenor (1 = the full move).
    """

    valuation_date: dt.date
    entities: tuple[EntityCurve, ...]
    reference_drivers: Mapping[str, float] = field(default_factory=dict, hash=False)
    tenor_weights: Mapping[str, float] = field(default_factory=dict, hash=False)
    id: str = "inline"

    def __post_init__(self) -> None:
        entities = tuple(self.entities)
        if not entities or len(entities) > MAX_ENTITIES:
            raise DomainError.field(
                "entities", f"must hold 1 to {MAX_ENTITIES} entities, got {len(entities)}"
            )
        names = [e.entity for e in entities]
        for e, name in enumerate(names):
            if name in names[:e]:
                raise DomainError.field(
                    f"entities[{e}].entity",
                    f"must be unique, {name!r} is also entities[{names.index(name)}]",
                )
        references = _frozen_floats("reference_drivers", self.reference_drivers)
        weights = _frozen_floats("tenor_weights", self.tenor_weights)
        for tenor, weight in weights.items():
            if tenor not in _ORDER:
                raise DomainError.field(
                    f"tenor_weights.{tenor}",
                    f"must be a standard tenor ({', '.join(STANDARD_TENORS)})",
                )
            checks.in_range(f"tenor_weights.{tenor}", weight, 0.0, 10.0)
        for e, curve in enumerate(entities):
            if not any(curve.sensitivities_bp_per_10pp.values()):
                continue
            for driver in curve.sensitivities_bp_per_10pp:
                if driver not in references:
                    raise DomainError.field(
                        f"entities[{e}].sensitivities_bp_per_10pp.{driver}",
                        f"has no reference level: reference_drivers must give the {driver!r} "
                        f"level the base curves price",
                    )
            missing = [t for t in curve.tenors if t not in weights]
            if missing:
                raise DomainError.field(
                    "tenor_weights",
                    f"must give a weight for {', '.join(missing)}: tenors of entities[{e}] "
                    f"({curve.entity!r}), which has driver sensitivities",
                )
        object.__setattr__(self, "entities", entities)
        object.__setattr__(self, "_positions", {name: e for e, name in enumerate(names)})
        object.__setattr__(self, "reference_drivers", references)
        object.__setattr__(self, "tenor_weights", weights)

    @property
    def entity_names(self) -> tuple[str, ...]:
        return tuple(e.entity for e in self.entities)

    def index(self, entity: str) -> int | None:
        """Position of ``entity`` in ``entities``, None if unknown."""
        positions: dict[str, int] = self._positions  # type: ignore[attr-defined]
        return positions.get(entity)


@dataclass(frozen=True)
class CurveOverride:
    """One entity's curve in one scenario: exactly one of the par spreads (bp, on the base
    curve's tenors), a per-tenor shift from the base (bp) or a parallel shift (bp)."""

    spreads_bp: tuple[float, ...] | None = None
    shift_bp: tuple[float, ...] | None = None
    parallel_shift_bp: float | None = None

    def __post_init__(self) -> None:
        given = [self.spreads_bp, self.shift_bp, self.parallel_shift_bp]
        if sum(g is not None for g in given) != 1:
            raise DomainError.field(
                "", "give exactly one of spreads_bp, shift_bp or parallel_shift_bp"
            )
        if self.spreads_bp is not None:
            spreads = tuple(_spread(f"spreads_bp[{k}]", s) for k, s in enumerate(self.spreads_bp))
            object.__setattr__(self, "spreads_bp", spreads)
        if self.shift_bp is not None:
            shifts = tuple(
                checks.in_range(f"shift_bp[{k}]", s, -MAX_SPREAD_BP, MAX_SPREAD_BP)
                for k, s in enumerate(self.shift_bp)
            )
            object.__setattr__(self, "shift_bp", shifts)
        if self.parallel_shift_bp is not None:
            checks.in_range("parallel_shift_bp", self.parallel_shift_bp, -1e4, 1e4)


class CurveSource(StrEnum):
    BASE = "base"
    DRIVERS = "drivers"
    SHIFT = "shift"
    DIRECT = "direct"


@dataclass(frozen=True, eq=False)
class ScenarioCurves:
    """Every entity's par spreads in every scenario.

    Attributes:
        scenario_names: [m] in the set's order.
        entities: [e] in the credit market's order.
        spreads_bp: per entity, [m, k_e] par spreads on the entity's tenors.
        sources: [m][e] where each curve came from.
        fields: [m][e][k_e] the request field answering for each spread (named in errors).
    """

    scenario_names: tuple[str, ...]
    entities: tuple[str, ...]
    spreads_bp: tuple[np.ndarray, ...]
    sources: tuple[tuple[CurveSource, ...], ...]
    fields: tuple[tuple[tuple[str, ...], ...], ...]


ScenarioCredit = Mapping[str, Mapping[str, CurveOverride]]


def driver_shifts_bp(
    *, credit: CreditMarket, entity: EntityCurve, drivers: Mapping[str, float]
) -> np.ndarray | None:
    """Per-tenor shift [k] the scenario's ``drivers`` give ``entity`` (module formula); None
    when the entity is sensitive to none of the drivers the scenario gives."""
    betas = {d: b for d, b in entity.sensitivities_bp_per_10pp.items() if b != 0.0}
    if not any(d in drivers for d in betas):
        return None
    move = math.fsum(
        b * (drivers.get(d, credit.reference_drivers[d]) - credit.reference_drivers[d]) / 10.0
        for d, b in betas.items()
    )
    return move * np.array([credit.tenor_weights[t] for t in entity.tenors])


def _check_overrides(
    credit: CreditMarket, scenario_set: ScenarioSet, scenario_credit: ScenarioCredit
) -> None:
    names = [s.name for s in scenario_set.scenarios]
    for scenario, by_entity in scenario_credit.items():
        if scenario not in names:
            raise DomainError.field(
                f"scenario_credit.{scenario}",
                f"no scenario {scenario!r} in the set; known: {', '.join(names)}",
            )
        for entity in by_entity:
            if credit.index(entity) is None:
                raise DomainError.field(
                    f"scenario_credit.{scenario}.{entity}",
                    f"no entity {entity!r} in the credit market; known: "
                    f"{', '.join(credit.entity_names)}",
                )


def _override_curve(
    curve: EntityCurve, override: CurveOverride, path: str
) -> tuple[np.ndarray, CurveSource, tuple[str, ...]]:
    k = len(curve.tenors)
    base = np.array(curve.spreads_bp)
    if override.parallel_shift_bp is not None:
        where = (f"{path}.parallel_shift_bp",) * k
        return base + override.parallel_shift_bp, CurveSource.SHIFT, where
    name, values = (
        ("spreads_bp", override.spreads_bp)
        if override.spreads_bp is not None
        else ("shift_bp", override.shift_bp)
    )
    assert values is not None
    if len(values) != k:
        raise DomainError.field(
            f"{path}.{name}",
            f"must hold one value per tenor of {curve.entity!r} ({', '.join(curve.tenors)}), "
            f"got {len(values)}",
        )
    fields = tuple(f"{path}.{name}[{j}]" for j in range(k))
    if name == "spreads_bp":
        return np.array(values), CurveSource.DIRECT, fields
    return base + np.array(values), CurveSource.SHIFT, fields


def _curve(
    credit: CreditMarket, e: int, scenario: Scenario, i: int, override: CurveOverride | None
) -> tuple[np.ndarray, CurveSource, tuple[str, ...], np.ndarray | None]:
    """Entity ``e``'s spreads in scenario ``i``: (values, source, field per tenor, the driver
    shift if drivers made it)."""
    curve = credit.entities[e]
    if override is not None:
        path = f"scenario_credit.{scenario.name}.{curve.entity}"
        return (*_override_curve(curve, override, path), None)
    shift = driver_shifts_bp(credit=credit, entity=curve, drivers=scenario.drivers)
    if shift is not None:
        where = (f"scenario_set.scenarios[{i}].drivers",) * len(shift)
        return np.array(curve.spreads_bp) + shift, CurveSource.DRIVERS, where, shift
    where = tuple(f"credit.entities[{e}].spreads_bp[{k}]" for k in range(len(curve.tenors)))
    return np.array(curve.spreads_bp), CurveSource.BASE, where, None


def scenario_curves(
    *,
    credit: CreditMarket,
    scenario_set: ScenarioSet,
    scenario_credit: ScenarioCredit | None = None,
) -> ScenarioCurves:
    """Each scenario's par spreads for each entity (module docstring for the rules).

    Every spread must stay in (0, 10000] bp; one that does not is reported under the field
    that produced it.
    """
    overrides: ScenarioCredit = scenario_credit or {}
    _check_overrides(credit, scenario_set, overrides)
    spreads: list[list[np.ndarray]] = [[] for _ in credit.entities]
    sources: list[tuple[CurveSource, ...]] = []
    fields: list[tuple[tuple[str, ...], ...]] = []
    for i, scenario in enumerate(scenario_set.scenarios):
        row_sources, row_fields = [], []
        for e, curve in enumerate(credit.entities):
            override = overrides.get(scenario.name, {}).get(curve.entity)
            values, source, where, shift = _curve(credit, e, scenario, i, override)
            for k, value in enumerate(values):
                if not 0.0 < value <= MAX_SPREAD_BP:
                    detail = "" if shift is None else f" (a driver shift of {shift[k]:+.6g}bp)"
                    raise DomainError.field(
                        where[k],
                        f"gives {curve.entity!r} a {curve.tenors[k]} par spread of {value:.6g}bp"
                        f"{detail} in scenario {scenario.name!r}; spreads must be in "
                        f"(0, {MAX_SPREAD_BP:g}] bp",
                    )
            spreads[e].append(values)
            row_sources.append(source)
            row_fields.append(where)
        sources.append(tuple(row_sources))
        fields.append(tuple(row_fields))
    return ScenarioCurves(
        scenario_names=tuple(s.name for s in scenario_set.scenarios),
        entities=credit.entity_names,
        spreads_bp=tuple(np.stack(rows) for rows in spreads),
        sources=tuple(sources),
        fields=tuple(fields),
    )
