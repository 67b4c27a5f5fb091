"""A book of FX options valued in one compiled call: rates, vols, mixture, ∂/∂L, implied vol.

The same maths as the step-by-step assembly in :mod:`scenarios.fx.valuation` — zero rates off
the curves (:mod:`pricing.curve`), the pre-event vol off the market's surface at each
component's moneyness or off the ATM curve (:mod:`pricing.vol.surface`), each scenario's
post-event vol off its own surface or flat, the mixture kernel
(:func:`pricing.mixture.european.option_mixture`), the digitals' smile-slope term
(:func:`pricing.mixture.digital_slope.option_slope_term`), ``∂price/∂L`` through the measure and
the Black implied vol (:mod:`pricing.fx.implied_vol`) — fused into one loop over options, so a
small book pays one call instead of ~150 numpy calls on one-element arrays (~0.3 ms for one
option, where the arithmetic itself takes ~10 µs). Books of ``PARALLEL_THRESHOLD`` options or
more run the threaded build.

Vol reads (as :meth:`scenarios.vol.model.VolModel.inputs`): option ``i`` expiring at ``T``
after the event ``T_e`` reads scenario ``j``'s post-event surface at ``τ = T − T_e``, strike
``K`` and forward ``F(T)·J_j`` (``J_j`` the measure's effective jump), and multiplies the vol
and its slope ``dσ/dK`` by the scenario's scale; a scenario without a surface keeps its flat
vol. A read with no positive variance refuses the book (:attr:`Problem.NO_VARIANCE`). Greeks
hold every vol and slope at the strike fixed (sticky strike).

**Decision trees.** The components are a tree's leaves, read per interval between its
decision dates (:mod:`pricing.mixture.tree_tables`): option ``i`` finds its interval ``r``
(``#{node times < T}``), takes each leaf's cumulative jump ``J_ℓ(T)``, open segment's vol and
the variance its path accrued from the tables' row ``r``, and prices, differentiates and
inverts exactly as below; the pre-event diffusion runs to the root and is read at
``K/J_ℓ(T)``; ``∂price/∂L_b`` is per branch, through the leaf weights and row ``r``'s jump
derivatives. A flat set is a tree of one node: row 1 its jumps and vols, nothing accrued, the
same arithmetic bit for bit. Scenario smiles under a tree are not supported (the tables
refuse them).

Conventions: spot, strikes and forwards JPY per USD; times in years ACT/365F from the
valuation date; zero rates continuously compounded; vols annualised decimals; premiums JPY
per unit of notional.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from pricing.compiled import prange
from pricing.curve import atm_variance_point, log_discount_pillars, zero_rate_point
from pricing.fx.black import PAYOFF_TABLE, Payoff
from pricing.fx.implied_vol import BLACK_FORMULA_ULPS, implied_one
from pricing.fx.normalised_black import PARALLEL_THRESHOLD, compiled_pair
from pricing.mixture.digital_slope import option_slope_term
from pricing.mixture.european import option_mixture
from pricing.vol.surface import VolSurface, vol_point


class Column(IntEnum):
    """Rows of :attr:`FxBookResult.columns` (each ``[n]``)."""

    PRICE = 0
    DELTA = 1
    DELTA_PREMIUM_ADJUSTED = 2
    GAMMA = 3
    VEGA = 4
    THETA = 5
    RHO_JPY = 6
    RHO_USD = 7
    FORWARD = 8
    DISCOUNT_FACTOR = 9
    RATE_JPY = 10
    RATE_USD = 11
    PRE_TIME = 12
    POST_TIME = 13
    IMPLIED_VOL = 14


class Problem(IntEnum):
    """Why a book could not be valued (:attr:`FxBookResult.problem`), at ``index``."""

    NONE = 0
    FAR_STRIKE = 1  # a strike beyond [spot / factor, spot · factor]
    NO_VARIANCE = 2  # the market's or a scenario's surface gives no positive variance there
    NOT_FINITE = 3  # a result is not finite in double precision


@dataclass(frozen=True)
class BookTables:
    """Market, measure and vols packed as the compiled valuation reads them.

    Attributes:
        spot: S0, JPY per USD.
        event_time: years to the event.
        strike_factor: strikes must lie within ``[spot/factor, spot·factor]``.
        jpy_times, jpy_rates, usd_times, usd_rates: curve pillars ``[p]`` (years, zero rates).
        jpy_log_linear, usd_log_linear: True for log-linear discount interpolation, False
            for linear zero rates (:class:`pricing.curve.CurveInterpolation`).
        atm_times, atm_vols: ATM curve pillars, used when ``surface`` has no rows.
        surface, events: the market surface's tables
            (:attr:`pricing.vol.surface.VolSurface.tables`), ``[0, 7]`` and ``[0, 2]`` without a
            surface.
        weights, jumps, log_jumps: pricing weights q, effective jump ratios and their logs
            ``[m]`` (a tree: its leaves', ``Π q`` and ``Π J_eff``).
        post_vols: post-event vols ``[1, m]``, flat (each scenario's vol times its scale; a
            tree: each leaf's last branch's).
        d_weights, d_jumps: ``∂q_j/∂J_k`` and ``∂J_eff,j/∂J_k`` ``[m, m]`` of the measure (a
            tree: ``[L, B]`` in each branch's jump, see
            :class:`pricing.mixture.measure.MeasureFit`).
        post_surfaces, post_events: each scenario's post-event surface tables
            (:attr:`pricing.vol.surface.VolSurface.tables`, times ``τ`` from the event)
            stacked ``[m, p_max, 7]`` and ``[m, e_max, 2]``, scenario ``j``'s in its first
            ``post_pillars[j]`` and ``post_event_counts[j]`` rows (:func:`post_event_tables`);
            ``[0, 0, 7]`` and ``[0, 0, 2]`` when every scenario is flat.
        post_pillars, post_event_counts: ``[m]`` rows used per scenario (0 pillars: flat).
        post_scales: ``[m]`` factors on each surface's vols and slopes.
        post_fallback_vols: ``[m]`` placeholder vols where a surface read is not valid (each
            scenario's own flat vol, as the step-by-step path; never priced with, since such a
            read after the event refuses the book).
        node_times: a tree's ``[d]`` distinct decision times (years, sorted; the first is
            ``event_time``), with its interval tables (:mod:`pricing.mixture.tree_tables`):
            ``interval_jumps`` ``[d+1, L]``, ``interval_d_jumps`` ``[d+1, L, B]``,
            ``interval_vols``, ``accrued_variances``, ``accrued_vol_times`` ``[d+1, L]``. None
            for a flat set: the tables of its one node are built from the fields above.
    """

    spot: float
    event_time: float
    strike_factor: float
    jpy_times: np.ndarray
    jpy_rates: np.ndarray
    jpy_log_linear: bool
    usd_times: np.ndarray
    usd_rates: np.ndarray
    usd_log_linear: bool
    atm_times: np.ndarray
    atm_vols: np.ndarray
    surface: np.ndarray
    events: np.ndarray
    weights: np.ndarray
    jumps: np.ndarray
    log_jumps: np.ndarray
    post_vols: np.ndarray
    d_weights: np.ndarray
    d_jumps: np.ndarray
    post_surfaces: np.ndarray = field(default_factory=lambda: np.empty((0, 0, 7)))
    post_events: np.ndarray = field(default_factory=lambda: np.empty((0, 0, 2)))
    post_pillars: np.ndarray = field(default_factory=lambda: np.empty(0))
    post_event_counts: np.ndarray = field(default_factory=lambda: np.empty(0))
    post_scales: np.ndarray = field(default_factory=lambda: np.empty(0))
    post_fallback_vols: np.ndarray = field(default_factory=lambda: np.empty(0))
    node_times: np.ndarray | None = None
    interval_jumps: np.ndarray | None = None
    interval_d_jumps: np.ndarray | None = None
    interval_vols: np.ndarray | None = None
    accrued_variances: np.ndarray | None = None
    accrued_vol_times: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Pack the tables as the kernel takes them: one argument each (numba spends
        ~0.1 µs per argument on every call)."""
        flags = (float(self.jpy_log_linear), float(self.usd_log_linear))
        low, high = self.spot / self.strike_factor, self.spot * self.strike_factor
        m = self.weights.shape[0]
        if self.node_times is None:  # one node: row 0 (before it) is never read
            times = np.array([self.event_time])
            jumps = np.stack([np.ones(m), self.jumps])
            log_jumps = np.stack([np.zeros(m), self.log_jumps])
            vols = np.stack([np.zeros(m), np.asarray(self.post_vols, dtype=float)[0]])
            accrued = np.zeros((2, 2, m))
            d_jumps = np.stack([np.zeros_like(self.d_jumps), self.d_jumps])
        else:
            if np.asarray(self.post_pillars).size:
                raise ValueError("scenario smiles under a decision tree are not supported")
            times = np.asarray(self.node_times, dtype=float)
            jumps = np.asarray(self.interval_jumps, dtype=float)
            log_jumps = np.log(jumps)
            vols = np.asarray(self.interval_vols, dtype=float)
            accrued = np.array([self.accrued_variances, self.accrued_vol_times], dtype=float)
            d_jumps = np.asarray(self.interval_d_jumps, dtype=float)
            if times[0] != self.event_time or jumps.shape != (times.size + 1, m):
                raise ValueError("node_times must start at event_time, tables be [d+1, m]")
        packed = {
            "scalars": np.array([self.spot, self.event_time, low, high, *flags]),
            "jpy": np.array([self.jpy_times, self.jpy_rates], dtype=float),
            "usd": np.array([self.usd_times, self.usd_rates], dtype=float),
            "atm": np.array([self.atm_times, self.atm_vols], dtype=float),
            "scenarios": np.ascontiguousarray(self.weights, dtype=float),
            # [d+2, L, B]: ∂w/∂J, then ∂J_ℓ/∂J_b in each interval
            "measure_derivatives": np.ascontiguousarray(
                np.concatenate([np.asarray(self.d_weights, dtype=float)[None], d_jumps]),
                dtype=float,
            ),
            "intervals": np.ascontiguousarray(times),
            # [5, d+1, L]: cumulative jumps, their logs, the open segment's vol, Σσ²·length
            # and Σσ·length accrued
            "leaves": np.ascontiguousarray(
                np.concatenate([np.array([jumps, log_jumps, vols], dtype=float), accrued])
            ),
            # [4, m]: pillar and event row counts, scale, fallback vol ([4, 0]: all flat)
            "post_smiles": np.array(
                [
                    self.post_pillars,
                    self.post_event_counts,
                    self.post_scales,
                    self.post_fallback_vols,
                ],
                dtype=float,
            ).reshape(4, -1),
            "post_surface_tables": np.ascontiguousarray(self.post_surfaces, dtype=float),
            "post_event_tables": np.ascontiguousarray(self.post_events, dtype=float),
        }
        for name, value in packed.items():
            object.__setattr__(self, name, value)

    scalars: np.ndarray = field(init=False, repr=False, compare=False)
    jpy: np.ndarray = field(init=False, repr=False, compare=False)
    usd: np.ndarray = field(init=False, repr=False, compare=False)
    atm: np.ndarray = field(init=False, repr=False, compare=False)
    scenarios: np.ndarray = field(init=False, repr=False, compare=False)
    measure_derivatives: np.ndarray = field(init=False, repr=False, compare=False)
    intervals: np.ndarray = field(init=False, repr=False, compare=False)
    leaves: np.ndarray = field(init=False, repr=False, compare=False)
    post_smiles: np.ndarray = field(init=False, repr=False, compare=False)
    post_surface_tables: np.ndarray = field(init=False, repr=False, compare=False)
    post_event_tables: np.ndarray = field(init=False, repr=False, compare=False)


