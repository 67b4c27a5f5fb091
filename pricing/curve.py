"""Interpolation of discount curves and of the ATM variance term structure.

Discount curves are given by zero rates (continuously compounded, ACT/365F) at pillar
times. Two interpolations:

* ``log_linear_discount`` (default): ln DF linear in t between pillars, i.e. piecewise-flat
  instantaneous forwards; beyond the last pillar the last interval's forward
  ``f = (ln DF(t_{n−1}) − ln DF(t_n))/(t_n − t_{n−1})`` continues (a one-pillar curve is
  flat); before the first pillar, that pillar's zero rate.
* ``linear_zero``: zero rate linear in t; flat zero rates outside the pillars.

The ATM vol term structure is interpolated linearly in total variance ``w = σ²t`` with flat
vol outside the pillars: ``w = σ_1²·t`` before the first, ``w = σ_n²·t`` after the last (the
last pillar's vol, not its interval's forward vol) — the rule the smile surface follows at
fixed moneyness (:mod:`pricing.vol.surface`).

Each time is one call of scalar code compiled by numba (IEEE arithmetic, no fastmath; the
interpolation is numpy's ``interp``, rounding for rounding), in a serial loop below
:data:`pricing.fx.normalised_black.PARALLEL_THRESHOLD` times and a threaded one (``prange``)
from there on: a handful of times costs a few µs, most of it the Python call. Pillars are
1-D, sorted and positive, as long as their values; a NaN time gives NaN.

References: Hagan & West, "Interpolation methods for curve construction", Applied
Mathematical Finance 13 (2006) 89–129 (raw interpolation = log-linear discount factors).
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from pricing.compiled import njit, prange
from pricing.fx.normalised_black import PARALLEL_THRESHOLD, compiled_pair

_jit = njit(cache=True, error_model="numpy")  # x/0 is ±inf or NaN, as in numpy
_Floats = npt.NDArray[np.float64]  # 1-D: pillar times or values, times, results


class CurveInterpolation(StrEnum):
    LOG_LINEAR_DISCOUNT = "log_linear_discount"
    LINEAR_ZERO = "linear_zero"


@_jit
def _interp(x: float, xs: _Floats, ys: _Floats) -> float:
    """``numpy.interp(x, xs, ys)`` for one ``x ≥ xs[0]`` or NaN (the same steps)."""
    n = xs.shape[0]
    y: float  # an element of ys (numpy types an element read as Any)
    if x >= xs[n - 1]:
        y = ys[n - 1]
        return y
    if math.isnan(x):
        return x
    j, upper = 0, n - 1  # xs[j] <= x < xs[j + 1]
    while upper - j > 1:
        middle = (j + upper) // 2
        if xs[middle] <= x:
            j = middle
        else:
            upper = middle
    if xs[j] == x:
        y = ys[j]
        return y
    slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])
    out: float = slope * (x - xs[j]) + ys[j]
    # NaN from infinite values: try from the other end, as numpy does (selects, not branches:
    # a branch here makes the loop several times slower)
    other: float = slope * (x - xs[j + 1]) + ys[j + 1]
    other = ys[j] if math.isnan(other) and ys[j] == ys[j + 1] else other
    return other if math.isnan(out) else out


@_jit
def log_discount_pillars(pillar_times: _Floats, zero_rates: _Floats) -> tuple[_Floats, float]:
    """``ln DF`` at each pillar ``[p]`` and the last interval's forward (the extrapolation of
    ``log_linear_discount``): the once-per-curve part of :func:`zero_rate_point`."""
    n = pillar_times.shape[0]
    log_dfs = np.empty(n)
    for j in range(n):
        log_dfs[j] = -zero_rates[j] * pillar_times[j]
    if n > 1:
        last_forward = (log_dfs[n - 2] - log_dfs[n - 1]) / (
            pillar_times[n - 1] - pillar_times[n - 2]
        )
    else:
        last_forward = zero_rates[n - 1]
    return log_dfs, last_forward


@njit(cache=True, inline="always", error_model="numpy")
def zero_rate_point(
    t: float,
    pillar_times: _Floats,
    zero_rates: _Floats,
    log_dfs: _Floats,
    last_forward: float,
    log_linear: bool,
) -> float:
    """The zero rate at one time ``t`` (years): linear in ``zero_rates``, or off the
    log-linear discount factors ``log_dfs`` with ``last_forward`` beyond the last pillar
    (:func:`log_discount_pillars`). Compiled into callers' loops (one point per option)."""
    n = pillar_times.shape[0]
    first, last = pillar_times[0], pillar_times[n - 1]
    rate: float  # (numpy types an element read as Any)
    if not log_linear:
        rate = zero_rates[0] if t < first else _interp(t, pillar_times, zero_rates)
        return rate
    if t > last:
        log_df = log_dfs[n - 1] - last_forward * (t - last)
    else:
        log_df = _interp(t, pillar_times, log_dfs)
    rate = zero_rates[0] if t < first else -log_df / (t if t > 0.0 else 1.0)
    return rate


