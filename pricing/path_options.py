"""Barrier and touch options priced on simulated paths of the scenario mixture.

Paths come from :mod:`pricing.paths` (lognormal between grid dates, the scenario jump just
after the event date). Barriers are monitored continuously; between two grid dates the log
spot is a Brownian bridge with the step's variance ``v_j = σ_j²Δt_j``, so the probability of
*not* crossing an upper log-barrier ``h`` given the step's end points ``a, b < h`` is::

    1 − exp(−2 (h − a)(h − b) / v_j)

(method of images; for a corridor ``(l, u)`` the image series
``Σ_n [exp(−2nw(nw + a − b)/v) − exp(−2(a − u + nw)(b − u + nw)/v)]``, ``w = u − l``,
n = −3…3). A path's value is its payoff times the product of these probabilities — the
conditional expectation given the grid values, hence unbiased for continuous monitoring
(Glasserman 2004, §6.4). The jump at the event is a point of the path: the step after the
event starts from the post-jump spot, so a jump through the barrier is a hit.
``Monitoring.BGK`` instead checks the grid values against the barrier shifted towards spot by
``β·σ_j·√Δt_j``, ``β = −ζ(½)/√(2π) ≈ 0.5826`` (Broadie, Glasserman & Kou 1997), the
continuity correction read backwards; ``Monitoring.DISCRETE`` checks the grid values against
the barrier itself (daily fixings).

Payment conventions as :mod:`pricing.barriers`: knock-out rebates and one-touches paid at the
hit (or at expiry if ``pay_at_hit`` is False), knock-in rebates, no-touches and double
no-touches at expiry. A payment at the hit within step ``j`` is discounted with
``√(DF_j·DF_{j+1})`` (an O(r·Δt) approximation). Prices in JPY per unit of notional (per
USD for barrier calls/puts, per JPY of cash for touches), with the Monte Carlo standard error
of :func:`pricing.path_estimates.moment_estimates`.

References: Glasserman, *Monte Carlo Methods in Financial Engineering* (2004), §6.4;
Broadie, Glasserman & Kou (1997), "A continuity correction for discrete barrier options";
Baldi, Caramellino & Iovino (1999) (corridor crossing of a Brownian bridge).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

import numpy as np

from pricing.barriers import (
    BarrierType,
    ClosedFormPrices,
    barrier_price,
    double_no_touch_price,
    touch_price,
)
from pricing.black import black_price
from pricing.path_estimates import MomentSums, moment_estimates, unit_values
from pricing.paths import MonteCarloSettings, PathBlock, PathModel, fold_path_blocks

BGK_BETA = 0.5825971579390106  # −ζ(1/2)/√(2π)


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


class Monitoring(StrEnum):
    """How barriers are monitored between grid dates."""

    BRIDGE = "bridge"
    BGK = "bgk"
    DISCRETE = "discrete"


_DOWN = {PathPayoff.DOWN_IN, PathPayoff.DOWN_OUT, PathPayoff.ONE_TOUCH_DOWN}
_DOWN |= {PathPayoff.NO_TOUCH_DOWN}
_UP = {PathPayoff.UP_IN, PathPayoff.UP_OUT, PathPayoff.ONE_TOUCH_UP, PathPayoff.NO_TOUCH_UP}
_BARRIER_CODES = {
    PathPayoff.DOWN_IN: BarrierType.DOWN_IN,
    PathPayoff.UP_IN: BarrierType.UP_IN,
    PathPayoff.DOWN_OUT: BarrierType.DOWN_OUT,
    PathPayoff.UP_OUT: BarrierType.UP_OUT,
}


@dataclass(frozen=True)
class PathContracts:
    """Path-dependent contracts, arrays of shape ``[c]``.

    Attributes:
        payoffs: :class:`PathPayoff` codes.
        is_call: call or put (vanilla and barrier options; ignored for touches).
        strikes: JPY per USD (vanilla and barrier options).
        lower_barriers: the barrier of down types and the lower one of a double no-touch.
        upper_barriers: the barrier of up types and the upper one of a double no-touch.
        cash: JPY paid by touches, or the rebate of barrier options.
        pay_at_hit: one-touches and knock-out rebates paid at the hit (else at expiry).
        expiry_indices: grid index of each expiry (1…k).
    """

    payoffs: np.ndarray
    is_call: np.ndarray
    strikes: np.ndarray
    lower_barriers: np.ndarray
    upper_barriers: np.ndarray
    cash: np.ndarray
    pay_at_hit: np.ndarray
    expiry_indices: np.ndarray


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


def _no_cross(
    starts: np.ndarray, ends: np.ndarray, log_barrier: float, up: bool, variances: np.ndarray
) -> np.ndarray:
    """Bridge probability ``[E, n]`` of not crossing one barrier within each step.

    With ``a, b`` the distances of the step's ends to the barrier (positive on the live
    side), ``1{a > 0}·(1 − exp(−2·max(ab, 0)/v))``: a crossed end (``b ≤ 0``) gives 0.
    """
    a = log_barrier - starts if up else starts - log_barrier
    b = log_barrier - ends if up else ends - log_barrier
    b *= a
    np.maximum(b, 0.0, out=b)
    b *= (-2.0 / variances)[:, None]
    np.exp(b, out=b)
    np.subtract(1.0, b, out=b)
    b *= a > 0.0
    return b


def _no_exit(
    starts: np.ndarray, ends: np.ndarray, low: float, high: float, variances: np.ndarray
) -> np.ndarray:
    """Bridge probability ``[E, n]`` of staying inside ``(low, high)`` within each step.

    Image terms beyond the two barriers' own are dropped when they are all below
    ``exp(−80)`` (corridor wide against the step), else n = −3…3 are summed.
    """
    width = high - low
    v = variances[:, None]
    inside = (starts > low) & (starts < high) & (ends > low) & (ends < high)
    middle = 0.5 * (low + high)  # stands in outside the corridor, where the answer is 0
    a, b = np.where(inside, starts, middle), np.where(inside, ends, middle)
    reach = np.abs(a - b).max(initial=0.0)
    images = range(0, 2) if 2.0 * width * (width - reach) > 80.0 * v.max() else range(-3, 4)
    total = np.ones(starts.shape) if 0 in images else np.zeros(starts.shape)
    for n in images:
        shift = n * width
        if n != 0:
            total += np.exp(-2.0 * shift * (shift + a - b) / v)
        total -= np.exp(-2.0 * (a - high + shift) * (b - high + shift) / v)
    return np.where(inside, np.clip(total, 0.0, 1.0), 0.0)


def _discrete_stay(
    starts: np.ndarray,
    ends: np.ndarray,
    low: float,
    high: float,
    shifts: np.ndarray,
) -> np.ndarray:
    """1 where the step's end stays inside the shifted corridor and its start inside the
    corridor itself (the start is the post-jump spot after the event, spot at step 0)."""
    s = shifts[:, None]
    ok = (ends > low + s) & (ends < high - s) & (starts > low) & (starts < high)
    return ok.astype(float)


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
        normals, scenario_indices: injected draws, see :func:`pricing.paths.fold_path_blocks`.
    """
    payoffs = np.asarray(contracts.payoffs, dtype=np.intp)
    count = payoffs.size
    expiries = np.asarray(contracts.expiry_indices, dtype=np.intp)
    if not np.all((expiries >= 1) & (expiries <= model.steps)):
        raise ValueError(f"expiry_indices must be in [1, {model.steps}]")
    discount_factors = np.asarray(discount_factors, dtype=float)
    if discount_factors.shape != model.times.shape:
        raise ValueError("discount_factors must have the shape of times")
    mid_dfs = np.sqrt(discount_factors[:-1] * discount_factors[1:])
    dt = np.diff(model.times)
    step_vols = model.step_vols()
    log_jumps = np.log(model.jumps)
    event = model.event_index
    fields = [
        np.broadcast_to(np.asarray(getattr(contracts, name)), (count,))
        for name in ("is_call", "strikes", "lower_barriers", "upper_barriers", "cash")
    ]
    calls, strikes, lowers, uppers, cash = fields
    at_hit = np.broadcast_to(np.asarray(contracts.pay_at_hit, dtype=bool), (count,))

    def survival(
        c: int, starts: np.ndarray, ends: np.ndarray, variances: np.ndarray, pays_at_hit: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """P(contract ``c`` never triggered) ``[n]`` and the discounted value of 1 at the hit.

        Only paths that come within ``√(40·max v)`` of a barrier are computed: elsewhere the
        crossing probabilities are below ``exp(−80)`` and survival is 1.
        """
        kind = int(payoffs[c])
        double = kind == PathPayoff.DOUBLE_NO_TOUCH
        low = np.log(lowers[c]) if kind in _DOWN or double else -np.inf
        high = np.log(uppers[c]) if kind in _UP or double else np.inf
        gap = np.minimum(
            np.minimum(starts.min(axis=0), ends.min(axis=0)) - low,
            high - np.maximum(starts.max(axis=0), ends.max(axis=0)),
        )
        near = np.flatnonzero(gap < np.sqrt(40.0 * variances.max()))
        never = np.ones(starts.shape[1])
        hit = np.zeros(starts.shape[1])
        if near.size == 0:
            return never, hit
        a, b = starts[:, near], ends[:, near]
        if monitoring == Monitoring.BRIDGE and double:
            steps = _no_exit(a, b, low, high, variances)
        elif monitoring == Monitoring.BRIDGE:
            up = kind in _UP
            steps = _no_cross(a, b, high if up else low, up, variances)
        else:
            shifts = np.sqrt(variances) * (BGK_BETA if monitoring == Monitoring.BGK else 0.0)
            steps = _discrete_stay(a, b, low, high, shifts)
        if pays_at_hit:
            alive = steps  # running product, row by row (faster than cumprod(axis=0))
            for row in range(1, alive.shape[0]):
                alive[row] *= alive[row - 1]
            never[near] = alive[-1]
            # Σ_j DF_j·(alive_{j−1} − alive_j), alive_{−1} = 1
            dfs = mid_dfs[: alive.shape[0]]
            hit[near] = dfs[0] + dfs[1:] @ alive[:-1] - dfs @ alive
        else:
            never[near] = np.prod(steps, axis=0)
            hit = (1.0 - never) * discount_factors[steps.shape[0]]
        return never, hit

    at_hit_kinds = (
        PathPayoff.DOWN_OUT,
        PathPayoff.UP_OUT,
        PathPayoff.ONE_TOUCH_DOWN,
        PathPayoff.ONE_TOUCH_UP,
    )

    def block_values(block: PathBlock) -> MomentSums:
        sums = MomentSums.zeros(
            replicates=settings.replicates, scenarios=model.n_scenarios, offsets=np.zeros(count)
        )
        for part in block.scenarios:
            x = part.log_spots
            starts = x[:-1].copy()
            if event < model.steps:
                starts[event] += log_jumps[part.scenario]
            variances = step_vols[part.scenario] ** 2 * dt
            values = np.empty((count, x.shape[1]))
            for c in range(count):
                kind, end = int(payoffs[c]), int(expiries[c])
                df = discount_factors[end]
                phi = 1.0 if calls[c] else -1.0
                vanilla = np.maximum(phi * (np.exp(x[end]) - strikes[c]), 0.0) * df
                if kind == PathPayoff.VANILLA:
                    values[c] = vanilla
                    continue
                pays_at_hit = bool(at_hit[c]) and kind in at_hit_kinds
                never, hit = survival(c, starts[:end], x[1 : end + 1], variances[:end], pays_at_hit)
                if kind in (PathPayoff.DOWN_OUT, PathPayoff.UP_OUT):
                    values[c] = vanilla * never + cash[c] * hit
                elif kind in (PathPayoff.DOWN_IN, PathPayoff.UP_IN):
                    values[c] = vanilla * (1.0 - never) + cash[c] * never * df
                elif kind in (PathPayoff.ONE_TOUCH_DOWN, PathPayoff.ONE_TOUCH_UP):
                    values[c] = cash[c] * hit
                else:  # no-touch, double no-touch
                    values[c] = cash[c] * never * df
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


def price_before_event(
    *, model: PathModel, contracts: PathContracts, discount_factors: np.ndarray
) -> ClosedFormPrices:
    """Closed-form prices of contracts that expire on or before the event (no scenario).

    One lognormal over ``[0, T]`` with the flat-equivalent vol ``√(Σ σ_j²Δt_j / T)`` of the
    grid's pre-event vols, the grid forward and discount factor at expiry (exact when vols
    and rates are flat; otherwise the usual flat-equivalent approximation for barriers).
    A knock-out rebate with ``pay_at_hit`` False is valued as a one-touch paid at expiry.

    Returns:
        :class:`pricing.barriers.ClosedFormPrices`; ``valid`` is False (price NaN) for
        contracts expiring after the event, which need :func:`price_path_contracts`.
    """
    payoffs = np.asarray(contracts.payoffs, dtype=np.intp)
    count = payoffs.size
    ends = np.asarray(contracts.expiry_indices, dtype=np.intp)
    before = ends <= model.event_index
    times = model.times[ends]
    pre_var = np.cumsum(np.concatenate([[0.0], model.pre_vols**2 * np.diff(model.times)]))
    common = dict(
        spots=model.spot,
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

    def pick(rows: np.ndarray) -> dict[str, np.ndarray]:
        return {name: value[rows] for name, value in common.items() if name != "spots"}

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
                **pick(rows),
            )
            fill(rows, result)
    rows = np.flatnonzero(before & (payoffs == PathPayoff.DOUBLE_NO_TOUCH))
    if rows.size:
        result = double_no_touch_price(
            spots=model.spot,
            lower_barriers=column["lower_barriers"][rows],
            upper_barriers=column["upper_barriers"][rows],
            cash=column["cash"][rows],
            **pick(rows),
        )
        fill(rows, result)
    return ClosedFormPrices(prices, valid)
