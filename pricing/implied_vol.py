"""Black implied volatility for whole arrays of options: Jäckel's "Let's Be Rational" in numpy.

A premium is reduced to the normalised out-of-the-money call price (Jäckel 2015)::

    b(x, s) = e^{x/2}·Φ(x/s + s/2) − e^{−x/2}·Φ(x/s − s/2),   x = −|ln(F/K)| ≤ 0,  s = σ√T,

by subtracting the intrinsic value (parity turns an in-the-money option into the
out-of-the-money one on the other side) and dividing by ``DF·√(FK)``. ``s`` comes from a
rational-cubic guess in one of four branches (two of them on transformed axes: a lower map
for tiny prices, an upper map near the bound ``e^{x/2}``), polished by two third-order
Householder steps on the objective that is well conditioned there: ``1/ln b`` lowest, ``b``
in the middle, ``ln(e^{x/2} − b)`` at the top; two more steps only where the second one was
still large. No Python loop runs over options: each branch is a few array operations on the
elements that fall in it, block by block (and blocks on a small thread pool for big batches).

``b`` itself never subtracts nearly equal numbers: an asymptotic series deep out of the
money, a small-``t`` series, the ``erfcx`` form and, near the bound, plain Φ differences.

Conventions: forwards and strikes in JPY per USD; expiries in years ACT/365F; premiums are
discounted (``DF × Black``) in JPY per USD of notional; vols annualised decimals.

Accuracy: the vol reproduces the premium to a few ulps, so its error is about
``ε·premium/vega`` plus ~1e-15 — below 1e-12 out of the money and wherever an in-the-money
time value is not drowned in the rounding of the intrinsic value. Deep in the money at short
expiries and low vols the premium does not hold the vol to 1e-12; that is the input's
precision, not the solver's (see the tests).

References: Jäckel, P., "Let's Be Rational", Wilmott (2015) 40–53, and its reference code;
Delbourgo & Gregory, "Shape preserving piecewise rational interpolation", SIAM J. Sci. Stat.
Comput. 6 (1985); Abramowitz & Stegun 26.2.12.
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.special import erfcx, ndtr, ndtri

OK = 0
BELOW_INTRINSIC = 1
ABOVE_UPPER_BOUND = 2
NO_TIME_VALUE = 3
BAD_INPUT = 4
NOT_CONVERGED = 5

_EPS = float(np.finfo(float).eps)
_TINY = float(np.finfo(float).tiny)
_INV_SQRT_2PI = 0.3989422804014327
_SQRT_2PI = 2.5066282746310002
_SQRT_HALF = 0.7071067811865476
_SQRT_3 = 1.7320508075688772
_TAU_SMALL_T = 2.0 * _EPS**0.0625  # t = s/2 below this: small-t expansion (Jäckel §3)
_ETA_DEEP = -10.0  # h + t below about this: asymptotic series (Jäckel §3)
_R_MIN = -(1.0 - np.sqrt(_EPS))
_R_MAX = 2.0 / (_EPS * _EPS)
_LOWER, _MIDDLE, _UPPER = 0, 1, 2
_INTRINSIC_ULPS = 8.0  # ITM time value within this many ulps of max(F, K): no vol in it
_CHUNK = 32768  # elements per block: the temporaries of a block stay in cache


@dataclass(frozen=True)
class ImpliedVols:
    """Implied Black vols with per-element outcome.

    Attributes:
        vols: annualised vols, broadcast shape; 0.0 where not converged (never NaN).
        converged: bool mask, True where ``status == OK``.
        status: int8 codes: ``OK``, ``BELOW_INTRINSIC``, ``ABOVE_UPPER_BOUND``,
            ``NO_TIME_VALUE`` (premium indistinguishable from intrinsic in double precision,
            or normalised time value below the smallest normal double), ``BAD_INPUT``
            (non-finite input, or non-positive forward/strike/expiry/discount factor),
            ``NOT_CONVERGED`` (the iteration did not settle: a safeguard, never seen in the
            tests nor in a stress of 10⁶ options with |ln F/K| ≤ 6, 1e-5 ≤ σ√T ≤ 20).
    """

    vols: np.ndarray
    converged: np.ndarray
    status: np.ndarray


def _series_table() -> tuple[np.ndarray, np.ndarray]:
    """Coefficient matrices of the two expansions of ``Y(h+t) − Y(h−t)``, ``Y = Φ/φ``.

    Small t (Jäckel 2015, §3, to 12th order in t): ``Σ_k w^k (P_k(g) + a·Q_k(g)) / (2k+1)!``
    with ``w = t², g = h², a = 1 + h·Y(h)``; row k of the first matrix holds P_k then Q_k
    against powers of g. Large −h (A&S 26.2.12 inserted into the difference):
    ``2·Σ_k (−1)^k (2k−1)!! q^k Σ_j C(2k+1, 2j+1) e^j`` in ``q = (h/r)², e = (t/h)²``,
    ``r = h² − t²``; row k of the second matrix holds the coefficients of e^j.
    """
    p = ([], [-1], [-7, -1], [-57, -18, -1], [-561, -285, -33, -1],
         [-6555, -4680, -840, -52, -1], [-89055, -82845, -20370, -1926, -75, -1])  # fmt: skip
    q = ([1], [3, 1], [15, 10, 1], [105, 105, 21, 1], [945, 1260, 378, 36, 1],
         [10395, 17325, 6930, 990, 55, 1],
         [135135, 270270, 135135, 25740, 2145, 78, 1])  # fmt: skip
    small = np.zeros((14, 7))
    for k in range(7):
        small[k, : len(p[k])] = np.array(p[k]) / math.factorial(2 * k + 1)
        small[7 + k, : len(q[k])] = np.array(q[k]) / math.factorial(2 * k + 1)
    deep = np.zeros((18, 18))
    for k in range(18):
        double_factorial = math.prod(range(1, 2 * k, 2))
        for j in range(k + 1):
            deep[k, j] = 2.0 * (-1) ** k * double_factorial * math.comb(2 * k + 1, 2 * j + 1)
    return small, deep


_SMALL_T_TABLE, _DEEP_TABLE = _series_table()


def _powers(v: np.ndarray, m: int) -> np.ndarray:
    """Rows ``v⁰ … v^{m−1}`` as an ``[m, n]`` array."""
    out = np.empty((m, v.size))
    out[0] = 1.0
    out[1] = v
    for j in range(2, m):
        np.multiply(out[j - 1], v, out=out[j])
    return out


def _horner(coefficients: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``Σ_j c_j v^j`` for ascending ``coefficients`` (≥ 2 of them), in place."""
    out = coefficients[-1] * v
    for c in coefficients[-2:0:-1]:
        out += c
        out *= v
    out += coefficients[0]
    return out


