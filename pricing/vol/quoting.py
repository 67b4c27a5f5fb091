"""Reading ATM, risk reversals and butterflies back off any smile, in the desk's conventions.

Conventions: forwards and strikes in JPY per USD (JPY domestic, USD foreign); vols annualised
decimals; expiries in years ACT/365F; ``k = ln(K/F)``; total variance ``w = σ²T``; deltas,
ATM and butterfly types of :class:`pricing.vol.quotes.SmileConventions` (USD/JPY's by
default: premium-adjusted, spot delta to 1Y, delta-neutral ATM, broker strangle).

:func:`quote_total_variance` reads ATM, RR and BF (broker and smile) off any total variance
function — an SVI smile, a surface at arbitrary expiries (:func:`quote_surface`), or a
mixture's implied smile — by one-dimensional solves: ATM is the fixed point
``k = ∓w(k)/2`` (delta-neutral) or ``k = 0``; wing strikes solve ``Δ(k, w(k)) = ±δ`` by
bracketed Newton; the broker strangle solves ``(σ_ms, k_c, k_p)`` by Newton.

References: Clark, *Foreign Exchange Option Pricing* (2011), §3.7; Reiswich & Wystup, "FX
volatility smile construction", CPQF WP 20 (2010).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from pricing.fx.delta import AtmType, bracketed_newton
from pricing.vol.quotes import SmileConventions, SmileError
from pricing.vol.surface import VarianceFunction, VolSurface

_INV_SQRT_2PI = 0.3989422804014327


@dataclass(frozen=True)
class SmileQuotes:
    """Quotes read off smiles: ``[n]`` per expiry, ``[n, d]`` per expiry × wing delta.

    Entries are NaN exactly where ``converged`` is False (a strike or strangle solve failed).
    Butterflies are given both ways: broker (market) strangle and smile strangle.
    """

    expiries: np.ndarray
    deltas: np.ndarray
    atm_strikes: np.ndarray
    atm_vols: np.ndarray
    call_strikes: np.ndarray
    put_strikes: np.ndarray
    call_vols: np.ndarray
    put_vols: np.ndarray
    risk_reversals: np.ndarray
    smile_butterflies: np.ndarray
    broker_butterflies: np.ndarray
    converged: np.ndarray


def _black(k: np.ndarray, w: np.ndarray, phi: np.ndarray | float) -> tuple[np.ndarray, ...]:
    """Undiscounted Black price over ``F`` at ``(k, w)`` and its ``∂/∂k``, ``∂/∂w``."""
    root_w = np.sqrt(w)
    d1 = -k / root_w + 0.5 * root_w
    n_d1 = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    cdf2 = np.exp(k) * ndtr(phi * (d1 - root_w))
    return phi * (ndtr(phi * d1) - cdf2), -phi * cdf2, n_d1 / (2.0 * root_w)


def _flat_delta(
    k: np.ndarray, w: np.ndarray, phi: np.ndarray | float, scale: np.ndarray, pa: bool
) -> tuple[np.ndarray, ...]:
    """Delta at ``(k, w)`` in the conventions and its ``∂/∂k``, ``∂/∂w``."""
    root_w = np.sqrt(w)
    d2 = -k / root_w - 0.5 * root_w
    dd2_dw = k / (2.0 * w * root_w) - 0.25 / root_w
    if pa:
        factor = scale * np.exp(k)
        n_d2 = _INV_SQRT_2PI * np.exp(-0.5 * d2 * d2)
        cdf = ndtr(phi * d2)
        return (
            phi * factor * cdf,
            phi * factor * (cdf - phi * n_d2 / root_w),
            factor * n_d2 * dd2_dw,
        )
    d1 = d2 + root_w
    n_d1 = scale * _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    return phi * scale * ndtr(phi * d1), -n_d1 / root_w, n_d1 * (dd2_dw + 0.5 / root_w)


def _check_deltas(deltas: Sequence[float]) -> np.ndarray:
    values = np.asarray(deltas, dtype=float).reshape(-1)
    if values.size == 0:
        raise SmileError("deltas", "must hold at least one wing delta, got none")
    for j, delta in enumerate(values):
        if not 0 < delta < 0.5:
            raise SmileError(f"deltas[{j}]", f"must be in (0, 0.5), got {delta}")
    return values


def quote_total_variance(
    *,
    variance: VarianceFunction,
    expiries: np.ndarray,
    forwards: np.ndarray,
    foreign_discount_factors: np.ndarray,
    deltas: Sequence[float] = (0.25, 0.10),
    conventions: SmileConventions | None = None,
) -> SmileQuotes:
    """Quote smiles given as total variance in ``k`` back as ATM, RR and BF.

    ATM is the fixed point ``k = ∓w(k)/2`` (delta-neutral) or ``k = 0``; the wing strikes solve
    ``Δ(k, w(k)) = ±δ`` by bracketed Newton; the broker strangle solves
    ``(σ_ms, k_c, k_p)`` — the strangle's delta equations at the flat vol and equal prices
    under the flat vol and the smile — by Newton, started from the smile's wing strikes.

    Args:
        variance: ``k [n, m] ↦ (w, ∂w/∂k)`` for the ``n`` expiries.
        expiries, forwards, foreign_discount_factors: shape ``[n]``.
        deltas: wing deltas in (0, 0.5), shape ``[d]``.
        conventions: delta/ATM conventions (default USD/JPY's).

    Raises:
        SmileError: a wing delta outside (0, 0.5) (field ``deltas[j]``).
    """
    conventions = conventions or SmileConventions()
    wing_deltas = _check_deltas(deltas)
    n_deltas = wing_deltas.size
    t = np.asarray(expiries, dtype=float)[:, None]
    forwards = np.asarray(forwards, dtype=float)
    scale = conventions.delta_scales(
        expiries=t[:, 0], foreign_discount_factors=foreign_discount_factors
    )[:, None]
    pa = conventions.premium_adjusted
    atm_k, atm_ok = _atm_log_moneyness(variance, t, conventions)
    w_atm = np.abs(variance(atm_k)[0])
    atm_vols, root_atm = np.sqrt(w_atm / t), np.sqrt(w_atm)
    # calls in the first d columns, puts in the last d: one solve for both wings
    phi = np.repeat([1.0, -1.0], n_deltas)[None, :]
    targets = phi * np.tile(wing_deltas, 2)[None, :]

    def fun(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, w1 = variance(k)
        w = np.where(w > 0, w, np.nan)
        delta, d_dk, d_dw = _flat_delta(k, w, phi, scale, pa)
        return delta - targets, d_dk + d_dw * w1

    call_lower = atm_k if pa else atm_k - 3.0 * root_atm
    lower = np.where(phi > 0, call_lower, atm_k - 12.0 * root_atm - 1e-12)
    upper = np.where(phi > 0, atm_k + 12.0 * root_atm + 1e-12, atm_k + 3.0 * root_atm)
    root = bracketed_newton(fun=fun, lower=lower, upper=upper)
    k = np.where(root.converged, root.roots, atm_k)
    w = variance(k)[0]
    ok = root.converged & atm_ok & (w > 0)
    vols = np.sqrt(np.where(ok, w, w_atm) / t)
    call_k, put_k = k[:, :n_deltas], k[:, n_deltas:]
    call_vols, put_vols = vols[:, :n_deltas], vols[:, n_deltas:]
    converged = ok[:, :n_deltas] & ok[:, n_deltas:]
    # a degenerate smile (a wing far beyond any market) sends the Newton steps through inf
    # and NaN; those elements come back not converged (broker_ok False), shown as null
    with np.errstate(all="ignore"):
        broker, broker_ok = _broker_vols(
            variance, t, scale, wing_deltas[None, :], 0.5 * (call_vols + put_vols), call_k,
            put_k, pa,
        )  # fmt: skip
    converged &= broker_ok

    def masked(values: np.ndarray) -> np.ndarray:
        return np.where(converged, values, np.nan)

    return SmileQuotes(
        expiries=t[:, 0],
        deltas=wing_deltas,
        atm_strikes=np.where(atm_ok[:, 0], forwards * np.exp(atm_k[:, 0]), np.nan),
        atm_vols=np.where(atm_ok[:, 0], atm_vols[:, 0], np.nan),
        call_strikes=masked(forwards[:, None] * np.exp(call_k)),
        put_strikes=masked(forwards[:, None] * np.exp(put_k)),
        call_vols=masked(call_vols),
        put_vols=masked(put_vols),
        risk_reversals=masked(call_vols - put_vols),
        smile_butterflies=masked(0.5 * (call_vols + put_vols) - atm_vols),
        broker_butterflies=masked(broker - atm_vols),
        converged=converged,
    )


def quote_surface(
    *,
    surface: VolSurface,
    deltas: Sequence[float] = (0.25, 0.10),
    expiries: np.ndarray | None = None,
    forwards: np.ndarray | None = None,
    foreign_discount_factors: np.ndarray | None = None,
) -> SmileQuotes:
    """Quote ``surface`` at its pillars (default) or at ``expiries`` with their forwards and
    USD discount factors, in the pillar smiles' conventions."""
    smiles = surface.smiles
    if expiries is None:
        expiries, forwards, foreign_discount_factors = (
            smiles.expiries,
            smiles.forwards,
            smiles.foreign_discount_factors,
        )
    elif forwards is None or foreign_discount_factors is None:
        raise ValueError("quote_surface(expiries=...) needs forwards and foreign_discount_factors")
    return quote_total_variance(
        variance=surface.variance_function(expiries),
        expiries=expiries,
        forwards=forwards,
        foreign_discount_factors=foreign_discount_factors,
        deltas=deltas,
        conventions=smiles.conventions,
    )


def _atm_log_moneyness(
    variance: VarianceFunction, t: np.ndarray, conventions: SmileConventions
) -> tuple[np.ndarray, np.ndarray]:
    """ATM ``k`` ``[n, 1]``: 0 (forward) or the fixed point ``k = ∓w(k)/2`` (delta-neutral)."""
    zeros = np.zeros_like(t)
    w0 = variance(zeros)[0]
    ok = np.isfinite(w0) & (w0 > 0)
    if conventions.atm_type is AtmType.FORWARD:
        return zeros, ok
    sign = -1.0 if conventions.premium_adjusted else 1.0

    def fun(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, w1 = variance(k)
        return k - sign * 0.5 * w, 1.0 - sign * 0.5 * w1

    reach = 4.0 * np.where(ok, w0, 1.0) + 1e-12
    root = bracketed_newton(
        fun=fun, lower=np.where(sign < 0, -reach, zeros), upper=np.where(sign < 0, zeros, reach)
    )
    return np.where(root.converged, root.roots, 0.0), ok & root.converged


def _broker_vols(
    variance: VarianceFunction,
    t: np.ndarray,
    scale: np.ndarray,
    deltas: np.ndarray,
    sigma: np.ndarray,
    k_call: np.ndarray,
    k_put: np.ndarray,
    pa: bool,
    max_iter: int = 30,
) -> tuple[np.ndarray, np.ndarray]:
    """Market-strangle vols ``σ_ms`` ``[n, d]`` (Clark 2011 §3.7.2) by Newton on
    ``(σ, k_c, k_p)``: ``Δ_call(k_c; σ) = δ``, ``Δ_put(k_p; σ) = −δ`` and the strangle priced
    alike at ``σ`` and on the smile. Starts from the smile strangle and its strikes."""
    converged = np.zeros(sigma.shape, dtype=bool)
    alive = np.isfinite(sigma) & np.isfinite(k_call) & np.isfinite(k_put)
    for _ in range(max_iter):
        w_flat = np.where(alive, sigma, 0.1) ** 2 * t
        dw_dsigma = 2.0 * sigma * t
        w_smile, w_slope = variance(np.concatenate([k_call, k_put], axis=1))
        w_c, w_p = np.split(np.where(w_smile > 0, w_smile, np.nan), 2, axis=1)
        s_c, s_p = np.split(w_slope, 2, axis=1)
        delta_c, delta_c_k, delta_c_w = _flat_delta(k_call, w_flat, 1.0, scale, pa)
        delta_p, delta_p_k, delta_p_w = _flat_delta(k_put, w_flat, -1.0, scale, pa)
        flat_c, flat_c_k, flat_c_w = _black(k_call, w_flat, 1.0)
        flat_p, flat_p_k, flat_p_w = _black(k_put, w_flat, -1.0)
        smile_c, smile_c_k, smile_c_w = _black(k_call, w_c, 1.0)
        smile_p, smile_p_k, smile_p_w = _black(k_put, w_p, -1.0)
        r_c, r_p = delta_c - deltas, delta_p + deltas
        gap = flat_c + flat_p - smile_c - smile_p
        g_sigma = (flat_c_w + flat_p_w) * dw_dsigma
        g_c = flat_c_k - smile_c_k - smile_c_w * s_c
        g_p = flat_p_k - smile_p_k - smile_p_w * s_p
        # eliminate the two delta rows, then the price row gives the vol step
        with np.errstate(divide="ignore", invalid="ignore"):  # non-finite: dropped below
            a_c, a_p = delta_c_w * dw_dsigma / delta_c_k, delta_p_w * dw_dsigma / delta_p_k
            d_sigma = (-gap + g_c * r_c / delta_c_k + g_p * r_p / delta_p_k) / (
                g_sigma - g_c * a_c - g_p * a_p
            )
            d_call = -r_c / delta_c_k - a_c * d_sigma
            d_put = -r_p / delta_p_k - a_p * d_sigma
        finite = np.isfinite(d_sigma) & np.isfinite(d_call) & np.isfinite(d_put)
        alive &= finite | converged
        step = np.where(alive & ~converged, 1.0, 0.0)
        sigma = sigma + step * np.nan_to_num(d_sigma)
        k_call = k_call + step * np.nan_to_num(d_call)
        k_put = k_put + step * np.nan_to_num(d_put)
        # quadratic convergence: a step this small leaves rounding-level error
        small = (np.abs(d_sigma) <= 1e-13) & (np.maximum(np.abs(d_call), np.abs(d_put)) <= 1e-12)
        converged |= alive & small
        alive &= sigma > 0
        if (converged | ~alive).all():
            break
    converged &= alive
    return np.where(converged, sigma, np.nan), converged