def post_event_tables(
    surfaces: Sequence[VolSurface | None],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``m`` scenarios' post-event surfaces (None: flat) stacked for :class:`BookTables`:
    ``(pillars [m, p_max, 7], events [m, e_max, 2], pillar counts [m], event counts [m])``,
    scenario ``j``'s tables in its first rows, zeros after; ``[0, 0, 7]``, ``[0, 0, 2]`` and
    empty counts when every surface is None."""
    if all(s is None for s in surfaces):
        return np.empty((0, 0, 7)), np.empty((0, 0, 2)), np.empty(0), np.empty(0)
    tables = [s.tables if s is not None else (np.empty((0, 7)), np.empty((0, 2))) for s in surfaces]
    pillars = np.array([t[0].shape[0] for t in tables], dtype=float)
    counts = np.array([t[1].shape[0] for t in tables], dtype=float)
    stacked = np.zeros((len(tables), int(pillars.max()), 7))
    events = np.zeros((len(tables), int(counts.max()), 2))
    for j, (table, dated) in enumerate(tables):
        stacked[j, : table.shape[0]] = table
        events[j, : dated.shape[0]] = dated
    return stacked, events, pillars, counts


@dataclass(slots=True)  # a fresh result (see pricing.mixture.european.MixtureResult)
class FxBookResult:
    """Figures for ``n`` options and ``m`` scenarios.

    ``columns [15, n]`` by :class:`Column`; ``scenario_values``, ``d_jumps`` (∂price/∂J_j at
    fixed weights; a tree's leaf: in its cumulative jump as of the expiry) ``[n, m]`` and
    ``d_levels`` (∂price/∂L_k through the measure, 0 before the event) ``[n, m]``, a tree's
    ``[n, B]`` per branch; ``implied_status [n]`` the codes of :mod:`pricing.fx.implied_vol`
    (−1 not a vanilla); ``after_event``, ``implied_ok`` ``[n]`` bool. ``problem`` is
    :attr:`Problem.NONE`, or the first problem met and its option ``index`` (the figures are
    then not to be used).
    """

    columns: np.ndarray
    scenario_values: np.ndarray
    d_jumps: np.ndarray
    d_levels: np.ndarray
    implied_status: np.ndarray
    after_event: np.ndarray
    implied_ok: np.ndarray
    problem: Problem
    index: int


_CALL, _PUT = int(Payoff.CALL), int(Payoff.PUT)
_FAR, _NO_VARIANCE, _NOT_FINITE = (
    int(Problem.FAR_STRIKE),
    int(Problem.NO_VARIANCE),
    int(Problem.NOT_FINITE),
)
# Column's rows as plain ints, which the compiled body reads as constants
(_PRICE, _DELTA, _DELTA_PA, _GAMMA, _VEGA, _THETA, _RHO_JPY, _RHO_USD, _FORWARD, _DF,
 _RATE_JPY, _RATE_USD, _PRE_TIME, _POST_TIME, _IMPLIED_VOL) = (int(c) for c in Column)  # fmt: skip
_COLUMNS = len(Column)
_Floats = npt.NDArray[np.float64]


def _book_body(
    payoffs: npt.NDArray[np.int64],
    options: _Floats,
    scalars: _Floats,
    jpy: _Floats,
    usd: _Floats,
    atm: _Floats,
    surface: _Floats,
    events: _Floats,
    weights: _Floats,
    measure_d: _Floats,
    intervals: _Floats,
    leaves: _Floats,
    post_smiles: _Floats,
    post_surfaces: _Floats,
    post_events: _Floats,
    payoff_table: _Floats,
    out: _Floats,
    per_leaf: _Floats,
    d_levels: _Floats,
    status: npt.NDArray[np.int8],
    flags: npt.NDArray[np.bool_],
) -> tuple[int, int]:
    # options [3, n]: expiries, deliveries, strikes; scalars: spot, event (root) time, strike
    # bounds, log-linear flags (JPY, USD); jpy/usd/atm [2, p]: pillar times, values; weights
    # [m]; intervals [d]: node times; leaves [5, d+1, m]: cumulative jumps, log jumps, open
    # segment's vol, accrued Σσ²·length and Σσ·length per interval; measure_d
    # [d+2, m, B]: ∂w/∂J_b, then ∂J_ℓ/∂J_b per interval; post_smiles [4, m] (or [4, 0]: all
    # flat): pillar and event counts, scale, fallback vol of each scenario's post_surfaces
    # [m, p, 7] / post_events [m, e, 2]; per_leaf [2, n, m]: scenario values, ∂/∂J; d_levels
    # [n, B]: ∂/∂L_b; flags [2, n]: after the event, implied vol converged
    expiries = options[0]
    deliveries = options[1]
    strikes = options[2]
    spot = scalars[0]
    event_time = scalars[1]
    low = scalars[2]
    high = scalars[3]
    jumps = leaves[0]
    log_jumps = leaves[1]
    leaf_vols = leaves[2]
    accrued = leaves[3:]
    d_weights = measure_d[0]
    scen_values = per_leaf[0]
    d_jumps = per_leaf[1]
    after_event = flags[0]
    converged = flags[1]
    n = strikes.shape[0]
    m = weights.shape[0]
    n_levels = d_levels.shape[1]
    n_times = intervals.shape[0]
    for i in range(n):
        if not (strikes[i] >= low and strikes[i] <= high):
            return _FAR, i
    # one view per statement: numba's parallel build wrote zeros through views unpacked from
    # a tuple (numba 0.68; the serial build was right; the tests compare the two builds)
    price = out[_PRICE]
    delta = out[_DELTA]
    delta_pa = out[_DELTA_PA]
    gamma = out[_GAMMA]
    vega = out[_VEGA]
    theta = out[_THETA]
    rho_d = out[_RHO_JPY]
    rho_f = out[_RHO_USD]
    forwards = out[_FORWARD]
    dfs = out[_DF]
    implied = out[_IMPLIED_VOL]
    r_d = out[_RATE_JPY]
    r_f = out[_RATE_USD]
    pre_t = out[_PRE_TIME]
    post_t = out[_POST_TIME]
    jpy_log_linear = scalars[4] != 0.0
    usd_log_linear = scalars[5] != 0.0
    jpy_log_dfs, jpy_last_forward = log_discount_pillars(jpy[0], jpy[1])
    usd_log_dfs, usd_last_forward = log_discount_pillars(usd[0], usd[1])
    atm_variances = np.empty(atm.shape[1])  # the ATM pillars' σ²t
    for j in range(atm.shape[1]):
        atm_variances[j] = atm[1, j] * atm[1, j] * atm[0, j]
    use_surface = surface.shape[0] > 0
    smiles = post_smiles.shape[1] > 0  # some scenario has a post-event surface
    segment = np.empty(n)  # the time into the expiry's interval, T − τ_{r−1} (0 before it)
    valid = np.ones(n, dtype=np.bool_)
    finite = np.ones(n, dtype=np.bool_)
    pre_width = m if use_surface else 1
    pre_vols = np.empty((n, pre_width))
    pre_slopes = np.zeros((n if use_surface or smiles else 1, pre_width))  # read only then
    # post-event vols and slopes at each strike [n, m] with smiles (row i), else each leaf's
    # open segment's [d+1, m] (row r)
    vols = np.empty((n, m)) if smiles else leaf_vols
    vol_slopes = np.zeros((n, m) if smiles else (1, m))
    for i in prange(n):  # every per-option step here: threads share the page faults too
        t = expiries[i]
        r_d[i] = zero_rate_point(
            deliveries[i], jpy[0], jpy[1], jpy_log_dfs, jpy_last_forward, jpy_log_linear
        )
        r_f[i] = zero_rate_point(
            deliveries[i], usd[0], usd[1], usd_log_dfs, usd_last_forward, usd_log_linear
        )
        pre_t[i] = min(t, event_time)
        post_t[i] = max(t - event_time, 0.0)
        r = 0  # the expiry's interval: #{node times < T}
        while r < n_times and intervals[r] < t:
            r += 1
        segment[i] = t - intervals[r - 1] if r > 0 else 0.0
        forwards[i] = spot * math.exp((r_d[i] - r_f[i]) * deliveries[i])
        dfs[i] = math.exp(-r_d[i] * deliveries[i])
        after = r > 0
        after_event[i] = after
        if use_surface:  # the pre-event smile at K/J_ℓ(T) after the event, at K before it
            for j in range(m if after else 1):  # before the event only column 0 is read
                shifted = forwards[i] * jumps[r, j] if after else forwards[i]
                vol, slope, good = vol_point(pre_t[i], strikes[i], shifted, surface, events)
                pre_vols[i, j] = vol if good else 1.0
                pre_slopes[i, j] = slope if good else 0.0
                valid[i] = valid[i] and good
        else:
            variance = atm_variance_point(pre_t[i], atm[0], atm[1], atm_variances)
            pre_vols[i, 0] = math.sqrt(variance / pre_t[i])
        if smiles and after:  # scenario j's surface at τ = T − T_e, forward F(T)·J_j
            for j in range(m):
                pillars = int(post_smiles[0, j])
                if pillars == 0:
                    vols[i, j] = leaf_vols[r, j]
                    continue
                vol, slope, good = vol_point(
                    post_t[i],
                    strikes[i],
                    forwards[i] * jumps[r, j],
                    post_surfaces[j, :pillars],
                    post_events[j, : int(post_smiles[1, j])],
                )
                scale = post_smiles[2, j]
                vols[i, j] = vol * scale if good else post_smiles[3, j]
                vol_slopes[i, j] = slope * scale if good else 0.0
                valid[i] = valid[i] and good
        vol_row = np.int64(i) if smiles else r  # the post-event vols' row
        option_mixture(
            i, payoffs, payoff_table, forwards, strikes, dfs, deliveries, r_d, r_f, pre_vols,
            pre_t, segment, weights, jumps, log_jumps, r, vols, vol_row, accrued, price, delta,
            gamma, vega, theta, rho_d, rho_f, scen_values, d_jumps, spot,
        )  # fmt: skip
        delta_pa[i] = delta[i] - price[i] / spot
        code = payoffs[i]
        digital = payoff_table[code, 1] != 0.0 or payoff_table[code, 2] != 0.0
        if digital and (use_surface or smiles):  # −ω·s·∂C/∂v·dv/dK: the smile's slope
            option_slope_term(
                i, payoffs, payoff_table, forwards, strikes, dfs, deliveries, r_d, r_f,
                pre_vols, pre_slopes, pre_t, segment, weights, leaves, r, vols, vol_row,
                vol_slopes, price, delta, delta_pa, gamma, vega, theta,
                rho_d, rho_f, scen_values, d_jumps, spot,
            )  # fmt: skip
        # ∂price/∂L_b = Σ_ℓ (C_ℓ·∂w_ℓ/∂J_b + ∂C/∂J_ℓ·∂J_ℓ(T)/∂J_b) / S0, row r's ∂J_ℓ(T)
        # (j outer, k inner: each level's sum still in j order, the inner loop contiguous)
        fit_row = r + 1
        for k in range(n_levels):
            d_levels[i, k] = 0.0
        if after:
            for j in range(m):
                value = scen_values[i, j]
                slope = d_jumps[i, j]
                for k in range(n_levels):
                    d_levels[i, k] += value * d_weights[j, k] + slope * measure_d[fit_row, j, k]
        for k in range(n_levels):
            d_levels[i, k] /= spot
        if code <= _PUT:  # CALL 0, PUT 1: the vanillas
            # the mixture price is a Black difference: its deep-ITM noise is no time value
            vol, flag = implied_one(price[i], forwards[i], strikes[i], expiries[i], dfs[i],
                                     code == _CALL, BLACK_FORMULA_ULPS)  # fmt: skip
            implied[i] = vol
            status[i] = flag
            converged[i] = flag == 0
        else:
            implied[i] = 0.0
            status[i] = -1
            converged[i] = False
        good = True
        for row in range(_RHO_USD + 1):
            good = good and math.isfinite(out[row, i])
        for j in range(m):
            good = good and math.isfinite(scen_values[i, j] + d_jumps[i, j])
        for k in range(n_levels):
            good = good and math.isfinite(d_levels[i, k])
        finite[i] = good
    for i in range(n):
        if not valid[i]:
            return _NO_VARIANCE, i
    for i in range(n):
        if not finite[i]:
            return _NOT_FINITE, i
    return 0, -1


_book_serial, _book_parallel = compiled_pair(_book_body, "_fx_book")


def value_fx_book(
    tables: BookTables,
    *,
    payoffs: np.ndarray,
    strikes: np.ndarray,
    expiries: np.ndarray,
    deliveries: np.ndarray,
) -> FxBookResult:
    """Value options given as arrays ``[n]``: :class:`pricing.fx.black.Payoff` codes, strikes
    (JPY per USD), expiry and delivery times (years ACT/365F, > 0) under ``tables``.

    Returns:
        :class:`FxBookResult`; check ``problem`` before reading the figures.
    """
    options = np.array([expiries, deliveries, strikes], dtype=float)
    return value_fx_options(tables, payoffs=np.asarray(payoffs, dtype=np.int64), options=options)


def value_fx_options(
    tables: BookTables, *, payoffs: np.ndarray, options: np.ndarray
) -> FxBookResult:
    """:func:`value_fx_book` with the options packed: ``payoffs`` int64 ``[n]``, ``options``
    float ``[3, n]`` (expiry times, delivery times, strikes), both C-contiguous."""
    n, m = options.shape[1], tables.weights.shape[0]
    columns = np.empty((_COLUMNS, n))
    per_leaf = np.empty((2, n, m))
    d_levels = np.empty((n, tables.measure_derivatives.shape[2]))
    status = np.empty(n, dtype=np.int8)
    flags = np.empty((2, n), dtype=np.bool_)
    kernel = _book_serial if n < PARALLEL_THRESHOLD else _book_parallel
    t = tables
    problem, index = kernel(
        payoffs, options, t.scalars, t.jpy, t.usd, t.atm, t.surface, t.events, t.scenarios,
        t.measure_derivatives, t.intervals, t.leaves, t.post_smiles,
        t.post_surface_tables, t.post_event_tables, PAYOFF_TABLE, columns, per_leaf, d_levels,
        status, flags,
    )  # fmt: skip
    found = Problem(problem) if problem else Problem.NONE
    scenario_values, d_jumps = per_leaf
    after_event, converged = flags
    return FxBookResult(
        columns, scenario_values, d_jumps, d_levels, status, after_event, converged, found, index
    )
