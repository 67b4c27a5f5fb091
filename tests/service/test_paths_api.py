"""``POST /v1/paths`` over HTTP, and the path-dependent instrument schemas over a test route.

Witnesses: the market forward ``S0·exp((r_JPY − r_USD)·t)`` of a flat inline market, the
real-world mean ``F·Σ p·L/S0`` after the event, QuantLib's ``AnalyticDigitalAmericanEngine``
for a touch that expires before the event, the identity Σ q·price_i = price, and the rule each
bad input breaks. Monte Carlo comparisons are within 3 standard errors.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import numpy as np
import pytest
import QuantLib as ql
from fastapi.testclient import TestClient

from pricing.quantlib_guard import quantlib_session, to_ql_date
from scenarios.catalog import builtin_entry
from service.app import create_app
from service.deps import current_settings
from service.settings import Settings
from tests.service import curves
from tests.service.json_checks import finite_numbers

SET_ID = "us-japan-tariff-2025-07-09"
R_JPY, R_USD, SPOT, VOL = 0.006, 0.04, 144.1, 0.11
MARKET = {
    "valuation_date": "2025-06-13",
    "spot": SPOT,
    "usd_curve": [{"tenor": "1Y", "rate": R_USD}],
    "jpy_curve": [{"tenor": "1Y", "rate": R_JPY}],
    "atm_vols": [{"tenor": "1Y", "vol": VOL}],
}
SCENARIOS = [
    {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09},
    {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13},
]


def body(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"scenario_set_id": SET_ID, "tenor": "1M", "n_paths": 4000}
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


def inline(**changes: Any) -> dict[str, Any]:
    set_ = {"event_date": "2025-07-09", "scenarios": changes.pop("scenarios", SCENARIOS)}
    return body(**{"scenario_set_id": None, "scenario_set": set_, "market": MARKET, **changes})


def post(client: TestClient, request: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/paths", json=request)
    assert response.status_code == 200, response.text
    data = response.json()
    assert finite_numbers(data)
    return data


def test_openapi_examples_work_as_pasted(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    examples = schemas["PathsRequest"]["examples"]
    assert len(examples) >= 2
    for example in examples:
        data = post(client, example)
        assert data["measure"] == example.get("measure", "risk_neutral")
        assert data["simulation"]["seed"] == example["seed"]
        assert data["simulation"]["n_paths"] == example["n_paths"]
        n_dates = len(data["dates"])
        for key in ("times", "forwards", "model_means", "means", "mean_standard_errors"):
            assert len(data[key]) == n_dates
        assert [b["quantile"] for b in data["bands"]] == example.get(
            "quantiles", [0.05, 0.25, 0.5, 0.75, 0.95]
        )
        assert sum(s["path_count"] for s in data["scenarios"]) == example["n_paths"]
        assert len(data["sample_paths"]) == example["n_sample_paths"]
        assert data["dates"][data["event_index"]] == data["event_date"]
        assert data["dates"][-1] == data["horizon"]
        # outside witnesses: the forwards are the curves' (QuantLib), and under the risk-neutral
        # measure the simulated means are those forwards within 5 standard errors
        market = (
            example.get("market")
            or client.get(f"/v1/markets/{data['sources']['market']['id']}").json()["document"]
        )
        for t, f in zip(data["times"], data["forwards"], strict=True):
            assert f == pytest.approx(curves.forward_at(market, t), rel=1e-12)
        if data["measure"] == "risk_neutral":
            for f, mean, se in zip(data["forwards"], data["means"], data["mean_standard_errors"],
                                   strict=True):  # fmt: skip
                assert abs(mean - f) <= 5 * se + 1e-12 * f, (mean, f, se)
        for band in data["bands"]:  # bands are ordered at every date after the start
            assert all(v is not None for v in band["values"])
        lows, highs = data["bands"][0]["values"], data["bands"][-1]["values"]
        assert all(lo < hi for lo, hi in zip(lows[1:], highs[1:], strict=True))


def test_risk_neutral_mean_is_the_market_forward_over_http(client: TestClient) -> None:
    data = post(client, inline(tenor="3M", n_paths=20_000, seed=4))
    times = np.array(data["times"])
    forwards = SPOT * np.exp((R_JPY - R_USD) * times)
    np.testing.assert_allclose(data["forwards"], forwards, rtol=1e-13)
    z = (np.array(data["means"]) - forwards)[1:] / np.array(data["mean_standard_errors"])[1:]
    assert np.all(np.abs(z) < 3.0), z
    assert abs(data["scenario_weights"]["forward_mismatch"]) < 1e-12


def test_real_world_is_labelled_and_drifts_to_the_probability_weighted_levels(
    client: TestClient,
) -> None:
    data = post(client, inline(tenor="3M", n_paths=20_000, seed=4, measure="real_world"))
    assert data["measure"] == "real_world"
    assert data["scenario_weights"]["measure"] == "real_world"
    assert data["scenario_weights"]["weights"] == {"deal": 0.6, "no_deal": 0.4}
    times = np.array(data["times"])
    after = np.arange(times.size) > data["event_index"]
    mean_jump = (0.6 * 156.0 + 0.4 * 138.0) / SPOT
    expected = SPOT * np.exp((R_JPY - R_USD) * times) * np.where(after, mean_jump, 1.0)
    np.testing.assert_allclose(data["model_means"], expected, rtol=1e-13)
    z = (np.array(data["means"]) - expected)[1:] / np.array(data["mean_standard_errors"])[1:]
    assert np.all(np.abs(z) < 3.0), z


def test_real_world_needs_no_risk_neutral_measure(client: TestClient) -> None:
    """Levels all above spot admit no tilt, but the analyst's own view can still be drawn."""
    above = copy.deepcopy(SCENARIOS)
    above[1]["level"] = 150.0
    refused = client.post("/v1/paths", json=inline(scenarios=above))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "measure"
    data = post(client, inline(scenarios=above, measure="real_world"))
    assert data["measure"] == "real_world"


