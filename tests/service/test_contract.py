"""The contract ``/openapi.json`` describes is the one served.

Witnesses: a JSON Schema validator (draft 2020-12, the dialect of OpenAPI 3.1) over the
served document, against the bodies the service sends; the statuses the service answers
with, against those each operation declares; the pages ``/docs`` and ``/redoc`` and the
assets they load. Repros from the issue: results rows of barrier and touch lines missing
from ``PriceResponse``, 400/404/413/415 undeclared, 405 without ``Allow``, operation ids
such as ``price_v1_price_post``, docs loaded from a CDN.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

SET = "us-japan-tariff-2025-07-09"
OPERATION_IDS = {
    ("post", "/v1/price"): "price_book",
    ("post", "/v1/cds"): "price_cds",
    ("post", "/v1/paths"): "simulate_paths",
    ("post", "/v1/vol-surface"): "vol_surface",
    ("post", "/v1/calibrate"): "calibrate",
    ("get", "/v1/scenario-sets"): "list_scenario_sets",
    ("get", "/v1/scenario-sets/{scenario_set_id}"): "get_scenario_set",
    ("post", "/v1/scenario-sets"): "create_scenario_set",
    ("put", "/v1/scenario-sets/{scenario_set_id}"): "replace_scenario_set",
    ("patch", "/v1/scenario-sets/{scenario_set_id}"): "patch_scenario_set",
    ("delete", "/v1/scenario-sets/{scenario_set_id}"): "retire_scenario_set",
    ("get", "/v1/scenario-sets/{scenario_set_id}/versions"): "list_scenario_set_versions",
    ("get", "/v1/scenario-sets/{scenario_set_id}/versions/{version}"): "get_scenario_set_version",
    ("get", "/v1/markets"): "list_markets",
    ("get", "/v1/markets/{market_id}"): "get_market",
    ("post", "/v1/markets"): "create_market",
    ("put", "/v1/markets/{market_id}"): "replace_market",
    ("patch", "/v1/markets/{market_id}"): "patch_market",
    ("delete", "/v1/markets/{market_id}"): "retire_market",
    ("get", "/v1/markets/{market_id}/versions"): "list_market_versions",
    ("get", "/v1/markets/{market_id}/versions/{version}"): "get_market_version",
    ("post", "/v1/books"): "create_book",
    ("get", "/v1/books/{book_id}"): "get_book",
    ("post", "/v1/jobs"): "submit_job",
    ("get", "/v1/jobs"): "list_jobs",
    ("get", "/v1/jobs/{job_id}"): "get_job",
    ("delete", "/v1/jobs/{job_id}"): "cancel_job",
    ("get", "/v1/jobs/{job_id}/result"): "get_job_result",
    ("get", "/v1/jobs/{job_id}/cube"): "get_job_cube",
    ("get", "/v1/jobs/{job_id}/errors"): "get_job_errors",
    ("get", "/v1/jobs/{job_id}/totals"): "get_job_totals",
    ("get", "/v1/health"): "health",
    ("get", "/v1/ready"): "ready",
    ("get", "/metrics"): "metrics",
}
# the pricing routes (the store's writes are checked in tests/service/test_store_api.py)
POSTS = ["/v1/price", "/v1/cds", "/v1/paths", "/v1/vol-surface", "/v1/calibrate"]


@pytest.fixture(scope="module")
def service() -> Iterator[TestClient]:
    app = create_app(Settings(response_cache_bytes=0, max_body_bytes=64 * 1024))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def spec(service: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = service.get("/openapi.json").json()
    return document


def validator(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A draft 2020-12 validator of ``schema`` whose ``$ref``s resolve in ``spec``."""
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": spec["components"]}, validate_formats=True
    )


def errors_of(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}"[:300]
        for e in validator(spec, schema).iter_errors(instance)
    ]


