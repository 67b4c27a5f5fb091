"""The smile a set of prices implies: Black total variance, its slope, and densities.

Conventions: forwards and strikes in JPY per USD; premiums discounted, JPY per USD of
notional (digitals: per JPY of payout); expiries in years ACT/365F; ``k = ln(K/F)``; total
variance ``w = σ²T``.

:func:`implied_variance` turns out-of-the-money vanilla prices into ``w(k)`` (by
:func:`pricing.fx.implied_vol.implied_vol`) and the digitals on the same side into ``∂w/∂k``:
a digital is the strike derivative of the vanilla, ``D_ω = −ω·dC_ω/dK``, and Black on the
implied vol gives ``D_ω = DF·N(ω·d2) − ω·vega·σ'(K)``, hence::

    ∂w/∂k = 2σT·K·σ'(K) = 2√w · ω·(N(ω·d2) − D_ω/DF) / n(d2)

(``F·n(d1) = K·n(d2)``). Pricing each point on its out-of-the-money side keeps both
differences free of cancellation. The pair is a :data:`pricing.vol.surface.VarianceFunction`
row, so :func:`pricing.vol.quoting.quote_total_variance` quotes a mixture as it quotes a smile.

:func:`variance_densities` is Breeden–Litzenberger written in total variance: the density of
``S_T`` under the T-forward measure is ``∂²C/∂K²/DF = g(k)·n(d2)/(K·√w)`` with Durrleman's
``g`` from ``(w, w', w'')``; with ``w' = w'' = 0`` it is the lognormal density.

References: Breeden & Litzenberger (1978); Gatheral, *The Volatility Surface* (2006), §3;
Gatheral & Jacquier (2014), Lemma 2.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from pricing.fx.implied_vol import implied_vol
from pricing.vol.svi import durrleman_g

_INV_SQRT_2PI = 0.3989422804014327
_TINY_PDF = 1e-280  # below this n(d2) the slope is not representable


@dataclass(frozen=True)
class ImpliedVariance:
    """``w`` and ``∂w/∂k`` of the broadcast shape; 0 exactly where ``converged`` is False."""

    total_vars: np.ndarray
    slopes: np.ndarray
    converged: np.ndarray


def implied_variance(
    *,
    otm_prices: np.ndarray,
    digital_prices: np.ndarray,
    log_moneyness: np.ndarray,
    forwards: np.ndarray,
    expiries: np.ndarray,
    discount_factors: np.ndarray,
) -> ImpliedVariance:
    """Black total variance and its ``k``-slope implied by out-of-the-money prices.

    Args:
        otm_prices: discounted vanilla premiums, a call where ``k ≥ 0`` and a put where
            ``k < 0``.
        digital_prices: discounted cash-or-nothing digitals paying 1 JPY on the same side
            (call where ``k ≥ 0``, put where ``k < 0``), priced off the same model.
        log_moneyness: ``k = ln(K/F)``.
        forwards, expiries, discount_factors: ``F``, ``T`` (years), JPY ``DF`` to delivery.

    All arrays broadcast. Points whose vol does not invert (price outside Black's range or
    too small to carry a vol) or whose slope underflows come back unconverged, with 0s.
    """
    k, forwards, t, dfs = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (log_moneyness, forwards, expiries, discount_factors))
    )
    is_call = k >= 0.0
    ivs = implied_vol(
        prices=otm_prices,
        forwards=forwards,
        strikes=forwards * np.exp(k),
        expiries=t,
        discount_factors=dfs,
        is_call=is_call,
    )
    w = ivs.vols * ivs.vols * t
    ok = ivs.converged & (w > 0.0)
    root_w = np.sqrt(np.where(ok, w, 1.0))
    d2 = -k / root_w - 0.5 * root_w
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * d2 * d2)
    ok &= pdf > _TINY_PDF
    omega = np.where(is_call, 1.0, -1.0)
    gap = ndtr(omega * d2) - np.asarray(digital_prices, dtype=float) / dfs
    slopes = 2.0 * root_w * omega * gap / np.where(ok, pdf, 1.0)
    return ImpliedVariance(
        total_vars=np.where(ok, w, 0.0), slopes=np.where(ok, slopes, 0.0), converged=ok
    )


def variance_densities(
    *,
    log_moneyness: np.ndarray,
    strikes: np.ndarray,
    derivatives: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Density of ``S_T`` per JPY of strike from ``(w, ∂w/∂k, ∂²w/∂k²)`` at ``k = ln(K/F)``.

    Arrays broadcast; ``w > 0`` required (a broken contract otherwise). Negative where the
    smile has butterfly arbitrage (Durrleman's ``g < 0``): reported, not clipped.
    """
    w = np.asarray(derivatives[0], dtype=float)
    if not np.all(w > 0):
        raise ValueError("variance_densities needs positive total variance")
    k = np.asarray(log_moneyness, dtype=float)
    root_w = np.sqrt(w)
    d2 = -k / root_w - 0.5 * root_w
    g = durrleman_g(log_moneyness=k, derivatives=derivatives)
    densities: np.ndarray = (
        g * _INV_SQRT_2PI * np.exp(-0.5 * d2 * d2) / (np.asarray(strikes, float) * root_w)
    )
    return densities
