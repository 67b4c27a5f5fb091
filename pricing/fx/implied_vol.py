"""Black implied volatility for arrays of options: Jäckel's "Let's Be Rational", compiled.

A premium is reduced to the normalised out-of-the-money call price ``b(x, s)`` of
:mod:`pricing.fx.normalised_black` (``x = −|ln(F/K)| ≤ 0``, ``s = σ√T``) by subtracting the
discounted intrinsic value and dividing by ``DF·√(FK)``: parity turns an in-the-money option
into the out-of-the-money one on the other side, as Jäckel's reference code does, so a time
value of a few ulps is still inverted. ``DF·(F − K)⁺`` is carried in two doubles (the
roundings of ``F − K`` and of the product recovered exactly: Knuth's TwoSum, Dekker's
product), so the time value ``p − DF·(F − K)⁺`` carries the premium's own rounding only.
``s`` comes from a rational-cubic guess in one of four branches (two of them on transformed
axes: a lower map for tiny prices, an upper map near the bound ``e^{x/2}``), polished by two
third-order Householder steps on the objective that is well conditioned there: ``1/ln b``
lowest, ``b`` in the middle, ``ln(e^{x/2} − b)`` at the top; two more steps only where the
second one was still large.

Each option is solved by one call of scalar code compiled by numba (IEEE division, no
fastmath), in a loop with two compilations: a serial one for small batches (one option costs
a few µs, most of it the Python call) and a threaded one (``prange``, one thread per core)
from :data:`pricing.fx.normalised_black.PARALLEL_THRESHOLD` options on. Both are cached on disk
and compiled lazily, so a first call with one option builds (or loads) the serial one only.

Conventions: forwards and strikes in JPY per USD; expiries in years ACT/365F; premiums are
discounted (``DF × Black``) in JPY per USD of notional; vols annualised decimals.

Accuracy: the vol is the one of the premium as given, to ~1e-15 relative (50-digit witness
in the tests), also a few ulps above intrinsic; its distance from the vol the premium was
priced at is about ``ε·premium/vega`` — below 1e-12 out of the money and wherever an
in-the-money time value is not drowned in the rounding of the premium. Deep in the money at
short expiries and low vols the premium does not hold the vol to 1e-12; that is the input's
precision, not the solver's. The premium equal to ``DF·(F − K)⁺`` rounded to the nearest
double has no time value (``NO_TIME_VALUE``); any premium below it is ``BELOW_INTRINSIC``.

References: Jäckel, P., "Let's Be Rational", Wilmott (2015) 40–53, and its reference code;
Dekker, "A floating-point technique for extending the available precision", Numer. Math. 18
(1971) 224–242 (the exact product); Knuth, *TAOCP* vol. 2, §4.2.2 (TwoSum);
Delbourgo & Gregory, "Shape preserving piecewise rational interpolation", SIAM J. Sci. Stat.
Comput. 6 (1985); Wichura, "Algorithm AS 241: The percentage points of the normal
distribution", Appl. Statist. 37 (1988) 477–484.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np
import numpy.typing as npt

from pricing.compiled import njit, prange
from pricing.fx.normalised_black import (
    PARALLEL_THRESHOLD,
    compiled_pair,
    norm_cdf,
    normalised_black,
    otm_black,
)
from pricing.fx.normalised_black import polynomial as _poly

__all__ = [
    "ABOVE_UPPER_BOUND",
    "BAD_INPUT",
    "BELOW_INTRINSIC",
    "BLACK_FORMULA_ULPS",
    "NOT_CONVERGED",
    "NO_TIME_VALUE",
    "OK",
    "ImpliedVols",
    "implied_vol",
    "normalised_black",  # re-exported: the pricer this module inverts
]

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
_SQRT_3 = 1.7320508075688772
_R_MIN = -(1.0 - math.sqrt(_EPS))
_R_MAX = 2.0 / (_EPS * _EPS)
_LOWER, _MIDDLE, _UPPER = 0, 1, 2
_SPLITTER = 134217729.0  # 2^27 + 1: Veltkamp's split of a double into two 26-bit halves
BLACK_FORMULA_ULPS = 8.0
"""Rounding, in ulps of ``max(F, K)``, that a premium computed as ``F·N(d1) − K·N(d2)`` in
double precision carries deep in the money: the ``intrinsic_ulps`` a caller pricing that way
passes (the mixture book does), so its noise reads as no time value rather than a vol."""

_jit = njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN: straight lines below


@dataclass(frozen=True)
class ImpliedVols:
    """Implied Black vols with per-element outcome.

    Attributes:
        vols: annualised vols, broadcast shape; 0.0 where not converged (never NaN).
        converged: bool mask, True where ``status == OK``.
        status: int8 codes: ``OK``, ``BELOW_INTRINSIC``, ``ABOVE_UPPER_BOUND``,
            ``NO_TIME_VALUE`` (premium equal to the discounted intrinsic value rounded to
            the nearest double, or normalised time value below the smallest normal double),
            ``BAD_INPUT``
            (non-finite input, or non-positive forward/strike/expiry/discount factor),
            ``NOT_CONVERGED`` (the iteration did not settle: a safeguard, never seen in the
            tests nor in a stress of 10⁶ options with |ln F/K| ≤ 6, 1e-5 ≤ σ√T ≤ 20).
    """

    vols: np.ndarray
    converged: np.ndarray
    status: np.ndarray


# AS241 (PPND16) coefficients, ascending powers: |p − ½| ≤ 0.425 in r = 0.180625 − (p − ½)²,
# then r = √(−ln min(p, 1 − p)) − 1.6 up to 5, and r − 5 beyond.
_AS241 = np.array([
    [3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
     1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
     3.3430575583588128105e4, 2.5090809287301226727e3],
    [1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
     2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
     5.2264952788528545610e3],
    [1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
     3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
     2.27238449892691845833e-2, 7.74545014278341407640e-4],
    [1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
     1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
     1.05075007164441684324e-9],
    [6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
     2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
     2.71155556874348757815e-5, 2.01033439929228813265e-7],
    [1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
     7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
     2.04426310338993978564e-15],
])  # fmt: skip


@_jit
def _norm_ppf(p: float) -> float:
    """Φ⁻¹(p) by Wichura's AS241 (relative error ~1e-16); ±inf at 0 and 1, NaN outside."""
    if not (p > 0.0 and p < 1.0):
        return -math.inf if p == 0.0 else (math.inf if p == 1.0 else math.nan)
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return q * _poly(_AS241[0], r) / _poly(_AS241[1], r)
    r = math.sqrt(-math.log(p if q < 0.0 else 1.0 - p))
    if r <= 5.0:
        value = _poly(_AS241[2], r - 1.6) / _poly(_AS241[3], r - 1.6)
    else:
        value = _poly(_AS241[4], r - 5.0) / _poly(_AS241[5], r - 5.0)
    return -value if q < 0.0 else value


