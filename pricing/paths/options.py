"""Barrier, touch and double-barrier contracts priced on simulated paths of the scenario mixture.

Paths come from :mod:`pricing.paths.simulation` (lognormal between grid dates, the scenario
jump just after the event date). Barriers are monitored continuously: each contract's
barriers are *lines* of :mod:`pricing.paths.crossings`, which gives, path by path and given
the grid values, the probability that a line is never triggered (the Brownian-bridge
crossing or corridor-exit probabilities) and, where the contract needs it, the discounted
value of a payment at the hit or the probability that a corridor is first left through a
given barrier. A path's value is the payoff times these conditional probabilities — the
conditional expectation given the grid, hence unbiased for continuous monitoring
(Glasserman 2004, §6.4). The lines of a book share one pass per path.

Contracts (:class:`PathPayoff`) and what each path pays, ``V = DF(T)·(φ(S_T − K))⁺``:

* knock-outs ``V·never + rebate·hit`` and knock-ins ``V·(1 − never) + rebate·DF·never``;
* double knock-out ``V·never`` and double knock-in ``V·(1 − never)`` of the corridor;
* KIKO (knock-in at one barrier, knock-out at the other for the whole life):
  ``V·(never_KO − never_corridor)`` — survived the knock-out and left the corridor, so
  through the knock-in barrier (KIKO = KO − DKO path by path);
* KOKI (knock-out only until the knock-in): ``V·P(first exit through the knock-in barrier)``
  — path-order dependent, so it has no closed form here and is always simulated;
* one-touches and double one-touches ``cash·hit`` (at the hit, or ``(1 − never)·DF`` at
  expiry); no-touches and double no-touches ``cash·DF·never``.

Payments as :mod:`pricing.fx.barriers`: knock-out rebates and one-touches at the hit (or at
expiry if ``pay_at_hit`` is False), knock-in rebates and no-touches at expiry; a payment at
the hit within step ``j`` is discounted with ``√(DF_j·DF_{j+1})`` (O(r·Δt)). Touch cash may
be USD (``payout_usd``): it is worth its spot in JPY when paid — the barrier touched at the
hit (the post-jump spot if the event's jump went through it), ``S_T`` at expiry. Prices in
JPY per unit of notional (per USD for calls and puts, per unit of cash for touches), with
the Monte Carlo standard error of :func:`pricing.paths.estimates.moment_estimates`.

References: Glasserman, *Monte Carlo Methods in Financial Engineering* (2004), §6.4;
Broadie, Glasserman & Kou (1997), "A continuity correction for discrete barrier options";
Baldi, Caramellino & Iovino (1999) (corridor crossing of a Brownian bridge).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypedDict

import numpy as np

from pricing.fx.barriers import (
    BarrierType,
    ClosedFormPrices,
    barrier_price,
    touch_price,
)
from pricing.fx.black import black_price
from pricing.fx.double_barriers import double_barrier_price, double_touch_price, kiko_price
from pricing.paths.crossings import BGK_BETA, LineKind, LineSurvival, Monitoring, Payment
from pricing.paths.estimates import MomentSums, moment_estimates, unit_values
from pricing.paths.model import MonteCarloSettings, PathBlock, PathModel
from pricing.paths.simulation import fold_path_blocks

__all__ = [
    "BGK_BETA",
    "Monitoring",
    "PathContracts",
    "PathPayoff",
    "PathPrices",
    "price_before_event",
    "price_path_contracts",
]


class PathPayoff(IntEnum):
    """Contract codes (stable integers for arrays)."""

    VANILLA = 0  # European call/put, no barrier (a witness and a control)
    DOWN_IN = 1
    UP_IN = 2
    DOWN_OUT = 3
    UP_OUT = 4
    ONE_TOUCH_DOWN = 5
    ONE_TOUCH_UP = 6
    NO_TOUCH_DOWN = 7
    NO_TOUCH_UP = 8
    DOUBLE_NO_TOUCH = 9
    DOUBLE_KNOCK_OUT = 10
    DOUBLE_KNOCK_IN = 11
    DOUBLE_ONE_TOUCH = 12
    KIKO_DOWN_IN = 13  # knock-in at the lower barrier, knock-out at the upper (whole life)
    KIKO_UP_IN = 14  # knock-in at the upper barrier, knock-out at the lower (whole life)
    KOKI_DOWN_IN = 15  # knock-out at the upper barrier until the lower one knocks in
    KOKI_UP_IN = 16  # knock-out at the lower barrier until the upper one knocks in


P = PathPayoff
_DOWN = {P.DOWN_IN, P.DOWN_OUT, P.ONE_TOUCH_DOWN, P.NO_TOUCH_DOWN}
_UP = {P.UP_IN, P.UP_OUT, P.ONE_TOUCH_UP, P.NO_TOUCH_UP}
_CORRIDORS = {P.DOUBLE_NO_TOUCH, P.DOUBLE_KNOCK_OUT, P.DOUBLE_KNOCK_IN, P.DOUBLE_ONE_TOUCH}
_CORRIDORS |= {P.KIKO_DOWN_IN, P.KIKO_UP_IN, P.KOKI_DOWN_IN, P.KOKI_UP_IN}
_VANILLA_BASED = {P.VANILLA, P.DOWN_IN, P.UP_IN, P.DOWN_OUT, P.UP_OUT, P.DOUBLE_KNOCK_OUT}
_VANILLA_BASED |= {P.DOUBLE_KNOCK_IN, P.KIKO_DOWN_IN, P.KIKO_UP_IN, P.KOKI_DOWN_IN, P.KOKI_UP_IN}
_ONE_TOUCHES = (P.ONE_TOUCH_DOWN, P.ONE_TOUCH_UP, P.DOUBLE_ONE_TOUCH)
_NO_TOUCHES = (P.NO_TOUCH_DOWN, P.NO_TOUCH_UP, P.DOUBLE_NO_TOUCH)
_BARRIER_CODES = {
    P.DOWN_IN: BarrierType.DOWN_IN,
    P.UP_IN: BarrierType.UP_IN,
    P.DOWN_OUT: BarrierType.DOWN_OUT,
    P.UP_OUT: BarrierType.UP_OUT,
}


@dataclass(frozen=True)
class PathContracts:
    """Path-dependent contracts, arrays of shape ``[c]``.

    Attributes:
        payoffs: :class:`PathPayoff` codes.
        is_call: call or put (options; ignored for touches).
        strikes: JPY per USD (options).
        lower_barriers: the barrier of down types and the lower one of two-barrier types.
        upper_barriers: the barrier of up types and the upper one of two-barrier types.
        cash: paid by touches (JPY, or USD where ``payout_usd``), or the rebate (JPY) of
            single-barrier options.
        pay_at_hit: one-touches and knock-out rebates paid at the hit (else at expiry).
        expiry_indices: grid index of each expiry (1…k).
        payout_usd: touches whose cash is USD (worth its spot in JPY when paid).
    """

    payoffs: np.ndarray
    is_call: np.ndarray
    strikes: np.ndarray
    lower_barriers: np.ndarray
    upper_barriers: np.ndarray
    cash: np.ndarray
    pay_at_hit: np.ndarray
    expiry_indices: np.ndarray
    payout_usd: np.ndarray | bool = False


@dataclass(frozen=True)
class PathPrices:
    """Monte Carlo prices ``[c]``; ``scenario_*`` conditional on each scenario ``[m, c]``."""

    prices: np.ndarray
    standard_errors: np.ndarray
    scenario_prices: np.ndarray
    scenario_standard_errors: np.ndarray
    scenario_valid: np.ndarray
    n_paths: int
    seed: int
    measure: str
    sampling: str
    antithetic: bool
    monitoring: str


@dataclass(frozen=True)
class _Lines:
    """The lines of a book's contracts (:class:`pricing.paths.crossings.LineSurvival`'s
    arguments) and each contract's rows in them: ``main[c]`` its own line (−1 for a vanilla),
    ``knock_out[c]`` a KIKO's knock-out barrier (−1 otherwise)."""

    kinds: np.ndarray
    lowers: np.ndarray
    uppers: np.ndarray
    expiries: np.ndarray
    payments: np.ndarray
    main: np.ndarray
    knock_out: np.ndarray


