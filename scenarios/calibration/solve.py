"""The calibration's inner solve: quotes to rows, rows to weights, iterated.

Conventions: strikes and forwards JPY per USD; vols annualised decimals; times in years
ACT/365F; jump ratios ``J_i = L_i/S0``; rows in vol units (:mod:`scenarios.
calibration_rows`).

:func:`solve_weights` solves the price rows (ATM, broker strangles, option quotes) for the
weights, then iterates: quote the mixture at ``q_k`` (:func:`mixture_quotes`), linearise the
risk reversals at its own ``±δ`` strikes, re-solve (:func:`pricing.mixture.weight_fit.fit_weights`),
until the weights move by less than 1e-13 (:func:`linearised_rows` builds each round's rows).
:func:`frozen_rows` is the refit's fast path: the risk-reversal strikes held fixed, two
re-linearisations. With a decision tree's fit (``tree``), :func:`price_rows`,
:func:`mixture_quotes` and :func:`linearised_rows` price its leaves as of each expiry (the
node-by-node solve of :mod:`scenarios.calibration.tree_fit`); without it, as before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np

from pricing.cancellation import check_cancelled
from pricing.fx.implied_vol import implied_vol
from pricing.mixture.measure import MeasureFit
from pricing.mixture.weight_fit import fit_weights
from pricing.vol.quotes import SmileConventions
from pricing.vol.quoting import SmileQuotes, quote_total_variance
from scenarios.calibration.rows import (
    OptionQuote,
    RowLabel,
    Rows,
    component_prices,
    option_price_rows,
    price_matrix,
    tenor_price_rows,
    vol_rows,
    weights_fit,
)
from scenarios.dates import year_fraction
from scenarios.errors import DomainError
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet
from scenarios.vol.mixture_smile import Expiries, mixture_variance
from scenarios.vol.model import VolModel
from scenarios.vol.smiles import SmileQuote, check_quotes

STEP_TOLERANCE = 1e-13


@dataclass(frozen=True)
class CalibrationProblem:
    """The quotes to fit, resolved against the market: tenors ``[n]``, options ``[k]``."""

    market: MarketSnapshot
    quotes: tuple[SmileQuote, ...]
    expiries: Expiries
    options: tuple[OptionQuote, ...]
    option_expiries: Expiries
    option_dates: tuple[dt.date, ...]
    conventions: SmileConventions
    deltas: tuple[float, ...]


@dataclass(frozen=True)
class WeightSolution:
    """Weights and the rows (vol units) they were solved on; the mixture's own quotes at
    the last linearisation (None without tenor quotes)."""

    weights: np.ndarray
    matrix: np.ndarray
    targets: np.ndarray
    labels: tuple[RowLabel, ...]
    model_quotes: SmileQuotes | None
    iterations: int
    converged: bool


def build_problem(
    market: MarketSnapshot,
    scenario_set: ScenarioSet,
    quotes: tuple[SmileQuote, ...] | None,
    options: tuple[OptionQuote, ...],
    option_dates: tuple[dt.date, ...],
) -> CalibrationProblem:
    event = scenario_set.event_date
    if quotes is None:  # the market's own pillars after the event, unless options are given
        base = market.surface.quotes if market.surface and not options else ()
        quotes = tuple(q for q in base if q.expiry > event)
    elif quotes:
        try:
            check_quotes(quotes, event)
        except DomainError as exc:
            raise exc.prefixed("quotes") from None
    if not quotes and not options:
        raise DomainError.field(
            "quotes",
            f"give quotes or options expiring after the event {event.isoformat()}: the market "
            f"has no surface pillar after it",
        )
    for i, quote in enumerate(quotes):
        for j, wing in enumerate(quote.wings()):
            if quote.atm + wing.bf <= 0:
                name = "bf25" if j == 0 else "bf10"
                raise DomainError.field(
                    f"quotes[{i}].{name}",
                    f"must exceed -atm ({-quote.atm:g}): the strangle vol atm + bf must be "
                    f"positive, got {wing.bf:g}",
                )
    t_event = year_fraction(market.valuation_date, event)
    for i, option in enumerate(options):
        if option.expiry <= t_event:
            raise DomainError.field(
                f"options[{i}].expiry",
                f"must be after the event {event.isoformat()}, got {option_dates[i].isoformat()}",
            )
    today = market.valuation_date
    times = np.array([year_fraction(today, q.expiry) for q in quotes])
    deliveries = np.array([year_fraction(today, q.delivery) for q in quotes])
    return CalibrationProblem(
        market=market,
        quotes=quotes,
        expiries=Expiries.on(market, times, deliveries),
        options=options,
        option_expiries=Expiries.on(
            market, np.array([o.expiry for o in options]), np.array([o.delivery for o in options])
        ),
        option_dates=option_dates,
        conventions=market.surface.conventions if market.surface else SmileConventions(),
        deltas=(0.25, 0.10) if any(q.has_10d for q in quotes) else (0.25,),
    )


def price_rows(
    problem: CalibrationProblem,
    model: VolModel,
    jumps: np.ndarray,
    tree: MeasureFit | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[RowLabel, ...]]:
    """Price rows (ATM, broker strangles, options) in vol units, one column per scenario (a
    tree's leaf with ``tree``: :func:`scenarios.calibration.rows.weights_fit`)."""
    tenor_rows = tenor_price_rows(
        quotes=problem.quotes, expiries=problem.expiries, conventions=problem.conventions
    )
    option_rows = option_price_rows(options=problem.options, expiries=problem.option_expiries)
    m = jumps.size
    parts: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    labels: list[RowLabel] = []
    for rows, expiries in ((tenor_rows, problem.expiries), (option_rows, problem.option_expiries)):
        if not rows.labels:
            continue
        components = component_prices(
            market=problem.market,
            model=model,
            jumps=jumps,
            expiries=expiries,
            rows=rows.tenor_rows,
            strikes=rows.strikes,
            calls=rows.calls,
            tree=tree,
        )
        with np.errstate(all="ignore"):  # a row that is not finite is refused below
            matrix, target = price_matrix(rows, components, m)
        _check_rows(matrix, target, rows.labels)
        parts.append(matrix)
        targets.append(target)
        labels.extend(rows.labels)
    return np.vstack(parts), np.concatenate(targets), tuple(labels)


def _check_rows(matrix: np.ndarray, targets: np.ndarray, labels: tuple[RowLabel, ...]) -> None:
    """A quote whose row is not finite carries no vol in double precision (a strike so far
    from the forward that its vega underflows, or a vol beyond any market): name it."""
    bad = ~(np.isfinite(matrix).all(axis=1) & np.isfinite(targets))
    if bad.any():
        label = labels[int(np.flatnonzero(bad)[0])]
        field = f"options[{label.source}]" if label.kind == "vol" else f"quotes[{label.source}]"
        raise DomainError.field(
            field,
            "carries no vol information in double precision at this strike and expiry "
            "(vega or price not representable): bring the strike nearer the forward",
        )


def mixture_quotes(
    problem: CalibrationProblem,
    model: VolModel,
    weights: np.ndarray,
    jumps: np.ndarray,
    tree: MeasureFit | None = None,
) -> SmileQuotes:
    """The mixture's own ATM/RR/BF at the problem's tenors (a tree's leaves with ``tree``)."""
    variance = mixture_variance(
        market=problem.market,
        model=model,
        fit=weights_fit(weights, jumps, tree),
        expiries=problem.expiries,
    )
    return quote_total_variance(
        variance=variance,
        expiries=problem.expiries.times,
        forwards=problem.expiries.forwards,
        foreign_discount_factors=problem.expiries.usd_discount_factors,
        deltas=problem.deltas,
        conventions=problem.conventions,
    )


def linearised_rows(
    problem: CalibrationProblem,
    model: VolModel,
    weights: np.ndarray,
    jumps: np.ndarray,
    tree: MeasureFit | None = None,
) -> tuple[SmileQuotes, Rows]:
    """The mixture's own quotes at ``weights`` and the risk-reversal (and smile-butterfly)
    rows linearised at its own ``±δ`` strikes (:func:`scenarios.calibration.rows.vol_rows`),
    in vol units; a wing whose strikes could not be solved is left out. ``weights`` are a
    tree's leaf weights with ``tree``."""
    n, d, m = len(problem.quotes), len(problem.deltas), jumps.size
    quotes = mixture_quotes(problem, model, weights, jumps, tree)
    ok = np.isfinite(quotes.call_strikes) & np.isfinite(quotes.put_strikes)
    rows = np.repeat(np.arange(n)[:, None], d, axis=1)
    prices = [
        np.zeros((n, d, m)) for _ in range(2)
    ]  # each scenario's price at the model's call and put strikes
    for side, (strikes, call) in enumerate(
        ((quotes.call_strikes, True), (quotes.put_strikes, False))
    ):
        if ok.any():
            prices[side][ok] = component_prices(
                market=problem.market,
                model=model,
                jumps=jumps,
                expiries=problem.expiries,
                rows=rows[ok],
                strikes=strikes[ok],
                calls=np.full(int(ok.sum()), call),
                tree=tree,
            )
    linear = vol_rows(
        quotes=problem.quotes,
        model_quotes=quotes,
        expiries=problem.expiries,
        call_components=prices[0],
        put_components=prices[1],
        weights=weights,
        conventions=problem.conventions,
    )
    keep = np.array([bool(ok[r.source, r.wing]) for r in linear.labels], dtype=bool)
    labels = tuple(r for r, k in zip(linear.labels, keep, strict=True) if k)
    return quotes, Rows(linear.matrix[keep], linear.targets[keep], labels)


def solve_weights(
    problem: CalibrationProblem,
    model: VolModel,
    jumps: np.ndarray,
    initial: np.ndarray | None,
    max_iterations: int,
) -> WeightSolution:
    exact_matrix, exact_targets, exact_labels = price_rows(problem, model, jumps)
    fit = fit_weights(matrix=exact_matrix, targets=exact_targets, jumps=jumps, initial=initial)
    weights = fit.weights
    if not problem.quotes:
        return WeightSolution(
            weights, exact_matrix, exact_targets, exact_labels, None, 1, fit.converged
        )
    matrix, targets, labels = exact_matrix, exact_targets, exact_labels
    quotes, converged, iterations = None, False, 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007
        check_cancelled()
        quotes, linear = linearised_rows(problem, model, weights, jumps)
        matrix = np.vstack([exact_matrix, linear.matrix])
        targets = np.concatenate([exact_targets, linear.targets])
        labels = exact_labels + linear.labels
        fit = fit_weights(matrix=matrix, targets=targets, jumps=jumps, initial=weights)
        step = float(np.max(np.abs(fit.weights - weights)))
        weights = fit.weights
        if step <= STEP_TOLERANCE:
            converged = fit.converged
            break
    return WeightSolution(weights, matrix, targets, labels, quotes, iterations, converged)


def frozen_rows(
    problem: CalibrationProblem,
    model: VolModel,
    jumps: np.ndarray,
    frozen: SmileQuotes | None,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with the risk-reversal strikes held at ``frozen``'s (the refit's fast path):
    weights re-solved twice, re-linearising at the vols the mixture gives at those strikes."""
    exact_matrix, exact_targets, _ = price_rows(problem, model, jumps)
    q = fit_weights(
        matrix=exact_matrix, targets=exact_targets, jumps=jumps, initial=weights
    ).weights
    if frozen is None:
        return exact_matrix, exact_targets, q
    ok = np.isfinite(frozen.call_strikes) & np.isfinite(frozen.put_strikes)
    n, d = ok.shape
    rows = np.repeat(np.arange(n)[:, None], d, axis=1)[ok]
    e = problem.expiries
    components = [
        component_prices(market=problem.market, model=model, jumps=jumps, expiries=e,
                         rows=rows, strikes=strikes[ok], calls=np.full(rows.size, call))
        for strikes, call in ((frozen.call_strikes, True), (frozen.put_strikes, False))
    ]  # fmt: skip
    matrix, targets = exact_matrix, exact_targets
    for _ in range(2):
        vols = []
        for side, (strikes, call) in enumerate(
            ((frozen.call_strikes, True), (frozen.put_strikes, False))
        ):
            ivs = implied_vol(
                prices=components[side] @ q,
                forwards=e.forwards[rows],
                strikes=strikes[ok],
                expiries=e.times[rows],
                discount_factors=e.discount_factors[rows],
                is_call=call,
            )
            full = np.full((n, d), np.nan)
            full[ok] = np.where(ivs.converged, ivs.vols, np.nan)
            vols.append(full)
        prices = [np.zeros((n, d, jumps.size)) for _ in range(2)]
        prices[0][ok], prices[1][ok] = components
        linear = vol_rows(
            quotes=problem.quotes,
            model_quotes=replace(frozen, call_vols=vols[0], put_vols=vols[1]),
            expiries=e,
            call_components=prices[0],
            put_components=prices[1],
            weights=q,
            conventions=problem.conventions,
        )
        keep = np.isfinite(linear.targets)
        matrix = np.vstack([exact_matrix, linear.matrix[keep]])
        targets = np.concatenate([exact_targets, linear.targets[keep]])
        q = fit_weights(matrix=matrix, targets=targets, jumps=jumps, initial=q).weights
    return matrix, targets, q
