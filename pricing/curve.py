"""Interpolation of discount curves and of the ATM variance term structure.

Discount curves are given by zero rates (continuously compounded, ACT/365F) at pillar
times. Two interpolations:

* ``log_linear_discount`` (default): ln DF linear in t between pillars, i.e. piecewise-flat
  instantaneous forwards; flat forward beyond the last pillar; flat zero rate of the first
  pillar before it.
* ``linear_zero``: zero rate linear in t; flat zero rates outside the pillars.

The ATM vol term structure is interpolated linearly in total variance ``w = σ²t`` with flat
vol outside the pillars.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np


class CurveInterpolation(StrEnum):
    LOG_LINEAR_DISCOUNT = "log_linear_discount"
    LINEAR_ZERO = "linear_zero"


def zero_rates_at(
    *,
    pillar_times: np.ndarray,
    zero_rates: np.ndarray,
    times: np.ndarray,
    interpolation: CurveInterpolation = CurveInterpolation.LOG_LINEAR_DISCOUNT,
) -> np.ndarray:
    """Continuously compounded zero rates at ``times`` (> 0, years). Pillars sorted, > 0."""
    times = np.asarray(times, dtype=float)
    if interpolation is CurveInterpolation.LINEAR_ZERO:
        return np.interp(times, pillar_times, zero_rates)
    log_dfs = -zero_rates * pillar_times
    inside = np.interp(times, pillar_times, log_dfs)
    last_fwd = (
        (log_dfs[-2] - log_dfs[-1]) / (pillar_times[-1] - pillar_times[-2])
        if len(pillar_times) > 1
        else zero_rates[-1]
    )
    beyond = log_dfs[-1] - last_fwd * (times - pillar_times[-1])
    log_df = np.where(times > pillar_times[-1], beyond, inside)
    rates = -log_df / np.where(times > 0.0, times, 1.0)
    return np.where(times < pillar_times[0], zero_rates[0], rates)


def atm_total_variance(
    *, pillar_times: np.ndarray, vols: np.ndarray, times: np.ndarray
) -> np.ndarray:
    """Total ATM variance ``σ²t`` at ``times`` (years), linear in variance between pillars."""
    times = np.asarray(times, dtype=float)
    variances = vols * vols * pillar_times
    inside = np.interp(times, pillar_times, variances)
    before = vols[0] ** 2 * times
    after = vols[-1] ** 2 * times
    outside = np.where(times > pillar_times[-1], after, inside)
    return np.where(times < pillar_times[0], before, outside)
