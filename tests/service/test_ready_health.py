"""``GET /v1/health`` (liveness, version, build) and ``GET /v1/ready`` (readiness).

Witnesses: the lifespan (not run → not ready; run → ready), the installed package's
metadata for the version, the environment for the build.
"""

from __future__ import annotations

from importlib import metadata

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

VERSION = metadata.version("tariff-scenario-pricer")


def test_ready_is_a_503_problem_until_start_up_is_done() -> None:
    client = TestClient(create_app())  # no ``with``: the lifespan has not run
    response = client.get("/v1/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/not-ready") and problem["status"] == 503
    assert "start-up" in problem["detail"]
    assert problem["request_id"] == response.headers["x-request-id"]
    with client:  # the lifespan's start-up: the catalogue and the warm-up
        response = client.get("/v1/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "version": VERSION,
        "build": "dev",
        "store": "sqlite",  # tests/conftest.py: a throw-away SQLite file
        "store_revision": "0002",  # store/migrations/versions/0002_jobs.py, the newest
    }


def test_health_is_alive_before_start_up_is_done() -> None:
    response = TestClient(create_app()).get("/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": VERSION, "build": "dev"}


def test_health_and_ready_report_the_build_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FXSCEN_BUILD", "3f2c1ab")
    with TestClient(create_app(Settings())) as client:
        assert client.get("/v1/health").json()["build"] == "3f2c1ab"
        assert client.get("/v1/ready").json()["build"] == "3f2c1ab"


def test_health_and_ready_are_documented_with_their_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for path, operation_id, schema in (
        ("/v1/health", "health", "HealthRead"),
        ("/v1/ready", "ready", "ReadinessRead"),
    ):
        operation = spec["paths"][path]["get"]
        assert operation["operationId"] == operation_id
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"] == f"#/components/schemas/{schema}"
        fields = schemas[schema]["properties"]
        store = {"store", "store_revision"} if schema == "ReadinessRead" else set()
        assert set(fields) == {"status", "version", "build"} | store
        assert all(field.get("description") for field in fields.values())
    not_ready = spec["paths"]["/v1/ready"]["get"]["responses"]["503"]
    assert "application/problem+json" in not_ready["content"]