@_jit
def _fmax(a: float, b: float) -> float:
    """``np.fmax``: the larger, ignoring a NaN (NaN only if both are)."""
    return a if (a >= b or b != b) else b


@_jit
def _rational_cubic(
    x: float, x_l: float, x_r: float, y_l: float, y_r: float, d_l: float, d_r: float, r: float
) -> float:
    """Delbourgo–Gregory rational cubic through (x_l, y_l), (x_r, y_r) with end slopes d.

    Control ``r`` ≥ ``_R_MAX`` (or inf) means the straight line.
    """
    h = x_r - x_l
    t = (x - x_l) / h
    omt = 1.0 - t
    if r >= _R_MAX:
        return y_r * t + y_l * omt
    return (
        y_r * t * t * t
        + (r * y_r - h * d_r) * t * t * omt
        + (r * y_l + h * d_l) * t * omt * omt
        + y_l * omt * omt * omt
    ) / (1.0 + (r - 3.0) * t * omt)


@_jit
def _control(
    x_l: float,
    x_r: float,
    y_l: float,
    y_r: float,
    d_l: float,
    d_r: float,
    second: float,
    right: bool,
    shape: bool,
) -> float:
    """Control parameter fitting ``second`` derivative at one end, floored for shape.

    The floor keeps the cubic monotone, and convex or concave where the data are (D&G
    (3.8), (3.18)); ``shape`` prefers that to smoothness where the slopes are degenerate.
    Divisions by zero give ±inf, i.e. the straight line; NaNs are dropped by ``_fmax``.
    """
    h = x_r - x_l
    slope = (y_r - y_l) / h
    r = (0.5 * h * second + (d_r - d_l)) / ((d_r - slope) if right else (slope - d_l))
    monotonic = d_l * slope >= 0.0 and d_r * slope >= 0.0
    r1 = (d_r + d_l) / slope if monotonic else -math.inf
    if (d_l - slope) * (d_r - slope) <= 0.0:  # convex or concave
        d = d_r - d_l
        r2 = _fmax(abs(d / (d_r - slope)), abs(d / (slope - d_l)))
    else:
        r2 = _R_MAX if (monotonic and shape) else -math.inf
    return _fmax(r, _fmax(_R_MIN, _fmax(r1, r2)))


