"""Barrier crossings of simulated paths: the compiled pass shared by a book's barrier lines.

A *line* is one barrier watched along the paths: a single barrier above spot (up) or below
(down), or a corridor ``(low, high)`` (double). A contract of :mod:`pricing.paths.options`
has one line, or two (a KIKO: its knock-out barrier and its corridor). For each line and path
the pass gives the probability that the line is never triggered before its expiry given the
grid values (``never``), and one *hit* figure chosen by the line's :class:`Payment`.

Between two grid dates the log spot is a Brownian bridge with the step's variance
``v_j = σ_j²Δt_j``; the probability of *not* crossing an upper log-barrier ``h`` given the
step's ends ``a, b < h`` is ``1 − exp(−2 (h − a)(h − b) / v_j)`` (method of images); for a
corridor ``(l, u)``, ``w = u − l``, the image series
``Σ_n [exp(−2nw(nw + a − b)/v) − exp(−2(a − u + nw)(b − u + nw)/v)]``, n = −3…3, and it
splits by the barrier of the first exit::

    P(first exit through l) = Σ_{k≥0} [exp(−2(a − l + kw)(b − l + kw)/v)
                                       − exp(−2(k+1)w((k+1)w + b − a)/v)]

(and through ``u`` with ``a, b, l`` mirrored), k = 0…3 — the same terms, grouped by the
barrier each image reflects in last (Anderson 1960; Borodin & Salminen, 2002, §1.15). Given
the grid, the steps' bridges are independent, so a path's survival is the product of its
steps' and the probability of a first exit through ``l`` is ``Σ_j alive_{j−1}·P_j(l)``:
conditional expectations, unbiased for continuous monitoring (Glasserman 2004, §6.4). A
decision's jump (the event's, or each node's on a decision tree's leaf) is a point of the
path: the step after it starts from the post-jump spot, so a jump through a barrier is a hit
there. ``BGK`` monitoring checks the grid values against
the barrier shifted towards spot by ``β·σ_j·√Δt_j`` (Broadie, Glasserman & Kou 1997);
``DISCRETE`` against the barrier itself (daily fixings).

Amounts paid at the hit (:attr:`Payment.SPOT_AT_HIT`, USD cash worth its spot in JPY): the
barrier crossed by a bridge, and, for a hit found on the grid, the post-jump spot if the jump
went through the barrier, else the barrier (bridge, BGK: the continuous touch they stand for)
or the fixing that found it (discrete). A bridge that ends beyond a corridor is taken to
have left through the barrier it ends beyond (the other way round needs the path to cross
the whole corridor and come back within the step: below ``e^{−2w²/v}``).

Cost. A step is looked at only when one of its ends comes within ``√(19·v_j)`` of the nearest
live barrier, and then only by the lines within that reach (farther, the crossing
probability is below ``exp(−38) < 2⁻⁵⁴`` and the survival factor is 1.0 in double
precision); a line hit on the grid is dropped, and a path stops once every line is. The
bridge exponents of the steps looked at are gathered (:func:`_gather_crossings`),
exponentiated by numpy in one call and multiplied into each line's survival in step order
(:func:`_apply_crossings`), so the cost is the simulation's plus a term in the number of
(path, step, line) triples near a barrier, not in lines × paths × steps.
``tests/pricing/paths/reference.py`` keeps the line-by-line evaluation this replaced.

Conventions: log spot of JPY per USD; discount factors JPY; times years ACT/365F.

References: Glasserman, *Monte Carlo Methods in Financial Engineering* (2004), §6.4;
Broadie, Glasserman & Kou (1997); Baldi, Caramellino & Iovino (1999) (corridor crossing of a
Brownian bridge); Anderson (1960), "A modification of the sequential probability ratio test
to reduce the sample size".
"""

from __future__ import annotations

import math
import threading
from enum import IntEnum, StrEnum

import numpy as np
import numpy.typing as npt

from pricing.compiled import njit
from pricing.paths.model import PathModel

BGK_BETA = 0.5825971579390106  # −ζ(1/2)/√(2π)
_Floats = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]


class Monitoring(StrEnum):
    """How barriers are monitored between grid dates."""

    BRIDGE = "bridge"
    BGK = "bgk"
    DISCRETE = "discrete"


