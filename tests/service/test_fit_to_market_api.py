"""Fit to market over HTTP: ``/v1/calibrate``'s status and fit modes, ``fit_to_market`` on
``/v1/price`` and ``/v1/vol-surface``, and the problems bad inputs get.

Witnesses: quotes the mixture itself generated (``/v1/vol-surface`` on known probabilities),
which the calibration must fit and give back (to 1e-6); the jumps' variance recomputed here
from the response's own weights and levels, against the market's event variance the
response reports; the fitted set pasted back as an inline ``scenario_set``, whose prices
must be those of the ``fit_to_market`` mode exactly (same floats, so the same bytes); the
route answering what the lane passes it, byte for byte; the rule each bad input breaks.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

SET_ID = "us-japan-tariff-2025-07-09"
BOOK = [
    {"kind": "call", "strike": 150.0, "tenor": "3M"},
    {"kind": "put", "strike": 138.0, "tenor": "1M"},
    {"kind": "digital_call", "strike": 152.0, "tenor": "6M", "payout_currency": "JPY"},
]
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def app() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(response_cache_bytes=0))) as client:
        yield client


def ok(app: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = app.post(path, json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_the_builtin_set_does_not_fit_and_the_response_says_why(app: TestClient) -> None:
    data = ok(app, "/v1/calibrate", {"scenario_set_id": SET_ID})
    assert data["fit"]["converged"] is True  # the optimiser's flag …
    assert data["status"] == "does_not_fit"  # … is not the verdict
    rows = data["fit"]["quotes"]
    missed = [q for q in rows if not q["within_tolerance"]]
    assert missed and all(abs(q["residual_vol_points"]) > q["tolerance_vol_points"] for q in missed)
    assert {q["tolerance_vol_points"] for q in rows if q["kind"] == "atm"} == {0.25}
    assert {q["tolerance_vol_points"] for q in rows if q["kind"] != "atm"} == {0.5}
    assert data["reasons"][0] == f"{len(missed)} of {len(rows)} quotes miss their tolerance"
    one_month = next(q for q in rows if q["label"] == "1M" and q["kind"] == "atm")
    assert any(
        r.startswith(f"1M ATM misses by {one_month['residual_vol_points']:+.2f} vol points")
        for r in data["reasons"]
    )
    # the event-variance gap, recomputed from the response's own weights and levels
    logs = [math.log(s["fitted_level"] / data["spot"]) for s in data["scenarios"]]
    q = [s["weight"] for s in data["scenarios"]]
    mean = sum(w * x for w, x in zip(q, logs, strict=True))
    variance = sum(w * (x - mean) ** 2 for w, x in zip(q, logs, strict=True))
    event = data["event_variance"]
    assert event["jumps"] == pytest.approx(variance, rel=1e-9)
    assert event["ratio"] == pytest.approx(variance / event["market"], rel=1e-9)
    assert event["market_event_day_vol"] == pytest.approx(math.sqrt(365 * event["market"]))
    assert any(f"{event['ratio']:.1f}× the market's event variance" in r for r in data["reasons"])
    # scenarios at zero weight are not "identified"
    carrying = [s for s in data["scenarios"] if s["weight"] > 0]
    assert 0 < len(carrying) < len(data["scenarios"])
    for s in data["scenarios"]:
        assert s["carries_weight"] == (s["weight"] > 0)
        assert s["identified"] == s["carries_weight"]
    summary = data["identification"]["summary"]
    assert summary.startswith(
        f"{len(carrying)} of {len(data['scenarios'])} scenarios carry weight; "
        f"{len(carrying)} identified."
    )
    assert "Every scenario is identified" not in summary


def test_quotes_the_mixture_made_fit(app: TestClient) -> None:
    scenarios = app.get(f"/v1/scenario-sets/{SET_ID}").json()["document"]["scenarios"]
    truth_set = {
        "event_date": "2025-07-09",
        "scenarios": [
            {k: s[k] for k in ("name", "level", "vol")} | {"probability": p}
            for s, p in zip(scenarios, [0.35, 0.2, 0.1, 0.2, 0.15], strict=True)
        ],
    }
    tenors = ["1M", "3M", "6M", "1Y"]
    surface = ok(
        app,
        "/v1/vol-surface",
        {"scenario_set": truth_set, "tenors": tenors, "deltas": [0.25], "strikes": [144.0]},
    )
    quotes = [
        {"tenor": t, "atm": r["atm_vol"], "rr25": r["wings"][0]["rr"],
         "bf25": r["wings"][0]["bf_broker"]}
        for t, r in zip(tenors, surface["mixture"]["quotes"], strict=True)
    ]  # fmt: skip
    truth = surface["measure"]["weights"]
    data = ok(app, "/v1/calibrate", {"scenario_set_id": SET_ID, "quotes": quotes})
    assert data["status"] == "fits"
    assert all(q["within_tolerance"] for q in data["fit"]["quotes"])
    for row in data["scenarios"]:
        assert row["implied_probability"] == pytest.approx(truth[row["name"]], abs=1e-6)
        assert row["identified"]
    fitted = {s["name"]: s["probability"] for s in data["fitted_set"]["scenarios"]}
    assert fitted == pytest.approx(truth, abs=1e-6)
    assert data["identification"]["summary"] == "5 of 5 scenarios carry weight; 5 identified."


MODES = ["probabilities", "jump_scale", "jump_scale_and_post_vols", "probabilities_and_jump_scale"]


@pytest.mark.parametrize("mode", MODES)
def test_the_fitted_set_pasted_prices_as_fit_to_market_does(app: TestClient, mode: str) -> None:
    fitted = ok(
        app, "/v1/price", {"scenario_set_id": SET_ID, "instruments": BOOK, "fit_to_market": mode}
    )
    block = fitted["fit_to_market"]
    assert block["mode"] == mode and block["status"] in ("fits", "does_not_fit")
    pasted = ok(app, "/v1/price", {"scenario_set": block["scenario_set"], "instruments": BOOK})
    assert pasted["fit_to_market"] is None
    assert orjson.dumps(pasted["results"]) == orjson.dumps(fitted["results"])
    assert pasted["measure"] == fitted["measure"]
    assert pasted["scenario_pnl"] == fitted["scenario_pnl"]
    # as given, the set prices differently: the fit moved something
    given = ok(app, "/v1/price", {"scenario_set_id": SET_ID, "instruments": BOOK})
    assert given["results"][0]["price"] != fitted["results"][0]["price"]
    # /v1/calibrate with the same fit returns the same set and verdict
    calibrated = ok(app, "/v1/calibrate", {"scenario_set_id": SET_ID, "fit": mode})
    assert calibrated["fitted_set"] == block["scenario_set"]
    assert calibrated["status"] == block["status"]
    assert calibrated["reasons"] == block["reasons"]
    assert calibrated["jump_scale"] == block["jump_scale"]
    given_names = [
        s["name"] for s in app.get(f"/v1/scenario-sets/{SET_ID}").json()["document"]["scenarios"]
    ]
    assert [s["name"] for s in block["scenario_set"]["scenarios"]] == given_names  # same order


def test_a_jump_scale_moves_every_level_by_the_same_share_of_its_log_distance(
    app: TestClient,
) -> None:
    given = app.get(f"/v1/scenario-sets/{SET_ID}").json()["document"]["scenarios"]
    data = ok(app, "/v1/calibrate", {"scenario_set_id": SET_ID, "fit": "jump_scale"})
    kappa, spot = data["jump_scale"], data["spot"]
    assert 0 < kappa < 1  # the analyst's levels carry more event than the market pays for
    for before, after in zip(given, data["fitted_set"]["scenarios"], strict=True):
        assert math.log(after["level"] / spot) == pytest.approx(
            kappa * math.log(before["level"] / spot), rel=1e-12
        )
        assert after["probability"] == before["probability"]  # the analyst's p, kept
        assert after["vol"] == before["vol"]
    assert data["post_vol_factor"] == 1.0
    for row in data["scenarios"]:
        assert row["implied_probability"] is None and not row["identified"]


def test_vol_surface_under_fit_to_market_is_the_fitted_sets(app: TestClient) -> None:
    body = {"scenario_set_id": SET_ID, "tenors": ["1M", "3M"], "deltas": [0.25]}
    fitted = ok(app, "/v1/vol-surface", {**body, "fit_to_market": "jump_scale"})
    pasted_set = fitted["fit_to_market"]["scenario_set"]
    pasted = ok(
        app,
        "/v1/vol-surface",
        {"scenario_set": pasted_set, "tenors": ["1M", "3M"], "deltas": [0.25]},
    )
    assert pasted["mixture"] == fitted["mixture"]
    assert pasted["fit_to_market"] is None


def test_the_lane_answers_fit_to_market_as_the_route_does(app: TestClient) -> None:
    """A fit costs more than the lane values inline, so the lane passes the request on;
    through the lane (plain JSON) or straight to the route (a charset): the same bytes."""
    raw = json.dumps(
        {"scenario_set_id": SET_ID, "instruments": BOOK[:1], "fit_to_market": "post_vols"}
    ).encode()
    stats = app.app.state.price_lane  # type: ignore[attr-defined]
    valued, passed = stats.valued, stats.passed
    same_id = {"x-request-id": "fit-to-market-lane"}
    lane = app.post("/v1/price", content=raw, headers={**JSON, **same_id})
    route = app.post(
        "/v1/price",
        content=raw,
        headers={"content-type": "application/json; charset=utf-8", **same_id},
    )
    assert lane.status_code == route.status_code == 200
    assert (stats.valued - valued, stats.passed - passed) == (0, 2)
    assert lane.content == route.content


FLAT_MARKET = {
    "valuation_date": "2025-06-13",
    "spot": 144.1,
    "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
    "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
    "atm_vols": [{"tenor": "1M", "vol": 0.115}, {"tenor": "1Y", "vol": 0.103}],
}
EARLY_SURFACE = {
    **FLAT_MARKET,
    "surface": [{"tenor": "1W", "atm": 0.12, "rr25": -0.012, "bf25": 0.0025}],
}
TWO = {
    "event_date": "2025-07-09",
    "scenarios": [
        {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09},
        {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13},
    ],
}
AT_SPOT = {
    "event_date": "2025-07-09",
    "scenarios": [
        {"name": "calm", "probability": 0.5, "level": 144.1, "vol": 0.09},
        {"name": "storm", "probability": 0.5, "level": 144.1, "vol": 0.14},
    ],
}


def smiled() -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(TWO)
    data["scenarios"].append({"name": "muddle", "probability": 0.0, "level": 145.0, "vol": 0.1})
    data["scenarios"][0]["smile"] = {"shift": {"atm": -0.01}}
    return data


PRICE = {"instruments": BOOK[:1]}
BAD = [
    ("calibrate: unknown mode", "/v1/calibrate", {"fit": "nope"}, "fit"),
    ("price: unknown mode", "/v1/price", {**PRICE, "fit_to_market": "nope"}, "fit_to_market"),
    ("vol-surface: unknown mode", "/v1/vol-surface", {"fit_to_market": "jump-scale"},
     "fit_to_market"),
    ("price: no surface to fit to", "/v1/price",
     {**PRICE, "fit_to_market": "jump_scale", "market": FLAT_MARKET}, "fit_to_market"),
    ("price: no pillar after the event", "/v1/price",
     {**PRICE, "fit_to_market": "jump_scale", "market": EARLY_SURFACE}, "fit_to_market"),
    ("vol-surface: no surface to fit to", "/v1/vol-surface",
     {"fit_to_market": "post_vols", "market": FLAT_MARKET}, "fit_to_market"),
    ("calibrate: no surface to fit to", "/v1/calibrate", {"fit": "jump_scale",
                                                          "market": FLAT_MARKET}, "quotes"),
    ("calibrate: weights fixed by the constraints", "/v1/calibrate", {"scenario_set": TWO},
     "fit"),
    ("price: weights fixed by the constraints", "/v1/price",
     {**PRICE, "scenario_set": TWO, "fit_to_market": "probabilities"}, "fit_to_market"),
    ("calibrate: no jump to scale", "/v1/calibrate", {"scenario_set": AT_SPOT,
                                                      "fit": "jump_scale"}, "fit"),
    ("price: no jump to scale", "/v1/price",
     {**PRICE, "scenario_set": AT_SPOT, "fit_to_market": "jump_scale"}, "fit_to_market"),
    ("calibrate: vol factor on a smile", "/v1/calibrate", {"scenario_set": smiled(),
                                                           "fit": "post_vols"}, "fit"),
    ("calibrate: refit with a common scale", "/v1/calibrate",
     {"fit": "jump_scale", "refit_levels": True}, "refit_levels"),
    ("calibrate: zero tolerance", "/v1/calibrate", {"fit_tolerances": {"atm": 0.0}},
     "fit_tolerances.atm"),
    ("calibrate: unknown tolerance", "/v1/calibrate", {"fit_tolerances": {"skew": 0.01}},
     "fit_tolerances.skew"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "path", "changes", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_a_problem_naming_the_field(
    app: TestClient, name: str, path: str, changes: dict[str, Any], field: str
) -> None:
    body = {"scenario_set_id": SET_ID, **changes}
    if "scenario_set" in changes:
        body.pop("scenario_set_id")
    response = app.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()


def test_the_fit_modes_are_in_the_contract(app: TestClient) -> None:
    schemas = app.get("/openapi.json").json()["components"]["schemas"]
    modes = set(schemas["FitMode"]["enum"])
    assert modes == {
        "probabilities", "jump_scale", "post_vols", "jump_scale_and_post_vols",
        "probabilities_and_jump_scale", "probabilities_and_post_vols",
    }  # fmt: skip
    for request in ("PriceRequest", "VolSurfaceRequest"):
        assert "fit_to_market" in schemas[request]["properties"]
    assert "fit" in schemas["CalibrateRequest"]["properties"]
    assert "status" in schemas["CalibrateResponse"]["required"]
