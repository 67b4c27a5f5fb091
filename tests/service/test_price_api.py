"""``POST /v1/price`` over HTTP: answers, limits and every bad input's problem response.

Witnesses: QuantLib's ``blackFormula`` (one scenario at the forward is Black), put–call
parity through the API, and the rule each bad input breaks.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from typing import Any

import pytest
import QuantLib as ql
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.service import curves
from tests.service.json_checks import finite_numbers

SET_ID = "us-japan-tariff-2025-07-09"
VALUATION = dt.date(2025, 6, 13)
MARKET = {
    "valuation_date": "2025-06-13",
    "spot": 144.1,
    "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
    "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
    "atm_vols": [{"tenor": "1Y", "vol": 0.11}],
}


def body(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "scenario_set_id": SET_ID,
        "instruments": [{"kind": "call", "strike": 150.0, "tenor": "3M"}],
    }
    request.update(changes)
    return request


def test_health(client: TestClient) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_builtin_scenario_sets_are_listed_and_readable(client: TestClient) -> None:
    listed = client.get("/v1/scenario-sets").json()
    # the analyst's view, its market-consistent version, and the two-decision tree
    assert [s["id"] for s in listed if s["read_only"]] == [
        SET_ID,
        f"{SET_ID}-consistent",
        "us-japan-tariff-2025-tree",
    ]
    one = client.get(f"/v1/scenario-sets/{SET_ID}").json()
    assert (one["version"], one["read_only"], one["market_id"]) == (1, True, "usdjpy-2025-06-13")
    document = one["document"]
    assert document["event_date"] == "2025-07-09"
    assert len(document["scenarios"]) == 5
    assert math.fsum(s["probability"] for s in document["scenarios"]) == pytest.approx(1.0)
    market = client.get(f"/v1/markets/{one['market_id']}").json()
    assert market["document"]["spot"] == 144.1  # MARKET_FACTS.md: USD/JPY ≈ 144.1 on 2025-06-13


def test_unknown_scenario_set_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/v1/scenario-sets/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "scenario_set_id"


def test_openapi_examples_work_as_pasted(client: TestClient) -> None:
    examples = client.get("/openapi.json").json()["components"]["schemas"]["PriceRequest"][
        "examples"
    ]
    assert len(examples) >= 2
    for example in examples:
        response = client.post("/v1/price", json=example)
        assert response.status_code == 200, response.text
        data = response.json()
        assert finite_numbers(data)
        assert abs(data["measure"]["forward_mismatch"]) < 1e-12
        market = (
            example.get("market")
            or client.get(f"/v1/markets/{data['sources']['market']['id']}").json()["document"]
        )
        for line, result in zip(example["instruments"], data["results"], strict=True):
            weights = data["measure"]["weights"]
            recombined = math.fsum(weights[n] * p for n, p in result["scenario_prices"].items())
            assert recombined == pytest.approx(result["price"], rel=1e-12)
            # outside witnesses: the forward from the curves (QuantLib's discount curve), and
            # QuantLib's Black formula at the reported implied vol gives back the price
            if "forward" not in result:  # a touch or a CDS line: no forward of its own
                continue
            forward, jpy_df = curves.forward(market, dt.date.fromisoformat(result["delivery"]))
            assert result["forward"] == pytest.approx(forward, rel=1e-12)
            if line["kind"] in ("call", "put") and result["implied_vol"] is not None:
                t = (dt.date.fromisoformat(result["expiry"]) - VALUATION).days / 365
                option = ql.Option.Call if line["kind"] == "call" else ql.Option.Put
                black = ql.blackFormula(
                    option, line["strike"], forward, result["implied_vol"] * math.sqrt(t), jpy_df
                )
                assert black == pytest.approx(result["price"], rel=1e-10)


def test_one_scenario_at_the_forward_is_black_over_http(client: TestClient) -> None:
    request = body(
        scenario_set_id=None,
        scenario_set={
            "event_date": "2025-07-09",
            "scenarios": [{"name": "only", "probability": 1.0, "level": 144.1, "vol": 0.11}],
        },
        market=MARKET,
        instruments=[{"kind": "call", "strike": 150.0, "expiry": "2026-06-13"}],
    )
    data = client.post("/v1/price", json=request).json()
    result = data["results"][0]
    # delivered on the expiry's spot date: Saturday's T+1 is Monday, T+2 Tuesday 06-16
    assert result["delivery"] == "2026-06-16"
    t, t_del = 365 / 365, 368 / 365  # vol time to the expiry; forward and discounting to delivery
    forward = 144.1 * math.exp((0.006 - 0.04) * t_del)
    reference = ql.blackFormula(
        ql.Option.Call, 150.0, forward, 0.11 * math.sqrt(t), math.exp(-0.006 * t_del)
    )
    assert result["price"] == pytest.approx(reference, rel=1e-12)
    assert result["implied_vol"] == pytest.approx(0.11, abs=1e-12)
    assert data["measure"]["tilt_lambda"] == 0.0


def test_put_call_parity_through_the_api(client: TestClient) -> None:
    legs = [
        {"kind": kind, "strike": k, "tenor": "6M"}
        for k in (130.0, 145.0, 160.0)
        for kind in ("call", "put")
    ]
    data = client.post("/v1/price", json=body(instruments=legs)).json()
    market = client.get(f"/v1/markets/{data['sources']['market']['id']}").json()["document"]
    for call, put in zip(data["results"][::2], data["results"][1::2], strict=True):
        # C − P = DF_jpy·(F − K), DF_jpy and F from the market's curves (QuantLib), every strike
        delivery = dt.date.fromisoformat(call["delivery"])
        forward, jpy_df = curves.forward(market, delivery)
        parity = jpy_df * (forward - call["strike"])
        assert call["price"] - put["price"] == pytest.approx(parity, rel=1e-12, abs=1e-12)
        # ∂/∂S of it: C_Δ − P_Δ = DF_usd (the spot delta of a forward)
        usd_df = forward * jpy_df / market["spot"]
        assert call["greeks"]["delta"] - put["greeks"]["delta"] == pytest.approx(usd_df, rel=1e-12)


def _inline(scenarios: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return body(
        scenario_set_id=None,
        scenario_set={"event_date": "2025-07-09", "scenarios": scenarios},
        **extra,
    )


GOOD = [
    {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09},
    {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13},
]


def _set(i: int, **changes: Any) -> list[dict[str, Any]]:
    scenarios = copy.deepcopy(GOOD)
    scenarios[i].update(changes)
    return scenarios


BARRIER = {
    "kind": "barrier",
    "option_type": "call",
    "barrier_type": "up_and_out",
    "strike": 145.0,
    "barrier": 160.0,
    "tenor": "3M",
}
BAD = [
    ("zero vol", _inline(_set(0, vol=0.0)), 422, "scenario_set.scenarios[0].vol"),
    ("negative vol", _inline(_set(1, vol=-0.1)), 422, "scenario_set.scenarios[1].vol"),
    (
        "probability > 1",
        _inline(_set(0, probability=1.3)),
        422,
        "scenario_set.scenarios[0].probability",
    ),
    (
        "probability < 0",
        _inline(_set(0, probability=-0.1)),
        422,
        "scenario_set.scenarios[0].probability",
    ),
    ("sum != 1", _inline(_set(0, probability=0.5)), 422, "scenario_set.scenarios"),
    ("negative level", _inline(_set(0, level=-150.0)), 422, "scenario_set.scenarios[0].level"),
    ("duplicate names", _inline(_set(1, name="deal")), 422, "scenario_set.scenarios[1].name"),
    ("no scenarios", _inline([]), 422, "scenario_set.scenarios"),
    (
        "no risk-neutral measure",
        _inline(
            [
                {"name": "a", "probability": 0.5, "level": 150.0, "vol": 0.1},
                {"name": "b", "probability": 0.5, "level": 160.0, "vol": 0.1},
            ]
        ),
        422,
        "measure",
    ),
    (
        "event before valuation",
        body(scenario_set_id=None, scenario_set={"event_date": "2025-06-01", "scenarios": GOOD}),
        422,
        "scenario_set.event_date",
    ),
    (
        "strike zero",
        body(instruments=[{"kind": "call", "strike": 0.0, "tenor": "1M"}]),
        422,
        "instruments[0].strike",
    ),
    (
        "strike negative",
        body(instruments=[{"kind": "put", "strike": -5.0, "tenor": "1M"}]),
        422,
        "instruments[0].strike",
    ),
    (
        "expiry before valuation",
        body(instruments=[{"kind": "call", "strike": 150.0, "expiry": "2025-06-01"}]),
        422,
        "instruments[0].expiry",
    ),
    (
        "expiry on valuation",
        body(instruments=[{"kind": "call", "strike": 150.0, "expiry": "2025-06-13"}]),
        422,
        "instruments[0].expiry",
    ),
    (
        "delivery before expiry",
        body(
            instruments=[
                {"kind": "call", "strike": 150.0, "expiry": "2025-09-12", "delivery": "2025-09-01"}
            ]
        ),
        422,
        "instruments[0].delivery",
    ),
    (
        "unknown tenor",
        body(instruments=[{"kind": "call", "strike": 150.0, "tenor": "7Q"}]),
        422,
        "instruments[0].tenor",
    ),
    (
        "expiry and tenor",
        body(
            instruments=[{"kind": "call", "strike": 150.0, "tenor": "1M", "expiry": "2025-09-12"}]
        ),
        422,
        "instruments[0].expiry",
    ),
    (
        "neither expiry nor tenor",
        body(instruments=[{"kind": "call", "strike": 150.0}]),
        422,
        "instruments[0].expiry",
    ),
    (
        "digital without currency",
        body(instruments=[{"kind": "digital_call", "strike": 150.0, "tenor": "1M"}]),
        422,
        "instruments[0].payout_currency",
    ),
    (
        "unknown kind",
        body(instruments=[{"kind": "swaption", "strike": 150.0, "tenor": "1M"}]),
        422,
        "instruments[0].kind",
    ),
    (
        "unknown field",
        body(instruments=[{"kind": "call", "strike": 150.0, "tenor": "1M", "vol": 0.2}]),
        422,
        "instruments[0].vol",
    ),
    ("empty instruments", body(instruments=[]), 422, "instruments"),
    ("unknown set", body(scenario_set_id="nope"), 404, "scenario_set_id"),
    (
        "set by id and inline",
        body(scenario_set={"event_date": "2025-07-09", "scenarios": GOOD}),
        422,
        "scenario_set_id",
    ),
    ("unknown measure", body(measure="physical"), 422, "measure"),
    ("negative spot", body(market={**MARKET, "spot": -1.0}), 422, "market.spot"),
    (
        "negative ATM vol",
        body(market={**MARKET, "atm_vols": [{"tenor": "1Y", "vol": -0.1}]}),
        422,
        "market.atm_vols[0].vol",
    ),
    (
        "calendar arbitrage",
        body(
            market={
                **MARKET,
                "atm_vols": [{"tenor": "1M", "vol": 0.2}, {"tenor": "2M", "vol": 0.1}],
            }
        ),
        422,
        "market.atm_vols[1].vol",
    ),
    (
        "unsorted curve",
        body(
            market={
                **MARKET,
                "usd_curve": [{"tenor": "2Y", "rate": 0.04}, {"tenor": "1Y", "rate": 0.04}],
            }
        ),
        422,
        "market.usd_curve[1].date",
    ),
    (
        "absurd rate",
        body(market={**MARKET, "jpy_curve": [{"tenor": "1Y", "rate": 4.0}]}),
        422,
        "market.jpy_curve[0].rate",
    ),
    (
        "bad pillar tenor",
        body(market={**MARKET, "jpy_curve": [{"tenor": "1X", "rate": 0.01}]}),
        422,
        "market.jpy_curve[0].tenor",
    ),
    (
        "missing spot",
        body(market={k: v for k, v in MARKET.items() if k != "spot"}),
        422,
        "market.spot",
    ),
    (
        "notional beyond 1e15",
        body(instruments=[{"kind": "call", "strike": 150.0, "tenor": "3M", "notional": 1e308}]),
        422,
        "instruments[0].notional",
    ),
    (
        "cds notional beyond 1e15",
        body(
            instruments=[
                {"kind": "call", "strike": 150.0, "tenor": "3M"},
                {"kind": "cds", "entity": "nissan", "tenor": "5Y", "notional": 1e16},
            ]
        ),
        422,
        "instruments[1].notional",
    ),
    (
        "strike beyond 1,000× spot",
        body(instruments=[{"kind": "put", "strike": 1e300, "tenor": "3M", "notional": 1e15}]),
        422,
        "instruments[0].strike",
    ),
    (
        "strike below spot/1,000",
        body(instruments=[{"kind": "call", "strike": 1e-308, "tenor": "3M"}]),
        422,
        "instruments[0].strike",
    ),
    (
        "level beyond 1,000× spot",
        _inline(_set(0, level=1e6)),
        422,
        "scenario_set.scenarios[0].level",
    ),
    (
        "barrier strike beyond 1,000× spot",
        body(instruments=[{**BARRIER, "strike": 1e300}]),
        422,
        "instruments[0].strike",
    ),
    (
        "barrier below spot/1,000",
        body(instruments=[{**BARRIER, "barrier_type": "down_and_out", "barrier": 1e-300}]),
        422,
        "instruments[0].barrier",
    ),
    (
        "rebate beyond 1e15",
        body(instruments=[{**BARRIER, "rebate": 1e308}]),
        422,
        "instruments[0].rebate",
    ),
    (
        "spot beyond 1e6",
        body(market={**MARKET, "spot": 1e308}),
        422,
        "market.spot",
    ),
]


@pytest.mark.parametrize(("name", "request_body", "status", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_a_problem_naming_the_field(
    client: TestClient, name: str, request_body: dict[str, Any], status: int, field: str
) -> None:
    response = client.post("/v1/price", json=request_body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert field in [e["field"] for e in problem["errors"]], problem


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_rejected(client: TestClient, token: str) -> None:
    raw = json.dumps(body()).replace("150.0", token)
    response = client.post("/v1/price", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "instruments[0].strike"


def test_malformed_json_and_unknown_routes_are_problems(client: TestClient) -> None:
    broken = client.post("/v1/price", content="{", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["type"].endswith("invalid")
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_oversized_books_are_refused() -> None:
    with TestClient(create_app(Settings(max_instruments=3))) as small:
        response = small.post("/v1/price", json=body(instruments=body()["instruments"] * 4))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "instruments"
    assert "at most 3" in response.json()["errors"][0]["reason"]


def test_large_books_priced_off_the_event_loop_equal_small_ones(client: TestClient) -> None:
    legs = [{"kind": "call", "strike": 120.0 + i * 0.1, "tenor": "3M"} for i in range(600)]
    big = client.post("/v1/price", json=body(instruments=legs)).json()["results"]
    small = client.post("/v1/price", json=body(instruments=legs[:5])).json()["results"]
    assert [r["price"] for r in big[:5]] == [r["price"] for r in small]


def test_each_measure_is_reported(client: TestClient) -> None:
    for measure in ("tilt", "scale", "none"):
        data = client.post("/v1/price", json=body(measure=measure)).json()["measure"]
        assert data["measure"] == measure
        assert (data["tilt_lambda"] is None) == (measure != "tilt")
        if measure == "none":
            assert data["forward_mismatch"] == pytest.approx(data["subjective_forward_mismatch"])
        else:
            assert abs(data["forward_mismatch"]) < 1e-12


def test_scenario_pnl_matrix_recombines_to_the_book_value(client: TestClient) -> None:
    """Σ_i q_i · value_i = today's value for every instrument: the P&L has q-mean zero."""
    legs = [
        {"kind": "call", "strike": 150.0, "tenor": "3M", "notional": 1e6, "label": "c"},
        {"kind": "put", "strike": 140.0, "tenor": "1W", "notional": 2e6},
    ]
    data = client.post("/v1/price", json=body(instruments=legs)).json()
    matrix = data["scenario_pnl"]
    q = [data["measure"]["weights"][name] for name in matrix["scenarios"]]
    assert matrix["instruments"] == ["c", "instruments[1]"]
    for j, result in enumerate(data["results"]):
        mean_pnl = math.fsum(w * row[j] for w, row in zip(q, matrix["pnl"], strict=True))
        assert abs(mean_pnl) <= 1e-9 * abs(result["value"])
    # the 1W put expires before the event: its value is the same in every scenario
    assert {row[1] for row in matrix["pnl"]} == {0.0}
