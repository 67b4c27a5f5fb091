"""Valuation of a book of FX options under a scenario set: the one call the service makes.

Builds the option and scenario arrays from the domain objects, fits the pricing measure,
runs the mixture kernel (:mod:`pricing.mixture.european`) and inverts the mixture prices of vanillas
to Black vols (:mod:`pricing.fx.implied_vol`). Time structure: an option expiring on or before
the event date ignores the scenarios; after it, scenario ``i`` contributes a lognormal around
``F(T)·J_i`` with variance ``σ_pre²·T_e + σ_i²·(T − T_e)``, where ``σ_pre²·T_e`` is the ATM
curve's total variance to the event. With a market surface or scenario smiles the vols are
read at each strike (:mod:`scenarios.vol.model`: ``σ_pre(K)``, ``σ_i(K)``) and digitals add
the smile's slope (:mod:`pricing.mixture.digital_slope`); Greeks then hold the vol at each strike
fixed (sticky strike), and so does ``∂price/∂L_i``.

**Decision trees.** A set carrying a tree (:mod:`scenarios.tree`) is priced by the same path:
its measure is solved node by node (:func:`fit_measure`, each node's λ and mismatch in
``fit.nodes``), its components are its leaves, each option sees the leaves' cumulative jumps
``J_ℓ(T)`` and piecewise variances as of its expiry (:mod:`pricing.mixture.tree_tables`: a
node dated on or after the expiry is not part of it), and ``∂price/∂L_b`` is per branch
(``L_b = S0·J_b``, named ``<node id>/<branch name>`` in :attr:`BookValuation.level_names`),
through that node's re-solved measure. A flat set is the tree of one node: the same tables
and loop, today's figures bit for bit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import TypedDict

import numpy as np

from pricing.curve import CurveInterpolation
from pricing.fx.black import Payoff
from pricing.fx.book import (
    BookTables,
    FxBookResult,
    Problem,
    post_event_tables,
    value_fx_options,
)
from pricing.fx.implied_vol import BLACK_FORMULA_ULPS, implied_vol
from pricing.mixture.digital_slope import add_results, digital_slope_terms
from pricing.mixture.european import MixtureResult, OptionBook, ScenarioMix, mixture_greeks
from pricing.mixture.measure import Measure, MeasureFit, NoRiskNeutralMeasure, risk_neutral
from pricing.mixture.tree_tables import JumpTables, interval_rows, jump_tables
from scenarios import checks
from scenarios.dates import year_fraction
from scenarios.errors import DomainError, ErrorKind
from scenarios.fx.instruments import FxOption
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.tree import DecisionTree, branch_names, tree_measure_fit
from scenarios.vol.model import VolModel, build_vol_model

# membership by table look-up (``np.isin`` costs ~50 µs on a one-option book)
_IS_VANILLA = np.isin(np.arange(len(Payoff)), (Payoff.CALL, Payoff.PUT))
_IS_DIGITAL = np.isin(
    np.arange(len(Payoff)),
    (
        Payoff.DIGITAL_CALL_JPY,
        Payoff.DIGITAL_PUT_JPY,
        Payoff.DIGITAL_CALL_USD,
        Payoff.DIGITAL_PUT_USD,
    ),
)


_PROBLEMS = {
    Problem.NO_VARIANCE: "the vol surface gives no positive variance at this expiry and strike "
    "(calendar arbitrage in the quotes: see the arbitrage report of POST /v1/vol-surface)",
    Problem.NOT_FINITE: "cannot be priced in double precision with these inputs (a result is "
    "not finite)",
}


@dataclass(slots=True)  # a fresh result (see MixtureResult)
class BookValuation:
    """Arrays over the book's ``n`` options and the set's ``m`` scenarios.

    Attributes:
        fit: the pricing measure (q, effective jumps, λ, forward mismatch; a tree's per
            node in ``fit.nodes``).
        scenario_names: ``[m]`` names in the set's order (a tree's leaves).
        forwards: market forwards to delivery [n], JPY per USD.
        after_event: [n] True where the expiry is after the event date (a tree's root).
        greeks: mixture price and Greeks (JPY per unit of notional); ``scenario_values`` and
            ``d_jumps`` per scenario (a tree's leaf, as of each expiry) ``[n, m]``.
        d_levels: ``∂price/∂L_k`` ``[n, len(level_names)]``, through the re-solved measure,
            JPY per unit of notional per JPY of level (0 before the event).
        level_names: the levels ``d_levels`` is taken in: ``scenario_names`` for a flat set;
            a tree's branches, ``<node id>/<branch name>`` (``L_b = S0·J_b``, a branch
            given as a jump too), node by node.
        implied_vols: [n] mixture Black vol for vanillas (0 where not available).
        implied_ok: [n] True where the implied vol converged.
        implied_status: [n] status codes of :mod:`pricing.fx.implied_vol`.
    """

    fit: MeasureFit
    scenario_names: tuple[str, ...]
    forwards: np.ndarray
    after_event: np.ndarray
    greeks: MixtureResult
    d_levels: np.ndarray
    implied_vols: np.ndarray
    implied_ok: np.ndarray
    implied_status: np.ndarray
    level_names: tuple[str, ...] = ()


def level_names(scenario_set: ScenarioSet) -> tuple[str, ...]:
    """The levels ``∂price/∂L`` is taken in: the scenarios, or a tree's branches."""
    if scenario_set.tree is not None:
        return branch_names(scenario_set.tree)
    return tuple(s.name for s in scenario_set.scenarios)


def fit_measure(market: MarketSnapshot, scenario_set: ScenarioSet, measure: Measure) -> MeasureFit:
    """The pricing measure of ``scenario_set`` on ``market``; 422-kind error if none exists.

    A tree set's is solved node by node (:func:`scenarios.tree.tree_measure_fit`): over its
    leaves, with ``nodes`` and ``paths``; a node the tilt cannot make a martingale is named
    ``scenario_set.tree.nodes[i].branches`` (kind ``no_measure``).
    """
    scenario_set.check_against(market.valuation_date, market.spot)
    if scenario_set.tree is not None:
        try:
            return _cached_tree_fit(
                scenario_set.tree, market.valuation_date, market.spot, Measure(measure)
            )
        except DomainError as exc:
            raise exc.prefixed("scenario_set.tree") from None
    probabilities = tuple(s.probability for s in scenario_set.scenarios)
    levels = tuple(s.level for s in scenario_set.scenarios)
    try:
        return _cached_fit(probabilities, levels, market.spot, measure)
    except NoRiskNeutralMeasure as exc:
        held = [s.level for s in scenario_set.scenarios if s.probability > 0]
        side = "above" if min(held) >= market.spot else "below"
        raise DomainError.field(
            "measure",
            f"no risk-neutral measure under 'tilt': every post-event level with probability "
            f"({min(held):g} to {max(held):g}) is {side} spot {market.spot:g}, so no "
            f"reweighting can make the mixture forward equal the market forward ({exc}); "
            f"add a scenario on the other side, or use measure 'scale' or 'none'",
            ErrorKind.NO_MEASURE,
        ) from exc


@lru_cache(maxsize=128)
def _cached_tree_fit(
    tree: DecisionTree, valuation_date: dt.date, spot: float, measure: Measure
) -> MeasureFit:
    """A tree's measure, once per (tree, valuation date, spot, choice)."""
    return tree_measure_fit(tree, valuation_date=valuation_date, spot=spot, measure=measure)


@lru_cache(maxsize=256)
def _cached_fit(
    probabilities: tuple[float, ...], levels: tuple[float, ...], spot: float, measure: Measure
) -> MeasureFit:
    """The measure depends on p, L/S0 and the choice only: solve it once per distinct set."""
    return risk_neutral(
        probabilities=np.array(probabilities), jumps=np.array(levels) / spot, measure=measure
    )


@dataclass(frozen=True)
class PricedOptions:
    """Mixture prices of ``[n]`` options: Greeks, market forwards and JPY discount factors to
    delivery, and ``valid`` (False where the market's surface gives no positive variance)."""

    greeks: MixtureResult
    forwards: np.ndarray
    discount_factors: np.ndarray
    after_event: np.ndarray
    valid: np.ndarray


def price_options(
    *,
    market: MarketSnapshot,
    model: VolModel,
    fit: MeasureFit,
    expiries: np.ndarray,
    deliveries: np.ndarray,
    strikes: np.ndarray,
    payoffs: np.ndarray,
) -> PricedOptions:
    """Price options given as arrays ``[n]``: expiry and delivery times (years ACT/365F),
    strikes (JPY per USD) and :class:`pricing.fx.black.Payoff` codes, under ``fit``'s weights
    and jumps with ``model``'s vols; digitals include the smile's slope.

    A tree's fit (``fit.nodes``, with ``model.tree``) prices each option on its leaves'
    cumulative jumps and piecewise variances as of its expiry (:func:`tree_jump_tables`)."""
    t_exp, t_del = np.asarray(expiries, dtype=float), np.asarray(deliveries, dtype=float)
    strikes = np.asarray(strikes, dtype=float)
    payoffs = np.asarray(payoffs)
    r_d = market.jpy_curve.zero_rates_at(t_del)
    r_f = market.usd_curve.zero_rates_at(t_del)
    forwards = market.spot * np.exp((r_d - r_f) * t_del)
    dfs = np.exp(-r_d * t_del)
    jumps = fit.jumps
    if fit.nodes is not None:  # each leaf's cumulative jump as of each expiry [n, L]
        tables = tree_jump_tables(fit, model, derivatives=False)
        jumps = tables.jumps[interval_rows(model.decision_times, t_exp)]
    vols = model.inputs(expiries=t_exp, forwards=forwards, strikes=strikes, jumps=jumps)
    book = OptionBook(
        payoffs=payoffs,
        strikes=strikes,
        forwards=forwards,
        discount_factors=dfs,
        delivery_times=t_del,
        rates_jpy=r_d,
        rates_usd=r_f,
        pre_vols=vols.pre_vols,  # [n], or [n, m] read per component off the market's smile
        pre_times=vols.pre_times,
        post_times=vols.post_times,
        accrued_variances=vols.accrued_variances,
        accrued_vol_times=vols.accrued_vol_times,
    )
    mix = ScenarioMix(weights=fit.weights, jumps=jumps, vols=vols.vols)
    greeks = mixture_greeks(book=book, mix=mix, spot=market.spot)
    if vols.has_slopes and _IS_DIGITAL[payoffs].any():
        slope_terms = digital_slope_terms(
            book=book,
            mix=mix,
            pre_vols=vols.pre_vols if vols.pre_vols.ndim == 2 else None,
            pre_vol_slopes=vols.pre_vol_slopes,
            vol_slopes=vols.vol_slopes,
            spot=market.spot,
        )
        greeks = add_results(greeks, slope_terms)
    return PricedOptions(greeks, forwards, dfs, vols.post_times > 0.0, vols.valid)


def tree_jump_tables(fit: MeasureFit, model: VolModel, *, derivatives: bool = True) -> JumpTables:
    """A tree fit's jump tables per interval between its node dates
    (:func:`pricing.mixture.tree_tables.jump_tables`; ``derivatives`` False leaves
    ``d_jumps`` zeros), checked against ``model.tree``'s."""
    tables = jump_tables(fit, model.event_time, derivatives=derivatives)
    if model.tree is None or not np.array_equal(tables.times, model.tree.times):
        raise ValueError("the fit's decision dates are not the vol model's")
    return tables


def value_book(
    *,
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    options: tuple[FxOption, ...],
    measure: Measure = Measure.TILT,
) -> BookValuation:
    """Price every option of ``options`` under the mixture of ``scenario_set`` on ``market``.

    One compiled call (:mod:`pricing.fx.book`): flat or smiled post-event vols, digitals with
    the smile's slope; :func:`value_book_stepwise` is the same valuation step by step.
    """
    book = _book_arrays(market, options)
    build_vol_model(market, scenario_set)  # a scenario smile's error first, as before the fit
    fit = fit_measure(market, scenario_set, measure)
    tables = book_tables(market, scenario_set, measure)
    result = value_fx_options(tables, payoffs=book.payoffs, options=book.packed)
    return _fused_valuation(result, fit, scenario_set, book.strikes, market.spot)


@dataclass(slots=True)
class _BookArrays:
    packed: np.ndarray  # [3, n]: expiry times, delivery times, strikes
    payoffs: np.ndarray

    @property
    def expiries(self) -> np.ndarray:
        row: np.ndarray = self.packed[0]
        return row

    @property
    def deliveries(self) -> np.ndarray:
        row: np.ndarray = self.packed[1]
        return row

    @property
    def strikes(self) -> np.ndarray:
        row: np.ndarray = self.packed[2]
        return row


def _book_arrays(market: MarketSnapshot, options: tuple[FxOption, ...]) -> _BookArrays:
    """Expiry and delivery times (years ACT/365F), strikes and payoff codes ``[n]``."""
    today = market.valuation_date
    packed = np.array(
        [
            [year_fraction(today, o.expiry) for o in options],
            [year_fraction(today, o.delivery) for o in options],
            [o.strike for o in options],
        ],
        dtype=float,
    ).reshape(3, len(options))
    return _BookArrays(
        packed=packed,
        payoffs=np.array([int(o.payoff) for o in options], dtype=np.int64),
    )


def value_book_stepwise(
    *,
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    options: tuple[FxOption, ...],
    measure: Measure = Measure.TILT,
    arrays: _BookArrays | None = None,
) -> BookValuation:
    """:func:`value_book` step by step in numpy around the compiled kernels: the reference
    the compiled book valuation (:mod:`pricing.fx.book`) is tested against."""
    fit = fit_measure(market, scenario_set, measure)
    model = build_vol_model(market, scenario_set)
    book = arrays or _book_arrays(market, options)
    t_exp, t_del, strikes, payoffs = book.expiries, book.deliveries, book.strikes, book.payoffs
    spot = market.spot
    far = ~((strikes >= spot / checks.SPOT_FACTOR) & (strikes <= spot * checks.SPOT_FACTOR))
    if far.any():  # the rule of checks.near_spot, over the whole book at once
        i = int(np.flatnonzero(far)[0])
        checks.near_spot(f"instruments[{i}].strike", float(strikes[i]), spot)
    priced = price_options(
        market=market,
        model=model,
        fit=fit,
        expiries=t_exp,
        deliveries=t_del,
        strikes=strikes,
        payoffs=payoffs,
    )
    if not priced.valid.all():
        i = int(np.flatnonzero(~priced.valid)[0])
        raise DomainError.field(f"instruments[{i}]", _PROBLEMS[Problem.NO_VARIANCE])
    greeks, forwards, dfs = priced.greeks, priced.forwards, priced.discount_factors
    after = priced.after_event
    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite figure is refused below
        if fit.nodes is None:
            d_levels = greeks.scenario_values @ fit.d_weights + greeks.d_jumps @ fit.d_jumps
        else:  # ∂J_ℓ(T)/∂J_b of each option's interval
            rows = interval_rows(model.decision_times, t_exp)
            d_jump_fit = tree_jump_tables(fit, model).d_jumps[rows]  # [n, L, B]
            d_levels = greeks.scenario_values @ fit.d_weights
            d_levels += np.einsum("nl,nlb->nb", greeks.d_jumps, d_jump_fit)
        d_levels /= market.spot
    d_levels[~after] = 0.0
    vanilla = _IS_VANILLA[payoffs]
    ivs = implied_vol(
        prices=greeks.price[vanilla],
        forwards=forwards[vanilla],
        strikes=strikes[vanilla],
        expiries=t_exp[vanilla],
        discount_factors=dfs[vanilla],
        is_call=payoffs[vanilla] == Payoff.CALL,
        intrinsic_ulps=BLACK_FORMULA_ULPS,  # as the compiled book: the price's own noise
    )
    implied_vols = np.zeros(len(options))
    implied_ok = np.zeros(len(options), dtype=bool)
    implied_status = np.full(len(options), -1, dtype=np.int8)
    implied_vols[vanilla] = ivs.vols
    implied_ok[vanilla] = ivs.converged
    implied_status[vanilla] = ivs.status
    _check_finite(greeks, d_levels)
    return BookValuation(
        fit=fit,
        scenario_names=tuple(s.name for s in scenario_set.scenarios),
        forwards=forwards,
        after_event=after,
        greeks=greeks,
        d_levels=d_levels,
        implied_vols=implied_vols,
        implied_ok=implied_ok,
        implied_status=implied_status,
        level_names=level_names(scenario_set),
    )


class _TreeTables(TypedDict, total=False):
    """A decision tree's :class:`BookTables` fields (none for a flat set)."""

    node_times: np.ndarray
    interval_jumps: np.ndarray
    interval_d_jumps: np.ndarray
    interval_vols: np.ndarray
    accrued_variances: np.ndarray
    accrued_vol_times: np.ndarray


@lru_cache(maxsize=128)
def book_tables(market: MarketSnapshot, scenario_set: ScenarioSet, measure: Measure) -> BookTables:
    """``market``, the measure and the post-event vols (flat, or each scenario's surface
    stacked by :func:`pricing.fx.book.post_event_tables`) packed for
    :func:`pricing.fx.book.value_fx_book`, once per (market, set, measure); a tree's leaves
    per interval between its node dates (:mod:`pricing.mixture.tree_tables`)."""
    fit = fit_measure(market, scenario_set, measure)
    model = build_vol_model(market, scenario_set)
    tree: _TreeTables = {}
    if fit.nodes is not None and model.tree is not None:
        jumps = tree_jump_tables(fit, model)
        tree = {
            "node_times": jumps.times,
            "interval_jumps": jumps.jumps,
            "interval_d_jumps": jumps.d_jumps,
            "interval_vols": model.tree.vols,
            "accrued_variances": model.tree.variances,
            "accrued_vol_times": model.tree.vol_times,
        }
    surface = model.market_surface
    table, events = surface.tables if surface is not None else (np.empty((0, 7)), np.empty((0, 2)))
    post_surfaces, post_events, post_pillars, post_event_counts = post_event_tables(
        [s.surface for s in model.smiles]
    )
    linear = CurveInterpolation.LINEAR_ZERO
    return BookTables(
        spot=market.spot,
        event_time=model.event_time,
        strike_factor=checks.SPOT_FACTOR,
        jpy_times=market.jpy_curve.times,
        jpy_rates=np.array(market.jpy_curve.zero_rates),
        jpy_log_linear=market.jpy_curve.interpolation is not linear,
        usd_times=market.usd_curve.times,
        usd_rates=np.array(market.usd_curve.zero_rates),
        usd_log_linear=market.usd_curve.interpolation is not linear,
        atm_times=model.pre_atm.times,
        atm_vols=np.array(model.pre_atm.vols),
        surface=table,
        events=events,
        weights=np.ascontiguousarray(fit.weights, dtype=float),
        jumps=np.ascontiguousarray(fit.jumps, dtype=float),
        log_jumps=np.log(fit.jumps),
        post_vols=np.array([[s.vol * s.scale for s in model.smiles]]),
        d_weights=np.ascontiguousarray(fit.d_weights, dtype=float),
        d_jumps=np.ascontiguousarray(fit.d_jumps, dtype=float),
        post_surfaces=post_surfaces,
        post_events=post_events,
        post_pillars=post_pillars,
        post_event_counts=post_event_counts,
        post_scales=np.array([s.scale for s in model.smiles] if post_pillars.size else []),
        post_fallback_vols=np.array([s.vol for s in model.smiles] if post_pillars.size else []),
        **tree,
    )


def _fused_valuation(
    result: FxBookResult,
    fit: MeasureFit,
    scenario_set: ScenarioSet,
    strikes: np.ndarray,
    spot: float,
) -> BookValuation:
    """The :class:`BookValuation` of a compiled valuation; its problem raised by name."""
    if result.problem is not Problem.NONE:
        i = result.index
        if result.problem is Problem.FAR_STRIKE:
            checks.near_spot(f"instruments[{i}].strike", float(strikes[i]), spot)
        raise DomainError.field(f"instruments[{i}]", _PROBLEMS[result.problem])
    c = result.columns  # rows by pricing.fx.book.Column
    greeks = MixtureResult(
        price=c[0],
        delta=c[1],
        delta_premium_adjusted=c[2],
        gamma=c[3],
        vega=c[4],
        theta=c[5],
        rho_jpy=c[6],
        rho_usd=c[7],
        scenario_values=result.scenario_values,
        d_jumps=result.d_jumps,
    )
    status = result.implied_status
    return BookValuation(
        fit=fit,
        scenario_names=tuple(s.name for s in scenario_set.scenarios),
        forwards=c[8],
        after_event=result.after_event,
        greeks=greeks,
        d_levels=result.d_levels,
        implied_vols=c[14],
        implied_ok=result.implied_ok,
        implied_status=status,
        level_names=level_names(scenario_set),
    )


def _check_finite(greeks: MixtureResult, d_levels: np.ndarray) -> None:
    """A non-finite figure means an input slipped past validation: refuse to return it."""
    arrays = [getattr(greeks, name) for name in greeks.__dataclass_fields__]
    small = d_levels.size <= 1024  # one check over every figure: ~3 µs, not ~40
    if small and np.isfinite(np.concatenate([a.ravel() for a in (*arrays, d_levels)])).all():
        return
    bad = ~np.isfinite(d_levels).all(axis=1)
    for values in arrays:
        finite = np.isfinite(values)
        bad |= ~(finite if finite.ndim == 1 else finite.all(axis=1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DomainError.field(f"instruments[{i}]", _PROBLEMS[Problem.NOT_FINITE])


def event_time(market: MarketSnapshot, scenario_set: ScenarioSet) -> float:
    """Years ACT/365F from the valuation date to the event date."""
    return year_fraction(market.valuation_date, scenario_set.event_date)