@_jit
def _lower_guess(beta: float, x: float, s_l: float, b_l: float) -> float:
    """Guess below ``b_l``: interpolate ``f = 2π|x|/√27·Φ(−|x|/(√3 s))³``, then invert it."""
    ax = -x
    z = ax / (_SQRT_3 * s_l)
    y = z * z
    s2 = s_l * s_l
    cdf = norm_cdf(-z)
    phi_ratio = cdf * _SQRT_2PI * math.exp(0.5 * y)  # Φ(−z)/φ(z)
    scale = 2.0 * math.pi / math.sqrt(27.0)
    f_l = scale * ax * (cdf * cdf * cdf)
    growth = math.exp(y + 0.125 * s2)
    fp_l = 2.0 * math.pi * y * cdf * cdf * growth
    fpp_l = (math.pi / 6.0) * y / (s2 * s_l) * cdf * (
        8.0 * _SQRT_3 * s_l * ax + (3.0 * s2 * (s2 - 8.0) - 8.0 * x * x) * phi_ratio
    ) * (growth * growth)  # fmt: skip
    r = _control(0.0, b_l, 0.0, f_l, 1.0, fp_l, fpp_l, True, True)
    f = _rational_cubic(beta, 0.0, b_l, 0.0, f_l, 1.0, fp_l, r)
    if not f > 0.0:  # roundoff at extreme |x|
        u = beta / b_l
        f = (f_l * u + b_l * (1.0 - u)) * u
    q = np.cbrt(f / (scale * ax))
    return abs(x / (_SQRT_3 * _norm_ppf(q)))


@_jit
def _upper_guess(beta: float, x: float, b_max: float, s_u: float, b_u: float) -> float:
    """Guess above ``b_u``: interpolate ``f = Φ(−s/2)`` towards ``(b_max, 0)``, invert it."""
    w = x / s_u
    w = w * w
    f_u = norm_cdf(-0.5 * s_u)
    fp_u = -0.5 * math.exp(0.5 * w)
    fpp_u = math.sqrt(0.5 * math.pi) * math.exp(w + 0.125 * s_u * s_u) * w / s_u
    r = _control(b_u, b_max, f_u, 0.0, fp_u, -0.5, fpp_u, False, True)
    f = _rational_cubic(beta, b_u, b_max, f_u, 0.0, fp_u, -0.5, r)
    if not f > 0.0:
        width = b_max - b_u
        u = (beta - b_u) / width
        f = (f_u * (1.0 - u) + 0.5 * width * u) * (1.0 - u)
    return -2.0 * _norm_ppf(f)


