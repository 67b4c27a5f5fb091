"""``GET /metrics`` (:mod:`service.metrics`): each count moves by exactly the requests sent.

Witnesses: the requests each test sends (counted before and after, from ``/metrics`` parsed
by prometheus_client's own parser); the lane's :class:`~service.price_lane.LaneStats`
(counted by the lane itself); for several workers, two real processes writing one
multiprocess directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from service import metrics
from service.app import create_app
from service.metrics import exposition, record_rejection, record_work
from service.metrics_dir import MULTIPROC_ENV, mark_worker_dead, prepare_multiprocess_dir
from service.settings import Settings

SET_ID = "us-japan-tariff-2025-07-09"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, route: str, method: str, status: int) -> float:
    return value(
        samples, "fxscen_http_requests_total", route=route, method=method, status=str(status)
    )


def durations(samples: Samples, route: str, method: str, status: int) -> dict[str, float]:
    """The histogram's buckets by ``le``, with ``count`` and ``sum``."""
    labels = {"route": route, "method": method, "status": str(status)}
    name = "fxscen_http_request_duration_seconds"
    out = {
        "count": value(samples, name + "_count", **labels),
        "sum": value(samples, name + "_sum", **labels),
    }
    for (sample, sample_labels), v in samples.items():
        other = dict(sample_labels)
        le = other.pop("le", None)
        if sample == name + "_bucket" and other == labels and le is not None:
            out[le] = v
    return out


def price_body(strike: float) -> dict[str, object]:
    return {
        "scenario_set_id": SET_ID,
        "instruments": [{"kind": "call", "strike": strike, "tenor": "3M"}],
    }


@pytest.fixture(scope="module")
def app_client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(response_cache_bytes=2**20))) as client:
        yield client


def test_requests_are_counted_by_route_template_method_and_status(
    app_client: TestClient,
) -> None:
    before = scrape(app_client)
    for _ in range(3):
        assert app_client.get("/v1/scenario-sets/nope").status_code == 404
    for _ in range(2):
        assert app_client.get("/v1/health").status_code == 200
    assert app_client.get("/v1/no/such/path").status_code == 404
    assert app_client.request("BREW", "/v1/health").status_code == 405
    after = scrape(app_client)

    def moved(route: str, method: str, status: int) -> float:
        return requests(after, route, method, status) - requests(before, route, method, status)

    # the template, never the raw path; an unknown path under one label; odd methods as one
    assert moved("/v1/scenario-sets/{scenario_set_id}", "GET", 404) == 3
    assert moved("/v1/health", "GET", 200) == 2
    assert moved("unmatched", "GET", 404) == 1
    assert moved("/v1/health", "other", 405) == 1
    assert moved("/metrics", "GET", 200) == 1  # the first scrape, counted once it was sent
    routes = {dict(labels)["route"] for name, labels in after if "route" in dict(labels)}
    assert "/v1/scenario-sets/nope" not in routes and "/v1/no/such/path" not in routes


def test_histogram_counts_match_the_requests(app_client: TestClient) -> None:
    before = scrape(app_client)
    for _ in range(4):
        app_client.get("/v1/scenario-sets/nope")
    after = scrape(app_client)
    route = ("/v1/scenario-sets/{scenario_set_id}", "GET", 404)
    old, new = durations(before, *route), durations(after, *route)
    assert new["count"] - old["count"] == 4
    assert new["+Inf"] - old.get("+Inf", 0.0) == 4
    assert new["count"] == requests(after, *route)  # the counter and the histogram agree
    assert new["sum"] > old["sum"]
    bounds = sorted((float(le), n) for le, n in new.items() if le not in ("count", "sum"))
    counts = [n for _, n in bounds]
    assert counts == sorted(counts)  # cumulative buckets
    assert len(bounds) == 16


def test_requests_the_price_lane_answers_are_counted(app_client: TestClient) -> None:
    lane = cast(FastAPI, app_client.app).state.price_lane
    seen = (lane.cached, lane.valued, lane.passed)
    before = scrape(app_client)
    body = price_body(151.123457)
    assert app_client.post("/v1/price", json=body).status_code == 200  # valued by the lane
    assert app_client.post("/v1/price", json=body).status_code == 200  # from the cache
    assert app_client.post("/v1/price", json=price_body(-1.0)).status_code == 422  # passed
    after = scrape(app_client)
    assert (lane.cached - seen[0], lane.valued - seen[1], lane.passed - seen[2]) == (1, 1, 1)
    assert (
        requests(after, "/v1/price", "POST", 200) - requests(before, "/v1/price", "POST", 200) == 2
    )
    assert (
        requests(after, "/v1/price", "POST", 422) - requests(before, "/v1/price", "POST", 422) == 1
    )
    outcome = "fxscen_price_lane_requests_total"
    for name in ("cached", "valued", "passed"):
        assert value(after, outcome, outcome=name) - value(before, outcome, outcome=name) == 1


def test_the_in_flight_gauge_counts_the_scrape_itself(app_client: TestClient) -> None:
    assert value(scrape(app_client), "fxscen_http_requests_in_flight") == 1