@njit(cache=True, inline="always", error_model="numpy")
def atm_variance_point(t: float, pillar_times: _Floats, vols: _Floats, variances: _Floats) -> float:
    """Total ATM variance at one time ``t`` (years), ``variances`` the pillars' ``σ²t``."""
    n = pillar_times.shape[0]
    variance: float  # (numpy types an element read as Any)
    if t < pillar_times[0]:
        variance = vols[0] * vols[0] * t
        return variance
    if t > pillar_times[n - 1]:
        variance = vols[n - 1] * vols[n - 1] * t
        return variance
    return _interp(t, pillar_times, variances)


def _zero_rates_body(
    pillar_times: _Floats, zero_rates: _Floats, times: _Floats, log_linear: bool, out: _Floats
) -> None:
    log_dfs, last_forward = log_discount_pillars(pillar_times, zero_rates)
    for i in prange(times.shape[0]):
        out[i] = zero_rate_point(
            times[i], pillar_times, zero_rates, log_dfs, last_forward, log_linear
        )


def _atm_variance_body(pillar_times: _Floats, vols: _Floats, times: _Floats, out: _Floats) -> None:
    n = pillar_times.shape[0]
    variances = np.empty(n)
    for j in range(n):
        variances[j] = vols[j] * vols[j] * pillar_times[j]
    for i in prange(times.shape[0]):
        out[i] = atm_variance_point(times[i], pillar_times, vols, variances)


zero_rates_serial, _zero_rates_parallel = compiled_pair(_zero_rates_body, "_zero_rates")
atm_variance_serial, _atm_variance_parallel = compiled_pair(_atm_variance_body, "_atm_variance")


def _pillars(times: np.ndarray, values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    times = np.ascontiguousarray(times, dtype=float)
    values = np.ascontiguousarray(values, dtype=float)
    if times.ndim != 1 or times.size == 0 or values.shape != times.shape:
        raise ValueError(
            f"pillar_times and {name} must be 1-D, non-empty and of one length, "
            f"got shapes {times.shape} and {values.shape}"
        )
    return times, values


def zero_rates_at(
    *,
    pillar_times: np.ndarray,
    zero_rates: np.ndarray,
    times: np.ndarray,
    interpolation: CurveInterpolation = CurveInterpolation.LOG_LINEAR_DISCOUNT,
) -> np.ndarray:
    """Continuously compounded zero rates at ``times`` (> 0, years). Pillars sorted, > 0.

    ``pillar_times``/``zero_rates`` ``[p]``; the result takes the shape of ``times`` (a numpy
    scalar for a 0-d input). Raises ValueError if the pillars are empty or of two lengths.
    """
    pillar_times, zero_rates = _pillars(pillar_times, zero_rates, "zero_rates")
    times = np.asarray(times, dtype=float)
    out = np.empty(times.shape)
    log_linear = interpolation is not CurveInterpolation.LINEAR_ZERO
    kernel = zero_rates_serial if out.size < PARALLEL_THRESHOLD else _zero_rates_parallel
    kernel(pillar_times, zero_rates, times.ravel(), log_linear, out.reshape(-1))
    return out[()]


def atm_total_variance(
    *, pillar_times: np.ndarray, vols: np.ndarray, times: np.ndarray
) -> np.ndarray:
    """Total ATM variance ``σ²t`` at ``times`` (years), linear in variance between pillars.

    ``pillar_times``/``vols`` ``[p]``; the result takes the shape of ``times`` (a numpy scalar
    for a 0-d input). Raises ValueError if the pillars are empty or of two lengths.
    """
    pillar_times, vols = _pillars(pillar_times, vols, "vols")
    times = np.asarray(times, dtype=float)
    out = np.empty(times.shape)
    kernel = atm_variance_serial if out.size < PARALLEL_THRESHOLD else _atm_variance_parallel
    kernel(pillar_times, vols, times.ravel(), out.reshape(-1))
    return out[()]
