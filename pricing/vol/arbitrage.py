"""Butterfly and calendar arbitrage of a volatility surface: reported, never repaired.

Conventions: ``k = ln(K/F(T))``; total variance ``w(T, k) = σ²T``; expiries in years
ACT/365F. Butterfly arbitrage where Durrleman's ``g(k) < 0`` (negative density) or a wing is
steeper than Lee's bound 2; calendar arbitrage where the diffusive variance falls from one
pillar to the next at some ``k`` (the interpolated ``w`` then falls in ``T``), including a
later pillar's wing that is flatter than an earlier one.

References: Gatheral & Jacquier, "Arbitrage-free SVI volatility surfaces", Quant. Finance
(2014), Lemma 2.2 (after Durrleman); Lee (2004), "The moment formula for implied volatility
at extreme strikes".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pricing.vol.surface import VolSurface
from pricing.vol.svi import SviSmiles, durrleman_g, svi_variance

_STD_GRID = np.linspace(-10.0, 10.0, 401)


def _svi_at(smiles: SviSmiles, index: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, ...]:
    return svi_variance(log_moneyness=k, params=smiles.params.map(lambda p: p[index]))


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
    safe_w, safe_w1, safe_w2 = (np.where(positive, d, 1.0) for d in derivatives)
    safe = (safe_w, safe_w1, safe_w2)
    g = np.where(positive, durrleman_g(log_moneyness=grid, derivatives=safe), -np.inf)
    for i in np.flatnonzero(g.min(axis=1) < 0):
        at = int(np.argmin(g[i]))
        butterfly.append(ButterflyViolation(float(checks[i]), float(grid[i, at]), float(g[i, at])))
    left, right = surface.smiles.params.wing_slopes
    for j, slopes in enumerate(zip(-left, right, strict=True)):
        for side, slope in zip((-math.inf, math.inf), slopes, strict=True):
            if slope > 2.0:
                butterfly.append(ButterflyViolation(float(pillars[j]), side, float(slope)))
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