class LineKind(IntEnum):
    """Where a line's barrier lies (stable integers for arrays)."""

    UP = 0
    DOWN = 1
    DOUBLE = 2


class Payment(IntEnum):
    """What a line's ``hit`` figure holds (stable integers for arrays)."""

    AT_EXPIRY = 0  # (1 − never)·DF(T): 1 paid at expiry if triggered
    AT_HIT = 1  # Σ_j DF_j·(alive_{j−1} − alive_j): 1 paid at the hit
    SPOT_AT_HIT = 2  # the same × spot at the hit: 1 USD paid at the hit, in JPY
    FIRST_LOWER = 3  # P(first exit of a corridor through its lower barrier), undiscounted
    FIRST_UPPER = 4  # … through its upper barrier


# A step whose two ends are both at least √(19·v) from a barrier crosses it with probability
# ≤ exp(−38) < 2⁻⁵⁴ under the bridge: its survival factor 1 − exp(·) is 1.0 exactly in double
# precision, so leaving the step out changes no bit of the running product.
_SKIP_VARIANCES = 19.0
_NEGLIGIBLE = -38.0  # exp(−38) < 2⁻⁵⁴: a term below it leaves the survival's bits alone
_ENTRIES = 1 << 18  # crossing terms gathered per round (each 32 bytes)
_STEP_SHIFT = 21  # an entry's key: step << 21 | 2²⁰ for a corridor's own factor | line
_DIRECT = 1 << 20
_LINE_MASK = _DIRECT - 1
_AT_HIT, _SPOT, _LOWER = int(Payment.AT_HIT), int(Payment.SPOT_AT_HIT), int(Payment.FIRST_LOWER)


@njit(cache=True, inline="always", error_model="numpy")
def _no_exit(a: float, b: float, low: float, high: float, v: float) -> float:
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


@njit(cache=True, inline="always", error_model="numpy")
def _first_exit_lower(a: float, b: float, low: float, high: float, v: float) -> float:
    """Share of a bridge's exit from ``(low, high)`` that goes through ``low`` first.

    ``P_l / (P_l + P_u)`` with the series of the module docstring, k = 0…3 (k = 0 alone when
    the corridor is wide against the step, as :func:`_no_exit`); both ends inside.
    """
    width = high - low
    terms = 1 if 2.0 * width * (width - abs(a - b)) > 80.0 * v else 4
    lower = upper = 0.0
    for k in range(terms):
        shift = k * width
        lower += math.exp(-2.0 * (a - low + shift) * (b - low + shift) / v)
        upper += math.exp(-2.0 * (high - a + shift) * (high - b + shift) / v)
        if terms > 1:
            back = (k + 1) * width
            lower -= math.exp(-2.0 * back * (back + b - a) / v)
            upper -= math.exp(-2.0 * back * (back + a - b) / v)
    lower, upper = max(lower, 0.0), max(upper, 0.0)
    if lower + upper == 0.0:
        return 0.5
    return lower / (lower + upper)


@njit(cache=True, inline="always")
def _grid_spot(a: float, b: float, level: float, jumped: bool, at_fixing: bool) -> float:
    """JPY spot paid for 1 USD at a single barrier's hit found on the grid: the post-jump
    spot if the step starts beyond the barrier (the jump went through it), else the fixing
    (discrete) or the barrier (the continuous touch the bridge and the shift stand for)."""
    if jumped:
        return math.exp(a)
    return math.exp(b) if at_fixing else math.exp(level)


@njit(cache=True, inline="always", error_model="numpy")
def _corridor_amount(
    pay: int,
    a: float,
    b: float,
    low: float,
    high: float,
    v: float,
    factor: float,
    at_fixing: bool,
    shift: float,
) -> float:
    """A corridor entry's amount: the JPY spot at the exit (``SPOT_AT_HIT``) or the share of
    the exit through the lower (``FIRST_LOWER``) or upper (``FIRST_UPPER``) barrier.

    ``factor`` is the step's survival: 0 for an exit found on the grid, else (the bridge)
    strictly between 0 and 1.
    """
    if not (a > low and a < high):  # the jump left the corridor
        share, spot = (1.0 if a <= low else 0.0), math.exp(a)
    elif factor == 0.0:  # the step ends outside the corridor (or its shifted bounds)
        lower = b <= low + shift
        share = 1.0 if lower else 0.0
        spot = math.exp(b) if at_fixing else math.exp(low if lower else high)
    else:
        share = _first_exit_lower(a, b, low, high, v)
        spot = share * math.exp(low) + (1.0 - share) * math.exp(high)
    if pay == _SPOT:
        return spot
    return share if pay == _LOWER else 1.0 - share


