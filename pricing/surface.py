"""Volatility surfaces across tenors, with the event's variance on its date.

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
"event day counts as N days" weighting. Quoting lives in :mod:`pricing.quoting`, arbitrage
checks in :mod:`pricing.arbitrage`.

References: Gatheral, *The Volatility Surface* (2006), ch. 3–4; Clark, *Foreign Exchange
Option Pricing* (2011), §4 (event weights).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pricing.smile import fit_smiles
from pricing.smile_quotes import SmileConventions, SmileError, TenorQuote
from pricing.svi import SviSmiles, svi_variance

VarianceFunction = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``k [n, m] ↦ (w, ∂w/∂k)``, row ``i`` for expiry ``i``."""


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
