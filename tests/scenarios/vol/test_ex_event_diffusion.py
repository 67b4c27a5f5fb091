"""The ex-event diffusion: a scenario set carrying exactly the market's event variance
reprices the market's post-event ATM term structure.

Witness: a lognormal jump on a lognormal diffusion is lognormal with the variances added
(closed form; the market and the Gauss–Hermite set of tests/scenarios/lognormal_jump.py). Under ``quoted`` the same set adds the event to a diffusion that already
holds part of it: the closed form ``w(T_1) + (T_e − T_1)/(T_2 − T_1)·Δw + r·(T − T_e) + v``.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from scenarios.fx.instruments import FxOption, OptionKind
from scenarios.fx.valuation import value_book
from scenarios.market import Diffusion, MarketSnapshot
from tests.scenarios.lognormal_jump import (
    EVENT,
    EVENT_VARIANCE,
    PILLARS,
    RATE,
    SPOT,
    atm_market,
    lognormal_jump_set,
    years,
)

_market = atm_market
_set = lognormal_jump_set


def _implied(market: MarketSnapshot, expiry: dt.date, strike: float) -> float:
    option = FxOption(OptionKind.CALL, strike, expiry, expiry + dt.timedelta(days=2))
    valuation = value_book(market=market, scenario_set=_set(), options=(option,))
    assert valuation.implied_ok[0]
    return float(valuation.implied_vols[0])


def test_the_strip_finds_the_event_variance_the_market_was_built_with() -> None:
    strip = _market().event_strip((years(EVENT),))
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
    t1, t2, te, t = years(PILLARS[0]), years(PILLARS[1]), years(EVENT), years(PILLARS[2])
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
    t1, t = years(PILLARS[0]), years(expiry)
    expected = math.sqrt((0.12**2 * t1 + RATE * (t - t1)) / t)
    assert _implied(_market(), expiry, SPOT) == pytest.approx(expected, abs=1e-9)
