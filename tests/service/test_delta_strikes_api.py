"""Strikes in desk terms through ``POST /v1/price``: the strike returned for "25D", "10D"
and "ATM" lines, recomputed by QuantLib's ``BlackDeltaCalculator`` with the returned vol and
the discount factors the response itself implies (a forward line to the same delivery gives
DF_JPY = price / (F − K) and DF_USD = DF_JPY·F/S0), hits the requested delta to 1e-10 in the
convention the response names (premium-adjusted spot delta to 1Y, forward beyond; Clark,
*Foreign Exchange Option Pricing* (2011), §3.2–3.5), and the ATM strike is the delta-neutral
straddle (``atmStrike(AtmDeltaNeutral)``)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
import QuantLib as ql
from fastapi.testclient import TestClient

SET_ID = "us-japan-tariff-2025-07-09"
TODAY = dt.date(2025, 6, 13)
CONVENTIONS = {
    "premium_adjusted_spot": ql.DeltaVolQuote.PaSpot,
    "premium_adjusted_forward": ql.DeltaVolQuote.PaFwd,
}


def lines(tenor: str) -> list[dict[str, Any]]:
    return [
        {"kind": "call", "strike": "25D", "tenor": tenor},
        {"kind": "put", "strike": "25D", "tenor": tenor},
        {"kind": "call", "strike": "10D", "tenor": tenor},
        {"kind": "put", "strike": "12.5D", "tenor": tenor},
        {"kind": "call", "strike": "ATM", "tenor": tenor},
        {"kind": "digital_put", "strike": "25D", "tenor": tenor, "payout_currency": "JPY"},
        {"kind": "forward", "strike": 100.0, "tenor": tenor},
    ]


@pytest.mark.parametrize("tenor", ["1W", "1M", "3M", "6M", "1Y", "18M", "2Y"])
def test_resolved_strikes_have_the_requested_delta(client: TestClient, tenor: str) -> None:
    body = client.post("/v1/price", json={"scenario_set_id": SET_ID, "instruments": lines(tenor)})
    assert body.status_code == 200, body.text
    results = body.json()["results"]
    spot = body.json()["spot"]
    forward_line = results[-1]
    df_jpy = forward_line["price"] / (forward_line["forward"] - 100.0)
    df_usd = df_jpy * forward_line["forward"] / spot
    for line, requested in zip(results[:-1], (0.25, -0.25, 0.10, -0.125, None, -0.25), strict=True):
        assert line["delivery"] == forward_line["delivery"]
        t = (dt.date.fromisoformat(line["expiry"]) - TODAY).days / 365.0
        convention = line["strike_delta_convention"]
        expected = "premium_adjusted_spot" if t <= 1.1 else "premium_adjusted_forward"
        assert convention == expected, (tenor, line["strike_spec"])
        option = ql.Option.Call if line["kind"] in ("call", "digital_call") else ql.Option.Put
        calc = ql.BlackDeltaCalculator(
            option, CONVENTIONS[convention], spot, df_jpy, df_usd, line["strike_vol"] * math.sqrt(t)
        )
        if requested is None:
            atm = calc.atmStrike(ql.DeltaVolQuote.AtmDeltaNeutral)
            assert math.isclose(line["strike"], atm, rel_tol=1e-10)
        else:
            assert abs(calc.deltaFromStrike(line["strike"]) - requested) <= 1e-10


def test_a_desk_strike_prices_as_the_same_line_with_its_resolved_strike(
    client: TestClient,
) -> None:
    spec = {"kind": "put", "strike": "25D", "expiry": "2025-10-15", "notional": 1e6}
    first = client.post("/v1/price", json={"scenario_set_id": SET_ID, "instruments": [spec]})
    line = first.json()["results"][0]
    numeric = {**spec, "strike": line["strike"]}
    second = client.post("/v1/price", json={"scenario_set_id": SET_ID, "instruments": [numeric]})
    again = second.json()["results"][0]
    assert again["price"] == line["price"] and again["strike_spec"] is None
    assert line["strike_spec"] == "25D"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ({"kind": "call", "strike": "60D", "tenor": "3M"}, "between"),
        ({"kind": "call", "strike": "0D", "tenor": "3M"}, "between"),
        ({"kind": "call", "strike": "25", "tenor": "3M"}, "must be"),
        ({"kind": "call", "strike": True, "tenor": "3M"}, "must be"),
        ({"kind": "call", "strike": "x" * 17, "tenor": "3M"}, "16 characters"),
        ({"kind": "forward", "strike": "25D", "tenor": "3M"}, "forward"),
    ],
)
def test_bad_desk_strikes_are_refused_by_name(
    client: TestClient, line: dict[str, Any], reason: str
) -> None:
    book = [{"kind": "call", "strike": 150.0, "tenor": "1M"}, line]
    response = client.post("/v1/price", json={"scenario_set_id": SET_ID, "instruments": book})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["instruments[1].strike"]
    assert reason in errors[0]["reason"]