def _lines(
    payoffs: np.ndarray,
    lowers: np.ndarray,
    uppers: np.ndarray,
    expiries: np.ndarray,
    at_hit: np.ndarray,
    usd: np.ndarray,
) -> _Lines:
    count = payoffs.size
    kinds = np.full(count, -1, dtype=np.intp)
    kinds[np.isin(payoffs, list(_UP))] = LineKind.UP
    kinds[np.isin(payoffs, list(_DOWN))] = LineKind.DOWN
    kinds[np.isin(payoffs, list(_CORRIDORS))] = LineKind.DOUBLE
    payments = np.full(count, Payment.AT_EXPIRY, dtype=np.intp)
    hits = at_hit & np.isin(payoffs, (P.DOWN_OUT, P.UP_OUT, *_ONE_TOUCHES))
    payments[hits] = Payment.AT_HIT
    payments[hits & usd & np.isin(payoffs, _ONE_TOUCHES)] = Payment.SPOT_AT_HIT
    payments[payoffs == P.KOKI_DOWN_IN] = Payment.FIRST_LOWER
    payments[payoffs == P.KOKI_UP_IN] = Payment.FIRST_UPPER
    own = np.flatnonzero(kinds >= 0)
    kikos = np.flatnonzero(np.isin(payoffs, (P.KIKO_DOWN_IN, P.KIKO_UP_IN)))
    main = np.full(count, -1, dtype=np.intp)
    main[own] = np.arange(own.size)
    knock_out = np.full(count, -1, dtype=np.intp)
    knock_out[kikos] = own.size + np.arange(kikos.size)
    ko_up = payoffs[kikos] == P.KIKO_DOWN_IN  # knock-in below: the knock-out is the upper one
    return _Lines(
        kinds=np.concatenate([kinds[own], np.where(ko_up, LineKind.UP, LineKind.DOWN)]),
        lowers=np.concatenate([lowers[own], lowers[kikos]]),
        uppers=np.concatenate([uppers[own], uppers[kikos]]),
        expiries=np.concatenate([expiries[own], expiries[kikos]]),
        payments=np.concatenate([payments[own], np.full(kikos.size, Payment.AT_EXPIRY)]),
        main=main,
        knock_out=knock_out,
    )


