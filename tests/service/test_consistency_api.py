"""The market-consistency report over HTTP: on every response that prices under a set.

Witnesses: the domain report (tests/scenarios/vol/test_consistency.py holds it to closed
forms) is what each route returns, as the response schema describes it; a ``quoted``
diffusion holds part of the event already, so the same jumps on top of it give a richer
mixture (tests/scenarios/vol/test_ex_event_diffusion.py); a set whose levels all lie above
spot has no risk-neutral measure under tilt (pricing.mixture.measure): every route that
needs one answers 422 as before, and real-world paths, which do not, still get a report that
says the mixture cannot be quoted. JSON is parsed refusing NaN and infinities.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.schemas.consistency import ConsistencyRead
from service.settings import Settings
from tests.service.json_checks import finite_numbers

SET_ID = "us-japan-tariff-2025-07-09"
BODIES: dict[str, dict[str, Any]] = {
    "/v1/price": {
        "scenario_set_id": SET_ID,
        "instruments": [{"kind": "call", "strike": 150.0, "tenor": "3M"}],
    },
    "/v1/paths": {"scenario_set_id": SET_ID, "tenor": "3M", "n_paths": 512},
    "/v1/vol-surface": {"scenario_set_id": SET_ID, "tenors": ["1M", "3M"]},
    "/v1/calibrate": {"scenario_set_id": SET_ID},
    "/v1/cds": {"scenario_set_id": SET_ID, "contracts": [{"entity": "toyota", "tenor": "5Y"}]},
}
ABOVE_SPOT = {
    "event_date": "2025-07-09",
    "scenarios": [
        {"name": "up", "probability": 0.5, "level": 150.0, "vol": 0.1},
        {"name": "more", "probability": 0.5, "level": 155.0, "vol": 0.1},
    ],
}


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} in a JSON body")


def strict_json(text: str) -> Any:
    """The body parsed with NaN, Infinity and -Infinity refused."""
    return json.loads(text, parse_constant=_refuse)


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(create_app(Settings(response_cache_bytes=0))) as test_client:
        yield test_client


def post(client: TestClient, path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    data = strict_json(response.text)
    assert finite_numbers(data)
    return data


@pytest.mark.parametrize("path", list(BODIES))
def test_every_route_under_a_set_reports_consistency(client: TestClient, path: str) -> None:
    report = post(client, path, BODIES[path])["consistency"]
    ConsistencyRead.model_validate_json(json.dumps(report))  # the documented shape
    assert report["consistent"] is False  # the built-in set's jumps: ~20× the market's
    assert report["diffusion"] == "ex_event" and report["measure"] == "tilt"
    assert report["jump_variance_ratio"] > 1
    tenors = [p["tenor"] for p in report["pillars"]]
    assert tenors == ["1M", "3M", "6M", "1Y", "2Y"]  # the data file's pillars after 07-09
    one_month = report["pillars"][0]
    assert one_month["market"] == {"atm": 0.115, "rr25": -0.014, "bf25": 0.003}
    assert one_month["differences_vol_points"]["atm"] > report["atm_tolerance_vol_points"]


def test_the_five_routes_report_the_same_figures(client: TestClient) -> None:
    reports = [post(client, path, body)["consistency"] for path, body in BODIES.items()]
    assert all(r == reports[0] for r in reports[1:])


def test_a_quoted_diffusion_reports_a_richer_mixture(client: TestClient) -> None:
    body = BODIES["/v1/price"]
    ex_event = post(client, "/v1/price", body)["consistency"]
    quoted = post(client, "/v1/price", {**body, "diffusion": "quoted"})["consistency"]
    assert quoted["diffusion"] == "quoted"
    assert quoted["market_event_variance"] == 0.0 and quoted["jump_variance_ratio"] is None
    for a, b in zip(ex_event["pillars"], quoted["pillars"], strict=True):
        assert b["market"] == a["market"]
        assert b["mixture"]["atm"] > a["mixture"]["atm"]
    # the same request on the vol-surface route reads the same
    surface = post(client, "/v1/vol-surface", {**BODIES["/v1/vol-surface"], "diffusion": "quoted"})[
        "consistency"
    ]
    assert surface == quoted


@pytest.mark.parametrize("path", ["/v1/price", "/v1/vol-surface", "/v1/calibrate", "/v1/cds"])
def test_no_risk_neutral_measure_is_still_a_422(client: TestClient, path: str) -> None:
    body = {k: v for k, v in BODIES[path].items() if k != "scenario_set_id"}
    body["scenario_set"] = ABOVE_SPOT
    problem = post(client, path, body, status=422)
    assert "risk-neutral" in json.dumps(problem)


def test_real_world_paths_without_a_measure_report_why(client: TestClient) -> None:
    body = {**BODIES["/v1/paths"], "scenario_set": ABOVE_SPOT, "measure": "real_world"}
    del body["scenario_set_id"]
    post(client, "/v1/paths", {**body, "measure": "risk_neutral"}, status=422)
    data = post(client, "/v1/paths", body)
    report = data["consistency"]
    assert data["measure"] == "real_world" and report["measure"] == "tilt"
    assert report["consistent"] is False and report["jump_variance"] is None
    assert "risk-neutral" in report["note"]
    assert report["pillars"]
    for pillar in report["pillars"]:
        assert pillar["mixture"] == {"atm": None, "rr25": None, "bf25": None}
        assert pillar["differences_vol_points"]["atm"] is None
        assert pillar["note"] and not pillar["consistent"]
    # under scale the same paths are quoted (the adjustment's measure)
    scaled = post(client, "/v1/paths", {**body, "adjustment": "scale"})["consistency"]
    assert scaled["measure"] == "scale" and scaled["jump_variance"] is not None


def test_an_atm_only_market_is_reported_at_its_atm_curve_pillars(client: TestClient) -> None:
    market = {
        "valuation_date": "2025-06-13",
        "spot": 144.1,
        "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
        "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
        "atm_vols": [{"tenor": "1M", "vol": 0.115}, {"tenor": "1Y", "vol": 0.103}],
    }
    body = {
        "scenario_set": {**ABOVE_SPOT, "scenarios": [
            {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09},
            {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13},
        ]},
        "market": market,
        "instruments": [{"kind": "call", "strike": 145.0, "tenor": "1M"}],
    }  # fmt: skip
    report = post(client, "/v1/price", body)["consistency"]
    assert [p["market"]["atm"] for p in report["pillars"]] == [0.115, 0.103]
    for pillar in report["pillars"]:
        assert pillar["tenor"] is None
        assert pillar["market"]["rr25"] is None and pillar["mixture"]["rr25"] is None
        assert pillar["mixture"]["atm"] is not None
