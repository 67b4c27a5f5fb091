"""``POST /v1/cds`` over HTTP: answers, the OpenAPI examples, and every bad credit input's problem.

Witnesses: the built-in data (base quotes, drivers in tariff_2025.toml), identities read back
from the response (a pillar contract's base par spread is its quote; the P&L has q-mean zero;
the mixture value is Σ q·value), and the rule each bad input breaks.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.schemas.cds import CdsResponse
from tests.service.json_checks import finite_numbers

SET_ID = "us-japan-tariff-2025-07-09"
MARKET = {
    "valuation_date": "2025-06-13",
    "spot": 144.1,
    "usd_curve": [{"tenor": "1Y", "rate": 0.04}, {"tenor": "5Y", "rate": 0.036}],
    "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
    "atm_vols": [{"tenor": "1Y", "vol": 0.11}],
}
ACME = {"entity": "acme", "tenors": ["1Y", "5Y"], "spreads_bp": [50.0, 80.0]}


def body(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "scenario_set_id": SET_ID,
        "contracts": [{"entity": "toyota", "tenor": "5Y"}],
    }
    request.update(changes)
    return request


def test_builtin_book_prices_per_scenario_and_mixed(client: TestClient) -> None:
    contracts = [
        {"entity": entity, "tenor": "5Y", "notional": 1e7, "label": entity}
        for entity in ("toyota", "honda", "nissan", "japan_autos")
    ] + [{"entity": "nissan", "tenor": "3Y", "side": "sell", "notional": 5e6}]
    response = client.post("/v1/cds", json=body(contracts=contracts))
    assert response.status_code == 200, response.text
    data = response.json()
    assert finite_numbers(data)
    # the documented response model is the one served, read as JSON (schemas are strict)
    CdsResponse.model_validate_json(response.content)
    q = data["measure"]["weights"]
    assert data["measure"]["measure"] == "tilt" and abs(data["measure"]["forward_mismatch"]) < 1e-12
    # base par spreads of 5Y contracts are the 5Y quotes (MARKET_FACTS: 45 / 60 / 400; 88 sector)
    quotes = {"toyota": 45.0, "honda": 60.0, "nissan": 400.0, "japan_autos": 88.0}
    for result in data["results"][:4]:
        assert result["base"]["par_spread_bp"] == pytest.approx(quotes[result["entity"]], rel=1e-10)
        assert result["coupon_bp"] == (500.0 if result["entity"] == "nissan" else 100.0)
        mixed = math.fsum(q[s] * f["value"] for s, f in result["scenarios"].items())
        assert mixed == pytest.approx(result["mixture"]["value"], rel=1e-12)
    # the scenario × contract P&L has q-mean zero
    pnl = data["scenario_pnl"]
    assert pnl["instruments"] == ["toyota", "honda", "nissan", "japan_autos", "contracts[4]"]
    for j in range(len(contracts)):
        mean = math.fsum(q[s] * row[j] for s, row in zip(pnl["scenarios"], pnl["pnl"], strict=True))
        assert abs(mean) <= 1e-9 * abs(data["results"][j]["mixture"]["value"])
    # every built-in curve moves with its scenario's drivers
    assert {c["source"] for by in data["curves"].values() for c in by.values()} == {"drivers"}
    sold = data["results"][4]
    assert sold["side"] == "sell" and sold["mixture"]["jump_to_default"] < 0


def test_scenario_sets_expose_their_drivers(client: TestClient) -> None:
    one = client.get(f"/v1/scenario-sets/{SET_ID}").json()
    drivers = {s["name"]: s["drivers"] for s in one["document"]["scenarios"]}
    assert drivers["no_deal"] == {"auto_tariff_pct": 25.0, "reciprocal_tariff_pct": 24.0}


def test_openapi_examples_work_as_pasted(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    examples = schemas["CdsRequest"]["examples"]
    assert len(examples) >= 3
    for example in examples:
        response = client.post("/v1/cds", json=example)
        assert response.status_code == 200, response.text
        data = response.json()
        assert finite_numbers(data)
        for contract, result in zip(example["contracts"], data["results"], strict=True):
            for block in (result["base"], result["mixture"], *result["scenarios"].values()):
                # the price is the running spread's shortfall over the coupon, per bp of RPV01
                shortfall = (block["par_spread_bp"] - result["coupon_bp"]) * block["risky_pv01"]
                assert block["price"] == pytest.approx(shortfall, rel=1e-10, abs=1e-13)
            # a contract whose coupon is its par spread is worth nothing (base and mixture)
            for name in ("base", "mixture"):
                at_par = {**contract, "coupon_bp": result[name]["par_spread_bp"]}
                again = client.post("/v1/cds", json={**example, "contracts": [at_par]}).json()
                assert again["results"][0][name]["price"] == pytest.approx(0.0, abs=1e-13)


def test_overrides_and_inline_drivers_reach_the_curves(client: TestClient) -> None:
    overrides = {
        "no_deal": {"toyota": {"spreads_bp": [20, 22, 28, 35, 41, 48, 57, 66]}},
        "escalation": {"toyota": {"parallel_shift_bp": 0.0}},
    }
    data = client.post("/v1/cds", json=body(scenario_credit=overrides)).json()
    assert data["curves"]["no_deal"]["toyota"]["source"] == "direct"
    assert data["curves"]["escalation"]["toyota"]["source"] == "shift"
    result = data["results"][0]
    assert result["scenarios"]["escalation"]["par_spread_bp"] == pytest.approx(45.0, rel=1e-10)
    assert result["scenarios"]["no_deal"]["par_spread_bp"] == pytest.approx(48.0, rel=1e-10)
    inline = {
        "event_date": "2025-07-09",
        "scenarios": [
            {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09,
             "drivers": {"auto_tariff_pct": 10.0}},
            {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13},
        ],
    }  # fmt: skip
    data = client.post("/v1/cds", json=body(scenario_set_id=None, scenario_set=inline)).json()
    assert data["curves"]["deal"]["toyota"]["source"] == "drivers"
    assert data["curves"]["no_deal"]["toyota"]["source"] == "base"


def _credit(**entity_changes: Any) -> dict[str, Any]:
    return {"entities": [{**ACME, **entity_changes}]}


def _acme(**changes: Any) -> dict[str, Any]:
    return body(credit=_credit(**changes), contracts=[{"entity": "acme", "tenor": "5Y"}])


BAD = [
    ("negative spread", _acme(spreads_bp=[50.0, -80.0]), 422, "credit.entities[0].spreads_bp[1]"),
    ("zero spread", _acme(spreads_bp=[0.0, 80.0]), 422, "credit.entities[0].spreads_bp[0]"),
    ("recovery 1", _acme(recovery=1.0), 422, "credit.entities[0].recovery"),
    ("recovery < 0", _acme(recovery=-0.2), 422, "credit.entities[0].recovery"),
    ("unsorted tenors", _acme(tenors=["5Y", "1Y"]), 422, "credit.entities[0].tenors[1]"),
    ("duplicate tenors", _acme(tenors=["1Y", "1Y"]), 422, "credit.entities[0].tenors[1]"),
    ("unknown tenor", _acme(tenors=["1Y", "6Y"]), 422, "credit.entities[0].tenors[1]"),
    ("spreads per tenor", _acme(spreads_bp=[50.0]), 422, "credit.entities[0].spreads_bp"),
    ("currency", _acme(currency="JPY"), 422, "credit.entities[0].currency"),
    ("no entities", body(credit={"entities": []}), 422, "credit.entities"),
    (
        "duplicate entity",
        body(credit={"entities": [ACME, ACME]}, contracts=[{"entity": "acme", "tenor": "5Y"}]),
        422,
        "credit.entities[1].entity",
    ),
    (
        "credit date",
        body(credit={**_credit(), "valuation_date": "2025-06-12"},
             contracts=[{"entity": "acme", "tenor": "5Y"}]),
        422,
        "credit.valuation_date",
    ),
    (
        "steep curve",
        _acme(recovery=0.75, tenors=["1Y", "5Y", "10Y"], spreads_bp=[625.0, 625.0, 1600.0]),
        422,
        "credit.entities[0].spreads_bp[2]",
    ),
    (
        "negative hazard",
        _acme(tenors=["1Y", "5Y", "10Y"], spreads_bp=[900.0, 650.0, 200.0]),
        422,
        "credit.entities[0].spreads_bp[2]",
    ),
    ("unknown entity", body(contracts=[{"entity": "tesla", "tenor": "5Y"}]), 422, "contracts[0].entity"),
    (
        "maturity before start",
        body(contracts=[{"entity": "toyota", "maturity": "2025-03-20"}]),
        422,
        "contracts[0].maturity",
    ),
    (
        "maturity off the roll",
        body(contracts=[{"entity": "toyota", "maturity": "2030-06-13"}]),
        422,
        "contracts[0].maturity",
    ),
    ("no maturity", body(contracts=[{"entity": "toyota"}]), 422, "contracts[0].maturity"),
    ("bad tenor", body(contracts=[{"entity": "toyota", "tenor": "5W"}]), 422, "contracts[0].tenor"),
    (
        "negative coupon",
        body(contracts=[{"entity": "toyota", "tenor": "5Y", "coupon_bp": -100}]),
        422,
        "contracts[0].coupon_bp",
    ),
    (
        "zero notional",
        body(contracts=[{"entity": "toyota", "tenor": "5Y", "notional": 0}]),
        422,
        "contracts[0].notional",
    ),
    (
        "unknown side",
        body(contracts=[{"entity": "toyota", "tenor": "5Y", "side": "long"}]),
        422,
        "contracts[0].side",
    ),
    ("no contracts", body(contracts=[]), 422, "contracts"),
    (
        "override unknown scenario",
        body(scenario_credit={"boom": {"toyota": {"parallel_shift_bp": 10}}}),
        422,
        "scenario_credit.boom",
    ),
    (
        "override unknown entity",
        body(scenario_credit={"no_deal": {"tesla": {"parallel_shift_bp": 10}}}),
        422,
        "scenario_credit.no_deal.tesla",
    ),
    (
        "override two ways",
        body(scenario_credit={"no_deal": {"toyota": {"parallel_shift_bp": 1, "shift_bp": [1]}}}),
        422,
        "scenario_credit.no_deal.toyota",
    ),
    (
        "override below zero",
        body(scenario_credit={"no_deal": {"toyota": {"shift_bp": [0, 0, 0, 0, 0, -50, 0, 0]}}}),
        422,
        "scenario_credit.no_deal.toyota.shift_bp[5]",
    ),
    (
        "override length",
        body(scenario_credit={"no_deal": {"toyota": {"spreads_bp": [40, 50]}}}),
        422,
        "scenario_credit.no_deal.toyota.spreads_bp",
    ),
    (
        "negative driver",
        body(
            scenario_set_id=None,
            scenario_set={
                "event_date": "2025-07-09",
                "scenarios": [{"name": "a", "probability": 0.5, "level": 150, "vol": 0.1,
                               "drivers": {"auto_tariff_pct": -5}},
                              {"name": "b", "probability": 0.5, "level": 140, "vol": 0.1}],
            },
        ),
        422,
        "scenario_set.scenarios[0].drivers.auto_tariff_pct",
    ),
    (
        "drivers push a spread below zero",
        body(
            scenario_set_id=None,
            scenario_set={
                "event_date": "2025-07-09",
                "scenarios": [{"name": "a", "probability": 0.5, "level": 150, "vol": 0.1,
                               "drivers": {"auto_tariff_pct": 0, "reciprocal_tariff_pct": 0}},
                              {"name": "b", "probability": 0.5, "level": 140, "vol": 0.1}],
            },
        ),
        422,
        "scenario_set.scenarios[0].drivers",
    ),
    ("unknown set", body(scenario_set_id="nope"), 404, "scenario_set_id"),
    ("unknown measure", body(measure="physical"), 422, "measure"),
    (
        "no risk-neutral measure",
        body(
            scenario_set_id=None,
            scenario_set={
                "event_date": "2025-07-09",
                "scenarios": [{"name": "a", "probability": 0.5, "level": 150, "vol": 0.1},
                              {"name": "b", "probability": 0.5, "level": 160, "vol": 0.1}],
            },
        ),
        422,
        "measure",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "request_body", "status", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_credit_input_gets_a_problem_naming_the_field(
    client: TestClient, name: str, request_body: dict[str, Any], status: int, field: str
) -> None:
    response = client.post("/v1/cds", json=request_body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert field in [e["field"] for e in problem["errors"]], problem


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_spreads_are_rejected(client: TestClient, token: str) -> None:
    raw = json.dumps(_acme()).replace("80.0", token)
    response = client.post("/v1/cds", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "credit.entities[0].spreads_bp[1]"


def test_inline_credit_takes_the_builtin_driver_model(client: TestClient) -> None:
    """No reference levels or tenor weights given: the built-in ones apply, so an entity with
    a sensitivity moves with the built-in scenarios' drivers."""
    credit = _credit(sensitivities_bp_per_10pp={"auto_tariff_pct": 10.0})
    request = copy.deepcopy(_acme())
    request["credit"] = credit
    data = client.post("/v1/cds", json=request).json()
    curves = data["curves"]
    assert curves["no_deal"]["acme"]["source"] == "drivers"
    # no_deal: auto 25% against the 22.75% reference, 1Y weight 0.70 (credit_2025.toml)
    assert curves["no_deal"]["acme"]["spreads_bp"][0] == pytest.approx(50 + 0.7 * 2.25, rel=1e-14)
