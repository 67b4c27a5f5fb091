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
from tests.service.json_checks import finite_numbers

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


def _numeric_leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numeric_leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _numeric_leaves(item, (*path, i))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path


ROUTES = ["/v1/price", "/v1/cds", "/v1/paths", "/v1/vol-surface", "/v1/calibrate"]


def test_every_post_route_has_examples(service: TestClient) -> None:
    examples = _examples(service)
    assert sorted(examples) == sorted(ROUTES)
    assert all(examples[route] for route in ROUTES)


@pytest.mark.parametrize("route", ROUTES)
def test_extreme_numbers_get_a_named_4xx_or_finite_figures(service: TestClient, route: str) -> None:
    sent = 0
    for example in _examples(service)[route]:
        for path in _numeric_leaves(example):
            for value in EXTREMES:
                body = copy.deepcopy(example)
                target = body
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
                response = service.post(route, json=body)
                sent += 1
                where = f"{route} {path} = {value!r}: {response.status_code} {response.text[:300]}"
                assert response.status_code < 500, where
                if response.status_code == 200:
                    assert finite_numbers(response.json()), where
                else:
                    assert response.headers["content-type"] == "application/problem+json", where
                    assert response.json()["errors"][0]["field"], where
    assert sent > 0
