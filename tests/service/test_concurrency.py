"""Concurrent requests give the answers serial ones give.

QuantLib's evaluation date is process-global; every QuantLib call runs under the guard
(lock + set/restore). Requests on many threads, each on a different valuation date and
tenor set (so the date rules run under contention), must equal the same requests run one
by one.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import QuantLib as ql
from fastapi.testclient import TestClient

from pricing.quantlib_guard import quantlib_session, to_ql_date
from service.app import create_app
from service.settings import Settings


def _request(day: int) -> dict[str, Any]:
    valuation = dt.date(2025, 6, 2) + dt.timedelta(days=day)
    return {
        "scenario_set": {
            "event_date": "2025-07-09",
            "scenarios": [
                {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09},
                {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13},
            ],
        },
        "market": {
            "valuation_date": valuation.isoformat(),
            "spot": 144.1,
            "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
            "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
            "atm_vols": [{"tenor": "1M", "vol": 0.115}, {"tenor": "1Y", "vol": 0.103}],
        },
        "instruments": [
            {"kind": "call", "strike": 145.0, "tenor": tenor}
            for tenor in ("ON", "1W", "1M", "3M", "1Y")
        ],
    }


def test_concurrent_requests_equal_serial_ones() -> None:
    # the response cache is off: every request is valued, none answered from the first ones
    with TestClient(create_app(Settings(response_cache_bytes=0))) as client:
        requests = [_request(day % 30) for day in range(96)]
        serial = [client.post("/v1/price", json=r).json() for r in requests]
        with ThreadPoolExecutor(max_workers=16) as pool:
            parallel = list(pool.map(lambda r: client.post("/v1/price", json=r).json(), requests))
        assert client.app.state.price_cache.hits == 0
    assert parallel == serial
    assert len({s["results"][2]["expiry"] for s in serial}) > 10


def test_guard_restores_the_evaluation_date_under_contention() -> None:
    before = ql.Settings.instance().evaluationDate

    def work(day: int) -> bool:
        date = dt.date(2025, 1, 1) + dt.timedelta(days=day)
        with quantlib_session(date):
            return ql.Settings.instance().evaluationDate == to_ql_date(date)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(400)))
    assert ql.Settings.instance().evaluationDate == before