def declared(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    responses: dict[str, Any] = spec["paths"][path][method]["responses"]
    return responses


def request_examples(spec: dict[str, Any], path: str) -> list[dict[str, Any]]:
    content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    name = content["schema"]["$ref"].split("/")[-1]
    examples: list[dict[str, Any]] = spec["components"]["schemas"][name]["examples"]
    return examples


def test_every_operation_is_named_for_client_generators(spec: dict[str, Any]) -> None:
    # Issue repro: ids read like price_v1_price_post
    found = {
        (method, path): operation["operationId"]
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    assert found == OPERATION_IDS
    assert len(set(found.values())) == len(found)


def test_every_error_response_is_a_problem(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "errors"}
    assert "request_id" in problem["properties"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    assert response["content"] == {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    }, (method, path, status)
    for path in POSTS:
        assert {"404", "413", "415", "422", "503"} <= set(declared(spec, "post", path)), path
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's, never sent


def _statuses_seen(service: TestClient, spec: dict[str, Any]) -> dict[tuple[str, str], set[int]]:
    seen: dict[tuple[str, str], set[int]] = {}

    def note(method: str, path: str, response: Any) -> None:
        seen.setdefault((method, path), set()).add(response.status_code)
        if response.status_code >= 400:
            problem = response.json()
            assert response.headers["content-type"] == "application/problem+json"
            assert not errors_of(spec, {"$ref": "#/components/schemas/Problem"}, problem)

    for path in POSTS:
        example = request_examples(spec, path)[0]
        note("post", path, service.post(path, json=example))
        note("post", path, service.post(path, json={**example, "scenario_set_id": "nope"}))
        note("post", path, service.post(path, json={**example, "unknown_field": 1}))
        note("post", path, service.post(path, content=b"{", headers={"content-type": "text/plain"}))
        big = b'{"pad": "' + b"x" * 70_000 + b'"}'
        note(
            "post",
            path,
            service.post(path, content=big, headers={"content-type": "application/json"}),
        )
        note(
            "post",
            path,
            service.post(path, content=b"{,}", headers={"content-type": "application/json"}),
        )
    note("get", "/v1/scenario-sets", service.get("/v1/scenario-sets"))
    for set_id in (SET, "nope", "%00"):
        note(
            "get", "/v1/scenario-sets/{scenario_set_id}", service.get(f"/v1/scenario-sets/{set_id}")
        )
    return seen


def test_every_status_sent_is_declared(service: TestClient, spec: dict[str, Any]) -> None:
    seen = _statuses_seen(service, spec)
    for (method, path), statuses in seen.items():
        assert {str(s) for s in statuses} <= set(declared(spec, method, path)), (path, statuses)
    assert seen[("post", "/v1/price")] == {200, 404, 413, 415, 422}
    assert seen[("get", "/v1/scenario-sets/{scenario_set_id}")] == {200, 404}


@pytest.mark.parametrize("path", POSTS)
def test_every_example_and_its_answer_match_their_schemas(
    service: TestClient, spec: dict[str, Any], path: str
) -> None:
    # Issue repro: the price spec's third example (a one-touch, a CDS line) got results rows
    # PriceResponse did not describe
    operation = spec["paths"][path]["post"]
    request_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    response_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    for i, example in enumerate(request_examples(spec, path)):
        assert not errors_of(spec, request_schema, example), (i, example)
        response = service.post(path, json=example)
        assert response.status_code == 200, (i, response.text[:300])
        assert not errors_of(spec, response_schema, response.json()), i


def test_the_price_response_describes_barrier_and_touch_rows(
    service: TestClient, spec: dict[str, Any]
) -> None:
    example = request_examples(spec, "/v1/price")[2]
    kinds = [row["kind"] for row in service.post("/v1/price", json=example).json()["results"]]
    assert kinds == ["put", "one_touch", "cds"]
    rows = spec["components"]["schemas"]["PriceResponse"]["properties"]["results"]["items"]
    assert {"$ref": "#/components/schemas/PathPriceResult"} in rows["anyOf"]


def _schemas_with_examples(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if isinstance(value.get("examples"), list):
            yield value
        for item in value.values():
            yield from _schemas_with_examples(item)
    elif isinstance(value, list):
        for item in value:
            yield from _schemas_with_examples(item)


def test_every_schema_example_matches_its_schema(spec: dict[str, Any]) -> None:
    schemas = list(_schemas_with_examples(spec["components"]["schemas"]))
    assert len(schemas) > 10
    for schema in schemas:
        bare = {k: v for k, v in schema.items() if k != "examples"}
        for example in schema["examples"]:
            assert not errors_of(spec, bare, example), (schema.get("title"), example)


def test_405_names_the_route_and_carries_allow(service: TestClient) -> None:
    # Issue repro: 405 had no Allow header
    response = service.post("/v1/health", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.headers["content-type"] == "application/problem+json"
    error = response.json()["errors"][0]
    assert error["field"] == "path" and "route" in error["reason"] and "GET" in error["reason"]


def test_an_unknown_url_names_the_path(service: TestClient) -> None:
    response = service.get("/v1/nothing-here")
    assert response.status_code == 404
    error = response.json()["errors"][0]
    assert error == {"field": "path", "reason": "no route /v1/nothing-here"}


_ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_nothing_from_outside(service: TestClient, page: str) -> None:
    # Issue repro: /docs loaded Swagger UI from a CDN, blank on a desk without internet
    response = service.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html
    assets = _ASSET.findall(html)
    assert any(a.endswith(".js") for a in assets)
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = service.get(url)
        kind = asset.headers["content-type"]
        assert asset.status_code == 200, url
        if url.endswith(".js"):
            assert kind.startswith("text/javascript"), (url, kind)
        elif url.endswith(".css"):
            assert kind.startswith("text/css"), (url, kind)
        else:
            assert kind.startswith("image/"), (url, kind)
    assert "/openapi.json" in html