TREE = {
    "root": "deadline",
    "nodes": [
        {
            "id": "deadline",
            "date": "2025-07-09",
            "branches": [
                {"name": "deal", "probability": 0.4, "jump": 1.06, "vol": 0.09},
                {"name": "extension", "probability": 0.3, "jump": 0.99, "vol": 0.14,
                 "next": "effective"},
                {"name": "no_deal", "probability": 0.3, "jump": 0.95, "vol": 0.13},
            ],
        },
        {
            "id": "effective",
            "date": "2025-08-01",
            "branches": [
                {"name": "late_deal", "probability": 0.5, "jump": 1.05, "vol": 0.08},
                {"name": "tariffs", "probability": 0.5, "jump": 0.93, "vol": 0.16},
            ],
        },
    ],
}  # fmt: skip
TREE_LEAVES = ["deal", "extension/late_deal", "extension/tariffs", "no_deal"]


@pytest.mark.parametrize("measure", ["risk_neutral", "real_world"])
def test_a_tree_set_marks_every_decision_date_and_fans_out_per_leaf(
    client: TestClient, measure: str
) -> None:
    """Witnesses: the forward ``S0·exp((r_JPY − r_USD)·t)``; under real_world the drift to
    ``F(t)·Σ Π p·Π J(t)`` over the nodes before ``t``, from the branches as given."""
    request = inline(tenor="3M", n_paths=20_000, seed=6, measure=measure, n_sample_paths=8)
    request["scenario_set"] = {"tree": TREE}
    data = post(client, request)
    assert data["event_date"] == "2025-07-09"
    assert data["decision_dates"] == ["2025-07-09", "2025-08-01"]
    indices = data["decision_indices"]
    assert [data["dates"][i] for i in indices] == data["decision_dates"]
    assert data["event_index"] == indices[0]
    assert [s["name"] for s in data["scenarios"]] == TREE_LEAVES
    assert {p["scenario"] for p in data["sample_paths"]} <= set(TREE_LEAVES)
    assert len(data["sample_paths"]) == 8
    assert sum(s["path_count"] for s in data["scenarios"]) == 20_000
    jumps = [1.06, 0.99 * 1.05, 0.99 * 0.93, 0.95]
    np.testing.assert_allclose([s["jump_ratio"] for s in data["scenarios"]], jumps, rtol=1e-13)
    times = np.array(data["times"])
    forwards = SPOT * np.exp((R_JPY - R_USD) * times)
    if measure == "risk_neutral":
        expected = forwards
        assert data["scenario_weights"]["adjustment"] == "tilt"
    else:
        after_root = np.arange(times.size) > indices[0]
        after_second = np.arange(times.size) > indices[1]
        mean_jump = np.where(
            after_second,
            0.4 * 1.06 + 0.15 * 0.99 * 1.05 + 0.15 * 0.99 * 0.93 + 0.3 * 0.95,
            np.where(after_root, 0.4 * 1.06 + 0.3 * 0.99 + 0.3 * 0.95, 1.0),
        )
        expected = forwards * mean_jump
        weights = data["scenario_weights"]["weights"]
        np.testing.assert_allclose(
            [weights[n] for n in TREE_LEAVES], [0.4, 0.15, 0.15, 0.3], rtol=1e-13
        )
    np.testing.assert_allclose(data["model_means"], expected, rtol=1e-12)
    z = (np.array(data["means"]) - expected)[1:] / np.array(data["mean_standard_errors"])[1:]
    assert np.all(np.abs(z) < 3.0), z
    # a flat set marks its one decision
    flat = post(client, inline(tenor="1M", n_paths=2_000))
    assert flat["decision_dates"] == [flat["event_date"]]
    assert flat["decision_indices"] == [flat["event_index"]]


