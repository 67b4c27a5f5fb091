"""The smile's slope in digital prices: the term a Black kernel on total variance leaves out.

Conventions: forwards and strikes in JPY per USD; vols annualised decimals; times in years
ACT/365F; premiums in JPY per unit of notional (per JPY of payout for JPY digitals, per USD
for USD digitals); Greeks as in :mod:`pricing.mixture.european`.

A cash-or-nothing digital is minus the strike derivative of a call, ``D(K) = −dC/dK``. When a
mixture component's total variance depends on the strike, ``v_i = v_i(K)`` (a smile),

    −dC_i/dK = −∂C_i/∂K|_v − ∂C_i/∂v · dv_i/dK.

The kernel of :mod:`pricing.mixture.european` prices the first term (Black's ``N(ω·d2)``) at
``v_i(K)``; this module prices the second::

    A_i = −ω·s·∂C_i^vanilla/∂v · u_i,    ∂C^vanilla/∂v = K·n(d2)/(2√v),
    u_i = dv_i/dK = 2σ_pre·σ_pre'·T_pre + 2σ_i·σ_i'·T_post,

with ``s = 1`` for a digital paying 1 JPY and ``s = K`` for one paying 1 USD (an
asset-or-nothing claim, ``C + K·D``, whose strike derivative of the call part cancels), and
``σ' = dσ/dK`` the smiles' slopes at the strike. Vanillas and forwards get 0. The digital is
then exactly ``−dC/dK`` of the smile-priced call (see the tests: a finite difference of call
prices in strike).

Greeks hold each vol and vol slope at the strike fixed (sticky strike), as the kernel does:
``delta``/``gamma`` move ``F`` only; ``vega`` shifts every vol in parallel (slopes unchanged,
so ``u`` moves by ``2σ_pre'·T_pre + 2σ_i'·T_post``); ``theta`` runs the pre-event time off
(``v`` falls at ``σ_pre²``, ``u`` at ``2σ_pre·σ_pre'``); rhos through ``DF`` and ``F``. In
terms of ``A = c·n(d2)/√v`` with ``d2 = ln(f/K)/√v − √v/2``, ``f = F·J``::

    f·∂A/∂f = −A·d2/√v,   f²·∂²A/∂f² = A·((d2² − 1)/v + d2/√v),   ∂A/∂v = A·(d1·d2 − 1)/(2v).

:func:`digital_slope_terms` is the term in numpy over a book; :func:`option_slope_term` the
same arithmetic for one option, compiled into the book valuation of :mod:`pricing.fx.book`
(numba keys that kernel's disk cache on the contents of ``book.py`` alone: after editing this
function, delete ``pricing/fx/__pycache__/book._fx_book_*`` or the old build is loaded).

References: Breeden & Litzenberger (1978); Clark, *Foreign Exchange Option Pricing* (2011),
§3.9 (digitals off a smile); Wystup, *FX Options and Structured Products* (2006), §1.5.
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import numpy.typing as npt

from pricing.compiled import njit
from pricing.fx.black import payoff_coefficients
from pricing.mixture.european import MixtureResult, OptionBook, ScenarioMix

_INV_SQRT_2PI = 0.3989422804014327
_Floats = npt.NDArray[np.float64]


def _per_scenario(values: np.ndarray | None, n: int, m: int) -> np.ndarray:
    """Scenario values ``[m]`` or ``[n, m]`` (None: zeros) as ``[n, m]``."""
    if values is None:
        return np.zeros((n, m))
    return np.broadcast_to(np.atleast_2d(np.asarray(values, dtype=float)), (n, m))


def _per_component(values: np.ndarray, n: int, m: int) -> np.ndarray:
    """Pre-event values ``[n]`` (one per option) or ``[n, m]`` as ``[n, m]``."""
    values = np.asarray(values, dtype=float)
    return np.broadcast_to(values[:, None] if values.ndim == 1 else values, (n, m))


def digital_slope_terms(
    *,
    book: OptionBook,
    mix: ScenarioMix,
    pre_vol_slopes: np.ndarray,
    vol_slopes: np.ndarray | None,
    spot: float,
    pre_vols: np.ndarray | None = None,
) -> MixtureResult:
    """The slope term's price and Greeks, to add to :func:`pricing.mixture.european.mixture_greeks`.

    Args:
        book: the options ``[n]``; ``pre_vols`` are the pre-event vols at each strike (a
            tree's accrued variances and vol-times ``[n, m]``, see
            :class:`pricing.mixture.european.OptionBook`).
        mix: weights ``[m]``; jumps ``[m]`` or a tree's ``[n, m]``; ``vols`` ``[m]`` or
            ``[n, m]`` at each strike.
        pre_vol_slopes: ``dσ_pre/dK`` at each strike, ``[n]`` or per component ``[n, m]``,
            per JPY of strike.
        vol_slopes: ``dσ_i/dK`` ``[n, m]`` (or ``[m]``; None: flat post-event smiles).
        spot: S0, JPY per USD.
        pre_vols: per-component pre-event vols ``[n, m]`` overriding ``book.pre_vols``
            (:mod:`pricing.mixture.smiles`).

    Returns:
        A :class:`pricing.mixture.european.MixtureResult` holding only the slope term (zeros for
        vanillas, forwards and wherever the smiles are flat).
    """
    n, m = book.strikes.shape[0], mix.weights.shape[0]
    c = payoff_coefficients(payoffs=book.payoffs, strikes=book.strikes).expanded()
    strikes = book.strikes[:, None]
    scale = -c.omega * (c.cash + c.asset * strikes) * strikes / 2.0  # −ω·s·K/2
    after = (book.post_times > 0)[:, None]
    t_pre, t_post = book.pre_times[:, None], book.post_times[:, None]
    pre_vol = _per_component(book.pre_vols if pre_vols is None else pre_vols, n, m)
    pre_slope = _per_component(pre_vol_slopes, n, m)
    # an option expiring on or before the event has one component: no jump, weight 1
    first = np.arange(m)[None, :] == 0
    jumps = np.where(after, _per_scenario(mix.jumps, n, m), 1.0)
    weights = np.where(after, mix.weights[None, :], np.where(first, 1.0, 0.0))
    vols = np.where(after, _per_scenario(mix.vols, n, m), 0.0)
    slopes = np.where(after, _per_scenario(vol_slopes, n, m), 0.0)
    accrued_var = np.where(after, _per_scenario(book.accrued_variances, n, m), 0.0)
    accrued_vol = np.where(after, _per_scenario(book.accrued_vol_times, n, m), 0.0)
    v = pre_vol * pre_vol * t_pre + (accrued_var + vols * vols * t_post)
    u = 2.0 * (pre_vol * pre_slope * t_pre + vols * slopes * t_post)
    root_v = np.sqrt(v)
    d1 = (np.log(book.forwards / book.strikes)[:, None] + np.log(jumps)) / root_v + 0.5 * root_v
    d2 = d1 - root_v
    a_u = scale * _INV_SQRT_2PI * np.exp(-0.5 * d2 * d2) / root_v  # ∂A/∂u
    a = a_u * u
    f_a_f = -a * d2 / root_v
    ff_a_ff = a * ((d2 * d2 - 1.0) / v + d2 / root_v)
    a_v = a * (d1 * d2 - 1.0) / (2.0 * v)
    dv_dsigma = 2.0 * (pre_vol * t_pre + (accrued_vol + vols * t_post))
    du_dsigma = 2.0 * (pre_slope * t_pre + slopes * t_post)
    df = book.discount_factors
    value = df * np.sum(weights * a, axis=1)
    fc_f = df * np.sum(weights * f_a_f, axis=1)
    run_off = pre_vol * pre_vol * a_v + 2.0 * pre_vol * pre_slope * a_u
    r_d, r_f = book.rates_jpy, book.rates_usd
    delta = fc_f / spot
    return MixtureResult(
        price=value,
        delta=delta,
        delta_premium_adjusted=delta - value / spot,
        gamma=df * np.sum(weights * ff_a_ff, axis=1) / (spot * spot),
        vega=df * np.sum(weights * (a_v * dv_dsigma + a_u * du_dsigma), axis=1),
        theta=r_d * value - (r_d - r_f) * fc_f - df * np.sum(weights * run_off, axis=1),
        rho_jpy=book.delivery_times * (fc_f - value),
        rho_usd=-book.delivery_times * fc_f,
        scenario_values=np.where(after, df[:, None] * a, value[:, None]),
        d_jumps=np.where(after, df[:, None] * weights * f_a_f / jumps, 0.0),
    )


def add_results(first: MixtureResult, second: MixtureResult) -> MixtureResult:
    """Field-by-field sum of two results (every field is linear in the price)."""
    return MixtureResult(
        **{f.name: getattr(first, f.name) + getattr(second, f.name) for f in fields(first)}
    )


@njit(cache=True, inline="always", error_model="numpy")
def option_slope_term(
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
    pre_slopes: _Floats,
    pre_times: _Floats,
    post_times: _Floats,
    weights: _Floats,
    leaves: _Floats,
    jump_row: int,
    vols: _Floats,
    vol_row: int | np.int64,
    vol_slopes: _Floats,
    price: _Floats,
    delta: _Floats,
    delta_pa: _Floats,
    gamma: _Floats,
    vega: _Floats,
    theta: _Floats,
    rho_d: _Floats,
    rho_f: _Floats,
    scen_values: _Floats,
    d_jumps: _Floats,
    spot: float,
) -> None:
    """Option ``i``'s slope term added to the outputs :func:`pricing.mixture.european.
    option_mixture` wrote (its ``delta_pa`` too), in the order of :func:`digital_slope_terms`.

    ``table`` is :data:`pricing.fx.black.PAYOFF_TABLE`; ``pre_vols``/``pre_slopes`` ``[n, 1]``
    or per component ``[n, m]``; ``vols`` read in row ``vol_row``, ``vol_slopes`` ``[1, m]``
    or ``[n, m]`` (slopes per JPY of strike, zeros for flat smiles); ``leaves`` ``[5, R, m]``
    (cumulative jumps, their logs, unused, accrued variances and vol-times: a tree's, see
    :func:`pricing.mixture.european.option_mixture`; numba inlines at most 30 arguments) in
    row ``jump_row``. Before the event
    (``post_times[i] == 0``) one component: no jump, weight 1, column 0 of the pre-event
    arrays. A vanilla or forward adds exactly 0 (the caller may skip it).
    """
    m = weights.shape[0]
    slope_row_stride = 1 if vol_slopes.shape[0] > 1 else 0
    pre_stride = 1 if pre_vols.shape[1] > 1 else 0
    slope_stride = 1 if pre_slopes.shape[1] > 1 else 0
    k = strikes[i]
    code = payoffs[i]
    scale = -table[code, 4] * (table[code, 2] + table[code, 1] * k) * k / 2.0  # −ω·s·K/2
    t_pre = pre_times[i]
    t_post = post_times[i]
    after = t_post > 0.0
    log_fk = math.log(forwards[i] / k)
    df = dfs[i]
    acc_a = 0.0
    acc_faf = 0.0
    acc_ffaff = 0.0
    acc_vega = 0.0
    acc_run_off = 0.0
    for j in range(m if after else 1):
        pre_vol = pre_vols[i, j * pre_stride]
        pre_slope = pre_slopes[i, j * slope_stride]
        if after:
            weight = weights[j]
            jump = leaves[0, jump_row, j]
            log_jump = leaves[1, jump_row, j]
            vol = vols[vol_row, j]
            slope = vol_slopes[i * slope_row_stride, j]
            accrued_var = leaves[3, jump_row, j]
            accrued_vol = leaves[4, jump_row, j]
        else:
            weight = 1.0
            jump = 1.0
            log_jump = 0.0
            vol = 0.0
            slope = 0.0
            accrued_var = 0.0
            accrued_vol = 0.0
        v = pre_vol * pre_vol * t_pre + (accrued_var + vol * vol * t_post)
        u = 2.0 * (pre_vol * pre_slope * t_pre + vol * slope * t_post)
        root_v = math.sqrt(v)
        d1 = (log_fk + log_jump) / root_v + 0.5 * root_v
        d2 = d1 - root_v
        a_u = scale * _INV_SQRT_2PI * math.exp(-0.5 * d2 * d2) / root_v  # ∂A/∂u
        a = a_u * u
        f_a_f = -a * d2 / root_v
        ff_a_ff = a * ((d2 * d2 - 1.0) / v + d2 / root_v)
        a_v = a * (d1 * d2 - 1.0) / (2.0 * v)
        dv_dsigma = 2.0 * (pre_vol * t_pre + (accrued_vol + vol * t_post))
        du_dsigma = 2.0 * (pre_slope * t_pre + slope * t_post)
        acc_a += weight * a
        acc_faf += weight * f_a_f
        acc_ffaff += weight * ff_a_ff
        acc_vega += weight * (a_v * dv_dsigma + a_u * du_dsigma)
        acc_run_off += weight * (pre_vol * pre_vol * a_v + 2.0 * pre_vol * pre_slope * a_u)
        if after:
            scen_values[i, j] += df * a
            d_jumps[i, j] += df * weight * f_a_f / jump
    value = df * acc_a
    fc_f = df * acc_faf
    if not after:
        for j in range(m):
            scen_values[i, j] += value
    slope_delta = fc_f / spot
    price[i] += value
    delta[i] += slope_delta
    delta_pa[i] += slope_delta - value / spot
    gamma[i] += df * acc_ffaff / (spot * spot)
    vega[i] += df * acc_vega
    theta[i] += r_d[i] * value - (r_d[i] - r_f[i]) * fc_f - df * acc_run_off
    rho_d[i] += t_del[i] * (fc_f - value)
    rho_f[i] += -t_del[i] * fc_f