def price_path_contracts(
    *,
    model: PathModel,
    settings: MonteCarloSettings,
    contracts: PathContracts,
    discount_factors: np.ndarray,
    monitoring: Monitoring = Monitoring.BRIDGE,
    weights: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    scenario_indices: np.ndarray | None = None,
) -> PathPrices:
    """Monte Carlo prices of ``contracts`` under ``model``, with standard errors.

    Args:
        discount_factors: ``[k+1]`` JPY discount factor at each grid time (payments at
            expiry use the expiry's; delivery lags are the caller's to fold in).
        monitoring: :class:`Monitoring`.
        weights: ``[m]`` scenario probabilities the prices are taken under (default
            ``model.weights``, the probabilities the paths draw scenarios with). The
            post-stratified estimator ``Σ_i w_i·mean_i`` is unbiased for any drawing
            probabilities that give every scenario with weight paths, so a caller may draw
            more paths of unlikely scenarios to price them conditionally.
        normals, scenario_indices: injected draws, see
            :func:`pricing.paths.simulation.fold_path_blocks`.
    """
    payoffs = np.asarray(contracts.payoffs, dtype=np.intp)
    count = payoffs.size
    expiries = np.asarray(contracts.expiry_indices, dtype=np.intp)
    if not np.all((expiries >= 1) & (expiries <= model.steps)):
        raise ValueError(f"expiry_indices must be in [1, {model.steps}]")
    discount_factors = np.asarray(discount_factors, dtype=float)
    if discount_factors.shape != model.times.shape:
        raise ValueError("discount_factors must have the shape of times")
    fields = [
        np.broadcast_to(np.asarray(getattr(contracts, name)), (count,))
        for name in ("is_call", "strikes", "lower_barriers", "upper_barriers", "cash")
    ]
    calls, strikes, lowers, uppers, cash = fields
    at_hit = np.broadcast_to(np.asarray(contracts.pay_at_hit, dtype=bool), (count,))
    usd = np.broadcast_to(np.asarray(contracts.payout_usd, dtype=bool), (count,))
    phis = np.where(calls, 1.0, -1.0)
    end_dfs = discount_factors[expiries]
    lines = _lines(
        payoffs, np.asarray(lowers, dtype=float), np.asarray(uppers, dtype=float), expiries,
        at_hit, usd,
    )  # fmt: skip
    survival = LineSurvival(
        model=model,
        kinds=lines.kinds,
        lowers=lines.lowers,
        uppers=lines.uppers,
        expiries=lines.expiries,
        payments=lines.payments,
        discount_factors=discount_factors,
        monitoring=Monitoring(monitoring),
    )

    def group(*codes: PathPayoff) -> tuple[np.ndarray, np.ndarray]:
        """Rows of these contracts and their own lines' rows in the survival outputs."""
        rows = np.flatnonzero(np.isin(payoffs, codes))
        return rows, survival.positions[lines.main[rows]]

    groups = {
        "out": group(P.DOWN_OUT, P.UP_OUT),
        "in": group(P.DOWN_IN, P.UP_IN),
        "double out": group(P.DOUBLE_KNOCK_OUT),
        "double in": group(P.DOUBLE_KNOCK_IN),
        "kiko": group(P.KIKO_DOWN_IN, P.KIKO_UP_IN),
        "koki": group(P.KOKI_DOWN_IN, P.KOKI_UP_IN),
        "touch": group(*_ONE_TOUCHES),
        "expiry": group(*_NO_TOUCHES),
    }
    kiko_outs = survival.positions[lines.knock_out[groups["kiko"][0]]]
    with_vanilla = np.flatnonzero(np.isin(payoffs, list(_VANILLA_BASED)))
    # USD cash paid at expiry is worth S_T then
    at_expiry_usd = (
        usd
        & np.isin(payoffs, _ONE_TOUCHES + _NO_TOUCHES)
        & ~(at_hit & np.isin(payoffs, _ONE_TOUCHES))
    )
    in_usd = {name: at_expiry_usd[rows] for name, (rows, _) in groups.items()}

    def part_values(x: np.ndarray, scenario: int) -> np.ndarray:
        """Per-path values ``[c, n]`` of every contract on one scenario's paths ``x``."""
        values = np.empty((count, x.shape[1]))
        never, hit = survival.evaluate(x, scenario)
        rows = with_vanilla  # vanilla payoffs first: the options read them back
        spots = np.exp(x[expiries[rows]])
        values[rows] = np.maximum(phis[rows, None] * (spots - strikes[rows, None]), 0.0)
        values[rows] *= end_dfs[rows, None]
        rows, own = groups["out"]
        values[rows] = values[rows] * never[own] + cash[rows, None] * hit[own]
        rows, own = groups["in"]
        rebates = cash[rows, None] * never[own] * end_dfs[rows, None]
        values[rows] = values[rows] * (1.0 - never[own]) + rebates
        rows, own = groups["double out"]
        values[rows] *= never[own]
        rows, own = groups["double in"]
        values[rows] *= 1.0 - never[own]
        rows, own = groups["kiko"]  # survived the knock-out, left the corridor
        values[rows] *= never[kiko_outs] - never[own]
        rows, own = groups["koki"]  # left the corridor first through the knock-in barrier
        values[rows] *= hit[own]
        rows, own = groups["touch"]
        values[rows] = cash[rows, None] * hit[own]
        rows, own = groups["expiry"]
        values[rows] = cash[rows, None] * never[own] * end_dfs[rows, None]
        for name in ("touch", "expiry"):
            rows = groups[name][0][in_usd[name]]
            values[rows] *= np.exp(x[expiries[rows]])
        return values

    def block_values(block: PathBlock) -> MomentSums:
        sums = MomentSums.zeros(
            replicates=settings.replicates, scenarios=model.n_scenarios, offsets=np.zeros(count)
        )
        for part in block.scenarios:
            values = part_values(part.log_spots, part.scenario)
            units = unit_values(values, antithetic=part.antithetic)
            sums.add(replicate=block.replicate, scenario=part.scenario, values=units)
        return sums

    totals = fold_path_blocks(
        model=model,
        settings=settings,
        consumer=block_values,
        fold=lambda acc, result: result if acc is None else acc.merge(result),
        initial=None,
        normals=normals,
        scenario_indices=scenario_indices,
    )
    assert totals is not None  # n_paths >= 2: at least one block
    if weights is None:
        weights = model.weights
    weights = np.asarray(weights, dtype=float)
    if weights.shape != model.weights.shape:
        raise ValueError("weights must have the shape of model.weights")
    estimates = moment_estimates(totals, weights=weights)
    return PathPrices(
        prices=estimates.means,
        standard_errors=estimates.standard_errors,
        scenario_prices=estimates.scenario_means,
        scenario_standard_errors=estimates.scenario_standard_errors,
        scenario_valid=estimates.scenario_valid,
        n_paths=settings.n_paths,
        seed=settings.seed,
        measure=model.measure,
        sampling=str(settings.sampling),
        antithetic=settings.antithetic,
        monitoring=str(monitoring),
    )