def test_work_units_and_budget_rejections_are_counted(app_client: TestClient) -> None:
    before = scrape(app_client)
    record_work("/v1/price", 130.5)
    record_work("/v1/price", 69.5)
    record_rejection("/v1/paths", "n_paths")
    after = scrape(app_client)
    work = "fxscen_work_units_total"
    where = {"route": "/v1/price", "where": "thread"}
    assert value(after, work, **where) - value(before, work, **where) == 200
    refused = "fxscen_budget_rejections_total"
    labels = {"route": "/v1/paths", "field": "n_paths"}
    assert value(after, refused, **labels) - value(before, refused, **labels) == 1


def test_openmetrics_is_served_when_asked_for(app_client: TestClient) -> None:
    response = app_client.get("/metrics", headers={"accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_metrics_off_serves_no_metrics_and_counts_nothing(app_client: TestClient) -> None:
    before = scrape(app_client)
    off = TestClient(create_app(Settings(metrics=False)))
    response = off.get("/metrics")
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "path"
    assert off.get("/v1/health").status_code == 200
    after = scrape(app_client)
    assert requests(after, "/v1/health", "GET", 200) == requests(before, "/v1/health", "GET", 200)
    assert requests(after, "unmatched", "GET", 404) == requests(before, "unmatched", "GET", 404)


def test_the_tally_is_published_without_a_scrape_within_the_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a worker nobody scrapes counts still reaches the (multiprocess) files."""
    monkeypatch.setattr(metrics, "PUBLISH_SECONDS", 0.0)
    tally = metrics._TALLY
    published = asyncio.Event()
    publish = tally.publish

    def publish_and_note() -> None:
        publish()
        published.set()

    monkeypatch.setattr(tally, "publish", publish_and_note)
    app = create_app()
    labels = {"route": "/v1/health", "method": "GET", "status": "200"}
    before = REGISTRY.get_sample_value("fxscen_http_requests_total", labels) or 0.0

    async def one_request() -> None:
        async def receive() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            pass

        scope = {"type": "http", "method": "GET", "path": "/v1/health", "headers": [],
                 "query_string": b"", "root_path": "", "scheme": "http", "server": ("t", 80),
                 "http_version": "1.1", "asgi": {"version": "3.0"}}  # fmt: skip
        await app(scope, receive, send)
        await asyncio.wait_for(published.wait(), timeout=10)

    asyncio.run(one_request())
    after = REGISTRY.get_sample_value("fxscen_http_requests_total", labels)
    assert after == before + 1


def test_the_tally_is_published_at_shutdown() -> None:
    labels = {"route": "/v1/health", "method": "GET", "status": "200"}
    before = REGISTRY.get_sample_value("fxscen_http_requests_total", labels) or 0.0
    with TestClient(create_app()) as client:
        client.get("/v1/health")
        client.get("/v1/health")
    after = REGISTRY.get_sample_value("fxscen_http_requests_total", labels)
    assert after == before + 2


WORKER = """
import json, sys
from fastapi.testclient import TestClient
from service.app import create_app
with TestClient(create_app()) as client:  # the lifespan's shutdown publishes the tally
    for _ in range(int(sys.argv[1])):
        assert client.get("/v1/health").status_code == 200
    assert client.get("/v1/no/such/path").status_code == 404
"""


def test_multiprocess_mode_adds_up_two_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(n)], env=env) for n in (3, 5)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    live = [tmp_path / f"gauge_livesum_{w.pid}.db" for w in workers]
    assert all(path.exists() for path in live)

    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    body, content_type = exposition(None)
    assert content_type.startswith("text/plain")
    samples = parse(body.decode())
    assert requests(samples, "/v1/health", "GET", 200) == 8
    assert requests(samples, "unmatched", "GET", 404) == 2
    assert durations(samples, "/v1/health", "GET", 200)["count"] == 8
    assert durations(samples, "/v1/health", "GET", 200)["+Inf"] == 8
    assert value(samples, "fxscen_http_requests_in_flight") == 0

    mark_worker_dead(workers[0].pid)
    assert not live[0].exists() and live[1].exists()
    samples = parse(exposition(None)[0].decode())
    assert requests(samples, "/v1/health", "GET", 200) == 8  # a dead worker's counts stay


def test_prepare_multiprocess_dir_is_a_no_op_for_one_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, "")
    monkeypatch.delenv(MULTIPROC_ENV)
    prepare_multiprocess_dir(1)
    assert MULTIPROC_ENV not in os.environ


def test_prepare_multiprocess_dir_makes_an_empty_dir_for_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # set first, so that monkeypatch records the variable and removes what the call sets
    # (a delenv of an unset variable records nothing: the directory would leak into the
    # environment of every server a later test starts)
    monkeypatch.setenv(MULTIPROC_ENV, "")
    monkeypatch.delenv(MULTIPROC_ENV)
    prepare_multiprocess_dir(2)
    path = Path(os.environ[MULTIPROC_ENV])
    assert path.is_dir() and not any(path.iterdir())


def test_prepare_multiprocess_dir_empties_a_dir_the_operator_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    (tmp_path / "notes.txt").write_text("kept")
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    prepare_multiprocess_dir(1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_mark_worker_dead_is_a_no_op_without_multiprocess_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    mark_worker_dead(os.getpid())  # nothing to remove, nothing raised


def test_metrics_is_documented_as_an_operation(app_client: TestClient) -> None:
    operation = app_client.get("/openapi.json").json()["paths"]["/metrics"]["get"]
    assert operation["operationId"] == "metrics"
    assert "text/plain" in operation["responses"]["200"]["content"]
    assert json.dumps(operation).count("openmetrics") >= 1
