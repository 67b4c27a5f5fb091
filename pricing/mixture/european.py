"""The event mixture: price and Greeks of European payoffs under a dated scenario jump.

One event at ``T_e``; scenario ``i`` has weight ``q_i`` (risk-neutral or as given), jump ratio
``J_i`` applied multiplicatively to spot at ``T_e``, and post-event vol ``σ_i``. For an option
expiring at ``T`` (vol time) and delivering at ``t_del`` (discounting and forward time)::

    T ≤ T_e :  V = DF_d · C(F, v_pre)                      (the scenarios do not matter)
    T > T_e :  V = DF_d · Σ_i q_i · C(F·J_i, v_i),   v_i = σ_pre²·T_e + σ_i²·(T − T_e)

with ``C`` the kernel of :mod:`pricing.fx.black`, ``F = S0·DF_f/DF_d`` the market forward to
delivery and ``DF_d`` the JPY discount factor to delivery. Greeks are exact derivatives of
that expression:

* ``delta`` = ∂V/∂S0 at fixed jump ratios (post-event levels move with spot);
  ``delta_premium_adjusted`` = delta − V/S0 (premium paid in USD: Clark 2011, §3.2).
* ``gamma`` = ∂²V/∂S0².
* ``vega`` = ∂V/∂σ for a parallel shift of every vol (pre-event and each scenario's), per
  unit of vol (×0.01 for a vol point), as QuantLib reports it.
* ``theta`` = ∂V/∂t, per year, as the valuation date moves with zero rates, vols, levels and
  the event date fixed (each component's pre-event variance runs off at its ``σ_pre,i²``).
* ``rho_jpy`` = ∂V/∂r_d, ``rho_usd`` = ∂V/∂r_f for parallel shifts of the continuously
  compounded zero curves, per unit of rate.
* ``scenario_values`` = ``DF_d·C_i`` = ∂V/∂q_i (the value of the option in scenario i).
* ``d_jumps`` = ∂V/∂J_i at fixed weights (the caller chains it through the measure).

Shapes: options ``[n]``; scenarios ``[m]``; scenario vols ``[m]`` or ``[n, m]`` (a smile
read at each strike); pre-event vols ``[n]`` or ``[n, m]`` (the market's smile read at each
component's own moneyness ``ln(K/(F·J_i))``, so ``v_i = σ_pre,i²·T_e + σ_i²·(T − T_e)``).

**Decision trees.** The components may be a tree's leaves (:mod:`pricing.mixture.tree_tables`):
each option then sees its own cumulative jumps ``J_ℓ(T)`` (``jumps`` ``[n, m]``) and each
component's post-event variance is what its path accrued before the interval the expiry lies
in plus the open segment's, ``a_ℓ + σ_ℓ²·s`` (``OptionBook.accrued_variances`` ``[n, m]``,
``post_times`` then ``s``, the time into that interval; vega's ``∂v/∂σ`` likewise
``2·(σ_pre·T_pre + b_ℓ + σ_ℓ·s)`` with ``accrued_vol_times`` ``b_ℓ``). A flat set accrues
nothing: ``a = b = 0`` and ``s = T − T_e``, today's expression exactly.
The kernel is one fused, compiled loop over option × scenario elements (numba, parallel
over options): a numpy expression of the same maths spends most of its time allocating and
re-reading ``[n, m]`` temporaries (measured 200 ns per element against the compiled loop's
~30; see ``bench/bench_mixture.py``). :func:`pricing.fx.black.black_terms` is the same kernel
written in numpy, and :mod:`pricing.mixture.smiles` the per-component assembly in numpy: the
readable references the tests compare with.

References: DESIGN.md (the model); Garman & Kohlhagen (1983).
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pricing.compiled import njit, prange
from pricing.fx.black import PAYOFF_TABLE

_Floats = npt.NDArray[np.float64]

_INV_SQRT_2PI = 0.3989422804014327
_SQRT_HALF = 0.7071067811865476


@dataclass(frozen=True)
class OptionBook:
    """The options of one request, as arrays of shape ``[n]``.

    Attributes:
        payoffs: :class:`pricing.fx.black.Payoff` codes.
        strikes: K, JPY per USD (> 0).
        forwards: market forward to delivery, JPY per USD.
        discount_factors: JPY discount factor to delivery.
        delivery_times: years ACT/365F to delivery (rates time).
        rates_jpy, rates_usd: continuously compounded zero rates to delivery.
        pre_vols: pre-event vol σ_pre (annualised) used for the part of the life before
            the event (the whole life when ``T ≤ T_e``): ``[n]``, or ``[n, m]`` when each
            scenario's component reads its own (a smile read at ``K/J_i``; before the event
            only column 0 is read).
        pre_times: ``min(T, T_e)`` in years (vol time before the event).
        post_times: ``max(T − T_e, 0)`` in years (vol time after the event); 0 means the
            option expires on or before the event and ignores the scenarios. Under a tree,
            the time since the start of the expiry's interval between decision dates.
        accrued_variances, accrued_vol_times: ``[n, m]`` under a tree, each component's
            ``Σ σ²·length`` and ``Σ σ·length`` accrued after the first decision before the
            expiry's interval (:mod:`pricing.mixture.tree_tables`); None (zeros) for a flat set.
    """

    payoffs: np.ndarray
    strikes: np.ndarray
    forwards: np.ndarray
    discount_factors: np.ndarray
    delivery_times: np.ndarray
    rates_jpy: np.ndarray
    rates_usd: np.ndarray
    pre_vols: np.ndarray
    pre_times: np.ndarray
    post_times: np.ndarray
    accrued_variances: np.ndarray | None = None
    accrued_vol_times: np.ndarray | None = None


@dataclass(frozen=True)
class ScenarioMix:
    """Scenario arrays of shape ``[m]``: weights (sum 1), jump ratios (> 0), vols.

    ``vols`` may also be ``[n, m]``: each scenario's smile read at each option's strike (or,
    under a tree, each leaf's open segment's vol). ``jumps`` may be ``[n, m]``: under a tree,
    each leaf's cumulative jump as of each option's expiry.
    """

    weights: np.ndarray
    jumps: np.ndarray
    vols: np.ndarray


@dataclass(slots=True)  # a fresh result: built per request, slots build ~4× faster than frozen
class MixtureResult:
    """Prices and Greeks, shape ``[n]`` unless noted; JPY per unit of notional."""

    price: np.ndarray
    delta: np.ndarray
    delta_premium_adjusted: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    rho_jpy: np.ndarray
    rho_usd: np.ndarray
    scenario_values: np.ndarray  # [n, m]
    d_jumps: np.ndarray  # [n, m]


@njit(cache=True, inline="always", error_model="numpy")
def _ncdf(z: float) -> float:
    return 0.5 * math.erfc(-z * _SQRT_HALF)


@njit(cache=True, inline="always", error_model="numpy")
def option_mixture(
    i: int,
    payoffs: npt.NDArray[np.int64],
    table: _Floats,
    forwards: _Floats,
    strikes: _Floats,
    dfs: _Floats,
    t_del: _Floats,
    r_d: _Floats,
    r_f: _Floats,
    pre_vols: _Floats,
    pre_times: _Floats,
    post_times: _Floats,
    weights: _Floats,
    jumps: _Floats,
    log_jumps: _Floats,
    jump_row: int,
    vols: _Floats,
    vol_row: int | np.int64,
    accrued: _Floats,
    price: _Floats,
    delta: _Floats,
    gamma_out: _Floats,
    vega: _Floats,
    theta: _Floats,
    rho_d: _Floats,
    rho_f: _Floats,
    scen_values: _Floats,
    d_jumps: _Floats,
    spot: float,
) -> None:
    """Option ``i`` of the kernel's arrays: its price, Greeks and per-scenario values written
    to the outputs (the body of :func:`_kernel_body`'s loop; also called by the book
    valuation of :mod:`pricing.fx.book`, which reads its own inputs per option).

    ``jumps``/``log_jumps`` ``[R, m]`` and ``accrued`` ``[2, R, m]`` (accrued variances,
    accrued vol-times) are read in row ``jump_row``, ``vols`` ``[R', m]`` in row ``vol_row``;
    ``post_times[i]`` is the time into the open segment (``T − T_e`` for a flat set)."""
    m = weights.shape[0]
    pre_stride = 1 if pre_vols.shape[1] > 1 else 0  # [n, 1]: one pre-event vol per option
    f0 = forwards[i]
    k = strikes[i]
    df = dfs[i]
    code = payoffs[i]
    van, ass, csh, g_i, w_i = (
        table[code, 0],
        table[code, 1],
        table[code, 2],
        table[code, 3],
        table[code, 4],
    )
    a_i = van * w_i + ass
    b_i = csh - van * w_i * k
    akb = a_i * k + b_i
    log_fk = math.log(f0 / k)
    after = post_times[i] > 0.0
    acc_v = 0.0
    acc_fcf = 0.0
    acc_ffcff = 0.0
    acc_cv_pre = 0.0  # Σ q·∂C/∂v·σ_pre²: the pre-event variance running off (theta)
    acc_cv_sig = 0.0
    m_eff = m if after else 1
    for j in range(m_eff):
        pre = pre_vols[i, j * pre_stride]
        if after:  # a flat set accrues 0.0: the same arithmetic, bit for bit
            sig = vols[vol_row, j]
            jump = jumps[jump_row, j]
            v = pre * pre * pre_times[i] + (accrued[0, jump_row, j] + sig * sig * post_times[i])
            dv_dsig = 2.0 * (pre * pre_times[i] + (accrued[1, jump_row, j] + sig * post_times[i]))
            x = log_fk + log_jumps[jump_row, j]
            q = weights[j]
        else:
            jump = 1.0
            v = pre * pre * pre_times[i]
            dv_dsig = 2.0 * pre * pre_times[i]
            x = log_fk
            q = 1.0
        f = f0 * jump
        sv = math.sqrt(v)
        d1 = x / sv + 0.5 * sv
        d2 = d1 - sv
        n1 = _ncdf(w_i * d1)
        n2 = _ncdf(w_i * d2)
        pdf2 = _INV_SQRT_2PI * math.exp(-0.5 * d2 * d2)
        c = van * w_i * (f * n1 - k * n2) + ass * f * n1 + csh * n2 + g_i * (f - k)
        fsv = f * sv
        c_f = a_i * n1 + w_i * pdf2 * akb / fsv + g_i
        c_ff = w_i * pdf2 * (a_i * k * sv - akb * d1) / (fsv * fsv)
        c_v = -w_i * pdf2 * (a_i * k * d2 + b_i * d1) / (2.0 * v)
        acc_v += q * c
        acc_fcf += q * c_f * f
        acc_ffcff += q * c_ff * f * f
        acc_cv_pre += q * c_v * pre * pre
        acc_cv_sig += q * c_v * dv_dsig
        if after:
            scen_values[i, j] = df * c
            d_jumps[i, j] = df * q * c_f * f0
    if not after:
        for j in range(m):
            scen_values[i, j] = df * acc_v
            d_jumps[i, j] = 0.0
    value = df * acc_v
    fc_f = df * acc_fcf
    price[i] = value
    delta[i] = fc_f / spot
    gamma_out[i] = df * acc_ffcff / (spot * spot)
    vega[i] = df * acc_cv_sig
    # time passing: DF rolls at r_d, the forward at r_d − r_f, pre-event variance at σ_pre².
    theta[i] = r_d[i] * value - (r_d[i] - r_f[i]) * fc_f - df * acc_cv_pre
    rho_d[i] = t_del[i] * (fc_f - value)
    rho_f[i] = -t_del[i] * fc_f


def _kernel_body(
    payoffs: npt.NDArray[np.int64],
    table: _Floats,
    forwards: _Floats,
    strikes: _Floats,
    dfs: _Floats,
    t_del: _Floats,
    r_d: _Floats,
    r_f: _Floats,
    pre_vols: _Floats,
    pre_times: _Floats,
    post_times: _Floats,
    weights: _Floats,
    jumps: _Floats,
    log_jumps: _Floats,
    vols: _Floats,
    accrued: _Floats,
    price: _Floats,
    delta: _Floats,
    gamma_out: _Floats,
    vega: _Floats,
    theta: _Floats,
    rho_d: _Floats,
    rho_f: _Floats,
    scen_values: _Floats,
    d_jumps: _Floats,
    spot: float,
) -> None:
    # jumps/log_jumps/accrued [1, m] (one row for every option) or [n, m]; vols likewise
    jump_stride = 1 if jumps.shape[0] > 1 else 0
    vol_stride = 1 if vols.shape[0] > 1 else 0
    for i in prange(forwards.shape[0]):
        option_mixture(
            i, payoffs, table, forwards, strikes, dfs, t_del, r_d, r_f, pre_vols, pre_times,
            post_times, weights, jumps, log_jumps, i * jump_stride, vols, i * vol_stride,
            accrued, price, delta, gamma_out, vega, theta, rho_d, rho_f, scen_values, d_jumps,
            spot,
        )  # fmt: skip


# Threads pay off for big books only: waking the pool costs more than pricing a handful of
# options (measured ~2 ms under load for one option against ~5 µs serial).
# numba names its on-disk cache after the Python function, so each compilation gets its own
# function object (same code, own name); sharing one made both load the same cached binary.
def _renamed(name: str) -> Any:
    clone = types.FunctionType(_kernel_body.__code__, _kernel_body.__globals__, name)
    clone.__qualname__ = name
    return clone


# error_model="numpy": x/0 gives ±inf or NaN as in numpy (the caller refuses non-finite
# results by name) instead of raising ZeroDivisionError from inside the loop
_kernel_parallel = njit(parallel=True, cache=True, error_model="numpy")(
    _renamed("_kernel_parallel")
)
_kernel_serial = njit(parallel=False, cache=True, error_model="numpy")(_renamed("_kernel_serial"))
PARALLEL_THRESHOLD = 4096


def mixture_greeks(*, book: OptionBook, mix: ScenarioMix, spot: float) -> MixtureResult:
    """Mixture price, Greeks and per-scenario values for every option of ``book``.

    Args:
        book: option arrays ``[n]`` (``pre_vols`` may be ``[n, m]``; a tree's accrued
            variances and vol-times ``[n, m]``).
        mix: scenario arrays ``[m]`` (``vols`` and ``jumps`` may be ``[n, m]``).
        spot: S0, JPY per USD (for value on the valuation date).

    Returns:
        :class:`MixtureResult`.
    """
    n = book.strikes.shape[0]
    m = mix.weights.shape[0]
    vols = np.ascontiguousarray(np.atleast_2d(np.asarray(mix.vols, dtype=float)))
    pre_vols = np.asarray(book.pre_vols, dtype=float)
    pre_vols = np.ascontiguousarray(pre_vols[:, None] if pre_vols.ndim == 1 else pre_vols)
    outs = [np.empty(n) for _ in range(7)]
    scen_values = np.empty((n, m))
    d_jumps = np.empty((n, m))
    f64 = [
        np.ascontiguousarray(a, dtype=float)
        for a in (
            book.forwards,
            book.strikes,
            book.discount_factors,
            book.delivery_times,
            book.rates_jpy,
            book.rates_usd,
            book.pre_times,
            book.post_times,
            mix.weights,
        )
    ]
    jumps = np.ascontiguousarray(np.atleast_2d(np.asarray(mix.jumps, dtype=float)))
    logs = np.log(jumps)
    accrued = np.zeros((2, *jumps.shape))
    for row, values in enumerate((book.accrued_variances, book.accrued_vol_times)):
        if values is not None:
            accrued[row] = values
    kernel = _kernel_parallel if n >= PARALLEL_THRESHOLD else _kernel_serial
    codes = np.ascontiguousarray(book.payoffs, dtype=np.int64)
    forwards, strikes, dfs, t_del, r_d, r_f, pre_times, post_times, weights = f64
    kernel(
        codes, PAYOFF_TABLE, forwards, strikes, dfs, t_del, r_d, r_f, pre_vols, pre_times,
        post_times, weights, jumps, logs, vols, accrued, *outs, scen_values, d_jumps,
        float(spot),
    )  # fmt: skip
    price, delta, gamma, vega, theta, rho_jpy, rho_usd = outs
    return MixtureResult(
        price=price,
        delta=delta,
        delta_premium_adjusted=delta - price / spot,
        gamma=gamma,
        vega=vega,
        theta=theta,
        rho_jpy=rho_jpy,
        rho_usd=rho_usd,
        scenario_values=scen_values,
        d_jumps=d_jumps,
    )
