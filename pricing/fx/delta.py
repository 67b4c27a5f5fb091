"""Strike ⇄ delta for FX options in the four delta conventions, and the ATM strikes.

Conventions: forwards and strikes in JPY per USD; JPY is the domestic currency, USD the
foreign one; a delta is per USD of notional. ``std_devs`` are ``s = σ·√T`` (annualised vol
times the square root of years ACT/365F to expiry); ``foreign_discount_factors`` are USD
discount factors to delivery. With ``φ = +1`` for calls, ``−1`` for puts and
``d1,2 = ln(F/K)/s ± s/2``::

    spot                        Δ = φ·DF_f·N(φ·d1)
    forward                     Δ = φ·N(φ·d1)
    premium-adjusted spot       Δ = φ·DF_f·(K/F)·N(φ·d2)
    premium-adjusted forward    Δ = φ·(K/F)·N(φ·d2)

A premium-adjusted delta is the unadjusted one minus the premium expressed in USD (USD/JPY
premium is paid in USD). The unadjusted inverses are closed forms. The premium-adjusted ones
are solved by a bracketed Newton in ``k = ln(K/F)`` on ``h(k) = k + ln N(φ·d2) − ln(φΔ/DF)``,
with the brackets of Reiswich & Wystup (2010) §3 / Clark (2011) §3.3:

* call — the adjusted delta is not monotone in strike; its maximum sits where
  ``s·N(d2) = n(d2)``, and the desk's strike lies to the right of it. The unadjusted strike of
  the same delta is a right bound (the adjusted delta is always the smaller, the difference
  being the premium). Deltas above the maximum have no strike: ``solved`` is False there.
* put — monotone; bracketed by ``K = F·|Δ|/DF`` (where ``|Δ_pa| < |Δ|``) and the unadjusted
  strike.

ATM strikes: forward ``K = F``; delta-neutral straddle (call delta + put delta = 0)
``K = F·e^{+s²/2}`` unadjusted and ``K = F·e^{−s²/2}`` premium-adjusted (``d2 = 0``); spot
``K = S``. :func:`bracketed_newton` is the vectorised safeguarded Newton used here and by
:mod:`pricing.vol.smile`.

References: Clark, *Foreign Exchange Option Pricing* (2011), §3.2–3.5; Reiswich & Wystup,
"FX volatility smile construction", CPQF working paper 20 (2010) / Wilmott (2012); QuantLib
``BlackDeltaCalculator`` (the test witness).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri

_LOG_SQRT_2PI = 0.9189385332046728


class DeltaType(StrEnum):
    """Delta conventions, by the value the API shows."""

    SPOT = "spot"
    FORWARD = "forward"
    PREMIUM_ADJUSTED_SPOT = "premium_adjusted_spot"
    PREMIUM_ADJUSTED_FORWARD = "premium_adjusted_forward"

    @property
    def is_premium_adjusted(self) -> bool:
        return self in (DeltaType.PREMIUM_ADJUSTED_SPOT, DeltaType.PREMIUM_ADJUSTED_FORWARD)

    @property
    def is_spot(self) -> bool:
        return self in (DeltaType.SPOT, DeltaType.PREMIUM_ADJUSTED_SPOT)


class AtmType(StrEnum):
    """ATM conventions: at the forward, delta-neutral straddle, or at spot."""

    FORWARD = "forward"
    DELTA_NEUTRAL = "delta_neutral"
    SPOT = "spot"


@dataclass(frozen=True)
class StrikeSolution:
    """Strikes from deltas; ``strikes`` is NaN exactly where ``solved`` is False."""

    strikes: np.ndarray
    solved: np.ndarray


@dataclass(frozen=True)
class RootResult:
    """Roots of :func:`bracketed_newton`; ``roots`` is NaN exactly where ``converged`` is False."""

    roots: np.ndarray
    converged: np.ndarray


def bracketed_newton(
    *,
    fun: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    lower: np.ndarray,
    upper: np.ndarray,
    initial: np.ndarray | None = None,
    x_tol: float = 1e-14,
    max_iter: int = 100,
) -> RootResult:
    """Elementwise root of ``fun`` in ``[lower, upper]`` by Newton safeguarded by bisection.

    Args:
        fun: maps ``x`` (the broadcast shape) to ``(f(x), f'(x))``, elementwise.
        lower, upper: bracket ends, ``lower < upper``; elements where ``f`` does not change
            sign over the bracket are returned unconverged.
        initial: starting points (default: bracket midpoints), clipped into the bracket.
        x_tol: stop when the Newton step or the bracket is below ``x_tol·(1 + |x|)``.
        max_iter: iteration cap; elements still moving are returned unconverged.
    """
    lo, hi = np.broadcast_arrays(np.asarray(lower, dtype=float), np.asarray(upper, dtype=float))
    lo, hi = lo.copy(), hi.copy()
    f_lo = fun(lo)[0]
    f_hi = fun(hi)[0]
    valid = np.isfinite(f_lo) & np.isfinite(f_hi) & (np.sign(f_lo) * np.sign(f_hi) <= 0)
    x = 0.5 * (lo + hi) if initial is None else np.clip(initial, lo, hi)
    x = np.where(f_lo == 0, lo, np.where(f_hi == 0, hi, x))
    done = ~valid | (f_lo == 0) | (f_hi == 0)
    converged = valid & done
    lo_positive = f_lo > 0
    for _ in range(max_iter):
        if done.all():
            break
        f, df = fun(x)
        exact = f == 0
        same_as_lo = (f > 0) == lo_positive
        lo = np.where(~done & same_as_lo, x, lo)
        hi = np.where(~done & ~same_as_lo, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f / df
        scale = x_tol * (1.0 + np.abs(x))
        # a Newton step below tolerance ends the search even if rounding puts it on the
        # bracket's edge (the edge was just moved to x)
        tiny_step = np.abs(step) <= scale
        x_new = x - step
        outside = ~np.isfinite(x_new) | (x_new <= lo) | (x_new >= hi)
        x_new = np.where(outside & ~tiny_step, 0.5 * (lo + hi), x_new)
        small = tiny_step | (hi - lo <= scale) | exact
        x_new = np.where(exact, x, x_new)
        newly = ~done & small & np.isfinite(f)
        converged |= newly
        x = np.where(done, x, x_new)
        done |= newly
    return RootResult(roots=np.where(converged, x, np.nan), converged=converged)


def _phis(is_call: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(is_call, dtype=bool), 1.0, -1.0)


def _require_positive(**arrays: float | np.ndarray) -> None:
    for name, values in arrays.items():
        if not np.all(np.asarray(values) > 0):
            raise ValueError(f"{name} must be positive, got {np.asarray(values)!r}")


def _delta_scales(delta_type: DeltaType, foreign_discount_factors: np.ndarray) -> np.ndarray:
    # spot deltas hedge with spot USD, worth DF_f of the forward USD
    factors = np.asarray(foreign_discount_factors, dtype=float)
    return factors if delta_type.is_spot else np.ones_like(factors)


def delta_from_strike(
    *,
    strikes: np.ndarray,
    forwards: np.ndarray,
    std_devs: np.ndarray,
    foreign_discount_factors: np.ndarray,
    is_call: np.ndarray,
    delta_type: DeltaType,
) -> np.ndarray:
    """Delta of calls/puts at ``strikes`` in ``delta_type`` (signed: puts negative).

    All arrays broadcast; ``std_devs = σ√T > 0``. Returns the broadcast shape.
    """
    _require_positive(strikes=strikes, forwards=forwards, std_devs=std_devs)
    s = np.asarray(std_devs, dtype=float)
    phi = _phis(is_call)
    k = np.log(np.asarray(strikes, dtype=float) / np.asarray(forwards, dtype=float))
    scale = _delta_scales(delta_type, foreign_discount_factors)
    d2 = -k / s - 0.5 * s
    if delta_type.is_premium_adjusted:
        adjusted: np.ndarray = phi * scale * np.exp(k) * ndtr(phi * d2)
        return adjusted
    deltas: np.ndarray = phi * scale * ndtr(phi * (d2 + s))
    return deltas


def _premium_adjusted_max_d2(std_devs: np.ndarray) -> np.ndarray:
    """``d2`` where the adjusted call delta peaks: ``n(d2) = s·N(d2)``, i.e. Mills ratio = s."""
    log_s = np.log(std_devs)

    def fun(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_ratio = -0.5 * u * u - _LOG_SQRT_2PI - log_ndtr(u)  # ln(n(u)/N(u)), decreasing
        return log_ratio - log_s, -(u + np.exp(log_ratio))

    # n/N > -u, so u = -s - 1 is left of the root; for u >= 0, n/N <= 2n(u)
    lower = -std_devs - 1.0
    upper = np.sqrt(np.maximum(0.0, 2.0 * (np.log(2.0) - log_s - _LOG_SQRT_2PI))) + 1.0
    return bracketed_newton(fun=fun, lower=lower, upper=upper).roots


def strike_from_delta(
    *,
    deltas: np.ndarray,
    forwards: float | np.ndarray,
    std_devs: np.ndarray,
    foreign_discount_factors: np.ndarray,
    is_call: np.ndarray,
    delta_type: DeltaType,
) -> StrikeSolution:
    """Strikes with the given signed ``deltas`` (calls > 0, puts < 0) in ``delta_type``.

    Arrays broadcast. ``solved`` is False where no strike has that delta: wrong sign,
    ``|Δ| ≥ DF_f`` (spot) or ``≥ 1`` (forward) unadjusted, or an adjusted call delta above
    its maximum. For adjusted calls the strike right of the maximum is returned (the desk's
    and QuantLib's choice).
    """
    _require_positive(forwards=forwards, std_devs=std_devs)
    deltas, forwards, s, dfs, phi = np.broadcast_arrays(
        np.asarray(deltas, dtype=float),
        np.asarray(forwards, dtype=float),
        np.asarray(std_devs, dtype=float),
        np.asarray(foreign_discount_factors, dtype=float),
        _phis(is_call),
    )
    scale = _delta_scales(delta_type, dfs)
    ratio = phi * deltas / scale  # in (0, 1) for an attainable unadjusted delta
    in_range = np.isfinite(ratio) & (ratio > 0) & (ratio < 1)
    safe = np.where(in_range, ratio, 0.5)
    log_unadjusted = -phi * ndtri(safe) * s + 0.5 * s * s  # k of the unadjusted strike
    if not delta_type.is_premium_adjusted:
        strikes = np.where(in_range, forwards * np.exp(log_unadjusted), np.nan)
        return StrikeSolution(strikes=strikes, solved=in_range)
    positive = np.isfinite(ratio) & (ratio > 0)
    log_ratio = np.log(np.where(positive, ratio, 1.0))

    def fun(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d2 = -k / s - 0.5 * s
        log_cdf = log_ndtr(phi * d2)
        mills = np.exp(-0.5 * d2 * d2 - _LOG_SQRT_2PI - log_cdf)
        return k + log_cdf - log_ratio, 1.0 - phi * mills / s

    u_max = _premium_adjusted_max_d2(s)
    call_lower = -s * u_max - 0.5 * s * s
    # a put delta may exceed the unadjusted range; then any k with e^k·N(-d2) > |Δ| bounds it
    put_upper = np.where(in_range, log_unadjusted, log_ratio + 0.5 * s * s + 5.0 * s)
    lower = np.where(phi > 0, call_lower, log_ratio)
    upper = np.where(phi > 0, log_unadjusted, put_upper)
    attainable = positive & np.where(phi > 0, in_range, True)
    lower = np.where(attainable, lower, -1.0)
    upper = np.where(attainable, upper, 1.0)
    result = bracketed_newton(fun=fun, lower=lower, upper=upper, initial=upper)
    solved = attainable & result.converged
    strikes = np.where(solved, forwards * np.exp(np.where(solved, result.roots, 0.0)), np.nan)
    return StrikeSolution(strikes=strikes, solved=solved)


def atm_strike(
    *,
    forwards: np.ndarray,
    std_devs: np.ndarray,
    atm_type: AtmType,
    delta_type: DeltaType,
    spots: np.ndarray | None = None,
) -> np.ndarray:
    """ATM strike in ``atm_type``; delta-neutral depends on whether ``delta_type`` is adjusted.

    ``spots`` is needed (and only used) for :attr:`AtmType.SPOT`.
    """
    forwards = np.asarray(forwards, dtype=float)
    s = np.asarray(std_devs, dtype=float)
    if atm_type is AtmType.FORWARD:
        return np.broadcast_to(forwards, np.broadcast_shapes(forwards.shape, s.shape)).copy()
    if atm_type is AtmType.SPOT:
        if spots is None:
            raise ValueError("atm_strike(atm_type=SPOT) needs spots")
        shape = np.broadcast_shapes(forwards.shape, s.shape, np.shape(spots))
        return np.broadcast_to(np.asarray(spots, dtype=float), shape).copy()
    sign = -1.0 if delta_type.is_premium_adjusted else 1.0
    strike: np.ndarray = forwards * np.exp(sign * 0.5 * s * s)
    return strike
