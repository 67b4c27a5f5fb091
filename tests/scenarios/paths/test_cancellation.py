"""The domain's Monte Carlo entries (fan charts, path books) stop when their scope is cancelled.

Witness: the token's own check count and reason; the simulation itself is
``pricing.paths.simulation.fold_path_blocks`` (see ``tests/pricing/test_cancellation.py``). A book that
needs no simulation (every contract closed form) never looks at the token.
"""

from __future__ import annotations

import datetime as dt

import pytest

from pricing.cancellation import Cancelled, CancelReason, CancelToken, cancel_scope
from scenarios.catalog import builtin_catalog
from scenarios.paths.instruments import Direction, TouchType, build_touch_option
from scenarios.paths.simulation import SimulationSettings, build_path_request, simulate_paths
from scenarios.paths.valuation import PricingMethod, value_path_book

ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
TODAY = ENTRY.market.valuation_date


def _touch(expiry: dt.date):
    return build_touch_option(
        valuation_date=TODAY,
        spot=ENTRY.market.spot,
        touch_type=TouchType.ONE_TOUCH,
        direction=Direction.UP,
        barrier=150.0,
        cash=1.0,
        expiry=expiry,
        pay_at_hit=True,
    )


def _abandoned() -> CancelToken:
    token = CancelToken()
    token.abandon()
    return token


def test_a_fan_chart_in_an_abandoned_scope_raises_cancelled():
    request = build_path_request(
        valuation_date=TODAY, simulation=SimulationSettings(n_paths=8_192, seed=1), tenor="3M"
    )
    token = _abandoned()
    with cancel_scope(token), pytest.raises(Cancelled) as caught:
        simulate_paths(market=ENTRY.market, scenario_set=ENTRY.scenario_set, request=request)
    assert caught.value.reason == CancelReason.ABANDONED


def test_a_path_book_past_its_deadline_raises_cancelled():
    token = CancelToken(budget_seconds=-1.0)  # its deadline was a second ago
    with cancel_scope(token), pytest.raises(Cancelled, match="deadline"):
        value_path_book(
            market=ENTRY.market,
            scenario_set=ENTRY.scenario_set,
            contracts=(_touch(dt.date(2025, 9, 12)),),
            settings=SimulationSettings(n_paths=8_192, seed=1),
        )


def test_a_book_of_closed_forms_never_looks_at_the_token():
    token = _abandoned()
    with cancel_scope(token):
        valuation = value_path_book(
            market=ENTRY.market,
            scenario_set=ENTRY.scenario_set,
            contracts=(_touch(ENTRY.scenario_set.event_date),),
        )
    assert valuation.methods == (PricingMethod.CLOSED_FORM,)
    assert token.checks == 0