class _Market(TypedDict):
    """The closed forms' market per contract row (``[rows]``), as keyword arguments."""

    forwards: np.ndarray
    discount_factors: np.ndarray
    vols: np.ndarray
    times: np.ndarray


class _Corridor(_Market):
    """A double barrier's spot and barriers, with its rows' market."""

    spots: float
    lower_barriers: np.ndarray
    upper_barriers: np.ndarray


def price_before_event(
    *, model: PathModel, contracts: PathContracts, discount_factors: np.ndarray
) -> ClosedFormPrices:
    """Closed-form prices of contracts that expire on or before the event (no scenario).

    One lognormal over ``[0, T]`` with the flat-equivalent vol ``√(Σ σ_j²Δt_j / T)`` of the
    grid's pre-event vols, the grid forward and discount factor at expiry (exact when vols
    and rates are flat; otherwise the usual flat-equivalent approximation for barriers).
    A knock-out rebate with ``pay_at_hit`` False is valued as a one-touch paid at expiry.
    Formulas: :mod:`pricing.fx.barriers` (single barriers and touches) and
    :mod:`pricing.fx.double_barriers` (double barriers, double touches, KIKOs). A KOKI has
    none (its knock-out lives only until the knock-in, path-order dependent): always
    simulated.

    Returns:
        :class:`pricing.fx.barriers.ClosedFormPrices`; ``valid`` is False (price NaN) for
        contracts expiring after the event and for KOKIs, which need
        :func:`price_path_contracts`.
    """
    payoffs = np.asarray(contracts.payoffs, dtype=np.intp)
    count = payoffs.size
    ends = np.asarray(contracts.expiry_indices, dtype=np.intp)
    before = ends <= model.event_index
    times = model.times[ends]
    pre_var = np.cumsum(np.concatenate([[0.0], model.pre_vols**2 * np.diff(model.times)]))
    market = _Market(
        forwards=model.forwards[ends],
        discount_factors=np.asarray(discount_factors, dtype=float)[ends],
        vols=np.sqrt(pre_var[ends] / times),
        times=times,
    )
    column = {
        name: np.broadcast_to(np.asarray(getattr(contracts, name)), (count,))
        for name in ("is_call", "strikes", "lower_barriers", "upper_barriers", "cash")
    }
    at_hit = np.broadcast_to(np.asarray(contracts.pay_at_hit, dtype=bool), (count,))
    prices = np.full(count, np.nan)
    valid = np.zeros(count, dtype=bool)

    def fill(rows: np.ndarray, result: ClosedFormPrices) -> None:
        prices[rows], valid[rows] = result.prices, result.valid

    def pick(rows: np.ndarray) -> _Market:
        return _Market(
            forwards=market["forwards"][rows],
            discount_factors=market["discount_factors"][rows],
            vols=market["vols"][rows],
            times=market["times"][rows],
        )

    rows = np.flatnonzero(before & (payoffs == PathPayoff.VANILLA))
    if rows.size:
        picked = pick(rows)
        vanilla = black_price(
            forwards=picked["forwards"],
            strikes=column["strikes"][rows],
            total_vars=picked["vols"] ** 2 * picked["times"],
            discount_factors=picked["discount_factors"],
            is_call=column["is_call"][rows],
        )
        fill(rows, ClosedFormPrices(vanilla, np.ones(rows.size, dtype=bool)))
    for kind, code in _BARRIER_CODES.items():
        rows = np.flatnonzero(before & (payoffs == kind))
        if not rows.size:
            continue
        down = kind in _DOWN
        barriers = (column["lower_barriers"] if down else column["upper_barriers"])[rows]
        # the formula pays a knock-out's rebate at the hit and a knock-in's at expiry
        knock_in = kind in (PathPayoff.DOWN_IN, PathPayoff.UP_IN)
        rebate_at_hit = at_hit[rows] | knock_in
        result = barrier_price(
            barrier_types=code,
            is_call=column["is_call"][rows],
            spots=model.spot,
            strikes=column["strikes"][rows],
            barriers=barriers,
            rebates=np.where(rebate_at_hit, column["cash"][rows], 0.0),
            **pick(rows),
        )
        late = touch_price(
            is_up=not down,
            one_touch=True,
            pay_at_hit=False,
            spots=model.spot,
            barriers=barriers,
            cash=np.where(rebate_at_hit, 0.0, column["cash"][rows]),
            **pick(rows),
        )
        fill(rows, ClosedFormPrices(result.prices + late.prices, result.valid & late.valid))
    usd = np.broadcast_to(np.asarray(contracts.payout_usd, dtype=bool), (count,))
    for kinds, one_touch in (
        ((PathPayoff.ONE_TOUCH_DOWN, PathPayoff.ONE_TOUCH_UP), True),
        ((PathPayoff.NO_TOUCH_DOWN, PathPayoff.NO_TOUCH_UP), False),
    ):
        rows = np.flatnonzero(before & np.isin(payoffs, kinds))
        if rows.size:
            up = np.isin(payoffs[rows], (PathPayoff.ONE_TOUCH_UP, PathPayoff.NO_TOUCH_UP))
            barriers = np.where(up, column["upper_barriers"][rows], column["lower_barriers"][rows])
            result = touch_price(
                is_up=up,
                one_touch=one_touch,
                pay_at_hit=at_hit[rows],
                spots=model.spot,
                barriers=barriers,
                cash=column["cash"][rows],
                pays_usd=usd[rows],
                **pick(rows),
            )
            fill(rows, result)

    def on(rows: np.ndarray) -> _Corridor:
        return _Corridor(
            spots=model.spot,
            lower_barriers=column["lower_barriers"][rows],
            upper_barriers=column["upper_barriers"][rows],
            **pick(rows),
        )

    rows = np.flatnonzero(before & np.isin(payoffs, (P.DOUBLE_NO_TOUCH, P.DOUBLE_ONE_TOUCH)))
    if rows.size:
        result = double_touch_price(
            one_touch=payoffs[rows] == P.DOUBLE_ONE_TOUCH,
            pay_at_hit=at_hit[rows],
            pays_usd=usd[rows],
            cash=column["cash"][rows],
            **on(rows),
        )
        fill(rows, result)
    rows = np.flatnonzero(before & np.isin(payoffs, (P.DOUBLE_KNOCK_OUT, P.DOUBLE_KNOCK_IN)))
    if rows.size:
        result = double_barrier_price(
            knock_in=payoffs[rows] == P.DOUBLE_KNOCK_IN,
            is_call=column["is_call"][rows],
            strikes=column["strikes"][rows],
            **on(rows),
        )
        fill(rows, result)
    rows = np.flatnonzero(before & np.isin(payoffs, (P.KIKO_DOWN_IN, P.KIKO_UP_IN)))
    if rows.size:
        result = kiko_price(
            is_call=column["is_call"][rows],
            knock_in_below=payoffs[rows] == P.KIKO_DOWN_IN,
            strikes=column["strikes"][rows],
            **on(rows),
        )
        fill(rows, result)
    return ClosedFormPrices(prices, valid)
