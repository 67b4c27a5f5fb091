"""Normalised Black price, accurate deep out of the money: Jäckel's four regions, compiled.

The normalised out-of-the-money call price (Jäckel 2015)::

    b(x, s) = e^{x/2}·Φ(x/s + s/2) − e^{−x/2}·Φ(x/s − s/2),   x = ln(F/K) ≤ 0,  s = σ√T,

is ``premium / (DF·√(FK))`` of the out-of-the-money option. Written with ``h = x/s`` and
``t = s/2`` (so ``x/2 = h·t``), it never subtracts nearly equal numbers: an asymptotic series
deep out of the money (``h < −10``), a series in small ``t``, the erfcx form
``½e^{−(h²+t²)/2}·(erfcx(−(h+t)/√2) − erfcx(−(h−t)/√2))`` in between, and, near the bound
``e^{x/2}`` (``h + t > 0.85``), the plain Φ difference.

Each element is one call of the scalar :func:`otm_black`, compiled by numba (no fastmath,
IEEE division: inf and NaN flow through as in numpy); :mod:`pricing.fx.implied_vol` calls the
same scalar functions from inside its own compiled solver. ``erfcx`` is W. J. Cody's rational
Chebyshev approximation (the one Jäckel's reference code uses); Φ is ``erfc`` from libm.

Conventions: ``x = ln(F/K)`` with forwards and strikes in JPY per USD; ``s = σ√T`` with σ an
annualised decimal vol and T in years ACT/365F; prices in units of ``DF·√(FK)``.

numba's disk cache tracks only the file a compiled function is defined in: after editing this
file, also touch pricing/fx/implied_vol.py (or clear ``pricing/__pycache__``) so that the solver,
which compiles these functions into itself, is rebuilt.

References: Jäckel, P., "Let's Be Rational", Wilmott (2015) 40–53, §2–3; Cody, W. J.,
"Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969) 631–637,
and its netlib SPECFUN code CALERF (1990); Abramowitz & Stegun 26.2.12.
"""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np
import numpy.typing as npt

from pricing.compiled import njit, prange

_INV_SQRT_2PI = 0.3989422804014327
_SQRT_2PI = 2.5066282746310002
_SQRT_HALF = 0.7071067811865476
_INV_SQRT_PI = 0.5641895835477563
_EPS = float(np.finfo(float).eps)
_TAU_SMALL_T = 2.0 * _EPS**0.0625  # t = s/2 below this: small-t expansion (Jäckel §3)
_ETA_DEEP = -10.0  # h + t below about this: asymptotic series (Jäckel §3)
PARALLEL_THRESHOLD = 4096  # from this many elements on, the threaded compilation runs

_jit = njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN, as in numpy