def test_same_seed_same_numbers_on_any_worker_count_different_seeds_differ(
    client: TestClient,
) -> None:
    request = body(seed=123, antithetic=True, levels=[140.0], n_sample_paths=3)
    first = client.post("/v1/paths", json=request).json()
    app = create_app()
    app.dependency_overrides[current_settings] = lambda: Settings(path_workers=1)
    with TestClient(app) as serial:
        again = serial.post("/v1/paths", json=request).json()
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    other = client.post("/v1/paths", json={**request, "seed": 124}).json()
    assert other["simulation"]["seed"] == 124
    assert other["means"][1:] != first["means"][1:]
    assert other["sample_paths"] != first["sample_paths"]


def test_scenarios_that_drew_no_path_are_null_not_nan(client: TestClient) -> None:
    """Two paths for five scenarios: the undrawn scenarios' bands, means and probabilities
    are null; the response still parses as strict JSON."""
    response = client.post("/v1/paths", json=body(n_paths=2, levels=[140.0], n_sample_paths=2))
    assert response.status_code == 200, response.text
    json.loads(response.text, parse_constant=lambda token: pytest.fail(f"{token} in response"))
    data = response.json()
    empty = [s for s in data["scenarios"] if s["path_count"] == 0]
    assert len(empty) >= 3
    for scenario in empty:
        assert all(v is None for band in scenario["bands"] for v in band["values"])
        assert all(v is None for v in scenario["means"])
        assert scenario["probabilities_above"] == [None]


BAD = [
    ("zero paths", body(n_paths=0), 422, "n_paths"),
    ("negative paths", body(n_paths=-10), 422, "n_paths"),
    ("too many paths", body(n_paths=2_000_000), 422, "n_paths"),
    ("too many steps", body(tenor="10Y", steps_per_year=1000, n_paths=10), 422, "steps_per_year"),
    ("quantile above 1", body(quantiles=[0.5, 1.5]), 422, "quantiles[1]"),
    ("quantile 0", body(quantiles=[0.0]), 422, "quantiles[0]"),
    ("no quantiles", body(quantiles=[]), 422, "quantiles"),
    ("negative level", body(levels=[-1.0]), 422, "levels[0]"),
    ("sobol not a multiple", body(sampling="sobol", n_paths=1000), 422, "n_paths"),
    (
        "antithetic and sobol",
        body(sampling="sobol", n_paths=1024, antithetic=True),
        422,
        "antithetic",
    ),
    ("odd antithetic", body(antithetic=True, n_paths=1001), 422, "n_paths"),
    ("unknown sampling", body(sampling="halton"), 422, "sampling"),
    ("unknown measure", body(measure="physical"), 422, "measure"),
    ("negative seed", body(seed=-1), 422, "seed"),
    ("too many sample paths", body(n_sample_paths=500), 422, "n_sample_paths"),
    ("horizon before valuation", body(tenor=None, horizon="2025-06-01"), 422, "horizon"),
    ("horizon and tenor", body(horizon="2025-09-01"), 422, "horizon"),
    ("neither horizon nor tenor", body(tenor=None), 422, "horizon"),
    ("unknown tenor", body(tenor="7Q"), 422, "tenor"),
    ("zero steps per year", body(steps_per_year=0), 422, "steps_per_year"),
    ("unknown field", body(paths=10), 422, "paths"),
    ("unknown set", body(scenario_set_id="nope"), 404, "scenario_set_id"),
    ("set by id and inline", inline(scenario_set_id=SET_ID), 422, "scenario_set_id"),
    (
        "event before valuation",
        body(
            scenario_set_id=None, scenario_set={"event_date": "2025-06-01", "scenarios": SCENARIOS}
        ),
        422,
        "scenario_set.event_date",
    ),
    ("negative spot", inline(market={**MARKET, "spot": -1.0}), 422, "market.spot"),
]


