"""SVI smiles: raw SVI total variance in log-moneyness, its derivatives, density and vols.

Conventions: forwards and strikes in JPY per USD; vols annualised decimals; expiries in years
ACT/365F; ``k = ln(K/F)``; total variance ``w(k) = σ(K)²·T``. Raw SVI (Gatheral 2004)::

    w(k) = a + b·(ρ(k − m) + √((k − m)² + s²))

with ``w'`` and ``w''`` in closed form, so ``dσ/dK`` (digitals) and Durrleman's density
condition ``g(k)`` need no finite differences; wings are linear in ``k`` (Lee's moment bound
is a parameter check). :func:`svi_from_natural` maps the SSVI / "natural" parametrisation
the fit of :mod:`pricing.vol.smile` solves in to raw SVI.

The formula is written once, as the scalar :func:`raw_svi` compiled by numba (IEEE
arithmetic, no fastmath): :func:`svi_variance` loops it over broadcast arrays and
:mod:`pricing.vol.surface` calls it from inside its own compiled surface read. numba's disk cache
tracks only the file a function is defined in: after editing :func:`raw_svi`, also touch
pricing/vol/surface.py (or clear ``pricing/__pycache__``) so the surface kernels are rebuilt.

References: Gatheral, *The Volatility Surface* (2006), ch. 3; Gatheral & Jacquier,
"Arbitrage-free SVI volatility surfaces", Quant. Finance (2014); Lee (2004).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pricing.compiled import njit
from pricing.vol.quotes import SmileConventions

_INV_SQRT_2PI = 0.3989422804014327
_Floats = npt.NDArray[np.float64]  # 1-D inputs of a compiled loop, [3, size] its output

_jit = njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN, as in numpy


@dataclass(frozen=True)
class SviParams:
    """Raw SVI parameters ``a, b, ρ, m, s`` (``s`` is Gatheral's σ); arrays that broadcast."""

    a: np.ndarray
    b: np.ndarray
    rho: np.ndarray
    m: np.ndarray
    sigma: np.ndarray

    def map(self, fn: Callable[[np.ndarray], np.ndarray]) -> SviParams:
        return SviParams(
            *(fn(np.asarray(p)) for p in (self.a, self.b, self.rho, self.m, self.sigma))
        )

    @property
    def min_variance(self) -> np.ndarray:
        """``min_k w(k) = a + b·s·√(1−ρ²)``."""
        minimum: np.ndarray = self.a + self.b * self.sigma * np.sqrt(1.0 - self.rho * self.rho)
        return minimum

    @property
    def wing_slopes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(w'(−∞), w'(+∞)) = (−b(1−ρ), b(1+ρ))``; Lee: ``|w'| ≤ 2`` for finite moments."""
        return -self.b * (1.0 - self.rho), self.b * (1.0 + self.rho)


@_jit
def raw_svi(
    k: float, a: float, b: float, rho: float, m: float, sigma: float
) -> tuple[float, float, float]:
    """``(w, w', w'')`` of raw SVI at one ``k``: compiled scalar code, callable from numba."""
    z = k - m
    squared = z * z + sigma * sigma
    root = math.sqrt(squared)
    # root·squared, not root³: one rounding fewer (and no pow call)
    return a + b * (rho * z + root), b * (rho + z / root), b * (sigma * sigma) / (root * squared)


@_jit
def _svi_loop(
    k: _Floats, a: _Floats, b: _Floats, rho: _Floats, m: _Floats, sigma: _Floats, out: _Floats
) -> None:
    # an input of one element is broadcast (index step 0); the others have out's length
    steps = [1 if x.shape[0] > 1 else 0 for x in (k, a, b, rho, m, sigma)]
    for i in range(out.shape[1]):
        w, w1, w2 = raw_svi(
            k[i * steps[0]],
            a[i * steps[1]],
            b[i * steps[2]],
            rho[i * steps[3]],
            m[i * steps[4]],
            sigma[i * steps[5]],
        )
        out[0, i] = w
        out[1, i] = w1
        out[2, i] = w2


def broadcast_flat(*arrays: np.ndarray) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """The broadcast shape of ``arrays`` and each as a 1-D C-contiguous array for a compiled
    loop: an array of one element stays one element (the loop steps over it by 0), an array
    of the broadcast shape is flattened, any other is expanded to that shape first."""
    shape = arrays[0].shape
    for a in arrays[1:]:
        if a.shape != shape:
            shape = np.broadcast(*arrays).shape
            break
    flats = []
    for a in arrays:
        if a.size != 1 and a.shape != shape:
            full = np.empty(shape, dtype=a.dtype)
            full[...] = a
            a = full
        flats.append(a.ravel())
    return shape, flats


def svi_variance(
    *, log_moneyness: np.ndarray, params: SviParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(w, w', w'')`` of raw SVI at ``log_moneyness`` (broadcast with ``params``).

    ``w' = b(ρ + z/√(z²+s²))``, ``w'' = b·s²/(z²+s²)^{3/2}`` with ``z = k − m``; the three
    arrays take the broadcast shape (numpy scalars for 0-d inputs).
    """
    arrays = [np.asarray(log_moneyness, dtype=float)]
    arrays += [np.asarray(p, dtype=float) for p in (params.a, params.b, params.rho, params.m)]
    arrays.append(np.asarray(params.sigma, dtype=float))
    shape, (k, a, b, rho, m, sigma) = broadcast_flat(*arrays)
    out = np.empty((3, *shape))
    _svi_loop(k, a, b, rho, m, sigma, out.reshape(3, -1))
    return out[0], out[1], out[2]


def svi_from_natural(
    *,
    thetas: np.ndarray,
    rhos: np.ndarray,
    phis: np.ndarray,
    levels: float | np.ndarray = 0.0,
    centres: float | np.ndarray = 0.0,
) -> SviParams:
    """Raw SVI of ``w = Δ + θ/2·(1 + ρφ(k−μ) + √((φ(k−μ)+ρ)² + 1−ρ²))`` (SSVI slice: Δ=μ=0)."""
    one_minus = 1.0 - rhos * rhos
    return SviParams(
        a=levels + 0.5 * thetas * one_minus,
        b=0.5 * thetas * phis,
        rho=rhos,
        m=centres - rhos / phis,
        sigma=np.sqrt(one_minus) / phis,
    )


def durrleman_g(
    *, log_moneyness: np.ndarray, derivatives: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    """``g = (1 − k w'/(2w))² − w'²/4·(1/w + 1/4) + w''/2`` from ``(w, w', w'')`` at ``k``.

    The density is ``g(k)·n(d2)/(K√w)``, so it is negative exactly where ``g < 0``.
    References: Gatheral & Jacquier (2014), Lemma 2.2 (after Durrleman).
    """
    w, w1, w2 = derivatives
    k = np.asarray(log_moneyness, dtype=float)
    g: np.ndarray = (1.0 - k * w1 / (2.0 * w)) ** 2 - 0.25 * w1 * w1 * (1.0 / w + 0.25) + 0.5 * w2
    return g


def _lead(values: np.ndarray, ndim: int) -> np.ndarray:
    values = np.asarray(values)
    return np.reshape(values, values.shape + (1,) * max(ndim - 1, 0))


@dataclass(frozen=True)
class SviSmiles:
    """SVI smiles for ``n`` expiries, quoted in ``conventions``.

    Attributes:
        expiries, forwards, foreign_discount_factors: shape ``[n]`` (as in :class:`TenorQuote`).
        params: raw SVI parameters, arrays of shape ``[n]``.
        conventions: how the smiles are quoted.

    Evaluation methods take arrays whose leading axis is the expiry: shape ``[n]`` (one point
    per expiry) or ``[n, m]`` (``m`` points per expiry).
    """

    expiries: np.ndarray
    forwards: np.ndarray
    foreign_discount_factors: np.ndarray
    params: SviParams
    conventions: SmileConventions

    def derivatives(
        self, *, log_moneyness: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(w, ∂w/∂k, ∂²w/∂k²)`` at ``k = ln(K/F)``."""
        k = np.asarray(log_moneyness, dtype=float)
        return svi_variance(log_moneyness=k, params=self.params.map(lambda p: _lead(p, k.ndim)))

    def variance_and_slope(self, log_moneyness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(w, ∂w/∂k)``: the ``VarianceFunction`` that :mod:`pricing.vol.surface` quotes from."""
        w, w1, _ = self.derivatives(log_moneyness=log_moneyness)
        return w, w1

    def total_variance(self, *, log_moneyness: np.ndarray) -> np.ndarray:
        """``w(k) = σ²T``."""
        return self.derivatives(log_moneyness=log_moneyness)[0]

    def vols(self, *, strikes: np.ndarray) -> np.ndarray:
        """Implied vols ``σ(K)``."""
        strikes = np.asarray(strikes, dtype=float)
        k = np.log(strikes / _lead(self.forwards, strikes.ndim))
        vols: np.ndarray = np.sqrt(
            self.derivatives(log_moneyness=k)[0] / _lead(self.expiries, k.ndim)
        )
        return vols

    def vol_slopes(self, *, strikes: np.ndarray) -> np.ndarray:
        """``dσ/dK = w'(k) / (2σTK)``, per JPY per USD of strike (digitals need it)."""
        strikes = np.asarray(strikes, dtype=float)
        k = np.log(strikes / _lead(self.forwards, strikes.ndim))
        w, w1, _ = self.derivatives(log_moneyness=k)
        slopes: np.ndarray = w1 / (2.0 * np.sqrt(w * _lead(self.expiries, k.ndim)) * strikes)
        return slopes

    def durrleman_g(self, *, log_moneyness: np.ndarray) -> np.ndarray:
        """Durrleman's ``g(k)`` (see :func:`durrleman_g`)."""
        k = np.asarray(log_moneyness, dtype=float)
        return durrleman_g(log_moneyness=k, derivatives=self.derivatives(log_moneyness=k))

    def densities(self, *, strikes: np.ndarray) -> np.ndarray:
        """Risk-neutral density of ``S_T`` (T-forward measure), per JPY per USD of strike.

        ``p(K) = ∂²C/∂K² / DF_d = g(k)·n(d2)/(K√w)`` (Breeden–Litzenberger; Gatheral 2006 §3).
        """
        strikes = np.asarray(strikes, dtype=float)
        k = np.log(strikes / _lead(self.forwards, strikes.ndim))
        derivatives = self.derivatives(log_moneyness=k)
        root_w = np.sqrt(derivatives[0])
        d2 = -k / root_w - 0.5 * root_w
        g = durrleman_g(log_moneyness=k, derivatives=derivatives)
        density: np.ndarray = g * _INV_SQRT_2PI * np.exp(-0.5 * d2 * d2) / (strikes * root_w)
        return density
