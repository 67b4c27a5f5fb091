"""Outside witnesses, through the API, for the figures a line reports beside its price:
``scenario_prices`` and the scenario values (``scenario_pnl``), ``dprice_dlevel``, ``delta`` and
``delta_premium_adjusted``.

- ``scenario_prices``: each scenario's price is an independent one-scenario Black price
  (QuantLib's ``blackFormula`` / ``blackFormulaCashItmProbability``) on the forward
  ``F(T)·L_j/S0`` with the pre-event variance to the event and the scenario's after it;
  ``scenario_pnl.values`` are the line's sign × notional × those, and ``pnl`` less its value.
- ``dprice_dlevel``: a central difference of the price in each scenario's level, the measure
  re-solved (``overrides.levels``: the API re-fits the measure), under every measure.
- ``delta``: a central difference in spot with the jump ratios held (spot and every level
  moved together: the convention the field states); ``delta_premium_adjusted``:
  ``S·∂(V/S)/∂S`` by the same difference (the premium in USD), and in the one-scenario limit
  QuantLib's ``BlackDeltaCalculator`` (``DeltaVolQuote.PaSpot``; ``Spot`` for ``delta``).

Flat vols (one ATM pillar, no smile): with a smile the Greeks hold each component's vol at
the strike it is read at, while a repricing under moved inputs re-reads the smile, so a
difference through the API measures a different derivative (the README says so).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
import QuantLib as ql
from fastapi.testclient import TestClient

VALUATION = dt.date(2025, 6, 13)
EVENT = dt.date(2025, 7, 9)
SPOT, R_JPY, R_USD, ATM = 144.1, 0.006, 0.04, 0.11
MARKET = {
    "valuation_date": VALUATION.isoformat(),
    "spot": SPOT,
    "usd_curve": [{"tenor": "1Y", "rate": R_USD}],
    "jpy_curve": [{"tenor": "1Y", "rate": R_JPY}],
    "atm_vols": [{"tenor": "1Y", "vol": ATM}],
}
SCENARIOS = [
    {"name": "deal", "probability": 0.55, "level": 156.0, "vol": 0.09},
    {"name": "suspension", "probability": 0.15, "level": 146.5, "vol": 0.10},
    {"name": "no_deal", "probability": 0.30, "level": 136.0, "vol": 0.14},
]
LINES = [
    {"kind": "call", "strike": 150.0, "tenor": "3M"},
    {"kind": "put", "strike": 140.0, "tenor": "1Y", "side": "sell", "notional": 2.5e6},
    {"kind": "call", "strike": 145.0, "tenor": "2W"},  # before the event
    {"kind": "digital_call", "strike": 146.0, "tenor": "6M", "payout_currency": "JPY"},
    {"kind": "digital_put", "strike": 141.0, "tenor": "2M", "payout_currency": "JPY"},
    {"kind": "put", "strike": 125.0, "tenor": "9M"},
]
H = 1e-3  # JPY: central differences' step in spot and levels (error ~h², ~1e-9 here)


def _request(**extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "market": MARKET,
        "scenario_set": {"event_date": EVENT.isoformat(), "scenarios": SCENARIOS},
        "instruments": LINES,
    }
    request.update(extra)
    return request


def _price(client: TestClient, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/price", json=_request(**extra))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _years(date: str) -> float:
    return (dt.date.fromisoformat(date) - VALUATION).days / 365.0


def test_scenario_prices_are_one_scenario_black_prices(client: TestClient) -> None:
    data = _price(client, diffusion="quoted")  # pre-event vol: the quoted ATM, flat
    t_event = (EVENT - VALUATION).days / 365.0
    checked = 0
    matrix = data["scenario_pnl"]
    assert matrix["scenarios"] == [s["name"] for s in SCENARIOS]
    for i, (line, result) in enumerate(zip(LINES, data["results"], strict=True)):
        t, t_delivery = _years(result["expiry"]), _years(result["delivery"])
        forward = SPOT * math.exp((R_JPY - R_USD) * t_delivery)
        df = math.exp(-R_JPY * t_delivery)
        sign = -1.0 if line.get("side") == "sell" else 1.0
        for j, s in enumerate(SCENARIOS):
            if t > t_event:
                shifted = forward * s["level"] / SPOT
                std = math.sqrt(ATM**2 * t_event + s["vol"] ** 2 * (t - t_event))
            else:  # decided after the expiry: the scenario does not move it
                shifted, std = forward, ATM * math.sqrt(t)
            kind = line["kind"]
            option = ql.Option.Call if kind.endswith("call") else ql.Option.Put
            if kind.startswith("digital"):
                black = df * ql.blackFormulaCashItmProbability(option, line["strike"], shifted, std)
            else:
                black = ql.blackFormula(option, line["strike"], shifted, std, df)
            price = result["scenario_prices"][s["name"]]
            assert price == pytest.approx(black, rel=1e-12, abs=1e-14), (kind, s["name"])
            value = matrix["values"][j][i]  # scenario × line: the line's value if j happens
            assert value == pytest.approx(sign * line.get("notional", 1.0) * black, rel=1e-12)
            assert matrix["pnl"][j][i] == pytest.approx(
                value - result["value"], rel=1e-12, abs=1e-9
            )
            checked += 1
    assert checked == len(LINES) * len(SCENARIOS)


@pytest.mark.parametrize("measure", ["tilt", "scale", "none"])
@pytest.mark.parametrize("diffusion", ["ex_event", "quoted"])
def test_dprice_dlevel_is_the_central_difference_in_each_level(
    client: TestClient, measure: str, diffusion: str
) -> None:
    base = _price(client, measure=measure, diffusion=diffusion)
    for s in SCENARIOS:
        name, level = s["name"], s["level"]
        up = _price(client, measure=measure, diffusion=diffusion,
                    overrides={"levels": {name: level + H}})  # fmt: skip
        down = _price(client, measure=measure, diffusion=diffusion,
                      overrides={"levels": {name: level - H}})  # fmt: skip
        for line, b, u, d in zip(LINES, base["results"], up["results"], down["results"],
                                 strict=True):  # fmt: skip
            difference = (u["price"] - d["price"]) / (2 * H)
            reported = b["dprice_dlevel"][name]
            assert reported == pytest.approx(difference, rel=1e-6, abs=1e-9), (line, name)
            if not b["after_event"]:
                assert reported == 0.0


def _moved(client: TestClient, spot: float) -> dict[str, Any]:
    """Priced at ``spot`` with every jump ratio L/S0 held: the levels moved with spot."""
    levels = {s["name"]: s["level"] * spot / SPOT for s in SCENARIOS}
    return _price(client, overrides={"spot": spot, "levels": levels})


def test_delta_and_premium_adjusted_delta_are_central_differences_in_spot(
    client: TestClient,
) -> None:
    base = _price(client)
    up, down = _moved(client, SPOT + H), _moved(client, SPOT - H)
    for line, b, u, d in zip(LINES, base["results"], up["results"], down["results"], strict=True):
        delta = (u["price"] - d["price"]) / (2 * H)
        assert b["greeks"]["delta"] == pytest.approx(delta, rel=1e-6, abs=1e-9), line
        # the premium in USD per USD of notional is V/S: S·∂(V/S)/∂S = Δ − V/S
        premium_usd = (u["price"] / (SPOT + H) - d["price"] / (SPOT - H)) / (2 * H)
        assert b["greeks"]["delta_premium_adjusted"] == pytest.approx(
            SPOT * premium_usd, rel=1e-6, abs=1e-9
        ), line


@pytest.mark.parametrize(("kind", "strike", "tenor"), [("call", 150.0, "3M"), ("put", 139.0, "6M"),
                                                        ("call", 120.0, "1Y"), ("put", 160.0, "2W")])  # fmt: skip
def test_one_scenario_deltas_are_quantlibs_spot_and_premium_adjusted_deltas(
    client: TestClient, kind: str, strike: float, tenor: str
) -> None:
    only = [{"name": "only", "probability": 1.0, "level": SPOT, "vol": ATM}]  # J = 1: Black
    request = _request(
        scenario_set={"event_date": EVENT.isoformat(), "scenarios": only},
        instruments=[{"kind": kind, "strike": strike, "tenor": tenor}],
        diffusion="quoted",
    )
    result = client.post("/v1/price", json=request).json()["results"][0]
    t, t_delivery = _years(result["expiry"]), _years(result["delivery"])
    option = ql.Option.Call if kind == "call" else ql.Option.Put
    jpy_df, usd_df = math.exp(-R_JPY * t_delivery), math.exp(-R_USD * t_delivery)
    calculators = {
        quote: ql.BlackDeltaCalculator(option, quote, SPOT, jpy_df, usd_df, ATM * math.sqrt(t))
        for quote in (ql.DeltaVolQuote.Spot, ql.DeltaVolQuote.PaSpot)
    }
    spot_delta = calculators[ql.DeltaVolQuote.Spot].deltaFromStrike(strike)
    pa_delta = calculators[ql.DeltaVolQuote.PaSpot].deltaFromStrike(strike)
    assert result["greeks"]["delta"] == pytest.approx(spot_delta, rel=1e-10)
    assert result["greeks"]["delta_premium_adjusted"] == pytest.approx(pa_delta, rel=1e-10)


DATED = [  # dated expiries: moving the valuation date moves nothing else
    {"kind": "call", "strike": 150.0, "expiry": "2025-09-12"},
    {"kind": "put", "strike": 140.0, "expiry": "2026-03-13", "side": "sell"},
    {"kind": "call", "strike": 143.0, "expiry": "2025-07-07"},  # before the event
    {"kind": "digital_call", "strike": 146.0, "expiry": "2025-12-12", "payout_currency": "JPY"},
    {"kind": "digital_put", "strike": 139.0, "expiry": "2025-11-14", "payout_currency": "USD"},
]


def _dated(client: TestClient, market: dict[str, Any] | None = None, **extra: Any) -> list[Any]:
    results: list[Any] = _price(client, instruments=DATED, market=market or MARKET, **extra)[
        "results"
    ]
    return results


def test_gamma_vega_rhos_and_theta_are_central_differences(client: TestClient) -> None:
    """gamma: ∂delta/∂S (jump ratios held); vega: ∂price/∂σ for every vol at once
    (``overrides.vol_bump``); rho_jpy, rho_usd: ∂price/∂r of each flat curve; theta:
    ∂price/∂t as the valuation date moves by whole days (ACT/365F), all per 1.00."""
    base = _dated(client)
    h = 1e-5  # in vols and rates: the truncation error ~h² stays below 1e-8 relative

    def with_rate(curve: str, bump: float) -> list[Any]:
        market = {**MARKET, curve: [{"tenor": "1Y", "rate": MARKET[curve][0]["rate"] + bump}]}
        return _dated(client, market)

    def moved(spot: float) -> list[Any]:
        levels = {s["name"]: s["level"] * spot / SPOT for s in SCENARIOS}
        return _dated(client, overrides={"spot": spot, "levels": levels})

    differences = {
        "gamma": (moved(SPOT + H), moved(SPOT - H), 2 * H, "delta"),
        "vega": (_dated(client, overrides={"vol_bump": h}),
                 _dated(client, overrides={"vol_bump": -h}), 2 * h, "price"),
        "rho_jpy": (with_rate("jpy_curve", h), with_rate("jpy_curve", -h), 2 * h, "price"),
        "rho_usd": (with_rate("usd_curve", h), with_rate("usd_curve", -h), 2 * h, "price"),
    }  # fmt: skip
    for greek, (up, down, step, of) in differences.items():
        for line, b, u, d in zip(DATED, base, up, down, strict=True):
            u_of = u["greeks"][of] if of != "price" else u["price"]
            d_of = d["greeks"][of] if of != "price" else d["price"]
            difference = (u_of - d_of) / step
            assert b["greeks"][greek] == pytest.approx(difference, rel=1e-6, abs=1e-8), (
                greek,
                line,
            )
    # theta by whole days: Richardson's extrapolation of the 1- and 2-day central differences
    # (error ~h⁴: 1e-7 of the 3-week option's theta)
    days = {k: _dated(client, {**MARKET, "valuation_date": f"2025-06-{13 + k:02d}"})
            for k in (-2, -1, 1, 2)}  # fmt: skip
    for i, (line, b) in enumerate(zip(DATED, base, strict=True)):
        one = (days[1][i]["price"] - days[-1][i]["price"]) / (2 / 365)
        two = (days[2][i]["price"] - days[-2][i]["price"]) / (4 / 365)
        assert b["greeks"]["theta"] == pytest.approx((4 * one - two) / 3, rel=2e-6), line


@pytest.mark.parametrize("measure", ["tilt", "scale", "none"])
def test_the_measure_block_is_the_sets_and_the_markets(client: TestClient, measure: str) -> None:
    """jump_ratios J = L/S0 of the set sent; subjective_forward_mismatch Σp·J − 1 of its own
    probabilities; forward_mismatch Σq·J − 1 of the weights returned (0 but under ``none``);
    under ``tilt`` q ∝ p·J^λ at the λ returned (the Esscher transform), under ``none`` q = p.
    Each from the request's own figures, not the service's."""
    block = _price(client, measure=measure)["measure"]
    p = {s["name"]: s["probability"] for s in SCENARIOS}
    assert block["probabilities"] == p
    jumps = block["jump_ratios"]
    if measure != "scale":  # scale rescales the jumps themselves (log J × κ)
        assert jumps == {s["name"]: pytest.approx(s["level"] / SPOT, rel=1e-15) for s in SCENARIOS}
    raw = {s["name"]: s["level"] / SPOT for s in SCENARIOS}
    subjective = math.fsum(p[n] * raw[n] for n in p) - 1.0
    assert block["subjective_forward_mismatch"] == pytest.approx(subjective, rel=1e-12)
    q = block["weights"]
    assert math.fsum(q.values()) == pytest.approx(1.0, abs=1e-15)
    mismatch = math.fsum(q[n] * jumps[n] for n in q) - 1.0
    assert block["forward_mismatch"] == pytest.approx(mismatch, abs=1e-15)
    if measure == "none":
        assert q == p and block["forward_mismatch"] == pytest.approx(subjective, rel=1e-12)
    else:
        assert abs(block["forward_mismatch"]) < 1e-14
    if measure == "tilt":
        tilted = {n: p[n] * raw[n] ** block["tilt_lambda"] for n in p}
        total = math.fsum(tilted.values())
        assert q == {n: pytest.approx(tilted[n] / total, rel=1e-12) for n in p}
