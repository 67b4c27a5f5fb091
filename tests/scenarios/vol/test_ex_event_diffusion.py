"""The ex-event diffusion: a scenario set carrying exactly the market's event variance
reprices the market's post-event ATM term structure.

Witness: a lognormal jump ``ln J ~ N(−v/2, v)`` on a lognormal diffusion is lognormal with
the variances added (closed form); the set discretises that jump by Gauss–Hermite quadrature
(40 nodes: the call price is smooth in ``ln J``, so the quadrature error is far below 1e-6
vol), with ``v`` the market's event variance and the post-event vol the market's forward vol
after the event. Under ``quoted`` the same set adds the event to a diffusion that already
holds part of it: the closed form ``w(T_1) + (T_e − T_1)/(T_2 − T_1)·Δw + r·(T − T_e) + v``.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from scenarios.fx.instruments import FxOption, OptionKind
from scenarios.fx.valuation import value_book
from scenarios.market import AtmVolCurve, Diffusion, DiscountCurve, MarketSnapshot
from scenarios.scenario import Scenario, ScenarioSet

TODAY = dt.date(2025, 6, 13)
EVENT = dt.date(2025, 7, 9)
PILLARS = (dt.date(2025, 6, 20), dt.date(2025, 7, 15), dt.date(2025, 9, 15), dt.date(2025, 12, 15))
SPOT = 144.1
RATE = 0.104**2  # the diffusion's forward variance rate after the 1W pillar
EVENT_VARIANCE = 0.00015  # the event's total variance (≈ 23% event-day vol)


def _t(d: dt.date) -> float:
    return (d - TODAY).days / 365.0


def _market(diffusion: Diffusion = Diffusion.EX_EVENT) -> MarketSnapshot:
    times = np.array([_t(d) for d in PILLARS])
    w = 0.12**2 * times[0] + RATE * (times - times[0])
    w[1:] += EVENT_VARIANCE
    curve = AtmVolCurve(TODAY, PILLARS, tuple(float(x) for x in np.sqrt(w / times)))
    flat = (dt.date(2027, 6, 13),)
    return MarketSnapshot(
        valuation_date=TODAY,
        spot=SPOT,
        usd_curve=DiscountCurve(TODAY, flat, (0.04,)),
        jpy_curve=DiscountCurve(TODAY, flat, (0.005,)),
        atm_vols=curve,
        diffusion=diffusion,
    )


def _set(n: int = 40) -> ScenarioSet:
    x, weights = np.polynomial.hermite.hermgauss(n)
    log_jumps = -EVENT_VARIANCE / 2 + math.sqrt(2 * EVENT_VARIANCE) * x
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


def _implied(market: MarketSnapshot, expiry: dt.date, strike: float) -> float:
    option = FxOption(OptionKind.CALL, strike, expiry, expiry + dt.timedelta(days=2))
    valuation = value_book(market=market, scenario_set=_set(), options=(option,))
    assert valuation.implied_ok[0]
    return float(valuation.implied_vols[0])


def test_the_strip_finds_the_event_variance_the_market_was_built_with() -> None:
    strip = _market().event_strip((_t(EVENT),))
    assert strip.event_variances[0] == pytest.approx(EVENT_VARIANCE, rel=1e-9)


@pytest.mark.parametrize("pillar", PILLARS[1:])
@pytest.mark.parametrize("moneyness", [0.9, 1.0, 1.1])
def test_a_set_carrying_the_event_variance_reprices_every_post_event_pillar(
    pillar: dt.date, moneyness: float
) -> None:
    market = _market()
    quoted = market.atm_vols.vols[PILLARS.index(pillar)]
    strike = SPOT * moneyness
    assert _implied(market, pillar, strike) == pytest.approx(quoted, abs=1e-6)


def test_quoted_diffusion_counts_the_event_twice() -> None:
    market = _market(Diffusion.QUOTED)
    t1, t2, te, t = _t(PILLARS[0]), _t(PILLARS[1]), _t(EVENT), _t(PILLARS[2])
    w1 = 0.12**2 * t1
    dw = RATE * (t2 - t1) + EVENT_VARIANCE
    expected = w1 + (te - t1) / (t2 - t1) * dw + RATE * (t - te) + EVENT_VARIANCE
    vol = _implied(market, PILLARS[2], SPOT)
    assert vol == pytest.approx(math.sqrt(expected / t), abs=1e-6)
    assert vol > market.atm_vols.vols[2] + 1e-4  # rich against its own quote


def test_an_option_expiring_before_the_event_reads_the_diffusion_not_the_premium() -> None:
    """Between the 1W pillar and the decision no quote holds the event: the diffusion there
    is ``w(T_1) + r·(T − T_1)``, not the quotes' interpolation across the event."""
    expiry = dt.date(2025, 7, 7)
    t1, t = _t(PILLARS[0]), _t(expiry)
    expected = math.sqrt((0.12**2 * t1 + RATE * (t - t1)) / t)
    assert _implied(_market(), expiry, SPOT) == pytest.approx(expected, abs=1e-9)