@_jit
def _householder(
    beta: float, x: float, b_max: float, s: float, objective: int, iterations: int
) -> tuple[float, float]:
    """``iterations`` third-order Householder steps on one objective; returns (s, last ds).

    With ``ν = −g/g'``, ``η = g''/g'``, ``ι = g'''/g'`` the step is
    ``ν·(1 + ην/2) / (1 + ν(η + ιν/6))`` (Jäckel 2015, §4); ``b''/b' = h²/s − s/4`` and
    ``b'''/b' = (b''/b')² − 3h²/s² − 1/4`` in closed form.
    """
    ln_beta = math.log(beta)
    gap = b_max - beta
    ds = 0.0
    for _ in range(iterations):
        h = x / s
        t = 0.5 * s
        h2 = h * h
        bp = _INV_SQRT_2PI * math.exp(-0.5 * (h2 + t * t))
        halley = h2 / s - 0.5 * t  # b''/b'
        hh3 = halley * halley - 3.0 * h2 / (s * s) - 0.25  # b'''/b'
        if objective == _LOWER:  # g = 1/ln b − 1/ln β
            b = otm_black(h, t)
            inv_ln_b = 1.0 / math.log(b if (b > _TINY or b != b) else _TINY)
            bpob = bp / b
            c = bpob * (1.0 + 2.0 * inv_ln_b)
            newton = (inv_ln_b * ln_beta - 1.0) / (ln_beta * inv_ln_b * inv_ln_b * bpob)
            hh3 += 2.0 * bpob * bpob * (1.0 + 3.0 * inv_ln_b * (1.0 + inv_ln_b)) - 3.0 * halley * c
            halley -= c
        elif objective == _UPPER:  # g = ln(b_max − β) − ln(b_max − b)
            # b_max − b = e^{x/2}Φ(−h−t) + e^{−x/2}Φ(h−t), summed rather than subtracted
            rest = math.exp(h * t) * norm_cdf(-h - t) + math.exp(-h * t) * norm_cdf(h - t)
            gp = bp / rest
            newton = -math.log(gap / rest) / gp
            hh3 += gp * (2.0 * gp + 3.0 * halley)
            halley += gp
        else:  # g = b − β
            newton = (beta - otm_black(h, t)) / bp
        ds = newton * (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton / 6))
        if ds < -0.5 * s:
            ds = -0.5 * s
        s = s + ds
    return s, ds


@_jit
def _polish(beta: float, x: float, b_max: float, s: float, objective: int) -> tuple[float, bool]:
    """Two Householder steps; two more if the second was still large. Returns (s, settled)."""
    if not (s > 0.0 and s < math.inf):  # a guess gone wrong
        s = math.sqrt(-2.0 * x) + 1.0
    s, ds = _householder(beta, x, b_max, s, objective, 2)
    if not abs(ds) <= 1e-6 * s:
        s, ds = _householder(beta, x, b_max, s, objective, 2)
    return s, abs(ds) <= 1e-6 * s and s > 0.0 and math.isfinite(s)


@_jit
def _normalised_vol(beta: float, x: float) -> tuple[float, bool]:
    """``s`` with ``b(x, s) = beta`` for ``x ≤ 0``, ``0 < beta < e^{x/2}``; and settled.

    Jäckel's four branches, split at ``b_c = b(x, s_c)`` (``s_c = √(2|x|)``, the inflexion
    point) and at ``b_l``/``b_u``, where the tangent at ``s_c`` meets 0 and ``b_max``.
    Degenerate interpolation data give ±inf (straight lines); anything non-finite that
    survives ends as not settled.
    """
    b_max = math.exp(0.5 * x)
    s_c = math.sqrt(-2.0 * x)
    b_c = 0.5 * b_max - norm_cdf(-s_c) / b_max  # b(x, s_c): h + t = 0 there
    v_c = _INV_SQRT_2PI * b_max  # vega at s_c
    lower = beta < b_c
    s_n = s_c - b_c / v_c if lower else s_c + (b_max - b_c) / v_c  # s_l or s_u
    b_n = otm_black(x / s_n, 0.5 * s_n)
    if lower and beta < b_n:
        return _polish(beta, x, b_max, _lower_guess(beta, x, s_n, b_n), _LOWER)
    if not lower and beta > b_n:
        guess = _upper_guess(beta, x, b_max, s_n, b_n)
        # below half the bound the plain objective b − β is the better conditioned
        return _polish(beta, x, b_max, guess, _UPPER if beta > 0.5 * b_max else _MIDDLE)
    h_n = x / s_n
    d_n = 1.0 / (_INV_SQRT_2PI * math.exp(-0.5 * (h_n * h_n + 0.25 * s_n * s_n)))  # 1/vega
    d_c = 1.0 / v_c
    if lower:  # interpolate s(b) between (b_l, s_l) and (b_c, s_c)
        r = _control(b_n, b_c, s_n, s_c, d_n, d_c, 0.0, True, False)
        guess = _rational_cubic(beta, b_n, b_c, s_n, s_c, d_n, d_c, r)
    else:
        r = _control(b_c, b_n, s_c, s_n, d_c, d_n, 0.0, False, False)
        guess = _rational_cubic(beta, b_c, b_n, s_c, s_n, d_c, d_n, r)
    return _polish(beta, x, b_max, guess, _MIDDLE)


@_jit
def _step(values: np.ndarray) -> int:
    """Index step of a 1-D input in the loop: 0 broadcasts a single element."""
    return 1 if values.shape[0] > 1 else 0


