"""The response cache of ``POST /v1/price`` (:mod:`service.response_cache`).

Witnesses: the same request answered by a fresh app with the cache off (a cached answer must
be byte-for-byte what a valuation gives); the rule each case states (errors never stored,
exact-bytes keys, bound in bytes, least recently used out first, bodies streamed in chunks
or too large to key passed on whole).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.price_lane import PriceLane
from service.response_cache import ResponseCache
from service.settings import Settings

SET_ID = "us-japan-tariff-2025-07-09"
JSON = {"content-type": "application/json"}


def body(strike: float = 150.0, **changes: Any) -> bytes:
    request = {
        "scenario_set_id": SET_ID,
        "instruments": [{"kind": "call", "strike": strike, "tenor": "3M"}],
        **changes,
    }
    return json.dumps(request).encode()


@pytest.fixture(scope="module")
def cached() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(response_cache_bytes=2**20))) as client:
        yield client


@pytest.fixture(scope="module")
def uncached() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(response_cache_bytes=0))) as client:
        yield client


def test_a_repeated_request_gets_the_bytes_a_valuation_gives(
    cached: TestClient, uncached: TestClient
) -> None:
    cache = cached.app.state.price_cache
    hits = cache.hits
    first = cached.post("/v1/price", content=body(151.25), headers=JSON)
    again = cached.post("/v1/price", content=body(151.25), headers=JSON)
    valued = uncached.post("/v1/price", content=body(151.25), headers=JSON)
    assert first.status_code == again.status_code == valued.status_code == 200
    assert again.content == first.content == valued.content
    assert again.headers["content-type"] == valued.headers["content-type"] == "application/json"
    assert again.headers["content-length"] == valued.headers["content-length"]
    assert cache.hits == hits + 1
    assert uncached.app.state.price_cache.hits == 0 and len(uncached.app.state.price_cache) == 0


def test_errors_are_never_stored(cached: TestClient) -> None:
    cache = cached.app.state.price_cache
    held = len(cache)
    bad = body(-1.0)
    for _ in range(2):
        response = cached.post("/v1/price", content=bad, headers=JSON)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "instruments[0].strike"
    assert len(cache) == held


def test_keys_are_exact_bytes_and_content_type(cached: TestClient) -> None:
    cache = cached.app.state.price_cache
    plain = body(152.5)
    spaced = plain.replace(b": ", b":   ")
    assert cached.post("/v1/price", content=plain, headers=JSON).status_code == 200
    held = len(cache)
    reformatted = cached.post("/v1/price", content=spaced, headers=JSON)
    assert reformatted.status_code == 200 and len(cache) == held + 1  # a miss, then stored
    # a different content type is another request: text/plain is refused before the lane
    other = cached.post("/v1/price", content=plain, headers={"content-type": "text/plain"})
    assert other.status_code == 415
    assert len(cache) == held + 1


def test_a_body_too_large_to_key_is_priced_and_not_stored(cached: TestClient) -> None:
    legs = [
        {"kind": "call", "strike": 120.0 + i * 0.01, "tenor": "3M", "label": f"leg {i:05d}"}
        for i in range(1200)
    ]
    big = json.dumps({"scenario_set_id": SET_ID, "instruments": legs}).encode()
    assert len(big) > 64 * 1024
    cache = cached.app.state.price_cache
    held = len(cache)
    response = cached.post("/v1/price", content=big, headers=JSON)
    assert response.status_code == 200 and len(response.json()["results"]) == 1200
    assert len(cache) == held


def test_other_routes_pass_through(cached: TestClient) -> None:
    cache = cached.app.state.price_cache
    held, hits = len(cache), cache.hits
    for _ in range(2):
        assert cached.get("/v1/health").json()["status"] == "ok"
        assert cached.post("/v1/cds", content=b"{}", headers=JSON).status_code == 422
    assert (len(cache), cache.hits) == (held, hits)


def test_the_bound_is_in_bytes_least_recently_used_out_first() -> None:
    cache = ResponseCache(max_bytes=400)
    headers = [(b"content-type", b"application/json")]
    for key in (b"a", b"b", b"c"):
        cache.put(key, headers, b"x" * 99)  # 100 bytes each with the key
    assert cache.get(b"a") is not None  # a is now the most recent
    cache.put(b"d", headers, b"x" * 99)
    cache.put(b"e", headers, b"x" * 99)  # 500 > 400: b, the least recent, goes
    assert cache.get(b"b") is None
    assert all(cache.get(k) is not None for k in (b"a", b"c", b"d", b"e"))
    assert cache.size_bytes == 400 and len(cache) == 4
    cache.put(b"f", headers, b"x" * 101)  # larger than a quarter of the bound: not kept
    assert cache.get(b"f") is None and cache.size_bytes == 400
    cache.put(b"a", headers, b"y" * 49)  # replacing an entry re-counts it
    assert cache.get(b"a") == (headers, b"y" * 49) and cache.size_bytes == 350
    with pytest.raises(ValueError, match="max_bytes"):
        ResponseCache(max_bytes=-1)


def test_chunked_bodies_are_replayed_whole_to_the_app() -> None:
    """A body in several messages is keyed whole, and the app reads it as sent."""
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        seen.append(b"".join(parts))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok:" + seen[-1]})

    cache = ResponseCache(max_bytes=10_000)
    middleware = PriceLane(app, cache=cache, settings=Settings(), path="/v1/price")
    scope = {"type": "http", "method": "POST", "path": "/v1/price", "headers": []}

    async def call(chunks: list[bytes]) -> bytes:
        messages = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await middleware(scope, receive, send)
        return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")

    assert asyncio.run(call([b"ab", b"cd", b"ef"])) == b"ok:abcdef"
    assert asyncio.run(call([b"abc", b"def"])) == b"ok:abcdef"  # same bytes: from the cache
    assert seen == [b"abcdef"] and cache.hits == 1
    big = [b"x" * 40_000, b"y" * 40_000]  # beyond the key limit: passed on, not stored
    assert asyncio.run(call(big)) == b"ok:" + b"".join(big)
    assert asyncio.run(call(big)) == b"ok:" + b"".join(big)
    assert seen[1:] == [b"".join(big)] * 2 and len(cache) == 1


MARKET = {
    "valuation_date": "2025-06-13",
    "spot": 144.1,
    "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
    "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
    "atm_vols": [{"tenor": "1M", "vol": 0.115}, {"tenor": "1Y", "vol": 0.103}],
}
SET = {
    "event_date": "2025-07-09",
    "scenarios": [
        {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09},
        {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13},
    ],
}
BOOKS = {
    "every payoff, built-in set": {
        "scenario_set_id": SET_ID,
        "instruments": [
            {"kind": "call", "strike": 150.0, "tenor": "3M", "label": "c"},
            {"kind": "put", "strike": 140.0, "expiry": "2025-09-12", "notional": 1e6},
            {"kind": "digital_call", "strike": 155.0, "tenor": "1M", "payout_currency": "JPY"},
            {"kind": "digital_put", "strike": 135.0, "tenor": "6M", "payout_currency": "USD"},
            {"kind": "forward", "strike": 144.0, "tenor": "1Y"},
            {"kind": "call", "strike": 146.0, "tenor": "1W"},
        ],
    },
    "inline set and market, measure scale": {
        "scenario_set": SET,
        "market": MARKET,
        "measure": "scale",
        "instruments": [{"kind": "put", "strike": 141.0, "tenor": "2M"}],
    },
    "no measure under tilt": {
        "scenario_set": {
            **SET,
            "scenarios": [{**s, "level": 150.0 + i} for i, s in enumerate(SET["scenarios"])],
        },
        "market": MARKET,
        "instruments": [{"kind": "call", "strike": 145.0, "tenor": "3M"}],
    },
    "bad strike": {
        "scenario_set_id": SET_ID,
        "instruments": [{"kind": "call", "strike": 0.0, "tenor": "3M"}],
    },
    "unknown set": {
        "scenario_set_id": "no-such-set",
        "instruments": [{"kind": "call", "strike": 150.0, "tenor": "3M"}],
    },
    "a CDS line (valued by the route, on a thread)": {
        "scenario_set_id": SET_ID,
        "instruments": [
            {"kind": "call", "strike": 150.0, "tenor": "3M"},
            {"kind": "cds", "entity": "nissan", "tenor": "5Y", "notional": 1e7},
        ],
    },
}


@pytest.mark.parametrize("name", list(BOOKS))
def test_the_lane_answers_as_the_route_does(uncached: TestClient, name: str) -> None:
    """``application/json`` is valued by the lane; with a charset parameter the request
    goes through the route (the lane values plain JSON only): same status, same bytes."""
    raw = json.dumps(BOOKS[name]).encode()
    stats = uncached.app.state.price_lane
    valued, passed = stats.valued, stats.passed
    same_id = {
        "x-request-id": "lane-vs-route-" + name.replace(" ", "-")
    }  # problem bodies carry the request id
    lane = uncached.post("/v1/price", content=raw, headers={**JSON, **same_id})
    # a valid small FX book on the built-in set is valued by the lane; the rest is passed to
    # the route (a set or market of the request's own costs its consistency report, ~12 ms:
    # service.cost.CONSISTENCY_REPORT, over FXSCEN_INLINE_WORK_UNITS, so off the event loop)
    own = "scenario_set" in BOOKS[name] or "market" in BOOKS[name]
    small_fx = lane.status_code == 200 and "CDS" not in name and not own
    assert (stats.valued - valued, stats.passed - passed) == ((1, 0) if small_fx else (0, 1))
    route = uncached.post(
        "/v1/price",
        content=raw,
        headers={"content-type": "application/json; charset=utf-8", **same_id},
    )
    assert (stats.valued - valued, stats.passed - passed) == ((1, 1) if small_fx else (0, 2))
    assert lane.status_code == route.status_code
    assert lane.headers["content-type"] == route.headers["content-type"]
    assert lane.content == route.content


def test_an_error_the_lane_did_not_foresee_goes_to_the_route(monkeypatch) -> None:
    """The lane sits outside the framework's error handling: whatever goes wrong while it
    values a book, the request is passed on and the route answers it (here: as usual)."""
    with TestClient(create_app(Settings(response_cache_bytes=0))) as client:
        expected = client.post("/v1/price", content=body(151.0), headers=JSON)

        def broken(job: Any) -> Any:
            raise RuntimeError("planted")

        monkeypatch.setattr("service.price_lane.value", broken)
        stats = client.app.state.price_lane
        passed = stats.passed
        reply = client.post("/v1/price", content=body(151.0), headers=JSON)
    assert reply.status_code == 200
    assert reply.content == expected.content
    assert stats.passed == passed + 1
