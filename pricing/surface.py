"""Volatility surfaces across tenors, with the event's variance on its date; quotes; arbitrage.

Conventions: forwards and strikes in JPY per USD; vols annualised decimals; expiries and
event times in years ACT/365F; ``k = ln(K/F(T))``; total variance ``w(T, k) = σ²T``.

Interpolation in total variance at fixed ``k``, split into diffusive and event parts::

    w(T, k) = w_d(T, k) + E(T),     E(T) = Σ_e v_e·1[T > T_e]

Each pillar's diffusive variance is its smile less the events before it,
``w_d(T_j, k) = w_j(k) − E(T_j)``; ``w_d`` is linear in ``T`` between pillars, runs from 0 at
``T = 0`` to the first pillar and grows like ``T`` beyond the last (flat forward vol). The
event's variance is thus paid in full on its date, not spread over the pillar interval: the
ATM term structure jumps at ``T_e`` — the kink the desk sees — and pillars re-price exactly.
An option expiring on the event date does not include it (as in the mixture pricer). Event
variances are flat in ``k``; :func:`event_variance_from_weight` sizes one from the desk's
"event day counts as N days" weighting.

:func:`quote_total_variance` reads ATM, RR and BF (broker and smile) off any total variance
function — an SVI smile, this surface at arbitrary expiries, or a mixture's implied smile —
in the conventions of :class:`pricing.smile.SmileConventions`.

Arbitrage is reported, never repaired (:func:`arbitrage_report`): butterfly where Durrleman's
``g(k) < 0`` (negative density) or a wing is steeper than Lee's bound 2; calendar where the
diffusive variance falls from one pillar to the next at some ``k`` (the interpolated ``w`` then
falls in ``T``), including a later pillar's wing that is flatter than an earlier one.

References: Gatheral, *The Volatility Surface* (2006), ch. 3–4; Gatheral & Jacquier (2014);
Clark, *Foreign Exchange Option Pricing* (2011), §4 (event weights); Lee (2004), "The moment
formula for implied volatility at extreme strikes".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import ndtr

from pricing.fx_delta import AtmType, bracketed_newton
from pricing.smile import (
    SmileConventions,
    SmileError,
    SviSmiles,
    TenorQuote,
    durrleman_g,
    fit_smiles,
    svi_variance,
)

VarianceFunction = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``k [n, m] ↦ (w, ∂w/∂k)``, row ``i`` for expiry ``i``."""

_INV_SQRT_2PI = 0.3989422804014327
_STD_GRID = np.linspace(-10.0, 10.0, 401)


@dataclass(frozen=True)
class EventVariance:
    """A dated event: ``variance`` (total, flat in ``k``) added to expiries after ``time``."""

    time: float
    variance: float


@dataclass(frozen=True)
class SurfaceVols:
    """Vols and ``dσ/dK`` (per JPY per USD); NaN exactly where ``valid`` is False (``w ≤ 0``)."""

    vols: np.ndarray
    vol_slopes: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True)
