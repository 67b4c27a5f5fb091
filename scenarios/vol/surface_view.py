"""The vol surfaces of a scenario set on a market: market, each scenario, and their mixture.

Conventions: strikes and forwards JPY per USD; vols annualised decimals; times in years
ACT/365F; densities of ``S_T`` per JPY of strike under the T-forward measure; quotes in the
market surface's conventions (USD/JPY's by default: premium-adjusted delta, spot delta to 1Y,
delta-neutral ATM, broker butterfly).

For each requested tenor (by the USD/JPY date rules):

* market — the market's surface (its quotes interpolated, with the event's variance on its
  date when the quotes weigh the decision day) or its flat ATM curve;
* scenario ``i`` — the smile of its component: a lognormal around ``F(T)·J_i`` with total
  variance ``v_pre + w_i`` at each strike (:mod:`scenarios.vol.model`), i.e. the smile the
  desk would quote for that expiry if it knew scenario ``i`` would happen; before the event,
  the market's;
* mixture — the smile of the mixture price, inverted and quoted back
  (:mod:`scenarios.vol.mixture_smile`).

Each comes as ATM/RR/BF quotes per tenor (25Δ and 10Δ by default), vols on a strike grid and
the density on the same grid (the mixture's is ``Σ q_i p_i``). The arbitrage report covers
the market's surface and each scenario's post-event surface (:func:`pricing.vol.arbitrage.
arbitrage_report`) and, for the mixture, negative densities on the grid and implied total
variance falling between tenors at fixed ``k``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pricing.mixture.measure import Measure, MeasureFit
from pricing.mixture.tree_tables import interval_rows, jump_tables
from pricing.vol.arbitrage import ArbitrageReport, arbitrage_report
from pricing.vol.implied_smile import variance_densities
from pricing.vol.quotes import SmileConventions, SmileError
from pricing.vol.quoting import SmileQuotes, quote_total_variance
from pricing.vol.surface import VolSurface
from scenarios import checks
from scenarios.dates import tenor_dates, year_fraction
from scenarios.errors import DomainError
from scenarios.fx.valuation import fit_measure
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.vol.mixture_smile import Expiries, mixture_variance
from scenarios.vol.model import SmileSource, VolModel, build_vol_model

_CALENDAR_GRID = np.linspace(-0.3, 0.3, 25)
Triple = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class SmileView:
    """One smile per tenor: ``quotes`` ``[n]``/``[n, d]``, and on the strike grid ``vols`` and
    ``densities`` ``[n, p]`` (vols NaN exactly where no vol could be read)."""

    quotes: SmileQuotes
    vols: np.ndarray
    densities: np.ndarray


@dataclass(frozen=True)
class MixtureCheck:
    """Mixture arbitrage found on the grids: ``(tenor index, strike, density)`` where the
    density is negative; ``(earlier index, later index, k, drop)`` where implied total
    variance falls from one tenor to the next at fixed ``k = ln(K/F)``."""

    negative_densities: tuple[tuple[int, float, float], ...]
    calendar: tuple[tuple[int, int, float, float], ...]


@dataclass(frozen=True)
class SurfaceView:
    """Everything ``POST /v1/vol-surface`` returns, as arrays over tenors × strikes."""

    tenors: tuple[str, ...]
    expiry_dates: tuple[dt.date, ...]
    delivery_dates: tuple[dt.date, ...]
    expiries: Expiries
    after_event: np.ndarray
    strikes: np.ndarray
    deltas: np.ndarray
    conventions: SmileConventions
    fit: MeasureFit
    sources: tuple[SmileSource, ...]
    market: SmileView
    scenarios: tuple[SmileView, ...]
    mixture: SmileView
    market_arbitrage: ArbitrageReport | None
    scenario_arbitrage: tuple[ArbitrageReport | None, ...]
    mixture_check: MixtureCheck


def _dates(market: MarketSnapshot, tenors: Sequence[str]) -> tuple[list[dt.date], list[dt.date]]:
    expiries: list[dt.date] = []
    deliveries: list[dt.date] = []
    for i, tenor in enumerate(tenors):
        expiry, delivery = tenor_dates(f"tenors[{i}]", market.valuation_date, tenor)
        if expiries and expiry <= expiries[-1]:
            raise DomainError.field(
                f"tenors[{i}]",
                f"tenors must be sorted by expiry: {tenor} ({expiry.isoformat()}) is not "
                f"after tenors[{i - 1}] ({expiries[-1].isoformat()})",
            )
        expiries.append(expiry)
        deliveries.append(delivery)
    return expiries, deliveries


def _view(
    variance: Callable[[np.ndarray], Triple],
    *,
    expiries: Expiries,
    forwards: np.ndarray,
    strikes: np.ndarray,
    deltas: np.ndarray,
    conventions: SmileConventions,
) -> SmileView:
    """Quotes, grid vols and densities of a smile given as ``k [n, p] ↦ (w, w', w'')``."""
    quotes = quote_total_variance(
        variance=lambda k: variance(k)[:2],
        expiries=expiries.times,
        forwards=forwards,
        foreign_discount_factors=expiries.usd_discount_factors,
        deltas=tuple(deltas),
        conventions=conventions,
    )
    k = np.log(strikes[None, :] / forwards[:, None])
    w, w1, w2 = variance(k)
    positive = w > 0
    vols = np.where(positive, np.sqrt(np.where(positive, w, 1.0) / expiries.times[:, None]), np.nan)
    safe = (np.where(positive, w, 1.0), np.where(positive, w1, 1.0), np.where(positive, w2, 1.0))
    densities = variance_densities(log_moneyness=k, strikes=strikes[None, :], derivatives=safe)
    return SmileView(quotes, vols, np.where(positive, densities, 0.0))


def vol_surface_view(
    *,
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    tenors: Sequence[str],
    strikes: np.ndarray,
    deltas: Sequence[float] = (0.25, 0.10),
    measure: Measure = Measure.TILT,
) -> SurfaceView:
    """Market, per-scenario and mixture smiles at ``tenors`` on the ``strikes`` grid.

    Raises:
        DomainError: unsorted or unknown tenors (``tenors[i]``), wing deltas outside
            (0, 0.5) (``deltas[j]``), no risk-neutral measure, a scenario smile no SVI
            slice matches.
    """
    fit = fit_measure(market, scenario_set, measure)
    model = build_vol_model(market, scenario_set)
    expiry_dates, delivery_dates = _dates(market, tenors)
    today = market.valuation_date
    expiries = Expiries.on(
        market,
        np.array([year_fraction(today, d) for d in expiry_dates]),
        np.array([year_fraction(today, d) for d in delivery_dates]),
    )
    after = expiries.times > model.event_time
    conventions = market.surface.conventions if market.surface else SmileConventions()
    grid = np.asarray(strikes, dtype=float)
    for i, strike in enumerate(grid.tolist()):
        checks.near_spot(f"strikes[{i}]", strike, market.spot)
    wing_deltas = np.asarray(deltas, dtype=float)
    t = expiries.times[:, None]

    def view(variance: Callable[[np.ndarray], Triple], forwards: np.ndarray) -> SmileView:
        try:
            return _view(
                variance,
                expiries=expiries,
                forwards=forwards,
                strikes=grid,
                deltas=wing_deltas,
                conventions=conventions,
            )
        except SmileError as exc:
            raise DomainError.field(exc.field, exc.reason) from None

    market_view = view(lambda k: model.market_variance(times=t, log_moneyness=k), expiries.forwards)
    scenario_views = []
    # each scenario's jump as of each expiry (a tree's leaf: the nodes before the expiry)
    tables = jump_tables(fit, model.event_time, derivatives=False)
    leaf_jumps = tables.jumps[interval_rows(tables.times, expiries.times)]  # [n, m]
    for j in range(len(scenario_set.scenarios)):
        jumps = np.where(after, leaf_jumps[:, j], 1.0)

        def component(k: np.ndarray, j: int = j) -> Triple:
            return model.component_variance(j, expiries=t, log_moneyness=k)

        scenario_views.append(view(component, expiries.forwards * jumps))
    mixture_view = _mixture_view(
        market, model, fit, expiries, grid, wing_deltas, conventions, scenario_views, after
    )
    return SurfaceView(
        tenors=tuple(tenors),
        expiry_dates=tuple(expiry_dates),
        delivery_dates=tuple(delivery_dates),
        expiries=expiries,
        after_event=after,
        strikes=grid,
        deltas=wing_deltas,
        conventions=conventions,
        fit=fit,
        sources=tuple(s.source for s in model.smiles),
        market=market_view,
        scenarios=tuple(scenario_views),
        mixture=mixture_view,
        market_arbitrage=_report(model.market_surface, expiries.times),
        scenario_arbitrage=tuple(
            _report(s.surface, expiries.times[after] - model.event_time) for s in model.smiles
        ),
        mixture_check=_mixture_check(market, model, fit, expiries, grid, mixture_view),
    )


def _report(surface: VolSurface | None, expiries: np.ndarray) -> ArbitrageReport | None:
    if surface is None:
        return None
    extra = expiries[expiries > 0]
    return arbitrage_report(surface=surface, expiries=extra if extra.size else None)


def _mixture_view(
    market: MarketSnapshot,
    model: VolModel,
    fit: MeasureFit,
    expiries: Expiries,
    grid: np.ndarray,
    deltas: np.ndarray,
    conventions: SmileConventions,
    scenarios: list[SmileView],
    after: np.ndarray,
) -> SmileView:
    variance = mixture_variance(market=market, model=model, fit=fit, expiries=expiries)
    quotes = quote_total_variance(
        variance=variance,
        expiries=expiries.times,
        forwards=expiries.forwards,
        foreign_discount_factors=expiries.usd_discount_factors,
        deltas=tuple(deltas),
        conventions=conventions,
    )
    w = variance(np.log(grid[None, :] / expiries.forwards[:, None]))[0]
    vols = np.where(w > 0, np.sqrt(np.maximum(w, 0.0) / expiries.times[:, None]), np.nan)
    # the mixture's density is the q-weighted sum of its components' (before the event every
    # component is the market, and the weights sum to 1)
    densities = sum(q * view.densities for q, view in zip(fit.weights, scenarios, strict=True))
    return SmileView(quotes, vols, np.asarray(densities))


def _mixture_check(
    market: MarketSnapshot,
    model: VolModel,
    fit: MeasureFit,
    expiries: Expiries,
    grid: np.ndarray,
    mixture: SmileView,
) -> MixtureCheck:
    negative = tuple(
        (int(i), float(grid[j]), float(mixture.densities[i, j]))
        for i, j in zip(*np.nonzero(mixture.densities < 0), strict=True)
    )
    variance = mixture_variance(market=market, model=model, fit=fit, expiries=expiries)
    k = np.broadcast_to(_CALENDAR_GRID, (expiries.times.size, _CALENDAR_GRID.size))
    w = variance(np.array(k))[0]
    calendar = []
    for i in range(expiries.times.size - 1):
        both = (w[i] > 0) & (w[i + 1] > 0)
        drops = np.where(both, w[i] - w[i + 1], 0.0)
        if drops.max() > 1e-12:
            at = int(np.argmax(drops))
            calendar.append((i, i + 1, float(_CALENDAR_GRID[at]), float(drops[at])))
    return MixtureCheck(negative, tuple(calendar))
