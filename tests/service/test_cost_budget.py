"""The cost model and the budget: work is estimated before it starts, refused by name over
the budget, and bounded by the request deadline.

Witnesses: the issue's own repros (16 and 1,000 one-touch lines at 10⁶ paths over 1Y: the
1,000-line book took ~38 min before, so a prompt 422 is itself the witness that nothing was
simulated); the estimate's structure (linear in paths, nothing for lines that a closed form
prices, one simulation shared by the lines); a deadline shorter than the work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.cost import (
    PATH_LINE_SHARE,
    PATH_STEP,
    WEEKDAYS_PER_YEAR,
    cds_work,
    paths_work,
    price_work,
)
from service.schemas.cds import CdsRequest
from service.schemas.paths import PathsRequest
from service.schemas.price import PriceRequest
from service.settings import Settings
from tests.service.test_metrics import scrape, value

SET = "us-japan-tariff-2025-07-09"  # event 2025-07-09, valuation 2025-06-13


def _touches(lines: int, n_paths: int, tenor: str = "1Y") -> dict[str, Any]:
    return {
        "scenario_set_id": SET,
        "instruments": [
            {
                "kind": "one_touch",
                "direction": "up",
                "barrier": 150.0 + 0.5 * i,
                "cash": 1.0,
                "tenor": tenor,
            }
            for i in range(lines)
        ],
        "paths": {"n_paths": n_paths, "seed": 1},
    }


@pytest.fixture(scope="module")
def service() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(response_cache_bytes=0))) as client:
        yield client


def test_a_thousand_touch_lines_at_a_million_paths_are_refused_naming_n_paths(
    service: TestClient,
) -> None:
    # Issue repro: projected ~38 min of both cores; now refused before any path is drawn.
    response = service.post("/v1/price", json=_touches(1000, 1_000_000))
    assert response.status_code == 422, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    error = response.json()["errors"][0]
    assert error["field"] == "paths.n_paths"
    assert "budget" in error["reason"] and "1000 path lines" in error["reason"]


def test_a_long_fan_chart_over_the_budget_is_refused_naming_n_paths(service: TestClient) -> None:
    budget = Settings().max_work_units
    n_paths = 1_000_000
    steps = 10 * WEEKDAYS_PER_YEAR  # a 10Y daily grid: 2,610 steps × 10⁶ paths ≈ 31 s
    assert n_paths * steps * PATH_STEP > budget
    body = {"scenario_set_id": SET, "tenor": "10Y", "n_paths": n_paths}
    response = service.post("/v1/paths", json=body)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["errors"][0]["field"] == "n_paths"


def test_the_budget_setting_is_what_refuses(service: TestClient) -> None:
    # the same one-option book passes under the default budget and fails under a tiny one
    body = {
        "scenario_set_id": SET,
        "instruments": [{"kind": "call", "strike": 150.0, "tenor": "3M"}],
    }
    assert service.post("/v1/price", json=body).status_code == 200
    with TestClient(create_app(Settings(max_work_units=10.0))) as tight:
        response = tight.post("/v1/price", json=body)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "instruments"
        for route, request in (
            (
                "/v1/cds",
                {"scenario_set_id": SET, "contracts": [{"entity": "toyota", "tenor": "5Y"}]},
            ),
            ("/v1/paths", {"scenario_set_id": SET, "tenor": "3M"}),
            ("/v1/vol-surface", {"scenario_set_id": SET}),
            ("/v1/calibrate", {"scenario_set_id": SET}),
        ):
            refused = tight.post(route, json=request)
            assert refused.status_code == 422, (route, refused.text[:200])
            assert "budget" in refused.json()["errors"][0]["reason"]


def test_path_lines_share_one_simulation_in_the_estimate() -> None:
    one = price_work(PriceRequest.model_validate(_touches(1, 100_000))).units
    sixteen = price_work(PriceRequest.model_validate(_touches(16, 100_000))).units
    simulation = 100_000 * WEEKDAYS_PER_YEAR * PATH_STEP
    # 15 more lines on one simulation add 15·α of it, not 15 simulations
    assert sixteen - one == pytest.approx(15 * PATH_LINE_SHARE * simulation, rel=0.02)
    assert sixteen < 2.6 * one  # measured 1.8× (bench/bench_path_lines.py)


def test_the_estimate_is_linear_in_paths_and_free_for_lines_before_the_event() -> None:
    small = price_work(PriceRequest.model_validate(_touches(4, 100_000))).units
    large = price_work(PriceRequest.model_validate(_touches(4, 1_000_000))).units
    assert large == pytest.approx(10 * small, rel=0.01)
    # 1W touches expire before the 2025-07-09 event: closed forms, no simulation counted
    before = price_work(PriceRequest.model_validate(_touches(4, 1_000_000, tenor="1W")))
    assert before.units < 1e3
    assert before.field == "instruments"
    fan = paths_work(PathsRequest.model_validate({"scenario_set_id": SET, "tenor": "1Y"}))
    assert fan.field == "n_paths"


def test_a_request_past_its_deadline_gets_a_503_problem_and_stops() -> None:
    # 2·10⁵ paths over 1Y take ~0.5 s here; a 1 ms deadline passes at the first block check
    settings = Settings(request_deadline_seconds=0.001, response_cache_bytes=0)
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/paths", json={"scenario_set_id": SET, "tenor": "1Y", "n_paths": 200_000}
        )
        assert response.status_code == 503, response.text[:300]
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "1"
        body = response.json()
        assert body["type"].endswith("deadline-exceeded")
        assert "deadline" in body["errors"][0]["reason"]
        # a cheap request on the same service is still answered
        assert client.get("/v1/health").status_code == 200


def test_work_units_are_counted_where_they_ran(service: TestClient) -> None:
    """A one-option book is valued on the event loop (by the lane, or by the route when the
    lane passes it on), a CDS book on a worker thread; each adds its own estimate, once."""
    one = {
        "scenario_set_id": SET,
        "instruments": [{"kind": "call", "strike": 151.5, "tenor": "3M"}],
    }
    units = price_work(PriceRequest.model_validate(one)).units
    cds = {"scenario_set_id": SET, "contracts": [{"entity": "toyota", "tenor": "5Y"}]}
    cds_units = cds_work(CdsRequest.model_validate(cds)).units
    loop = {"route": "/v1/price", "where": "loop"}
    thread = {"route": "/v1/cds", "where": "thread"}
    name = "fxscen_work_units_total"
    before = scrape(service)
    assert service.post("/v1/price", json=one).status_code == 200  # the lane values it
    charset = {"content-type": "application/json; charset=utf-8"}  # the lane passes it on
    assert service.post("/v1/price", json=one, headers=charset).status_code == 200
    assert service.post("/v1/cds", json=cds).status_code == 200
    after = scrape(service)
    assert value(after, name, **loop) - value(before, name, **loop) == pytest.approx(2 * units)
    assert value(after, name, **thread) - value(before, name, **thread) == pytest.approx(cds_units)
