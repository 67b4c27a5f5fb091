"""Barrier and touch options priced on simulated paths of the scenario mixture.

Paths come from :mod:`pricing.paths.simulation` (lognormal between grid dates, the scenario
jump just after the event date). Barriers are monitored continuously; between two grid dates the log
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

Evaluation. The lines of a book share each path's pass over its steps (:func:`_gather_crossings`,
compiled): a step is looked at only when one of its ends comes within ``√(19·v_j)`` of the
nearest live barrier, and then only by the lines within that reach (farther, the crossing
probability is below ``exp(−38) < 2⁻⁵⁴`` and the survival factor is 1.0 in double precision);
a line hit on the grid is dropped, and a path stops once every line is. The bridge exponents
of the steps looked at are gathered, exponentiated by numpy in one call and multiplied into
each line's survival in step order (:func:`_apply_crossings`), so the cost is the
simulation's plus a term in the number of (path, step, line) triples near a barrier, not in
the number of lines times the block. ``tests/pricing/paths/reference.py`` keeps the
line-by-line evaluation this replaced; the two agree to rounding.

Payment conventions as :mod:`pricing.fx.barriers`: knock-out rebates and one-touches paid at the
hit (or at expiry if ``pay_at_hit`` is False), knock-in rebates, no-touches and double
no-touches at expiry. A payment at the hit within step ``j`` is discounted with
``√(DF_j·DF_{j+1})`` (an O(r·Δt) approximation). Prices in JPY per unit of notional (per
USD for barrier calls/puts, per JPY of cash for touches), with the Monte Carlo standard error
of :func:`pricing.paths.estimates.moment_estimates`.

References: Glasserman, *Monte Carlo Methods in Financial Engineering* (2004), §6.4;
Broadie, Glasserman & Kou (1997), "A continuity correction for discrete barrier options";
Baldi, Caramellino & Iovino (1999) (corridor crossing of a Brownian bridge).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from enum import IntEnum, StrEnum

import numba as nb
import numpy as np

from pricing.fx.barriers import (
    BarrierType,
    ClosedFormPrices,
    barrier_price,
    double_no_touch_price,
    touch_price,
)
from pricing.fx.black import black_price
from pricing.paths.estimates import MomentSums, moment_estimates, unit_values
from pricing.paths.model import MonteCarloSettings, PathBlock, PathModel
from pricing.paths.simulation import fold_path_blocks

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


# A step whose two ends are both at least √(19·v) from a barrier crosses it with probability
# ≤ exp(−38) < 2⁻⁵⁴ under the bridge: its survival factor 1 − exp(·) is 1.0 exactly in double
# precision, so leaving the step out changes no bit of the running product.
_SKIP_VARIANCES = 19.0
_NEGLIGIBLE = -38.0  # exp(−38) < 2⁻⁵⁴: a term below it leaves the survival's bits alone
_ENTRIES = 1 << 18  # crossing terms gathered per round (each 24 bytes)
_STEP_SHIFT = 21  # an entry's key: step << 21 | 2²⁰ for a double no-touch's own factor | line
_DIRECT = 1 << 20
_LINE_MASK = _DIRECT - 1


@nb.njit(cache=True, inline="always", error_model="numpy")
def _no_exit(a, b, low, high, v):  # type: ignore[no-untyped-def]
    """Bridge probability of staying inside ``(low, high)`` within a step from ``a`` to ``b``.

    The image series n = −3…3 (Baldi, Caramellino & Iovino 1999); when the corridor is wide
    against the step (``2w(w − |a − b|) > 80·v``) every term beyond the two barriers' own is
    below ``exp(−80)`` and only n = 0, 1 are summed.
    """
    if not (a > low and a < high and b > low and b < high):
        return 0.0
    width = high - low
    first, stop = (0, 2) if 2.0 * width * (width - abs(a - b)) > 80.0 * v else (-3, 4)
    total = 1.0
    for n in range(first, stop):
        shift = n * width
        if n != 0:
            total += math.exp(-2.0 * shift * (shift + a - b) / v)
        total -= math.exp(-2.0 * (a - high + shift) * (b - high + shift) / v)
    return min(max(total, 0.0), 1.0)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _gather_crossings(  # type: ignore[no-untyped-def]
    x, first_path, event, log_jump, steps, bridge, n_up, n_down, levels, last, values, keys,
    starts,
):  # fmt: skip
    """The steps at which each line may be crossed, path by path from ``first_path``.

    One pass per path over its steps, shared by the lines, held in order: up lines by
    barrier ascending, down lines by barrier descending, then double no-touches. A step is
    looked at only when one of its ends comes within ``√(20·v)`` of the nearest live barrier
    on either side, and then by the lines within that reach of it (the scan of the sorted
    lines stops at the first one out of reach); a line hit on the grid (its survival 0
    whatever the bridge says) is dropped, and the path ends when every line is.

    Each term is written as entry ``q``: ``keys[q]`` the step ``j`` and line ``p`` as
    ``j·2²¹ + p`` (plus 2²⁰ for a double no-touch), ``values[q]`` the bridge exponent
    ``−2·a·b/v`` (survival ``1 − exp``; 0 for a hit), or for a double no-touch the survival
    itself. Terms after a line's expiry are written too (rare: lines that expire early) and
    left out by :func:`_apply_crossings`. ``starts[c]`` is the first entry of path ``c``.

    Returns:
        The path after the last one gathered (paths stop when ``values`` might not hold the
        next one's terms).
    """
    count = levels.shape[1]
    singles = n_up + n_down
    lows, highs = levels[0], levels[1]
    variances, neg_two_over_v, reaches, shifts = steps[0], steps[1], steps[2], steps[3]
    live = np.empty(count - singles, dtype=np.bool_)
    q = 0
    c = first_path
    while c < x.shape[1] and q + count * last <= values.size:
        starts[c] = q
        up_first, down_first = 0, n_up
        up_gate = highs[0] if n_up else np.inf
        down_gate = lows[n_up] if n_down else -np.inf
        doubles = count - singles
        live[:] = True
        double_up, double_down = np.inf, -np.inf  # the nearest barriers of live doubles
        for p in range(singles, count):
            double_up = min(double_up, highs[p])
            double_down = max(double_down, lows[p])
        b = x[0, c]
        for j in range(last):
            a = b + log_jump if j == event else b
            b = x[j + 1, c]
            high, low = max(a, b), min(a, b)
            top, bottom = high + reaches[j], low - reaches[j]
            done = False
            key = j << _STEP_SHIFT
            if top > up_gate:
                shift = shifts[j]
                while up_first < n_up:  # hit on the grid: survival 0 from here on
                    level = highs[up_first]
                    if bridge:
                        if level > high:
                            break
                    elif b < level - shift and a < level:
                        break
                    values[q], keys[q] = 0.0, key + up_first
                    q += 1
                    up_first += 1
                    done = up_first == n_up and down_first == singles and doubles == 0
                up_gate = highs[up_first] if up_first < n_up else np.inf
                if bridge:
                    scale = neg_two_over_v[j]
                    for p in range(up_first, n_up):
                        level = highs[p]
                        if level >= top:
                            break
                        exponent = (level - b) * (level - a) * scale
                        values[q], keys[q] = exponent, key + p
                        q += exponent > _NEGLIGIBLE
            if bottom < down_gate:
                shift = shifts[j]
                while down_first < singles:
                    level = lows[down_first]
                    if bridge:
                        if level < low:
                            break
                    elif b > level + shift and a > level:
                        break
                    values[q], keys[q] = 0.0, key + down_first
                    q += 1
                    down_first += 1
                    done = up_first == n_up and down_first == singles and doubles == 0
                down_gate = lows[down_first] if down_first < singles else -np.inf
                if bridge:
                    scale = neg_two_over_v[j]
                    for p in range(down_first, singles):
                        level = lows[p]
                        if level <= bottom:
                            break
                        exponent = (b - level) * (a - level) * scale
                        values[q], keys[q] = exponent, key + p
                        q += exponent > _NEGLIGIBLE
            if top > double_up or bottom < double_down:
                for p in range(singles, count):
                    low_p, high_p = lows[p], highs[p]
                    if not live[p - singles] or (high_p >= top and low_p <= bottom):
                        continue
                    if bridge:
                        factor = _no_exit(a, b, low_p, high_p, variances[j])
                    else:
                        inside = b > low_p + shifts[j] and b < high_p - shifts[j]
                        factor = 1.0 if inside and a > low_p and a < high_p else 0.0
                    values[q], keys[q] = factor, key + _DIRECT + p
                    q += factor != 1.0
                    if factor == 0.0:
                        live[p - singles] = False
                        doubles -= 1
                        double_up, double_down = np.inf, -np.inf
                        for other in range(singles, count):
                            if live[other - singles]:
                                double_up = min(double_up, highs[other])
                                double_down = max(double_down, lows[other])
                        done = up_first == n_up and down_first == singles and doubles == 0
            if done:
                break
        c += 1
    starts[c] = q
    return c


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _apply_crossings(  # type: ignore[no-untyped-def]
    first_path, stop_path, values, terms, keys, starts, ends, mid_dfs, final_dfs, at_hit,
    never, hit,
):  # fmt: skip
    """Survival and hit value of every line on paths ``[first_path, stop_path)``.

    ``terms[q]`` is ``exp(values[q])`` for a bridge exponent gathered by
    :func:`_gather_crossings` (the step's survival is ``1 − terms[q]``); a double
    no-touch's entry holds its survival in ``values[q]``; entries at or after a line's
    expiry ``ends[p]`` are passed over.
    Writes ``never[p, c]`` = P(line p not triggered) and ``hit[p, c]`` = the discounted value
    of 1 paid at the hit (``Σ_j DF_j·(alive_{j−1} − alive_j)``), or at expiry if not
    ``at_hit[p]`` (``(1 − never)·DF(T)``).
    """
    count = at_hit.size
    alive = np.empty(count)
    paid = np.empty(count)
    for c in range(first_path, stop_path):
        alive[:] = 1.0
        paid[:] = 0.0
        for q in range(starts[c], starts[c + 1]):
            key = keys[q]
            p = key & _LINE_MASK
            j = key >> _STEP_SHIFT
            factor = values[q] if key & _DIRECT else 1.0 - terms[q]
            if j < ends[p]:
                before = alive[p]
                after = before * factor
                paid[p] += mid_dfs[j] * (before - after)
                alive[p] = after
        for p in range(count):
            never[p, c] = alive[p]
            hit[p, c] = paid[p] if at_hit[p] else (1.0 - alive[p]) * final_dfs[p]


class _LineSurvival:
    """Survival and hit values of a book's barrier lines on blocks of paths (thread-safe).

    Lines are held in the kernels' order (up lines by barrier ascending, down lines by
    barrier descending, double no-touches); ``positions[i]`` is the row of line ``i`` in
    the outputs of :meth:`evaluate`. Each worker thread reuses its own entry buffers.
    """

    def __init__(
        self,
        *,
        model: PathModel,
        payoffs: np.ndarray,
        lowers: np.ndarray,
        uppers: np.ndarray,
        expiries: np.ndarray,
        pays_at_hit: np.ndarray,
        discount_factors: np.ndarray,
        monitoring: Monitoring,
    ) -> None:
        double = payoffs == PathPayoff.DOUBLE_NO_TOUCH
        down = np.isin(payoffs, list(_DOWN))
        up = np.isin(payoffs, list(_UP))
        lows, highs = np.full(payoffs.size, -np.inf), np.full(payoffs.size, np.inf)
        lows[down | double] = np.log(lowers[down | double])
        highs[up | double] = np.log(uppers[up | double])
        ups, downs = np.flatnonzero(up), np.flatnonzero(down)
        order = np.concatenate(
            [
                ups[np.argsort(highs[ups], kind="stable")],
                downs[np.argsort(-lows[downs], kind="stable")],
                np.flatnonzero(double),
            ]
        )
        self.positions = np.empty(order.size, dtype=np.intp)
        self.positions[order] = np.arange(order.size)
        self.n_up, self.n_down = ups.size, downs.size
        self.ends = np.ascontiguousarray(expiries[order], dtype=np.int64)
        self.levels = np.ascontiguousarray(np.stack([lows, highs])[:, order])
        self.final_dfs = np.ascontiguousarray(discount_factors[expiries][order])
        self.at_hit = np.ascontiguousarray(pays_at_hit[order], dtype=np.bool_)
        self.mid_dfs = np.sqrt(discount_factors[:-1] * discount_factors[1:])
        self.bridge = monitoring == Monitoring.BRIDGE
        beta = BGK_BETA if monitoring == Monitoring.BGK else 0.0
        variances = model.step_vols() ** 2 * np.diff(model.times)[None, :]  # [m, k]
        self.steps = [
            np.ascontiguousarray(
                np.stack([v, -2.0 / v, np.sqrt(_SKIP_VARIANCES * v), np.sqrt(v) * beta])
            )
            for v in variances
        ]
        self.log_jumps = np.log(model.jumps)
        self.event = model.event_index if model.event_index < model.steps else -1
        if order.size >= _DIRECT:
            raise ValueError(f"at most {_DIRECT - 1} barrier lines, got {order.size}")
        self.last = int(self.ends.max(initial=0))
        self.capacity = max(_ENTRIES, order.size * self.last)
        self._local = threading.local()

    def _buffers(self) -> tuple[np.ndarray, ...]:
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            size = self.capacity
            buffers = (np.empty(size), np.empty(size), np.empty(size, np.int64))
            self._local.buffers = buffers
        return buffers

    def evaluate(self, x: np.ndarray, scenario: int) -> tuple[np.ndarray, np.ndarray]:
        """``never`` and ``hit`` ``[L, n]`` on one scenario's paths ``x`` ``[k+1, n]``."""
        n = x.shape[1]
        never, hit = np.empty((self.ends.size, n)), np.empty((self.ends.size, n))
        if self.ends.size == 0:
            return never, hit
        values, terms, keys = self._buffers()
        starts = np.empty(n + 1, dtype=np.int64)
        first = 0
        while first < n:
            stop = _gather_crossings(
                x, first, self.event, self.log_jumps[scenario], self.steps[scenario],
                self.bridge, self.n_up, self.n_down, self.levels, self.last, values, keys,
                starts,
            )  # fmt: skip
            used = int(starts[stop])
            np.exp(values[:used], out=terms[:used])  # numpy's vector exp, the reference's own
            _apply_crossings(
                first, stop, values, terms, keys, starts, self.ends, self.mid_dfs,
                self.final_dfs, self.at_hit, never, hit,
            )  # fmt: skip
            first = stop
        return never, hit


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
    phis = np.where(calls, 1.0, -1.0)
    end_dfs = discount_factors[expiries]
    knock_outs = np.isin(payoffs, (PathPayoff.DOWN_OUT, PathPayoff.UP_OUT))
    one_touches = np.isin(payoffs, (PathPayoff.ONE_TOUCH_DOWN, PathPayoff.ONE_TOUCH_UP))
    knock_ins = np.isin(payoffs, (PathPayoff.DOWN_IN, PathPayoff.UP_IN))
    vanillas = payoffs == PathPayoff.VANILLA
    barriers = np.flatnonzero(~vanillas)
    survival = _LineSurvival(
        model=model,
        payoffs=payoffs[barriers],
        lowers=np.asarray(lowers, dtype=float)[barriers],
        uppers=np.asarray(uppers, dtype=float)[barriers],
        expiries=expiries[barriers],
        pays_at_hit=(at_hit & (knock_outs | one_touches))[barriers],
        discount_factors=discount_factors,
        monitoring=Monitoring(monitoring),
    )
    # each contract's row in the survival outputs (barrier lines only)
    positions = np.zeros(count, dtype=np.intp)
    positions[barriers] = survival.positions
    groups = {
        name: (rows, positions[rows])
        for name, rows in (
            ("out", np.flatnonzero(knock_outs)),
            ("in", np.flatnonzero(knock_ins)),
            ("touch", np.flatnonzero(one_touches)),
            ("expiry", np.flatnonzero(~(vanillas | knock_outs | knock_ins | one_touches))),
        )
    }
    with_vanilla = np.flatnonzero(vanillas | knock_outs | knock_ins)

    def part_values(x: np.ndarray, scenario: int) -> np.ndarray:
        """Per-path values ``[c, n]`` of every contract on one scenario's paths ``x``."""
        values = np.empty((count, x.shape[1]))
        never, hit = survival.evaluate(x, scenario)
        rows = with_vanilla  # vanilla payoffs first: knock-ins and knock-outs read them back
        spots = np.exp(x[expiries[rows]])
        values[rows] = np.maximum(phis[rows, None] * (spots - strikes[rows, None]), 0.0)
        values[rows] *= end_dfs[rows, None]
        rows, lines = groups["out"]
        values[rows] = values[rows] * never[lines] + cash[rows, None] * hit[lines]
        rows, lines = groups["in"]
        rebates = cash[rows, None] * never[lines] * end_dfs[rows, None]
        values[rows] = values[rows] * (1.0 - never[lines]) + rebates
        rows, lines = groups["touch"]
        values[rows] = cash[rows, None] * hit[lines]
        rows, lines = groups["expiry"]  # no-touches and double no-touches
        values[rows] = cash[rows, None] * never[lines] * end_dfs[rows, None]
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
        :class:`pricing.fx.barriers.ClosedFormPrices`; ``valid`` is False (price NaN) for
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