@pytest.mark.parametrize(("name", "request_body", "status", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_a_problem_naming_the_field(
    client: TestClient, name: str, request_body: dict[str, Any], status: int, field: str
) -> None:
    response = client.post("/v1/paths", json=request_body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert field in [e["field"] for e in problem["errors"]], problem


def test_limits_come_from_the_settings() -> None:
    app = create_app()
    limits = Settings(max_paths=1000, max_steps=30, max_sample_paths=3, max_path_steps=10**9)
    app.dependency_overrides[current_settings] = lambda: limits
    with TestClient(app) as small:
        for request, field, words in (
            (body(n_paths=1001, n_sample_paths=0), "n_paths", "at most 1,000"),
            (body(tenor="3M", n_paths=100, n_sample_paths=0), "tenor", "limit of 30"),
            (
                body(steps_per_year=400, n_paths=100, n_sample_paths=0),
                "steps_per_year",
                "limit of 30",
            ),
            (body(n_paths=100, n_sample_paths=4), "n_sample_paths", "<= 3"),
        ):
            response = small.post("/v1/paths", json=request)
            assert response.status_code == 422, response.text
            error = response.json()["errors"][0]
            assert error["field"] == field and words in error["reason"], error


# ---------------------------------------------------------------------------------------------
# path-dependent instruments in POST /v1/price


INSTRUMENTS = [
    {"kind": "barrier", "option_type": "call", "barrier_type": "up_and_out", "strike": 146.0,
     "barrier": 158.0, "rebate": 1.0, "tenor": "3M", "label": "3M 146 call KO 158"},
    {"kind": "one_touch", "direction": "down", "barrier": 140.0, "cash": 1.0, "tenor": "2M",
     "pay_at_hit": True},
    {"kind": "no_touch", "direction": "up", "barrier": 149.0, "cash": 1.0, "expiry": "2025-07-01"},
    {"kind": "double_no_touch", "lower_barrier": 136.0, "upper_barrier": 156.0, "cash": 1.0,
     "tenor": "1M", "notional": 1e6},
]  # fmt: skip


def test_path_instruments_price_with_standard_errors_and_per_scenario_rows() -> None:
    with TestClient(create_app()) as client:
        response = client.post(
            "/v1/price",
            json={
                "scenario_set_id": SET_ID,
                "instruments": INSTRUMENTS,
                "paths": {"n_paths": 8192, "seed": 3},
            },
        )
    assert response.status_code == 200, response.text
    data = response.json()
    assert finite_numbers(data)
    rows, q = data["results"], list(data["measure"]["weights"].values())
    assert [r["method"] for r in rows] == [
        "monte_carlo",
        "monte_carlo",
        "closed_form",
        "monte_carlo",
    ]
    for row in rows:
        recombined = math.fsum(
            w * p for w, p in zip(q, row["scenario_prices"].values(), strict=True)
        )
        assert recombined == pytest.approx(row["price"], rel=1e-12)
        assert row["value"] == pytest.approx(row["price"] * row["notional"], rel=1e-15)
        assert row["measure"] == "risk_neutral"
    assert rows[0]["label"] == "3M 146 call KO 158" and rows[0]["seed"] == 3
    assert rows[0]["standard_error"] > 0 and rows[2]["standard_error"] == 0.0
    # the no-touch expires before the event: QuantLib on the market's rates and vol to expiry
    market = builtin_entry(SET_ID).market
    with quantlib_session(market.valuation_date):
        today, expiry = to_ql_date(market.valuation_date), ql.Date(1, 7, 2025)
        t = 18 / 365
        r_d = float(market.jpy_curve.zero_rates_at(np.array([t]))[0])
        r_f = float(market.usd_curve.zero_rates_at(np.array([t]))[0])
        # the ex-event diffusion: the quoted ATM curve with the market's event variance v
        # (MarketSnapshot.event_strip) out of the pillars after the event, linear in total
        # variance between the 1W and 1M pillars
        atm, t_event = market.atm_vols, 26 / 365  # 2025-06-13 → 2025-07-09
        (t1, t2), (s1, s2) = atm.times[:2], atm.vols[:2]
        v = float(market.event_strip((t_event,)).event_variances[0])
        vol = math.sqrt(
            (s1 * s1 * t1 + (t - t1) / (t2 - t1) * (s2 * s2 * t2 - v - s1 * s1 * t1)) / t
        )
        day_count = ql.Actual365Fixed()
        process = ql.GarmanKohlagenProcess(
            ql.QuoteHandle(ql.SimpleQuote(market.spot)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, r_f, day_count)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, r_d, day_count)),
            ql.BlackVolTermStructureHandle(
                ql.BlackConstantVol(today, ql.NullCalendar(), vol, day_count)
            ),
        )
        touch = ql.VanillaOption(
            ql.CashOrNothingPayoff(ql.Option.Call, 149.0, 1.0),
            ql.AmericanExercise(today, expiry, True),
        )
        touch.setPricingEngine(ql.AnalyticDigitalAmericanEngine(process))
        expected = math.exp(-r_d * t) - touch.NPV()
    assert rows[2]["price"] == pytest.approx(expected, rel=1e-9)
    assert set(rows[2]["scenario_prices"].values()) == {rows[2]["price"]}


def _with(i: int, **changes: Any) -> dict[str, Any]:
    instruments = copy.deepcopy(INSTRUMENTS)
    instruments[i].update(changes)
    return {"instruments": instruments}


INSTRUMENT_BAD = [
    ("up barrier below spot", _with(0, barrier=140.0), "instruments[0].barrier"),
    ("down barrier above spot", _with(1, barrier=150.0), "instruments[1].barrier"),
    ("up touch below spot", _with(2, barrier=144.0), "instruments[2].barrier"),
    ("lower above upper", _with(3, lower_barrier=157.0), "instruments[3].lower_barrier"),
    ("lower equals upper", _with(3, lower_barrier=156.0), "instruments[3].lower_barrier"),
    ("upper below spot", _with(3, lower_barrier=130.0, upper_barrier=140.0), "instruments[3].upper_barrier"),
    ("zero cash", _with(1, cash=0.0), "instruments[1].cash"),
    ("negative rebate", _with(0, rebate=-1.0), "instruments[0].rebate"),
    ("no-touch paid at hit", _with(2, pay_at_hit=True), "instruments[2].pay_at_hit"),
    ("unknown barrier type", _with(0, barrier_type="sideways"), "instruments[0].barrier_type"),
    ("unknown kind", _with(0, kind="range_accrual"), "instruments[0]"),
    ("expiry before valuation", _with(2, expiry="2025-06-01"), "instruments[2].expiry"),
    ("zero paths", {"instruments": INSTRUMENTS, "paths": {"n_paths": 0}}, "paths.n_paths"),
    ("too few paths", {"instruments": INSTRUMENTS, "paths": {"n_paths": 100}}, "paths.n_paths"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "request_body", "field"), INSTRUMENT_BAD, ids=[b[0] for b in INSTRUMENT_BAD]
)
def test_bad_path_instruments_get_a_problem_naming_the_field(
    name: str, request_body: dict[str, Any], field: str
) -> None:
    with TestClient(create_app()) as client:
        response = client.post("/v1/price", json={"scenario_set_id": SET_ID, **request_body})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
