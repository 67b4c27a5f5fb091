"""``POST /v1/vol-surface`` and smiles in ``POST /v1/price`` over HTTP.

Witnesses: the built-in data file (the market surface re-quotes it); closed forms for one
scenario at the forward on a flat market (the mixture is one lognormal with total variance
``σ_pre²·T_e + σ²·(T − T_e)``); QuantLib's ``blackFormula`` at the quoted vols; put–call
parity and the foundation's flat prices through ``/v1/price``; the rule each bad input
breaks, with the field named in the problem body.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
import QuantLib as ql
from fastapi.testclient import TestClient

from tests.service.json_checks import finite_numbers

SET_ID = "us-japan-tariff-2025-07-09"
FLAT_MARKET: dict[str, Any] = {
    "valuation_date": "2025-06-13",
    "spot": 144.1,
    "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
    "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
    "atm_vols": [{"tenor": "1Y", "vol": 0.11}],
}
SURFACE = [
    {"tenor": "1M", "atm": 0.115, "rr25": -0.014, "bf25": 0.003},
    {"tenor": "3M", "atm": 0.108, "rr25": -0.018, "bf25": 0.0035},
    {"tenor": "1Y", "atm": 0.103, "rr25": -0.022, "bf25": 0.004},
]
TWO = [
    {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09},
    {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13},
]


def surface(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/vol-surface", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert finite_numbers(data)
    return data


def test_openapi_examples_work_as_pasted(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["VolSurfaceRequest"]
    assert len(schema["examples"]) >= 2
    for example in schema["examples"]:
        data = surface(client, **example)
        assert data["mixture"]["quotes"] and data["arbitrage"]["market"] is not None
        sources = {s["name"]: s["smile_source"] for s in data["scenarios"]}
        if "scenario_set" in example:
            assert sources == {"deal": "shift", "no_deal": "quotes"}
        # outside witness: the market view quotes back the market's own surface quotes
        market = (
            example.get("market")
            or client.get(f"/v1/markets/{data['sources']['market']['id']}").json()["document"]
        )
        quoted = {q["tenor"]: q for q in data["market"]["quotes"]}
        rows = [r for r in market["surface"] if r["tenor"] in quoted]
        assert rows
        for row in rows:
            q = quoted[row["tenor"]]
            assert q["atm_vol"] == pytest.approx(row["atm"], abs=1e-8)
            wing = next(w for w in q["wings"] if w["delta"] == 0.25)
            assert wing["rr"] == pytest.approx(row["rr25"], abs=1e-8)
            assert wing["bf_broker"] == pytest.approx(row["bf25"], abs=1e-8)


def test_builtin_market_surface_requotes_its_quotes(client: TestClient) -> None:
    pillars = ["1W", "1M", "3M", "6M", "1Y", "2Y"]
    data = surface(client, scenario_set_id=SET_ID, tenors=pillars, deltas=[0.25])
    stored = client.get("/v1/markets/usdjpy-2025-06-13").json()["document"]["surface"]
    assert [r["tenor"] for r in stored] == pillars
    for row, quoted in zip(stored, data["market"]["quotes"], strict=True):
        assert quoted["converged"]
        assert quoted["atm_vol"] == pytest.approx(row["atm"], abs=1e-8)
        assert quoted["wings"][0]["rr"] == pytest.approx(row["rr25"], abs=1e-8)
        assert quoted["wings"][0]["bf_broker"] == pytest.approx(row["bf25"], abs=1e-8)
    assert data["arbitrage"]["market"]["arbitrage_free"]
    # the 1W expiry precedes the event: the mixture and every scenario are the market there
    assert not data["tenors"][0]["after_event"] and data["tenors"][1]["after_event"]
    market_1w = data["market"]["quotes"][0]
    for smile in [data["mixture"], *(s["smile"] for s in data["scenarios"])]:
        assert smile["quotes"][0]["atm_vol"] == pytest.approx(market_1w["atm_vol"], abs=1e-10)
        assert smile["quotes"][0]["wings"][0]["rr"] == pytest.approx(
            market_1w["wings"][0]["rr"], abs=1e-10
        )


def test_one_scenario_at_the_forward_is_one_lognormal(client: TestClient) -> None:
    """Flat market, one scenario at spot: vols at every strike are √((σ²·T_e + σ_s²·τ)/T)."""
    strikes = [125.0, 135.0, 144.0, 150.0, 165.0]
    data = surface(
        client,
        scenario_set={
            "event_date": "2025-07-09",
            "scenarios": [{"name": "only", "probability": 1.0, "level": 144.1, "vol": 0.15}],
        },
        market=FLAT_MARKET,
        tenors=["2W", "3M", "1Y"],
        strikes=strikes,
    )
    t_event = 26 / 365
    for i, tenor in enumerate(data["tenors"]):
        t = tenor["time"]
        if tenor["after_event"]:
            expected = math.sqrt((0.11**2 * t_event + 0.15**2 * (t - t_event)) / t)
        else:
            expected = 0.11
        np.testing.assert_allclose(data["mixture"]["vols"][i], expected, rtol=0, atol=1e-10)
        quotes = data["mixture"]["quotes"][i]
        assert quotes["atm_vol"] == pytest.approx(expected, abs=1e-10)
        assert all(abs(w["rr"]) < 1e-10 and abs(w["bf_broker"]) < 1e-10 for w in quotes["wings"])
        # the lognormal density at each strike
        s = expected * math.sqrt(t)
        f = tenor["forward"]
        for k, density in zip(strikes, data["mixture"]["densities"][i], strict=True):
            d2 = math.log(f / k) / s - 0.5 * s
            lognormal = math.exp(-0.5 * d2 * d2) / (k * s * math.sqrt(2 * math.pi))
            assert density == pytest.approx(lognormal, rel=1e-9)


def test_mixture_vols_price_as_quantlib_black(client: TestClient) -> None:
    """The mixture's grid vols put into QuantLib's Black give /v1/price's mixture premiums
    (the discount factor read off put–call parity of the same response)."""
    strikes = [130.0, 140.0, 150.0, 160.0]
    data = surface(client, scenario_set_id=SET_ID, tenors=["1M", "6M"], strikes=strikes)
    legs = [
        {"kind": kind, "strike": k, "expiry": t["expiry"], "delivery": t["delivery"]}
        for t in data["tenors"]
        for k in strikes
        for kind in ("call", "put")
    ]
    priced = client.post("/v1/price", json={"scenario_set_id": SET_ID, "instruments": legs})
    results = priced.json()["results"]
    for n, (i, j) in enumerate((i, j) for i in range(2) for j in range(len(strikes))):
        call, put = results[2 * n], results[2 * n + 1]
        tenor, k = data["tenors"][i], strikes[j]
        assert call["forward"] == pytest.approx(tenor["forward"], rel=1e-14)
        df = (call["price"] - put["price"]) / (call["forward"] - k)
        vol = data["mixture"]["vols"][i][j]
        std = vol * math.sqrt(tenor["time"])
        witness = ql.blackFormula(ql.Option.Call, k, call["forward"], std, df)
        assert call["price"] == pytest.approx(witness, rel=1e-9)


def test_price_accepts_surfaces_and_scenario_smiles(client: TestClient) -> None:
    scenarios = copy.deepcopy(TWO)
    scenarios[0]["smile"] = {"shift": {"atm": -0.01, "rr25": 0.005}}
    scenarios[1]["smile"] = {
        "quotes": [
            {"tenor": "1M", "atm": 0.13, "rr25": -0.025, "bf25": 0.004},
            {"tenor": "1Y", "atm": 0.12, "rr25": -0.03, "bf25": 0.005},
        ]
    }
    legs = [
        {"kind": kind, "strike": k, "tenor": "3M"}
        for k in (135.0, 150.0)
        for kind in ("call", "put")
    ]
    legs.append({"kind": "digital_call", "strike": 150.0, "tenor": "3M", "payout_currency": "JPY"})
    body = {
        "scenario_set": {"event_date": "2025-07-09", "scenarios": scenarios},
        "market": {**FLAT_MARKET, "surface": SURFACE},
        "instruments": legs,
    }
    response = client.post("/v1/price", json=body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    for call, put in (results[0:2], results[2:4]):
        forward, strike = call["forward"], call["strike"]
        df = math.exp(-0.006 * (np.datetime64(call["delivery"]) - np.datetime64("2025-06-13"))
                      .astype(int) / 365)  # fmt: skip
        assert call["price"] - put["price"] == pytest.approx(df * (forward - strike), rel=1e-12)
    # a smile moves the prices away from the flat-vol ones
    flat = client.post("/v1/price", json={**body, "scenario_set": {"event_date": "2025-07-09",
                                                                      "scenarios": TWO},
                                          "market": FLAT_MARKET}).json()["results"]  # fmt: skip
    assert abs(flat[4]["price"] - results[4]["price"]) > 1e-3


def test_flat_surface_prices_as_the_atm_curve_over_http(client: TestClient) -> None:
    dates = ["2025-07-14", "2025-09-15", "2026-06-15"]
    market = {
        **FLAT_MARKET,
        "atm_vols": [
            {"date": d, "vol": v} for d, v in zip(dates, (0.12, 0.11, 0.105), strict=True)
        ],
    }
    flat = {**market, "surface": [{"date": d, "atm": v, "rr25": 0.0, "bf25": 0.0}
                                  for d, v in zip(dates, (0.12, 0.11, 0.105), strict=True)]}  # fmt: skip
    legs = [
        {"kind": "digital_put", "strike": 140.0, "tenor": "1M", "payout_currency": "USD"},
        {"kind": "call", "strike": 150.0, "tenor": "6M"},
        {"kind": "put", "strike": 138.0, "expiry": "2025-07-01"},
    ]
    common = {"scenario_set_id": SET_ID, "instruments": legs}
    plain = client.post("/v1/price", json={**common, "market": market}).json()["results"]
    smiled = client.post("/v1/price", json={**common, "market": flat}).json()["results"]
    for a, b in zip(plain, smiled, strict=True):
        assert b["price"] == pytest.approx(a["price"], rel=1e-12)
        assert b["greeks"]["delta"] == pytest.approx(a["greeks"]["delta"], rel=1e-11)


def _with_row(i: int, **changes: Any) -> list[dict[str, Any]]:
    rows = copy.deepcopy(SURFACE)
    rows[i].update(changes)
    return [{k: v for k, v in r.items() if v is not None} for r in rows]


BAD = [
    ("negative ATM", {"market": {**FLAT_MARKET, "surface": _with_row(2, atm=-0.1)}},
     "market.surface[2].atm"),
    ("butterfly too negative", {"market": {**FLAT_MARKET, "surface": _with_row(2, bf25=-0.002)}},
     "market.surface[2].bf25"),
    ("butterfly too low for the rr", {"market": {**FLAT_MARKET,
                                                 "surface": _with_row(1, rr25=-0.2, bf25=1e-5)}},
     "market.surface[1].bf25"),
    ("unsorted tenors", {"market": {**FLAT_MARKET, "surface": [SURFACE[1], SURFACE[0]]}},
     "market.surface[1].tenor"),
    ("missing pillar", {"market": {**FLAT_MARKET, "surface": _with_row(0, rr25=None)}},
     "market.surface[0].rr25"),
    ("rr10 without bf10", {"market": {**FLAT_MARKET, "surface": _with_row(0, rr10=-0.02)}},
     "market.surface[0].bf10"),
    ("bad surface tenor", {"market": {**FLAT_MARKET, "surface": _with_row(0, tenor="1X")}},
     "market.surface[0].tenor"),
    ("delta outside (0, 0.5)", {"deltas": [0.25, 0.5]}, "deltas[1]"),
    ("zero delta", {"deltas": [0.0]}, "deltas[0]"),
    ("unsorted output tenors", {"tenors": ["3M", "1M"]}, "tenors[1]"),
    ("unknown output tenor", {"tenors": ["1M", "7Q"]}, "tenors[1]"),
    ("negative strike", {"strikes": [140.0, -1.0]}, "strikes[1]"),
    ("scenario shift too negative", {"scenario_set": {"event_date": "2025-07-09", "scenarios": [
        {**TWO[0], "smile": {"shift": {"bf25": -0.01}}}, TWO[1]]}, "market": FLAT_MARKET},
     "scenario_set.scenarios[0].smile.shift.bf25"),
    ("scenario quotes before the event", {"scenario_set": {"event_date": "2025-07-09", "scenarios": [
        TWO[0], {**TWO[1], "smile": {"quotes": [{"date": "2025-07-01", "atm": 0.13, "rr25": -0.02,
                                                  "bf25": 0.004}]}}]}},
     "scenario_set.scenarios[1].smile.quotes[0].date"),
    ("scenario smile with both sources", {"scenario_set": {"event_date": "2025-07-09", "scenarios": [
        {**TWO[0], "smile": {"shift": {}, "quotes": [SURFACE[0]]}}, TWO[1]]}},
     "scenario_set.scenarios[0].smile"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "changes", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_a_problem_naming_the_field(
    client: TestClient, name: str, changes: dict[str, Any], field: str
) -> None:
    body = {"scenario_set_id": SET_ID, **changes}
    if "scenario_set" in changes:
        body.pop("scenario_set_id")
    response = client.post("/v1/vol-surface", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
    if "market" in changes:  # the same market fails /v1/price the same way
        priced = client.post(
            "/v1/price",
            json={**body, "instruments": [{"kind": "call", "strike": 150.0, "tenor": "3M"}]},
        )
        assert priced.status_code == 422
        assert field in [e["field"] for e in priced.json()["errors"]]


def test_unknown_set_is_a_404(client: TestClient) -> None:
    response = client.post("/v1/vol-surface", json={"scenario_set_id": "nope"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "scenario_set_id"