class VolSurface:
    """Pillar smiles plus dated event variances (``event_times``/``event_variances`` ``[e]``)."""

    smiles: SviSmiles
    event_times: np.ndarray
    event_variances: np.ndarray

    @cached_property
    def _pillar_events(self) -> np.ndarray:
        return self.event_variance(self.smiles.expiries)

    def event_variance(self, expiries: np.ndarray) -> np.ndarray:
        """``E(T)``: the variance of the events strictly before each expiry."""
        t = np.asarray(expiries, dtype=float)[..., None]
        return np.sum(np.where(t > self.event_times, self.event_variances, 0.0), axis=-1)

    def derivatives(
        self, *, expiries: np.ndarray, log_moneyness: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(w, ∂w/∂k, ∂²w/∂k²)`` at each (expiry > 0, ``k``) pair; arrays broadcast."""
        t, k = np.broadcast_arrays(
            np.asarray(expiries, dtype=float), np.asarray(log_moneyness, dtype=float)
        )
        if not np.all(t > 0):
            raise ValueError(f"expiries must be positive, got {t[~(t > 0)][:3]!r}")
        pillars = self.smiles.expiries
        n = pillars.size
        j = np.searchsorted(pillars, t, side="left")
        hi = np.minimum(j, n - 1)
        lo = np.maximum(j - 1, 0)
        interior = (j > 0) & (j < n)
        span = np.where(interior, pillars[hi] - pillars[lo], pillars[hi])
        alpha = np.where(interior, (t - pillars[lo]) / span, t / pillars[hi])
        beta = np.where(interior, 1.0 - alpha, 0.0)
        pillar_events = self._pillar_events
        upper = _svi_at(self.smiles, hi, k)
        lower = _svi_at(self.smiles, lo, k)
        w = (
            alpha * (upper[0] - pillar_events[hi])
            + beta * (lower[0] - pillar_events[lo])
            + self.event_variance(t)
        )
        return w, alpha * upper[1] + beta * lower[1], alpha * upper[2] + beta * lower[2]

    def variance_function(self, expiries: np.ndarray) -> VarianceFunction:
        """The surface at ``expiries [n]`` as a :data:`VarianceFunction` (for quoting)."""
        t = np.asarray(expiries, dtype=float)

        def variance(log_moneyness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            k = np.asarray(log_moneyness, dtype=float)
            w, w1, _ = self.derivatives(
                expiries=np.reshape(t, t.shape + (1,) * (k.ndim - 1)), log_moneyness=k
            )
            return w, w1

        return variance

    def vols(
        self, *, expiries: np.ndarray, strikes: np.ndarray, forwards: np.ndarray
    ) -> SurfaceVols:
        """``σ(T, K)`` and ``dσ/dK`` elementwise; ``forwards`` are ``F(T)`` to each delivery."""
        strikes = np.asarray(strikes, dtype=float)
        t = np.asarray(expiries, dtype=float)
        w, w1, _ = self.derivatives(expiries=t, log_moneyness=np.log(strikes / forwards))
        valid = np.isfinite(w) & (w > 0)
        vols = np.sqrt(np.where(valid, w, 1.0) / t)
        slopes = w1 / (2.0 * vols * t * strikes)
        return SurfaceVols(
            vols=np.where(valid, vols, np.nan),
            vol_slopes=np.where(valid, slopes, np.nan),
            valid=valid,
        )


def _svi_at(smiles: SviSmiles, index: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, ...]:
    return svi_variance(log_moneyness=k, params=smiles.params.map(lambda p: p[index]))


def build_surface(*, smiles: SviSmiles, events: Sequence[EventVariance] = ()) -> VolSurface:
    """A surface from pillar smiles and events; raises :class:`SmileError` on a bad event."""
    for i, event in enumerate(events):
        for name, floor in (("time", 0.0), ("variance", 0.0)):
            value = getattr(event, name)
            if (
                value is None
                or not math.isfinite(value)
                or value < floor
                or (name == "time" and value == 0)
            ):
                rule = "be positive" if name == "time" else "be non-negative"
                raise SmileError(f"events[{i}].{name}", f"must {rule}, got {value!r}")
    return VolSurface(
        smiles=smiles,
        event_times=np.array([e.time for e in events], dtype=float),
        event_variances=np.array([e.variance for e in events], dtype=float),
    )


def surface_from_quotes(
    *,
    tenors: Sequence[TenorQuote],
    conventions: SmileConventions | None = None,
    events: Sequence[EventVariance] = (),
) -> VolSurface:
    """Fit the pillar smiles (:func:`pricing.smile.fit_smiles`) and add the events."""
    return build_surface(smiles=fit_smiles(tenors=tenors, conventions=conventions), events=events)


def event_variance_from_weight(
    *, smiles: SviSmiles, event_time: float, extra_days: float
) -> EventVariance:
    """The event variance of an event day weighted as ``1 + extra_days`` ordinary days.

    In the pillar interval holding the event, the ATM-forward variance increment ``Δw`` is
    shared between ``ΔT`` of diffusion and ``extra_days/365`` of event at one rate:
    ``v = Δw · ε / (ΔT + ε)``. An interval whose variance falls gives 0 (see the report).
    """
    pillars = smiles.expiries
    w0 = smiles.derivatives(log_moneyness=np.zeros_like(pillars))[0]
    j = min(int(np.searchsorted(pillars, event_time, side="left")), pillars.size - 1)
    t_lo, w_lo = (0.0, 0.0) if j == 0 else (pillars[j - 1], w0[j - 1])
    epsilon = extra_days / 365.0
    increment = max(float(w0[j] - w_lo), 0.0)
    return EventVariance(
        time=event_time, variance=increment * epsilon / (pillars[j] - t_lo + epsilon)
    )


# --- quoting ----------------------------------------------------------------------------


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
    broker, broker_ok = _broker_vols(
        variance, t, scale, wing_deltas[None, :], 0.5 * (call_vols + put_vols), call_k, put_k, pa
    )
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
        a_c, a_p = delta_c_w * dw_dsigma / delta_c_k, delta_p_w * dw_dsigma / delta_p_k
        with np.errstate(divide="ignore", invalid="ignore"):
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


# --- arbitrage --------------------------------------------------------------------------


@dataclass(frozen=True)
class ButterflyViolation:
    """Negative density at ``expiry`` (worst ``g < 0`` at ``log_moneyness``), or a wing
    steeper than Lee's bound (``log_moneyness = ±inf``, ``value`` = the slope ``> 2``)."""

    expiry: float
    log_moneyness: float
    value: float


@dataclass(frozen=True)
class CalendarViolation:
    """Diffusive total variance falling by ``variance_drop`` from ``earlier_expiry`` (0 for
    the origin) to ``later_expiry`` at ``log_moneyness`` (``±inf``: the later wing is
    flatter, so the fall comes far out; ``variance_drop`` is then the slope shortfall)."""

    earlier_expiry: float
    later_expiry: float
    log_moneyness: float
    variance_drop: float


@dataclass(frozen=True)
class ArbitrageReport:
    """What :func:`arbitrage_report` found; empty tuples mean none."""

    butterfly: tuple[ButterflyViolation, ...]
    calendar: tuple[CalendarViolation, ...]

    @property
    def arbitrage_free(self) -> bool:
        return not self.butterfly and not self.calendar


def arbitrage_report(
    *, surface: VolSurface, expiries: np.ndarray | None = None, std_grid: np.ndarray = _STD_GRID
) -> ArbitrageReport:
    """Butterfly and calendar arbitrage of ``surface``, checked on ``k = z·√w_atm`` grids.

    Butterfly is checked at the pillars, halfway between them and at ``expiries``; calendar
    between consecutive pillars' diffusive variances (which decides it for the interpolation).
    """
    pillars = surface.smiles.expiries
    checks = np.concatenate([pillars, 0.5 * (pillars[1:] + pillars[:-1]), 0.5 * pillars[:1]])
    if expiries is not None:
        checks = np.concatenate([checks, np.asarray(expiries, dtype=float).reshape(-1)])
    checks = np.unique(checks)
    butterfly: list[ButterflyViolation] = []
    w_atm = surface.derivatives(expiries=checks, log_moneyness=0.0)[0]
    grid = np.sqrt(np.abs(w_atm))[:, None] * std_grid[None, :]
    derivatives = surface.derivatives(expiries=checks[:, None], log_moneyness=grid)
    positive = derivatives[0] > 0
    safe = tuple(np.where(positive, d, 1.0) for d in derivatives)
    g = np.where(positive, durrleman_g(log_moneyness=grid, derivatives=safe), -np.inf)
    for i in np.flatnonzero(g.min(axis=1) < 0):
        at = int(np.argmin(g[i]))
        butterfly.append(ButterflyViolation(float(checks[i]), float(grid[i, at]), float(g[i, at])))
    left, right = surface.smiles.params.wing_slopes
    for i, slopes in enumerate(zip(-left, right, strict=True)):
        for side, slope in zip((-math.inf, math.inf), slopes, strict=True):
            if slope > 2.0:
                butterfly.append(ButterflyViolation(float(pillars[i]), side, float(slope)))
    return ArbitrageReport(butterfly=tuple(butterfly), calendar=tuple(_calendar(surface, std_grid)))


def _calendar(surface: VolSurface, std_grid: np.ndarray) -> list[CalendarViolation]:
    smiles = surface.smiles
    pillars = smiles.expiries
    events = surface.event_variance(pillars)
    w0 = smiles.derivatives(log_moneyness=np.zeros_like(pillars))[0]
    left, right = smiles.params.wing_slopes
    found: list[CalendarViolation] = []
    for j in range(pillars.size):
        scales = np.sqrt(np.abs(w0[max(j - 1, 0) : j + 1]))
        k = np.concatenate([s * std_grid for s in scales])
        later = _svi_at(smiles, np.full(k.shape, j), k)[0] - events[j]
        if j == 0:
            earlier = np.zeros_like(k)
        else:
            earlier = _svi_at(smiles, np.full(k.shape, j - 1), k)[0] - events[j - 1]
        drop = earlier - later
        t_earlier = 0.0 if j == 0 else float(pillars[j - 1])
        if drop.max() > 0:
            at = int(np.argmax(drop))
            found.append(
                CalendarViolation(t_earlier, float(pillars[j]), float(k[at]), float(drop[at]))
            )
        if j > 0:
            for side, shortfall in (
                (-math.inf, left[j] - left[j - 1]),
                (math.inf, right[j - 1] - right[j]),
            ):
                if shortfall > 0:
                    found.append(
                        CalendarViolation(t_earlier, float(pillars[j]), side, float(shortfall))
                    )
    return found