def _small_t_black(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``b`` for ``t < 0.21``, ``−10 < h ≤ 0`` from the small-t series (see ``_series_table``)."""
    a = 1.0 + h * (0.5 * _SQRT_2PI) * erfcx(-_SQRT_HALF * h)
    g = h * h
    w = t * t
    table = _SMALL_T_TABLE
    e = a * _horner(table[13], g)  # Horner in w over the terms P_k(g) + a·Q_k(g), k = 6 … 0
    e += _horner(table[6, :6], g)
    for k in range(5, 0, -1):
        e *= w
        e += a * _horner(table[7 + k, : k + 1], g)
        e += _horner(table[k, :k], g) if k > 1 else table[1, 0]
    e *= w
    e += a
    return (2.0 * _INV_SQRT_2PI) * t * np.exp(-0.5 * (g + w)) * e


def _deep_black(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``b`` for ``h + t < −9.8`` from the asymptotic series (see ``_series_table``)."""
    e = t / h
    e = e * e
    r = (h + t) * (h - t)
    q = h / r
    q = q * q
    total = np.einsum("kn,kn->n", _powers(q, 18), _DEEP_TABLE @ _powers(e, 18))
    return _INV_SQRT_2PI * np.exp(-0.5 * (h * h + t * t)) * (t / r) * total


def _erfcx_black(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``b = ½e^{−(h²+t²)/2}·(erfcx(−(h+t)/√2) − erfcx(−(h−t)/√2))``: one exponential."""
    return (0.5 * np.exp(-0.5 * (h * h + t * t))) * (
        erfcx(-_SQRT_HALF * (h + t)) - erfcx(-_SQRT_HALF * (h - t))
    )


def _bound_black(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``b = Φ(h+t)·e^{ht} − Φ(h−t)·e^{−ht}`` (x/2 = h·t), for ``h + t > 0.85``."""
    half_x = h * t
    return ndtr(h + t) * np.exp(half_x) - ndtr(h - t) * np.exp(-half_x)


def _otm_black(x: np.ndarray, s: np.ndarray, *, exact: bool = True) -> np.ndarray:
    """Normalised out-of-the-money call ``b(x, s)`` for 1-D ``x ≤ 0`` and ``s > 0``."""
    return _otm_black_ht(x / s, 0.5 * s, exact=exact)


def _otm_black_ht(h: np.ndarray, t: np.ndarray, *, exact: bool = True) -> np.ndarray:
    """``b`` from ``h = x/s ≤ 0`` and ``t = s/2 > 0`` in Jäckel's four regions.

    Asymptotic series deep out of the money, small-t series, the erfcx form, and the plain
    Φ difference where ``b`` is most of its bound ``e^{x/2}``. With ``exact=False`` the
    erfcx form stands in for the small-t series (a third cheaper; relative error
    ~ε·(1 + |h|)/t instead of a few ε), good enough for a guess or a first step.
    """
    deep = (h < _ETA_DEEP) & (h + t < _ETA_DEEP + _TAU_SMALL_T)
    small = (t < _TAU_SMALL_T) & ~deep if exact else np.zeros(h.shape, dtype=bool)
    near_bound = h + t > 0.85
    regions = (
        (deep, _deep_black),
        (small, _small_t_black),
        (near_bound, _bound_black),
        (~(deep | small | near_bound), _erfcx_black),
    )
    out = np.empty_like(h)
    for mask, formula in regions:
        i = np.flatnonzero(mask)
        if i.size == h.size:
            return formula(h, t)
        if i.size:
            out[i] = formula(h[i], t[i])
    return out


def _vega(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``∂b/∂s = φ(x/s + s/2)·e^{x/2} = e^{−(x²/s² + s²/4)/2}/√(2π)``."""
    h = x / s
    return _INV_SQRT_2PI * np.exp(-0.5 * (h * h + 0.25 * s * s))


def normalised_black(
    *, log_moneyness: np.ndarray, std_devs: np.ndarray, is_call: np.ndarray
) -> np.ndarray:
    """Normalised Black price ``b = premium / (DF·√(FK))``, accurate deep out of the money.

    ``b = θ·(e^{x/2}·Φ(θ(x/s + s/2)) − e^{−x/2}·Φ(θ(x/s − s/2)))`` with ``x = ln(F/K)``,
    ``s = σ√T`` (``std_devs``, ≥ 0; 0 gives the intrinsic value) and θ = +1 for calls.
    Arrays broadcast. Relative accuracy a few ε, or ε·(h² + s²/4)/2 with ``h = x/s`` where
    that exponent is large: the rounding of ``x`` and ``s`` themselves, amplified.

    References: Jäckel, "Let's Be Rational" (2015), §2–3.
    """
    x, s, call = np.broadcast_arrays(
        np.asarray(log_moneyness, dtype=float),
        np.asarray(std_devs, dtype=float),
        np.asarray(is_call, dtype=bool),
    )
    theta_x = np.where(call, x, -x)  # b(x, s, put) = b(−x, s, call)
    out = np.where(theta_x > 0.0, 2.0 * np.sinh(0.5 * np.abs(x)), 0.0)
    live = np.flatnonzero(~(s <= 0.0))  # NaN goes through, and comes out NaN
    out.reshape(-1)[live] += _otm_black(-np.abs(x.reshape(-1)[live]), s.reshape(-1)[live])
    return out


def _rational_cubic(x, x_l, x_r, y_l, y_r, d_l, d_r, r) -> np.ndarray:
    """Delbourgo–Gregory rational cubic through (x_l, y_l), (x_r, y_r) with end slopes d.

    Control ``r`` ≥ ``_R_MAX`` (or inf) means the straight line. Runs under ``errstate``.
    """
    h = x_r - x_l
    t = (x - x_l) / h
    omt = 1.0 - t
    cubic = (
        y_r * t * t * t
        + (r * y_r - h * d_r) * t * t * omt
        + (r * y_l + h * d_l) * t * omt * omt
        + y_l * omt * omt * omt
    ) / (1.0 + (r - 3.0) * t * omt)
    return np.where(r >= _R_MAX, y_r * t + y_l * omt, cubic)


def _control(x_l, x_r, y_l, y_r, d_l, d_r, second, *, right: bool, shape: bool) -> np.ndarray:
    """Control parameter fitting ``second`` derivative at one end, floored for shape.

    The floor keeps the cubic monotone, and convex or concave where the data are (D&G
    (3.8), (3.18)); ``shape`` prefers that to smoothness where the slopes are degenerate.
    Divisions by zero give ±inf, i.e. the straight line; NaNs are dropped by ``fmax``.
    """
    h = x_r - x_l
    slope = (y_r - y_l) / h
    r = (0.5 * h * second + (d_r - d_l)) / (d_r - slope if right else slope - d_l)
    monotonic = (d_l * slope >= 0.0) & (d_r * slope >= 0.0)
    curved = (d_l - slope) * (d_r - slope) <= 0.0  # convex or concave
    r1 = np.where(monotonic, (d_r + d_l) / slope, -np.inf)
    d = d_r - d_l
    r2 = np.fmax(np.abs(d / (d_r - slope)), np.abs(d / (slope - d_l)))
    r2 = np.where(curved, r2, np.where(monotonic, _R_MAX if shape else -np.inf, -np.inf))
    return np.fmax(r, np.fmax(_R_MIN, np.fmax(r1, r2)))


def _lower_guess(beta, x, s_l, b_l) -> np.ndarray:
    """Guess below ``b_l``: interpolate ``f = 2π|x|/√27·Φ(−|x|/(√3 s))³``, then invert it."""
    ax = -x
    z = ax / (_SQRT_3 * s_l)
    y = z * z
    s2 = s_l * s_l
    cdf = ndtr(-z)
    phi_ratio = cdf * _SQRT_2PI * np.exp(0.5 * y)  # Φ(−z)/φ(z)
    f_l = (2.0 * np.pi / np.sqrt(27.0)) * ax * (cdf * cdf * cdf)
    growth = np.exp(y + 0.125 * s2)
    fp_l = 2.0 * np.pi * y * cdf * cdf * growth
    fpp_l = (np.pi / 6.0) * y / (s2 * s_l) * cdf * (
        8.0 * _SQRT_3 * s_l * ax + (3.0 * s2 * (s2 - 8.0) - 8.0 * x * x) * phi_ratio
    ) * (growth * growth)  # fmt: skip
    r = _control(0.0, b_l, 0.0, f_l, 1.0, fp_l, fpp_l, right=True, shape=True)
    f = _rational_cubic(beta, 0.0, b_l, 0.0, f_l, 1.0, fp_l, r)
    u = beta / b_l
    f = np.where(f > 0.0, f, (f_l * u + b_l * (1.0 - u)) * u)  # roundoff at extreme |x|
    q = np.cbrt(f / ((2.0 * np.pi / np.sqrt(27.0)) * ax))
    return np.abs(x / (_SQRT_3 * ndtri(q)))


def _upper_guess(beta, x, b_max, s_u, b_u) -> np.ndarray:
    """Guess above ``b_u``: interpolate ``f = Φ(−s/2)`` towards ``(b_max, 0)``, invert it."""
    w = x / s_u
    w = w * w
    f_u = ndtr(-0.5 * s_u)
    fp_u = -0.5 * np.exp(0.5 * w)
    fpp_u = np.sqrt(0.5 * np.pi) * np.exp(w + 0.125 * s_u * s_u) * w / s_u
    r = _control(b_u, b_max, f_u, 0.0, fp_u, -0.5, fpp_u, right=False, shape=True)
    f = _rational_cubic(beta, b_u, b_max, f_u, 0.0, fp_u, -0.5, r)
    width = b_max - b_u
    u = (beta - b_u) / width
    f = np.where(f > 0.0, f, (f_u * (1.0 - u) + 0.5 * width * u) * (1.0 - u))
    return -2.0 * ndtri(f)


def _householder(beta, x, b_max, s, objective: int, iterations: int, *, final: bool = False):
    """``iterations`` third-order Householder steps on one objective; returns (s, last ds).

    With ``ν = −g/g'``, ``η = g''/g'``, ``ι = g'''/g'`` the step is
    ``ν·(1 + ην/2) / (1 + ν(η + ιν/6))`` (Jäckel 2015, §4); ``b''/b' = h²/s − s/4`` and
    ``b'''/b' = (b''/b')² − 3h²/s² − 1/4`` in closed form. Only the last step (all of them
    if ``final``) needs ``b`` to full precision: the fixed point is where that one lands.
    """
    ln_beta = np.log(beta) if objective == _LOWER else None
    gap = b_max - beta if objective == _UPPER else None
    ds = np.zeros_like(s)
    for step in range(iterations):
        h = x / s
        t = 0.5 * s
        if objective != _UPPER:
            b = _otm_black_ht(h, t, exact=final or step == iterations - 1)
        h2 = h * h
        bp = _INV_SQRT_2PI * np.exp(-0.5 * (h2 + t * t))
        halley = h2 / s - 0.5 * t  # b''/b'
        hh3 = halley * halley - 3.0 * h2 / (s * s) - 0.25  # b'''/b'
        if objective == _LOWER:  # g = 1/ln b − 1/ln β
            inv_ln_b = 1.0 / np.log(np.maximum(b, _TINY))
            bpob = bp / b
            c = bpob * (1.0 + 2.0 * inv_ln_b)
            newton = (inv_ln_b * ln_beta - 1.0) / (ln_beta * inv_ln_b * inv_ln_b * bpob)
            hh3 += 2.0 * bpob * bpob * (1.0 + 3.0 * inv_ln_b * (1.0 + inv_ln_b)) - 3.0 * halley * c
            halley -= c
        elif objective == _UPPER:  # g = ln(b_max − β) − ln(b_max − b)
            # b_max − b = e^{x/2}Φ(−h−t) + e^{−x/2}Φ(h−t), summed rather than subtracted
            rest = np.exp(h * t) * ndtr(-h - t) + np.exp(-h * t) * ndtr(h - t)
            gp = bp / rest
            newton = -np.log(gap / rest) / gp
            hh3 += gp * (2.0 * gp + 3.0 * halley)
            halley += gp
        else:  # g = b − β
            newton = (beta - b) / bp
        ds = newton * (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton / 6))
        np.maximum(ds, -0.5 * s, out=ds)
        s = s + ds
    return s, ds


def _polish(beta, x, b_max, s, objective: int) -> tuple[np.ndarray, np.ndarray]:
    """Two Householder steps for all; two more where the second step was still large."""
    s = np.where((s > 0.0) & (s < np.inf), s, np.sqrt(-2.0 * x) + 1.0)  # a guess gone wrong
    s, ds = _householder(beta, x, b_max, s, objective, 2)
    slow = np.flatnonzero(~(np.abs(ds) <= 1e-6 * s))
    if slow.size:
        s_slow, ds_slow = _householder(
            beta[slow], x[slow], b_max[slow], s[slow], objective, 2, final=True
        )
        s[slow], ds[slow] = s_slow, ds_slow
    return s, (np.abs(ds) <= 1e-6 * s) & (s > 0.0) & np.isfinite(s)


def _normalised_vol(beta: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``s`` with ``b(x, s) = beta`` for 1-D ``x ≤ 0``, ``0 < beta < e^{x/2}``; and a mask.

    Jäckel's four branches, split at ``b_c = b(x, s_c)`` (``s_c = √(2|x|)``, the inflexion
    point) and at ``b_l``/``b_u``, where the tangent at ``s_c`` meets 0 and ``b_max``.
    Runs under ``errstate``: degenerate interpolation data give ±inf (straight lines) and
    anything non-finite that survives ends as a False in the mask, never as a warning.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        b_max = np.exp(0.5 * x)
        s_c = np.sqrt(-2.0 * x)
        b_c = 0.5 * b_max - ndtr(-s_c) / b_max  # b(x, s_c): h + t = 0 there
        v_c = _INV_SQRT_2PI * b_max  # vega at s_c
        s = np.empty_like(beta)
        ok = np.empty(beta.shape, dtype=bool)
        below = beta < b_c
        for lower in (True, False):
            i = np.flatnonzero(below if lower else ~below)
            if i.size:
                s[i], ok[i] = _half(lower, *(a[i] for a in (beta, x, b_max, s_c, b_c, v_c)))
    return s, ok


def _half(lower: bool, beta, x, b_max, s_c, b_c, v_c) -> tuple[np.ndarray, np.ndarray]:
    """Guess and polish the elements of the lower (``beta < b_c``) or the upper half."""
    s_n = s_c - b_c / v_c if lower else s_c + (b_max - b_c) / v_c
    b_n = _otm_black(x, s_n, exact=False)
    in_map = beta < b_n if lower else beta > b_n
    s = np.empty_like(beta)
    ok = np.empty(beta.shape, dtype=bool)
    k = np.flatnonzero(in_map)
    if k.size:
        bt, xx, bm, sn, bn = beta[k], x[k], b_max[k], s_n[k], b_n[k]
        if lower:
            s[k], ok[k] = _polish(bt, xx, bm, _lower_guess(bt, xx, sn, bn), _LOWER)
        else:
            guess = _upper_guess(bt, xx, bm, sn, bn)
            far = bt > 0.5 * bm  # else the plain objective b − β is the better conditioned
            for j, code in ((np.flatnonzero(far), _UPPER), (np.flatnonzero(~far), _MIDDLE)):
                s[k[j]], ok[k[j]] = _polish(bt[j], xx[j], bm[j], guess[j], code)
    m = np.flatnonzero(~in_map)
    if m.size:
        bt, xx, bm, sn, bn, sc, bc = (a[m] for a in (beta, x, b_max, s_n, b_n, s_c, b_c))
        d_n, d_c = 1.0 / _vega(xx, sn), 1.0 / v_c[m]
        if lower:  # interpolate s(b) between (b_l, s_l) and (b_c, s_c)
            r = _control(bn, bc, sn, sc, d_n, d_c, 0.0, right=True, shape=False)
            guess = _rational_cubic(bt, bn, bc, sn, sc, d_n, d_c, r)
        else:
            r = _control(bc, bn, sc, sn, d_c, d_n, 0.0, right=False, shape=False)
            guess = _rational_cubic(bt, bc, bn, sc, sn, d_c, d_n, r)
        s[m], ok[m] = _polish(bt, xx, bm, guess, _MIDDLE)
    return s, ok


def implied_vol(
    *,
    prices: np.ndarray,
    forwards: np.ndarray,
    strikes: np.ndarray,
    expiries: np.ndarray,
    discount_factors: np.ndarray,
    is_call: np.ndarray,
    threads: int | None = None,
) -> ImpliedVols:
    """Black vols that reproduce discounted premiums ``DF·Black(F, K, σ²T)``.

    Args:
        prices: discounted premiums, JPY per USD of notional.
        forwards: ``F`` (JPY per USD), > 0.
        strikes: ``K`` (JPY per USD), > 0.
        expiries: ``T`` in years ACT/365F, > 0.
        discount_factors: JPY discount factors to delivery, > 0.
        is_call: bool, True for calls.
        threads: blocks of 32768 options share this many threads; None: one per core (at
            most 4) from 4 blocks on, else the calling thread only.

    All arrays broadcast to one shape, which the results take.

    Returns:
        :class:`ImpliedVols`. A premium at or above ``DF·F`` (call) / ``DF·K`` (put) is
        ``ABOVE_UPPER_BOUND``; one below ``DF·intrinsic`` ``BELOW_INTRINSIC``. In the money,
        a time value within 8 ulps of ``max(F, K)`` (what ``F·N(d1) − K·N(d2)`` carries in
        double precision) is ``NO_TIME_VALUE``, and so is any normalised time value
        ``premium/(DF·√(FK))`` below the smallest normal double.

    References: Jäckel, "Let's Be Rational", Wilmott (2015).
    """
    arrays = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (prices, forwards, strikes, expiries,
                                               discount_factors)),
        np.asarray(is_call, dtype=bool),
    )  # fmt: skip
    flat = [np.ascontiguousarray(a).reshape(-1) for a in arrays]
    vols = np.empty(flat[0].size)
    status = np.empty(flat[0].size, dtype=np.int8)

    def solve(start: int) -> None:
        block = slice(start, start + _CHUNK)
        vols[block], status[block] = _implied_block(*(a[block] for a in flat))

    starts = range(0, vols.size, _CHUNK)
    workers = threads or (min(4, os.cpu_count() or 1) if len(starts) >= 4 else 1)
    if workers > 1:  # numpy and scipy release the GIL inside each array operation
        list(_pool(workers).map(solve, starts))
    else:
        for start in starts:
            solve(start)
    shape = arrays[0].shape
    return ImpliedVols(vols=vols.reshape(shape), converged=(status == OK).reshape(shape),
                       status=status.reshape(shape))  # fmt: skip


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool per thread count (no state but the threads)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="implied-vol")


def _implied_block(p, f, k, t, df, call) -> tuple[np.ndarray, np.ndarray]:
    """Vols and status codes for one block of 1-D inputs (see :func:`implied_vol`).

    Under ``errstate``: bad inputs may make inf/NaN on the way; they end as ``BAD_INPUT``
    and never reach the solver.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        undiscounted = p / df
        intrinsic = np.maximum(np.where(call, f - k, k - f), 0.0)
        time_value = undiscounted - intrinsic
        tolerance = (intrinsic > 0.0) * (_INTRINSIC_ULPS * _EPS) * np.maximum(f, k)
        beta = time_value / (np.sqrt(f) * np.sqrt(k))
        x = -np.abs(np.log(f / k))
        status = np.zeros(p.shape, dtype=np.int8)  # OK
        status[(beta < _TINY) | (time_value <= tolerance)] = NO_TIME_VALUE
        status[time_value < -tolerance] = BELOW_INTRINSIC
        status[(undiscounted >= np.where(call, f, k)) | (beta >= np.exp(0.5 * x))] = (
            ABOVE_UPPER_BOUND
        )
        good = np.isfinite(p) & np.isfinite(f) & np.isfinite(k) & np.isfinite(t)
        good &= np.isfinite(df) & (f > 0.0) & (k > 0.0) & (t > 0.0) & (df > 0.0)
        status[~good] = BAD_INPUT
        i = np.flatnonzero(status == OK)
        s = np.zeros(p.shape)
        if i.size == p.size:
            s, solved = _normalised_vol(beta, x)
            status[~solved] = NOT_CONVERGED
        elif i.size:
            s[i], solved = _normalised_vol(beta[i], x[i])
            status[i[~solved]] = NOT_CONVERGED
        return np.where(status == OK, s / np.sqrt(t), 0.0), status
