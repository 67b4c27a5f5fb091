"""A market whose quotes after the event hold a known event variance, and a scenario set that
carries exactly that variance: the witness of the ex-event diffusion, the consistency report
and the fit to market.

A lognormal jump ``ln J ~ N(−v/2, v)`` on a lognormal diffusion is lognormal with the
variances added (closed form). The set discretises the jump by Gauss–Hermite quadrature (40
nodes: the call price is smooth in ``ln J``, so the quadrature error is far below 1e-6 vol);
its post-event vol is the market's forward vol after the event, ``√RATE``. The market's ATM
curve: 12% to the 1W pillar, then the forward variance rate ``RATE``, plus ``EVENT_VARIANCE``
on every pillar after the event (so the interval holding the event runs at the next
interval's rate: pricing.vol.event_strip recovers ``EVENT_VARIANCE`` exactly).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from scenarios.market import AtmVolCurve, Diffusion, DiscountCurve, MarketSnapshot
from scenarios.scenario import Scenario, ScenarioSet

TODAY = dt.date(2025, 6, 13)
EVENT = dt.date(2025, 7, 9)
PILLARS = (dt.date(2025, 6, 20), dt.date(2025, 7, 15), dt.date(2025, 9, 15), dt.date(2025, 12, 15))
SPOT = 144.1
RATE = 0.104**2  # the diffusion's forward variance rate after the 1W pillar
EVENT_VARIANCE = 0.00015  # the event's total variance (≈ 23% event-day vol)


def years(d: dt.date) -> float:
    """ACT/365F from TODAY."""
    return (d - TODAY).days / 365.0


def quoted_variances() -> np.ndarray:
    """``w(T_j)`` at PILLARS: 12% to the 1W pillar, then ``RATE``, plus the event after it."""
    times = np.array([years(d) for d in PILLARS])
    w = 0.12**2 * times[0] + RATE * (times - times[0])
    w[1:] += EVENT_VARIANCE
    return w


def quoted_vols() -> tuple[float, ...]:
    times = np.array([years(d) for d in PILLARS])
    return tuple(float(x) for x in np.sqrt(quoted_variances() / times))


def atm_market(diffusion: Diffusion = Diffusion.EX_EVENT) -> MarketSnapshot:
    """The ATM-curve market (flat in strike), flat 4% USD and 0.5% JPY rates."""
    flat = (dt.date(2027, 6, 13),)
    return MarketSnapshot(
        valuation_date=TODAY,
        spot=SPOT,
        usd_curve=DiscountCurve(TODAY, flat, (0.04,)),
        jpy_curve=DiscountCurve(TODAY, flat, (0.005,)),
        atm_vols=AtmVolCurve(TODAY, PILLARS, quoted_vols()),
        diffusion=diffusion,
    )


def lognormal_jump_set(c: float = 1.0, n: int = 40) -> ScenarioSet:
    """Gauss–Hermite nodes of ``ln J ~ N(−v/2, v)``, ``v = EVENT_VARIANCE``, every log jump
    multiplied by ``c``; post-event vol ``√RATE``."""
    x, weights = np.polynomial.hermite.hermgauss(n)
    log_jumps = c * (-EVENT_VARIANCE / 2 + math.sqrt(2 * EVENT_VARIANCE) * x)
    p = weights / math.sqrt(math.pi)
    p = p / p.sum()
    return ScenarioSet(
        id="lognormal-jump",
        name="lognormal jump",
        event_date=EVENT,
        scenarios=tuple(
            Scenario(f"node_{k}", float(p[k]), SPOT * math.exp(log_jumps[k]), math.sqrt(RATE))
            for k in range(n)
        ),
    )
