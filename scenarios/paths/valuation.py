"""Valuation of a book of path-dependent contracts under a scenario set: the one call a route
makes for barriers, touches, double barriers and KIKOs.

Method per contract. A contract expiring on or before the event date never sees the jump: it
is priced in closed form on one lognormal (:func:`pricing.paths.options.price_before_event`,
the formulas of :mod:`pricing.fx.barriers` and :mod:`pricing.fx.double_barriers` with the ATM
curve's vol to expiry), standard error 0, the same price in every scenario. Every other
contract is priced by Monte Carlo on one simulation for the whole book
(:func:`pricing.paths.options.price_path_contracts`), on the grid of
:func:`scenarios.paths.simulation.path_grid` to the last expiry with every expiry and the
event date (every node date of a tree set) on it. A KOKI has no closed form (its knock-out
lives until the knock-in: path order matters), and a closed form that cannot be evaluated
(rates too negative for a payment at the hit, a corridor too narrow for its series) falls
back to Monte Carlo; such a contract expiring by the event gets the mixture estimate as every
scenario's price (the scenarios do not touch it, so their conditional estimates differ by
noise only).

Decision trees. Under a tree set (``ScenarioSet.tree``) the scenarios are the tree's leaves
(named ``extension/late_deal``): paths jump at every node date on their leaf's path
(:mod:`scenarios.paths.simulation`), every per-scenario figure is per leaf, and "the event"
is the root's date — a contract expiring on or before it keeps its closed form.

Scenario draws. Paths draw scenario ``i`` with probability ``½·w_i + ½/m`` (w: q or p), so
every scenario — a zero-probability one included — gets paths and a conditional price for the
scenario × instrument matrix; the mixture price recombines the conditional means with the
measure's own weights ``Σ_i w_i·mean_i`` (post-stratification: unbiased whatever the draw
probabilities, variance at most twice that of drawing with w itself).

Units: prices JPY per unit of notional (per USD for options, per unit of cash — JPY or USD —
for touches); ``values`` are prices × notional, in JPY.

References: Glasserman, *Monte Carlo Methods in Financial Engineering* (2004), §4.3.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from pricing.mixture.measure import Measure, MeasureFit
from pricing.mixture.tree import TreeMeasureFit
from pricing.paths.options import price_before_event, price_path_contracts
from scenarios.errors import DomainError
from scenarios.market import MarketSnapshot
from scenarios.paths.instruments import PathInstrument, path_contracts
from scenarios.paths.simulation import (
    PathGrid,
    PathLimits,
    PathMarket,
    PathMeasure,
    SimulationSettings,
    decision_dates,
    path_grid,
    path_market,
)
from scenarios.scenario import ScenarioSet

MIN_PATHS_PER_SCENARIO = 32


class PricingMethod(StrEnum):
    CLOSED_FORM = "closed_form"
    MONTE_CARLO = "monte_carlo"


@dataclass(frozen=True)
class PathBookValuation:
    """Arrays over the book's ``n`` contracts and the set's ``m`` scenarios.

    Attributes:
        prices, standard_errors: ``[n]`` mixture price and its Monte Carlo standard error
            (0 for closed forms), JPY per unit of notional.
        scenario_prices, scenario_standard_errors: ``[n, m]`` price if scenario i happens;
            NaN where ``scenario_valid`` is False (a scenario that drew too few paths).
        methods: per contract, closed form or Monte Carlo.
        after_event: ``[n]`` expiry after the event date.
        measure, adjustment, fit: the measure (``adjustment`` and ``fit`` for risk-neutral;
            ``fit`` None for a tree, whose fit is ``tree_fit``).
        weights, jumps: ``[m]`` the measure's scenario probabilities and jump ratios (a
            tree's leaves: ``Π q`` or ``Π p``, and the total jump ``Π J``).
        simulation: the settings used (seed, n_paths, sampling … echoed back).
        steps: steps of the simulated grid (0 if nothing needed simulation).
        tree_fit: a tree set's risk-neutral fit, node by node (None otherwise).
    """

    instruments: tuple[PathInstrument, ...]
    scenario_names: tuple[str, ...]
    prices: np.ndarray
    standard_errors: np.ndarray
    scenario_prices: np.ndarray
    scenario_standard_errors: np.ndarray
    scenario_valid: np.ndarray
    methods: tuple[PricingMethod, ...]
    after_event: np.ndarray
    measure: PathMeasure
    adjustment: Measure | None
    fit: MeasureFit | None
    weights: np.ndarray
    jumps: np.ndarray
    simulation: SimulationSettings
    steps: int
    tree_fit: TreeMeasureFit | None = None

    @property
    def notionals(self) -> np.ndarray:
        return np.array([inst.notional for inst in self.instruments])

    @property
    def values(self) -> np.ndarray:
        """``[n]`` mixture value, price × notional (JPY)."""
        values: np.ndarray = self.prices * self.notionals
        return values

    @property
    def scenario_values(self) -> np.ndarray:
        """``[n, m]`` value if scenario i happens (JPY); NaN where not ``scenario_valid``."""
        values: np.ndarray = self.scenario_prices * self.notionals[:, None]
        return values


def value_path_book(
    *,
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    contracts: tuple[PathInstrument, ...],
    measure: PathMeasure = PathMeasure.RISK_NEUTRAL,
    settings: SimulationSettings = SimulationSettings(),  # noqa: B008 (frozen)
    adjustment: Measure = Measure.TILT,
    limits: PathLimits = PathLimits(),  # noqa: B008 (frozen)
    settings_path: str = "",
) -> PathBookValuation:
    """Price ``contracts`` under the mixture of ``scenario_set`` on ``market``.

    ``settings_path`` is where the caller's request holds ``settings`` (e.g. ``"paths"``):
    errors about them name ``paths.n_paths``; errors about contracts name
    ``instruments[i]...`` (the contracts' positions in ``contracts``).

    Raises:
        DomainError: ``n_paths`` too few for the scenarios or over the limits, a grid with
            too many steps (``steps_per_year`` or ``instruments[i].expiry``/``tenor``), no
            risk-neutral measure (``measure``), an event on or before the valuation date
            (``event_date``).
    """
    today = market.valuation_date
    n, m = len(contracts), len(scenario_set.scenarios)
    if n == 0:
        raise DomainError.field("instruments", "must hold at least one contract")

    def on(grid: PathGrid) -> PathMarket:
        return path_market(
            market=market,
            scenario_set=scenario_set,
            grid=grid,
            measure=measure,
            adjustment=adjustment,
        )

    expiries = [c.expiry for c in contracts]
    after = np.array([e > scenario_set.event_date for e in expiries])
    decisions = decision_dates(scenario_set)
    # closed forms first, on a grid holding just the expiries (the formulas read V(T), F(T))
    grid = path_grid(
        valuation_date=today,
        horizon=max(expiries),
        steps_per_year=1,
        required=(*decisions, *expiries),
    )
    reference = on(grid)
    before = np.flatnonzero(~after)
    closed = np.full(n, np.nan)
    closed_ok = np.zeros(n, dtype=bool)
    if before.size:
        picked = tuple(contracts[i] for i in before)
        result = price_before_event(
            model=reference.model,
            contracts=path_contracts(picked, _indices(grid, picked, today)),
            discount_factors=reference.discount_factors,
        )
        closed[before], closed_ok[before] = result.prices, result.valid
    prices, errors = closed.copy(), np.zeros(n)
    scenario_prices = np.repeat(closed[:, None], m, axis=1)
    scenario_errors = np.zeros((n, m))
    valid = np.ones((n, m), dtype=bool)
    simulated = np.flatnonzero(~closed_ok)
    steps = 0
    if simulated.size:
        if settings.n_paths < MIN_PATHS_PER_SCENARIO * m:
            raise DomainError.field(
                f"{settings_path}.n_paths" if settings_path else "n_paths",
                f"must be at least {MIN_PATHS_PER_SCENARIO * m} ({MIN_PATHS_PER_SCENARIO} per "
                f"scenario) to price path-dependent contracts under {m} scenarios, "
                f"got {settings.n_paths}",
            )
        latest = max(simulated, key=lambda i: expiries[i])
        grid = path_grid(
            valuation_date=today,
            horizon=expiries[latest],
            steps_per_year=settings.steps_per_year,
            required=(*decisions, *expiries),
        )
        where = "tenor" if contracts[latest].tenor else "expiry"
        settings.check_limits(
            limits,
            steps=grid.steps,
            grid_field=f"instruments[{latest}].{where}",
            prefix=settings_path,
        )
        built = on(grid)
        drawn = replace(built.model, weights=0.5 * built.weights + 0.5 / m)
        picked = tuple(contracts[i] for i in simulated)
        path_prices = price_path_contracts(
            model=drawn,
            settings=settings.monte_carlo(),
            contracts=path_contracts(picked, _indices(grid, picked, today)),
            discount_factors=built.discount_factors,
            monitoring=settings.monitoring,
            weights=built.weights,
        )
        prices[simulated], errors[simulated] = path_prices.prices, path_prices.standard_errors
        scenario_prices[simulated] = path_prices.scenario_prices.T
        scenario_errors[simulated] = path_prices.scenario_standard_errors.T
        valid[simulated] = path_prices.scenario_valid.T
        early = simulated[~after[simulated]]  # simulated, but expiring by the event
        scenario_prices[early] = prices[early, None]
        scenario_errors[early] = errors[early, None]
        valid[early] = True
        steps = grid.steps
    _check_finite(prices, errors)
    return PathBookValuation(
        instruments=contracts,
        scenario_names=tuple(s.name for s in scenario_set.scenarios),
        prices=prices,
        standard_errors=errors,
        scenario_prices=np.where(valid, scenario_prices, np.nan),
        scenario_standard_errors=np.where(valid, scenario_errors, np.nan),
        scenario_valid=valid,
        methods=tuple(
            PricingMethod.CLOSED_FORM if ok else PricingMethod.MONTE_CARLO for ok in closed_ok
        ),
        after_event=after,
        measure=measure,
        adjustment=adjustment if measure == PathMeasure.RISK_NEUTRAL else None,
        fit=reference.fit,
        weights=reference.weights,
        jumps=reference.jumps,
        simulation=settings,
        steps=steps,
        tree_fit=reference.tree_fit,
    )


def _indices(grid: PathGrid, contracts: tuple[PathInstrument, ...], today: dt.date) -> np.ndarray:
    return np.array([grid.index_of(c.expiry, today) for c in contracts])


def _check_finite(prices: np.ndarray, errors: np.ndarray) -> None:
    """A non-finite price means an input slipped past validation: refuse to return it."""
    bad = ~(np.isfinite(prices) & np.isfinite(errors))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DomainError.field(
            f"instruments[{i}]",
            "cannot be priced in double precision with these inputs (a result is not finite)",
        )
