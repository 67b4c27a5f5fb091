"""Volatility surfaces across tenors, with the event's variance on its date.

Conventions: forwards and strikes in JPY per USD; vols annualised decimals; expiries and
event times in years ACT/365F; ``k = ln(K/F(T))``; total variance ``w(T, k) = σ²T``.

Interpolation in total variance at fixed ``k``, split into diffusive and event parts::

    w(T, k) = w_d(T, k) + E(T),     E(T) = Σ_e v_e·1[T > T_e]

Each pillar's diffusive variance is its smile less the events before it,
``w_d(T_j, k) = w_j(k) − E(T_j)``; ``w_d`` is linear in ``T`` between pillars and
proportional to ``T`` outside them, from 0 at ``T = 0`` to the first pillar.

Extrapolation past the last pillar ``T_n``: ``w_d(T, k) = (T/T_n)·w_d(T_n, k)`` — the last
pillar's diffusive smile held at fixed ``k = ln(K/F(T))`` (flat implied vol in moneyness,
not the last interval's forward variance continued), so
``σ²(T, k)·T = (T/T_n)·(w_n(k) − E(T_n)) + E(T)`` and, with no event after ``T_n``,
``σ(T, k) = σ_n(k)``. Before the first pillar, likewise the first pillar's diffusive vol at
fixed ``k``. The ATM curve of :mod:`pricing.curve` extrapolates the same way (flat vol). The
event's variance is thus paid in full on its date, not spread over the pillar interval: the
ATM term structure jumps at ``T_e`` — the kink the desk sees — and pillars re-price exactly.
An option expiring on the event date does not include it (as in the mixture pricer). Event
variances are flat in ``k``; :func:`event_variance_from_weight` sizes one from the desk's
"event day counts as N days" weighting. Quoting lives in :mod:`pricing.vol.quoting`, arbitrage
checks in :mod:`pricing.vol.arbitrage`.

Reading the surface is scalar code compiled by numba (IEEE arithmetic, no fastmath) run over
the flattened broadcast inputs: a serial loop below
:data:`pricing.fx.normalised_black.PARALLEL_THRESHOLD` points, a threaded one (``prange``) from
there on. One option costs a few µs, most of it the Python call. The SVI formula is
:func:`pricing.vol.svi.raw_svi`, compiled into these kernels (edit it, then touch this file).

References: Gatheral, *The Volatility Surface* (2006), ch. 3–4; Clark, *Foreign Exchange
Option Pricing* (2011), §4 (event weights).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from pricing.compiled import njit, prange
from pricing.fx.normalised_black import PARALLEL_THRESHOLD, compiled_pair
from pricing.vol.quotes import SmileConventions, SmileError, TenorQuote
from pricing.vol.smile import fit_smiles
from pricing.vol.svi import SviSmiles, broadcast_flat, raw_svi

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


_jit = njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN, as in numpy
_EXPIRY, _PILLAR_EVENTS = 0, 6  # columns of the pillar table; SVI a, b, ρ, m, s in 1–5
_Floats = npt.NDArray[np.float64]  # 1-D inputs, [n, 7] pillars, [e, 2] events, outputs


@_jit
def _events_before(t: float, events: _Floats) -> float:
    """``E(t) = Σ_e v_e·1[t > T_e]`` from ``events [e, 2]`` (time, variance), summed in order."""
    total = 0.0
    for e in range(events.shape[0]):
        total += events[e, 1] if t > events[e, 0] else 0.0
    return total


@_jit
def _svi_row(table: _Floats, row: int, k: float) -> tuple[float, float, float]:
    return raw_svi(k, table[row, 1], table[row, 2], table[row, 3], table[row, 4], table[row, 5])


@_jit
def _surface_point(
    t: float, k: float, table: _Floats, events: _Floats
) -> tuple[float, float, float]:
    """``(w, ∂w/∂k, ∂²w/∂k²)`` at one ``(t > 0, k)`` (see the module docstring)."""
    n = table.shape[0]
    j, upper = 0, n  # j = pillars strictly before t (numpy's searchsorted, side="left")
    while j < upper:
        middle = (j + upper) // 2
        if table[middle, _EXPIRY] < t:
            j = middle + 1
        else:
            upper = middle
    hi = min(j, n - 1)
    lo = max(j - 1, 0)
    if 0 < j < n:
        alpha = (t - table[lo, _EXPIRY]) / (table[hi, _EXPIRY] - table[lo, _EXPIRY])
        beta = 1.0 - alpha
    else:  # from 0 before the first pillar, ∝ t after the last
        alpha = t / table[hi, _EXPIRY]
        beta = 0.0
    u0, u1, u2 = _svi_row(table, hi, k)
    l0, l1, l2 = _svi_row(table, lo, k)
    w = (
        alpha * (u0 - table[hi, _PILLAR_EVENTS])
        + beta * (l0 - table[lo, _PILLAR_EVENTS])
        + _events_before(t, events)
    )
    return w, alpha * u1 + beta * l1, alpha * u2 + beta * l2


@_jit
def _all_positive(expiries: _Floats, size: int) -> bool:
    if size == 0:
        return True
    for i in range(expiries.shape[0]):  # noqa: SIM110 (a loop, for numba)
        if not expiries[i] > 0.0:
            return False
    return True


def _derivatives_body(
    expiries: _Floats, log_moneyness: _Floats, table: _Floats, events: _Floats, out: _Floats
) -> bool:
    # out [3, size]; an input of one element is broadcast (index step 0)
    if not _all_positive(expiries, out.shape[1]):
        return False
    t_step = 1 if expiries.shape[0] > 1 else 0
    k_step = 1 if log_moneyness.shape[0] > 1 else 0
    for i in prange(out.shape[1]):
        w, w1, w2 = _surface_point(expiries[i * t_step], log_moneyness[i * k_step], table, events)
        out[0, i] = w
        out[1, i] = w1
        out[2, i] = w2
    return True


@_jit
def vol_point(
    t: float, strike: float, forward: float, table: _Floats, events: _Floats
) -> tuple[float, float, bool]:
    """``(σ, dσ/dK, valid)`` at one ``(t > 0, K)`` with ``F(t)`` = ``forward``; ``σ`` and
    ``dσ/dK`` are NaN where ``w`` is not finite and positive (``valid`` False)."""
    w, w1, _ = _surface_point(t, math.log(strike / forward), table, events)
    good = math.isfinite(w) and w > 0.0
    vol = math.sqrt((w if good else 1.0) / t)
    slope = w1 / (2.0 * vol * t * strike)
    return (vol if good else math.nan), (slope if good else math.nan), good


def _vols_body(
    expiries: _Floats,
    strikes: _Floats,
    forwards: _Floats,
    table: _Floats,
    events: _Floats,
    out: _Floats,
    valid: npt.NDArray[np.bool_],
) -> bool:
    # out [2, size]: vols and dσ/dK, NaN where w is not finite and positive
    if not _all_positive(expiries, out.shape[1]):
        return False
    t_step = 1 if expiries.shape[0] > 1 else 0
    k_step = 1 if strikes.shape[0] > 1 else 0
    f_step = 1 if forwards.shape[0] > 1 else 0
    for i in prange(out.shape[1]):
        vol, slope, good = vol_point(
            expiries[i * t_step], strikes[i * k_step], forwards[i * f_step], table, events
        )
        out[0, i] = vol
        out[1, i] = slope
        valid[i] = good
    return True


def _events_body(expiries: _Floats, events: _Floats, out: _Floats) -> None:
    for i in prange(out.shape[0]):
        out[i] = _events_before(expiries[i], events)


_derivatives_serial, _derivatives_parallel = compiled_pair(_derivatives_body, "_derivatives")
_vols_serial, _vols_parallel = compiled_pair(_vols_body, "_vols")
_events_serial = _jit(_events_body)


@dataclass(frozen=True)
class VolSurface:
    """Pillar smiles plus dated event variances (``event_times``/``event_variances`` ``[e]``).

    Reads take arrays that broadcast together; results take the broadcast shape (numpy
    scalars for 0-d inputs).
    """

    smiles: SviSmiles
    event_times: np.ndarray
    event_variances: np.ndarray

    @cached_property
    def _events(self) -> np.ndarray:
        """``[e, 2]``: event time, event variance."""
        events = np.empty((np.size(self.event_times), 2))
        events[:, 0] = self.event_times
        events[:, 1] = self.event_variances
        return events

    @cached_property
    def _table(self) -> np.ndarray:
        """``[n, 7]``: pillar expiry, SVI ``a, b, ρ, m, s``, events before the pillar."""
        smiles = self.smiles
        if np.size(smiles.expiries) == 0:
            raise ValueError("a surface needs at least one pillar smile")
        p = smiles.params
        table = np.empty((np.size(smiles.expiries), 7))
        for column, values in enumerate((smiles.expiries, p.a, p.b, p.rho, p.m, p.sigma)):
            table[:, column] = values
        table[:, _PILLAR_EVENTS] = self.event_variance(smiles.expiries)
        return table

    @property
    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``(pillars [n, 7], events [e, 2])`` as the compiled reads take them
        (:func:`vol_point`): pillar expiry, SVI ``a, b, ρ, m, s``, event variance before the
        pillar; event time, event variance."""
        return self._table, self._events

    def event_variance(self, expiries: np.ndarray) -> np.ndarray:
        """``E(T)``: the variance of the events strictly before each expiry."""
        t = np.asarray(expiries, dtype=float)
        out = np.empty(t.shape)
        _events_serial(t.ravel(), self._events, out.reshape(-1))
        return out[()]

    def derivatives(
        self, *, expiries: float | np.ndarray, log_moneyness: float | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(w, ∂w/∂k, ∂²w/∂k²)`` at each (expiry > 0, ``k``) pair; arrays broadcast.

        Raises ValueError if an expiry is not positive (NaN included).
        """
        t = np.asarray(expiries, dtype=float)
        shape, flats = broadcast_flat(t, np.asarray(log_moneyness, dtype=float))
        out = np.empty((3, *shape))
        flat_out = out.reshape(3, -1)
        serial = flat_out.shape[1] < PARALLEL_THRESHOLD
        kernel = _derivatives_serial if serial else _derivatives_parallel
        if not kernel(*flats, self._table, self._events, flat_out):
            _raise_non_positive(t, shape)
        return out[0], out[1], out[2]

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
        """``σ(T, K)`` and ``dσ/dK`` elementwise; ``forwards`` are ``F(T)`` to each delivery.

        ``σ = √(w/T)``, ``dσ/dK = w'/(2σTK)`` at ``k = ln(K/F)``. Raises ValueError if an
        expiry is not positive (NaN included).
        """
        t = np.asarray(expiries, dtype=float)
        shape, flats = broadcast_flat(
            t, np.asarray(strikes, dtype=float), np.asarray(forwards, dtype=float)
        )
        out = np.empty((2, *shape))
        valid = np.empty(shape, dtype=bool)
        flat_out = out.reshape(2, -1)
        serial = flat_out.shape[1] < PARALLEL_THRESHOLD
        kernel = _vols_serial if serial else _vols_parallel
        if not kernel(*flats, self._table, self._events, flat_out, valid.reshape(-1)):
            _raise_non_positive(t, shape)
        return SurfaceVols(vols=out[0], vol_slopes=out[1], valid=valid[()])


def _raise_non_positive(expiries: np.ndarray, shape: tuple[int, ...]) -> None:
    t = np.broadcast_to(expiries, shape)
    raise ValueError(f"expiries must be positive, got {t[~(t > 0)][:3]!r}")


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
    """Fit the pillar smiles (:func:`pricing.vol.smile.fit_smiles`) and add the events."""
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