@_jit
def _product_error(a: float, b: float, product: float) -> float:
    """``a·b − product`` exactly for ``product = fl(a·b)`` (Dekker 1971, Veltkamp's split;
    no FMA in numba's math); 0 where the split overflows or underflows into NaN."""
    c = _SPLITTER * a
    a_hi = c - (c - a)
    a_lo = a - a_hi
    c = _SPLITTER * b
    b_hi = c - (c - b)
    b_lo = b - b_hi
    error = ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return error if math.isfinite(error) else 0.0


@_jit
def _difference_error(a: float, b: float, difference: float) -> float:
    """``(a − b) − difference`` exactly for ``difference = fl(a − b)`` (Knuth's TwoSum)."""
    b_part = difference - a
    a_part = difference - b_part
    return (a - a_part) + (-b - b_part)


@_jit
def implied_one(
    p: float, f: float, k: float, t: float, df: float, call: bool, intrinsic_ulps: float
) -> tuple[float, int]:
    """Vol and status code of one option (see :func:`implied_vol`); checks in priority order."""
    good = math.isfinite(p) and math.isfinite(f) and math.isfinite(k) and math.isfinite(t)
    if not (good and math.isfinite(df) and f > 0.0 and k > 0.0 and t > 0.0 and df > 0.0):
        return 0.0, BAD_INPUT
    undiscounted = p / df
    x = -abs(math.log(f / k))
    root_fk = math.sqrt(f) * math.sqrt(k)
    difference = (f - k) if call else (k - f)
    intrinsic = max(difference, 0.0)
    beta_bound = math.exp(0.5 * x)  # the OTM normalised price's supremum
    if undiscounted >= (f if call else k) or (undiscounted - intrinsic) / root_fk >= beta_bound:
        return 0.0, ABOVE_UPPER_BOUND
    # Parity (Jäckel's reference code): an in-the-money option is its out-of-the-money twin
    # plus the intrinsic value, so the time value p − DF·(F − K)⁺ is inverted on the OTM side.
    # DF·(F − K)⁺ is carried as product + excess (the roundings of F − K and of the product
    # recovered exactly), so the time value holds the premium's own rounding only and a
    # premium a few ulps above intrinsic still gives its vol.
    low = _difference_error(f, k, difference) if call else _difference_error(k, f, difference)
    product = df * intrinsic
    excess = _product_error(df, intrinsic, product) + (df * low if intrinsic > 0.0 else 0.0)
    time_value = ((p - product) - excess) / df  # p − product is exact near intrinsic
    if intrinsic_ulps > 0.0 and intrinsic > 0.0:  # the caller's pricing noise
        tolerance = intrinsic_ulps * _EPS * max(f, k)
        if time_value < -tolerance:
            return 0.0, BELOW_INTRINSIC
        if time_value <= tolerance:
            return 0.0, NO_TIME_VALUE
    else:
        discounted_intrinsic = product + excess  # DF·(F − K)⁺ rounded to the nearest double
        if p < discounted_intrinsic:
            return 0.0, BELOW_INTRINSIC
        if p == discounted_intrinsic:
            return 0.0, NO_TIME_VALUE
    beta = time_value / root_fk
    if not beta >= _TINY:  # no normal double left in the normalised time value
        return 0.0, NO_TIME_VALUE
    s, settled = _normalised_vol(beta, x)
    if not settled:
        return 0.0, NOT_CONVERGED
    return s / math.sqrt(t), OK


def _implied_body(
    prices: npt.NDArray[np.float64],
    forwards: npt.NDArray[np.float64],
    strikes: npt.NDArray[np.float64],
    expiries: npt.NDArray[np.float64],
    dfs: npt.NDArray[np.float64],
    is_call: npt.NDArray[np.bool_],
    intrinsic_ulps: float,
    vols: npt.NDArray[np.float64],
    status: npt.NDArray[np.int8],
) -> None:
    # an input of length 1 is broadcast (step 0), any other has the length of the outputs
    p_step, f_step, k_step = _step(prices), _step(forwards), _step(strikes)
    t_step, df_step, call_step = _step(expiries), _step(dfs), _step(is_call)
    for i in prange(vols.shape[0]):
        vol, code = implied_one(
            prices[i * p_step],
            forwards[i * f_step],
            strikes[i * k_step],
            expiries[i * t_step],
            dfs[i * df_step],
            is_call[i * call_step],
            intrinsic_ulps,
        )
        vols[i] = vol
        status[i] = code


