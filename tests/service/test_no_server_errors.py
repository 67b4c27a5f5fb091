"""No input gets a 500 or a NaN: every number of every OpenAPI example, replaced by extremes.

Witness: the contract itself — a request the service cannot price gets a 4xx problem
response naming a field; one it prices gets finite numbers. Each POST endpoint's examples
(as ``/docs`` shows them) are sent with each numeric leaf replaced in turn by zero,
negatives, the largest and smallest doubles, huge integers, and values of the wrong type.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.service.json_checks import finite_numbers, numeric_leaves

EXTREMES: list[Any] = [
    0,
    -1,
    -1e-9,
    1e-308,
    5e-324,
    1e6,
    1e15,
    1e308,
    -1e308,
    10**30,
    "x",
    None,
    True,
    [],
    {},
]


@pytest.fixture(scope="module")
def service() -> Iterator[TestClient]:
    app = create_app(Settings(response_cache_bytes=0))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _examples(client: TestClient) -> dict[str, list[dict[str, Any]]]:
    spec = client.get("/openapi.json").json()
    found: dict[str, list[dict[str, Any]]] = {}
    for route, operations in spec["paths"].items():
        body = operations.get("post", {}).get("requestBody", {})
        ref = body.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
        if ref:
            found[route] = spec["components"]["schemas"][ref.split("/")[-1]].get("examples", [])
    return found


ROUTES = ["/v1/price", "/v1/cds", "/v1/paths", "/v1/vol-surface", "/v1/calibrate"]


def test_every_post_route_has_examples(service: TestClient) -> None:
    examples = _examples(service)
    # the store's writes, fuzzed in tests/service/test_store_api.py with a fresh id each time,
    # and jobs, in tests/service/test_jobs_api.py (on an app that runs none)
    assert sorted(examples) == sorted([*ROUTES, "/v1/scenario-sets", "/v1/markets", "/v1/jobs"])
    assert all(examples[route] for route in ROUTES)


@pytest.mark.parametrize("route", ROUTES)
def test_extreme_numbers_get_a_named_4xx_or_finite_figures(service: TestClient, route: str) -> None:
    sent = 0
    for example in _examples(service)[route]:
        for path in numeric_leaves(example):
            for value in EXTREMES:
                _send_replaced_leaf(service, route, example, path, value)
                sent += 1
    assert sent > 0


def _send_replaced_leaf(
    service: TestClient, route: str, example: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    """``example`` with the leaf at ``path`` set to ``value``: a named 4xx or finite figures."""
    body = copy.deepcopy(example)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    response = service.post(route, json=body)
    where = f"{route} {path} = {value!r}: {response.status_code} {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code == 200:
        assert finite_numbers(response.json()), where
    else:
        assert response.headers["content-type"] == "application/problem+json", where
        assert response.json()["errors"][0]["field"], where


# Dates around and beyond QuantLib's calendar range (1901-01-01 … 2199-12-31) and the
# 30-year expiry horizon; tenors that would run past the range from a late valuation date.
EXTREME_DATES = [
    "1850-01-01",
    "1900-12-31",
    "1901-01-01",
    "2169-12-31",
    "2190-06-30",
    "2199-12-31",
    "2200-01-01",
    "2250-01-01",
    "9999-12-31",
    "0001-01-01",
]
EXTREME_STRINGS: list[Any] = ["10Y", "999Y", "0D", "", {}, [], 1, None]


def _string_leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _string_leaves(item, (*path, i))
    elif isinstance(value, str):
        yield path, value


def _is_date(text: str) -> bool:
    return len(text) == 10 and text[4] == "-" and text[7] == "-"


def _send_replaced(service: TestClient, route: str, replacements: dict[str, list[Any]]) -> int:
    sent = 0
    for example in _examples(service)[route]:
        for path, text in _string_leaves(example):
            kind = "date" if _is_date(text) else "kind" if path[-1] == "kind" else "other"
            for value in replacements.get(kind, []):
                _send_replaced_leaf(service, route, example, path, value)
                sent += 1
    return sent


@pytest.mark.parametrize("route", ROUTES)
def test_extreme_dates_and_strings_get_a_named_4xx_or_finite_figures(
    service: TestClient, route: str
) -> None:
    sent = _send_replaced(
        service,
        route,
        {"date": EXTREME_DATES, "kind": [{}, [], 1, None, "", "CALL"], "other": EXTREME_STRINGS},
    )
    assert sent > 0


LATE = "2195-06-13"  # a valuation date whose 10Y tenors would pass 2199-12-31


@pytest.mark.parametrize("route", ROUTES)
def test_a_late_valuation_date_gets_a_named_4xx_not_a_500(service: TestClient, route: str) -> None:
    for example in _examples(service)[route]:
        if "market" not in example:
            continue
        body = copy.deepcopy(example)
        body["market"]["valuation_date"] = LATE
        response = service.post(route, json=body)
        assert response.status_code < 500, response.text[:300]


def test_an_expiry_beyond_the_horizon_names_the_field(service: TestClient) -> None:
    # Issue repro: expiry 9999-12-31 was priced (forward 1.85e-109).
    for expiry in ("9999-12-31", "2056-06-14"):
        response = service.post(
            "/v1/price",
            json={
                "scenario_set_id": "us-japan-tariff-2025-07-09",
                "instruments": [{"kind": "call", "strike": 150.0, "expiry": expiry}],
            },
        )
        assert response.status_code == 422, response.text
        error = response.json()["errors"][0]
        assert error["field"] == "instruments[0].expiry"
        assert "30 years" in error["reason"] or "2199-12-31" in error["reason"]


def test_a_malformed_kind_gets_a_named_422_not_a_500(service: TestClient) -> None:
    # Issue repro: {"kind": {}} and {"kind": []} raised in the lane's discriminator (a 500).
    for kind in ({}, [], 3, None):
        response = service.post(
            "/v1/price",
            json={"scenario_set_id": "us-japan-tariff-2025-07-09", "instruments": [{"kind": kind}]},
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "instruments[0].kind"