@njit(cache=True, nogil=True, error_model="numpy")
def _gather_crossings(
    x: _Floats,
    first_path: int,
    log_jumps: _Floats,
    steps: _Floats,
    bridge: bool,
    at_fixing: bool,
    n_up: int,
    n_down: int,
    levels: _Floats,
    pays: _Ints,
    last: int,
    values: _Floats,
    amounts: _Floats,
    keys: _Ints,
    starts: _Ints,
) -> int:
    """The steps at which each line may be crossed, path by path from ``first_path``.

    ``log_jumps[j]`` is the ln J the scenario's paths jump by at the start of step ``j`` (0
    off its decisions' steps): step ``j`` runs from ``x[j] + log_jumps[j]`` to ``x[j+1]``.

    One pass per path over its steps, shared by the lines, held in order: up lines by
    barrier ascending, down lines by barrier descending, then corridors. A step is looked at
    only when one of its ends comes within ``√(19·v)`` of the nearest live barrier on either
    side, and then by the lines within that reach of it (the scan of the sorted lines stops
    at the first one out of reach); a line hit on the grid (its survival 0 whatever the
    bridge says) is dropped, and the path ends when every line is.

    Each term is written as entry ``q``: ``keys[q]`` the step ``j`` and line ``p`` as
    ``j·2²¹ + p`` (plus 2²⁰ for a corridor), ``values[q]`` the bridge exponent ``−2·a·b/v``
    (survival ``1 − exp``; 0 for a hit), or for a corridor the survival itself; for a line
    whose :class:`Payment` needs it, ``amounts[q]`` the spot paid at a hit in the step or the
    share of the exit through the lower barrier. Terms after a line's expiry are written too
    (rare: lines that expire early) and left out by :func:`_apply_crossings`. ``starts[c]``
    is the first entry of path ``c``.

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
        double_up, double_down = np.inf, -np.inf  # the nearest barriers of live corridors
        for p in range(singles, count):
            double_up = min(double_up, highs[p])
            double_down = max(double_down, lows[p])
        b = x[0, c]
        for j in range(last):
            a = b + log_jumps[j]  # exactly b off the decision steps
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
                    if pays[up_first] == _SPOT:
                        amounts[q] = _grid_spot(a, b, level, a >= level, at_fixing)
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
                        if pays[p] == _SPOT:
                            amounts[q] = math.exp(level)
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
                    if pays[down_first] == _SPOT:
                        amounts[q] = _grid_spot(a, b, level, a <= level, at_fixing)
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
                        if pays[p] == _SPOT:
                            amounts[q] = math.exp(level)
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
                    if pays[p] >= _SPOT and factor != 1.0:
                        amounts[q] = _corridor_amount(
                            pays[p], a, b, low_p, high_p, variances[j], factor, at_fixing,
                            shifts[j],
                        )  # fmt: skip
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


@njit(cache=True, nogil=True, error_model="numpy")
def _apply_crossings(
    first_path: int,
    stop_path: int,
    values: _Floats,
    terms: _Floats,
    amounts: _Floats,
    keys: _Ints,
    starts: _Ints,
    ends: _Ints,
    mid_dfs: _Floats,
    final_dfs: _Floats,
    pays: _Ints,
    never: _Floats,
    hit: _Floats,
) -> None:
    """Survival and hit figure of every line on paths ``[first_path, stop_path)``.

    ``terms[q]`` is ``exp(values[q])`` for a bridge exponent gathered by
    :func:`_gather_crossings` (the step's survival is ``1 − terms[q]``); a corridor's entry
    holds its survival in ``values[q]``; entries at or after a line's expiry ``ends[p]`` are
    passed over. Writes ``never[p, c]`` = P(line p not triggered) and ``hit[p, c]`` as its
    :class:`Payment` says.
    """
    count = pays.size
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
                pay = pays[p]
                if pay == _AT_HIT:
                    paid[p] += mid_dfs[j] * (before - after)
                elif pay == _SPOT:
                    paid[p] += mid_dfs[j] * (before - after) * amounts[q]
                elif pay != 0:
                    paid[p] += (before - after) * amounts[q]
                alive[p] = after
        for p in range(count):
            never[p, c] = alive[p]
            hit[p, c] = paid[p] if pays[p] else (1.0 - alive[p]) * final_dfs[p]


class LineSurvival:
    """Survival and hit figures of a book's lines on blocks of paths (thread-safe).

    Lines are held in the kernels' order (up lines by barrier ascending, down lines by
    barrier descending, corridors); ``positions[i]`` is the row of line ``i`` in the outputs
    of :meth:`evaluate`. Each worker thread reuses its own entry buffers.

    Args:
        kinds: ``[L]`` :class:`LineKind`.
        lowers, uppers: ``[L]`` barriers, JPY per USD (the down barrier / the up barrier /
            both of a corridor; the unused one ignored).
        expiries: ``[L]`` grid index of each line's expiry (1…k).
        payments: ``[L]`` :class:`Payment`.
        discount_factors: ``[k+1]`` JPY discount factor at each grid time; a payment at the
            hit within step ``j`` is discounted with ``√(DF_j·DF_{j+1})`` (O(r·Δt)).
    """

    def __init__(
        self,
        *,
        model: PathModel,
        kinds: np.ndarray,
        lowers: np.ndarray,
        uppers: np.ndarray,
        expiries: np.ndarray,
        payments: np.ndarray,
        discount_factors: np.ndarray,
        monitoring: Monitoring,
    ) -> None:
        double = kinds == LineKind.DOUBLE
        down = kinds == LineKind.DOWN
        up = kinds == LineKind.UP
        lows, highs = np.full(kinds.size, -np.inf), np.full(kinds.size, np.inf)
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
        self.pays = np.ascontiguousarray(payments[order], dtype=np.int64)
        self.mid_dfs = np.sqrt(discount_factors[:-1] * discount_factors[1:])
        self.bridge = monitoring == Monitoring.BRIDGE
        self.at_fixing = monitoring == Monitoring.DISCRETE
        beta = BGK_BETA if monitoring == Monitoring.BGK else 0.0
        variances = model.step_vols() ** 2 * np.diff(model.times)[None, :]  # [m, k]
        self.steps = [
            np.ascontiguousarray(
                np.stack([v, -2.0 / v, np.sqrt(_SKIP_VARIANCES * v), np.sqrt(v) * beta])
            )
            for v in variances
        ]
        self.log_jumps = np.ascontiguousarray(model.step_log_jumps())  # [m, k]
        if order.size >= _DIRECT:
            raise ValueError(f"at most {_DIRECT - 1} barrier lines, got {order.size}")
        self.last = int(self.ends.max(initial=0))
        self.capacity = max(_ENTRIES, order.size * self.last)
        self._local = threading.local()

    def _buffers(self) -> tuple[np.ndarray, ...]:
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            size = self.capacity
            buffers = (np.empty(size), np.empty(size), np.empty(size), np.empty(size, np.int64))
            self._local.buffers = buffers
        return buffers

    def evaluate(self, x: np.ndarray, scenario: int) -> tuple[np.ndarray, np.ndarray]:
        """``never`` and ``hit`` ``[L, n]`` on one scenario's paths ``x`` ``[k+1, n]``."""
        n = x.shape[1]
        never, hit = np.empty((self.ends.size, n)), np.empty((self.ends.size, n))
        if self.ends.size == 0:
            return never, hit
        values, terms, amounts, keys = self._buffers()
        starts = np.empty(n + 1, dtype=np.int64)
        first = 0
        while first < n:
            stop = _gather_crossings(
                x, first, self.log_jumps[scenario], self.steps[scenario],
                self.bridge, self.at_fixing, self.n_up, self.n_down, self.levels, self.pays,
                self.last, values, amounts, keys, starts,
            )  # fmt: skip
            used = int(starts[stop])
            np.exp(values[:used], out=terms[:used])  # numpy's vector exp, the reference's own
            _apply_crossings(
                first, stop, values, terms, amounts, keys, starts, self.ends, self.mid_dfs,
                self.final_dfs, self.pays, never, hit,
            )  # fmt: skip
            first = stop
        return never, hit