_implied_serial, _implied_parallel = compiled_pair(_implied_body, "_implied")


def implied_vol(
    *,
    prices: np.ndarray,
    forwards: np.ndarray,
    strikes: np.ndarray,
    expiries: np.ndarray,
    discount_factors: np.ndarray,
    is_call: bool | np.ndarray,
    threads: int | None = None,
    intrinsic_ulps: float = 0.0,
) -> ImpliedVols:
    """Black vols that reproduce discounted premiums ``DF·Black(F, K, σ²T)``.

    Args:
        prices: discounted premiums, JPY per USD of notional.
        forwards: ``F`` (JPY per USD), > 0.
        strikes: ``K`` (JPY per USD), > 0.
        expiries: ``T`` in years ACT/365F, > 0.
        discount_factors: JPY discount factors to delivery, > 0.
        is_call: bool, True for calls.
        threads: 1 runs the serial compilation on the calling thread; k > 1 the threaded
            one on min(k, numba's thread count) threads; None: serial below
            ``PARALLEL_THRESHOLD`` (4096) options, else threaded on one thread per core.
        intrinsic_ulps: 0 (default) takes the premiums as exact; ``u > 0`` says they carry
            pricing noise of ``u`` ulps of ``max(F, K)`` (:data:`BLACK_FORMULA_ULPS` for
            ``F·N(d1) − K·N(d2)``): an in-the-money time value within it is
            ``NO_TIME_VALUE``, below it ``BELOW_INTRINSIC``.

    All arrays broadcast to one shape, which the results take.

    Returns:
        :class:`ImpliedVols`. A premium at or above ``DF·F`` (call) / ``DF·K`` (put) is
        ``ABOVE_UPPER_BOUND``. With ``I`` the double nearest ``DF·(F − K)⁺`` (0 out of the
        money): a premium below ``I`` is ``BELOW_INTRINSIC``, one equal to it
        ``NO_TIME_VALUE``, and so is one whose normalised time value
        ``(premium − DF·(F − K)⁺)/(DF·√(FK))`` is below the smallest normal double; any
        premium above ``I`` has a vol, however few ulps above (a premium from
        ``F·N(d1) − K·N(d2)`` in double precision carries ~1 ulp of ``max(F, K)`` of noise
        deep in the money, and its vol reads that noise: pass ``intrinsic_ulps``).

    References: Jäckel, "Let's Be Rational", Wilmott (2015).
    """
    arrays = [np.asarray(a, dtype=float) for a in (prices, forwards, strikes, expiries,
                                                    discount_factors)]  # fmt: skip
    arrays.append(np.asarray(is_call, dtype=bool))
    shape = arrays[0].shape
    for a in arrays:
        if a.shape != shape:
            shape = np.broadcast(*arrays).shape
            break
    # 1-D and C-contiguous (ravel copies only if it must: one compiled signature); a single
    # element is broadcast inside the loop, anything else is expanded here
    flat = [
        a.ravel() if a.size == 1 or a.shape == shape else np.broadcast_to(a, shape).ravel()
        for a in arrays
    ]
    size = math.prod(shape)
    vols: npt.NDArray[np.float64] = np.empty(size)
    status: npt.NDArray[np.int8] = np.empty(size, dtype=np.int8)
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be None or positive, got {threads}")
    ulps = float(intrinsic_ulps)
    if threads == 1 or (threads is None and size < PARALLEL_THRESHOLD):
        _implied_serial(*flat, ulps, vols, status)
    elif threads is None:  # numba's default: one thread per core
        _implied_parallel(*flat, ulps, vols, status)
    else:  # numba keeps the thread count per calling thread: set it, then put it back
        before = nb.get_num_threads()
        cores = nb.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # numba.config sets its options at import
        nb.set_num_threads(min(threads, cores))
        try:
            _implied_parallel(*flat, ulps, vols, status)
        finally:
            nb.set_num_threads(before)
    converged = status == OK
    if len(shape) != 1:
        vols, converged = vols.reshape(shape), converged.reshape(shape)
        status = status.reshape(shape)
    return ImpliedVols(vols=vols, converged=converged, status=status)