def _series_table() -> tuple[np.ndarray, np.ndarray]:
    """Coefficient matrices of the two expansions of ``Y(h+t) − Y(h−t)``, ``Y = Φ/φ``.

    Small t (Jäckel 2015, §3, to 12th order in t): ``Σ_k w^k (P_k(g) + a·Q_k(g)) / (2k+1)!``
    with ``w = t², g = h², a = 1 + h·Y(h)``; row k of the first matrix holds P_k (k
    coefficients), row 7 + k holds Q_k (k + 1 coefficients), ascending in g. Large −h (A&S
    26.2.12 inserted into the difference): ``2·Σ_k (−1)^k (2k−1)!! q^k Σ_j C(2k+1, 2j+1) e^j``
    in ``q = (h/r)², e = (t/h)²``, ``r = h² − t²``; row k of the second holds the e^j terms.
    """
    p: tuple[list[int], ...] = ([], [-1], [-7, -1], [-57, -18, -1], [-561, -285, -33, -1],
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

# Cody's CALERF coefficients, ascending powers: erf on |y| ≤ 0.46875 (in y²), erfcx on
# 0.46875 < y ≤ 4 (in y), and erfcx·y − 1/√π on y > 4 (in 1/y²); denominators lead with 1.
# fmt: off
_CODY_A = np.array([3.20937758913846947e03, 3.77485237685302021e02, 1.13864154151050156e02,
                    3.16112374387056560e00, 1.85777706184603153e-1])
_CODY_B = np.array([2.84423683343917062e03, 1.28261652607737228e03, 2.44024637934444173e02,
                    2.36012909523441209e01, 1.0])
_CODY_C = np.array([1.23033935479799725e03, 2.05107837782607147e03, 1.71204761263407058e03,
                    8.81952221241769090e02, 2.98635138197400131e02, 6.61191906371416295e01,
                    8.88314979438837594e00, 5.64188496988670089e-1, 2.15311535474403846e-8])
_CODY_D = np.array([1.23033935480374942e03, 3.43936767414372164e03, 4.36261909014324716e03,
                    3.29079923573345963e03, 1.62138957456669019e03, 5.37181101862009858e02,
                    1.17693950891312499e02, 1.57449261107098347e01, 1.0])
_CODY_P = np.array([6.58749161529837803e-4, 1.60837851487422766e-2, 1.25781726111229246e-1,
                    3.60344899949804439e-1, 3.05326634961232344e-1, 1.63153871373020978e-2])
_CODY_Q = np.array([2.33520497626869185e-3, 6.05183413124413191e-2, 5.27905102951428412e-1,
                    1.87295284992346047e00, 2.56852019228982242e00, 1.0])
# fmt: on


@_jit
def polynomial(coefficients: np.ndarray, v: float) -> float:
    """``Σ_j c_j v^j`` for ascending ``coefficients``, by Horner's rule."""
    out = 0.0
    for j in range(coefficients.shape[0] - 1, -1, -1):
        out = out * v + coefficients[j]
    return out


@_jit
def norm_cdf(z: float) -> float:
    """Φ(z) as ``erfc(−z/√2)/2``: relative accuracy a few ε in both tails."""
    return 0.5 * math.erfc(-_SQRT_HALF * z)


@_jit
def erfcx(y: float) -> float:
    """``e^{y²}·erfc(y)`` (Cody's CALERF, case 2): a few ε relative; overflow below −26.6."""
    a = abs(y)
    if a <= 0.46875:
        g = a * a
        out = math.exp(g) * (1.0 - y * polynomial(_CODY_A, g) / polynomial(_CODY_B, g))
        return out
    if a <= 4.0:
        out = polynomial(_CODY_C, a) / polynomial(_CODY_D, a)
    else:
        g = 1.0 / (a * a)
        out = (_INV_SQRT_PI - g * polynomial(_CODY_P, g) / polynomial(_CODY_Q, g)) / a
    if y < 0.0:  # erfcx(−a) = 2e^{a²} − erfcx(a), e^{a²} split so a² is not rounded
        if y < -26.628:
            return math.inf
        lead = math.trunc(y * 16.0) / 16.0
        twice = 2.0 * math.exp(lead * lead) * math.exp((y - lead) * (y + lead))
        out = twice - out
    return out


@_jit
def _small_t_black(h: float, t: float) -> float:
    """``b`` for ``t < 0.21``, ``−10 < h ≤ 0`` from the small-t series (``_series_table``)."""
    a = 1.0 + h * (0.5 * _SQRT_2PI) * erfcx(-_SQRT_HALF * h)
    g = h * h
    w = t * t
    e = 0.0
    for k in range(6, -1, -1):  # Horner in w over P_k(g) + a·Q_k(g)
        p_k = 0.0
        for j in range(k - 1, -1, -1):
            p_k = p_k * g + _SMALL_T_TABLE[k, j]
        q_k = 0.0
        for j in range(k, -1, -1):
            q_k = q_k * g + _SMALL_T_TABLE[7 + k, j]
        e = e * w + (a * q_k + p_k)
    return (2.0 * _INV_SQRT_2PI) * t * math.exp(-0.5 * (g + w)) * e


@_jit
def _deep_black(h: float, t: float) -> float:
    """``b`` for ``h + t < −9.8`` from the asymptotic series (``_series_table``)."""
    e = t / h
    e = e * e
    r = (h + t) * (h - t)
    q = h / r
    q = q * q
    total = 0.0
    for k in range(17, -1, -1):
        inner = 0.0
        for j in range(k, -1, -1):
            inner = inner * e + _DEEP_TABLE[k, j]
        total = total * q + inner
    return _INV_SQRT_2PI * math.exp(-0.5 * (h * h + t * t)) * (t / r) * total


@_jit
def _erfcx_black(h: float, t: float) -> float:
    """``b = ½e^{−(h²+t²)/2}·(erfcx(−(h+t)/√2) − erfcx(−(h−t)/√2))``: one exponential."""
    return (0.5 * math.exp(-0.5 * (h * h + t * t))) * (
        erfcx(-_SQRT_HALF * (h + t)) - erfcx(-_SQRT_HALF * (h - t))
    )


@_jit
def _bound_black(h: float, t: float) -> float:
    """``b = Φ(h+t)·e^{ht} − Φ(h−t)·e^{−ht}`` (x/2 = h·t), for ``h + t > 0.85``."""
    half_x = h * t
    return norm_cdf(h + t) * math.exp(half_x) - norm_cdf(h - t) * math.exp(-half_x)


@_jit
def otm_black(h: float, t: float) -> float:
    """``b`` from ``h = x/s ≤ 0`` and ``t = s/2 > 0``, in the region's own formula.

    Relative accuracy a few ε, or ε·(h² + t²)/2 where that exponent is large (the rounding of
    ``h`` and ``t`` themselves, amplified). NaN in, NaN out.
    """
    if h < _ETA_DEEP and h + t < _ETA_DEEP + _TAU_SMALL_T:
        return _deep_black(h, t)
    if t < _TAU_SMALL_T:
        return _small_t_black(h, t)
    if h + t > 0.85:
        return _bound_black(h, t)
    return _erfcx_black(h, t)


def _black_body(
    x: npt.NDArray[np.float64],
    s: npt.NDArray[np.float64],
    call: npt.NDArray[np.bool_],
    out: npt.NDArray[np.float64],
) -> None:
    for i in prange(x.shape[0]):
        # b(x, s, put) = b(−x, s, call); in the money, intrinsic plus the other side's b
        theta_x = x[i] if call[i] else -x[i]
        value = 2.0 * math.sinh(0.5 * abs(x[i])) if theta_x > 0.0 else 0.0
        if not s[i] <= 0.0:  # NaN goes through, and comes out NaN
            value += otm_black(-abs(x[i]) / s[i], 0.5 * s[i])
        out[i] = value


def compiled_pair(body: Any, name: str) -> tuple[Any, Any]:
    """Serial and threaded (``prange``) compilations of ``body``, each cached on disk.

    numba names its cache entries after the Python function, so each compilation gets its own
    function object (same code, own name). Both compile lazily: on first call, or from the
    cache, so a process that only prices small batches never builds the threaded one.
    """

    def renamed(suffix: str) -> Any:
        clone = types.FunctionType(body.__code__, body.__globals__, f"{name}_{suffix}")
        clone.__qualname__ = clone.__name__
        return clone

    serial = njit(cache=True, error_model="numpy")(renamed("serial"))
    threaded = njit(cache=True, error_model="numpy", parallel=True)(renamed("parallel"))
    return serial, threaded


_black_serial, _black_parallel = compiled_pair(_black_body, "_black")


def normalised_black(
    *, log_moneyness: np.ndarray, std_devs: np.ndarray, is_call: np.ndarray
) -> np.ndarray:
    """Normalised Black price ``b = premium / (DF·√(FK))``, accurate deep out of the money.

    ``b = θ·(e^{x/2}·Φ(θ(x/s + s/2)) − e^{−x/2}·Φ(θ(x/s − s/2)))`` with ``x = ln(F/K)``,
    ``s = σ√T`` (``std_devs``, ≥ 0; 0 gives the intrinsic value) and θ = +1 for calls.
    Arrays broadcast; the result takes their shape. Relative accuracy a few ε, or
    ε·(h² + s²/4)/2 with ``h = x/s`` where that exponent is large: the rounding of ``x`` and
    ``s`` themselves, amplified.

    References: Jäckel, "Let's Be Rational" (2015), §2–3.
    """
    x, s, call = np.broadcast_arrays(
        np.asarray(log_moneyness, dtype=float),
        np.asarray(std_devs, dtype=float),
        np.asarray(is_call, dtype=bool),
    )
    out = np.empty(x.shape)
    kernel = _black_parallel if out.size >= PARALLEL_THRESHOLD else _black_serial
    kernel(*(np.ascontiguousarray(a).reshape(-1) for a in (x, s, call)), out.reshape(-1))
    return out
