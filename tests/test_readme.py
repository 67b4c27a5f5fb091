"""The README's curl example: what it shows holds by outside identities, and is current.

1. Structure: every field the README's output block shows is in the live answer, at the same
   place, of the same JSON type.
2. Identities of the figures it shows (each against a witness outside the service's output):
   the weights are a probability vector that makes the mixture forward the market's
   (Σq·J = 1 + forward_mismatch; Σp·J − 1 the subjective mismatch), with J = L/S0 from the
   stored set; the tilt is q ∝ p·J^λ at the λ shown; the price is Σq × the scenario prices;
   the value is notional × price; the premium-adjusted delta is Δ − price/S (the premium in
   USD taken out); the forward is the curves' (QuantLib's discount curve on the stored
   market); QuantLib's Black formula at the shown implied vol gives the shown price; the
   expiry and delivery follow the USD/JPY date rules on QuantLib's Tokyo and New York
   calendars; ``after_event`` says expiry > event date.
3. Current: the figures shown are the live answer's (1e-12). This is a check of the document,
   not a witness of any figure: each field has its own outside witness elsewhere
   (tests/service/test_figures_witnessed.py: scenario prices, dprice_dlevel, both deltas;
   tests/service/test_price_api.py: forward, parity, the one-scenario Black limit;
   tests/pricing/: the Greeks against QuantLib and finite differences).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import QuantLib as ql
from fastapi.testclient import TestClient

from tests.service import curves

README = Path(__file__).resolve().parents[1] / "README.md"
TOKYO = ql.Japan()
JOINT = ql.JointCalendar(TOKYO, ql.UnitedStates(ql.UnitedStates.Settlement), ql.JoinHolidays)


def _example() -> tuple[dict[str, Any], dict[str, Any]]:
    text = README.read_text()
    request = re.search(r"curl -s -X POST localhost:8000/v1/price .*?-d '(\{.*?\})'", text, re.S)
    shown = re.search(r"```json\n(\{.*?\})\n```", text, re.S)
    assert request and shown, "the README's curl example or its output block is missing"
    return json.loads(request.group(1)), json.loads(shown.group(1))


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value) if value is None else "bool"
    return "number" if isinstance(value, int | float) else type(value).__name__


def _structure(shown: Any, live: Any, path: str) -> None:
    assert _kind(shown) == _kind(live), (path, shown, live)
    if isinstance(shown, dict):
        for key, value in shown.items():
            assert key in live, f"{path}.{key} is in the README but not in the answer"
            _structure(value, live[key], f"{path}.{key}")
    elif isinstance(shown, list):
        assert len(shown) == len(live), path
        for i, (a, b) in enumerate(zip(shown, live, strict=True)):
            _structure(a, b, f"{path}[{i}]")


def _same(shown: Any, live: Any, path: str) -> None:
    if isinstance(shown, dict):
        for key, value in shown.items():
            _same(value, live[key], f"{path}.{key}")
    elif isinstance(shown, list):
        for i, (a, b) in enumerate(zip(shown, live, strict=True)):
            _same(a, b, f"{path}[{i}]")
    elif isinstance(shown, float):
        assert math.isclose(shown, live, rel_tol=1e-12, abs_tol=1e-15), (path, shown, live)
    else:
        assert shown == live, (path, shown, live)


def _ql(date: dt.date) -> ql.Date:
    return ql.Date(date.day, date.month, date.year)


def _py(date: ql.Date) -> dt.date:
    return dt.date(date.year(), date.month(), date.dayOfMonth())


def _spot_of(date: ql.Date) -> ql.Date:
    """USD/JPY T+2: the first day a Tokyo business day, the spot date a joint one."""
    return JOINT.adjust(TOKYO.advance(TOKYO.advance(date, 1, ql.Days), 1, ql.Days), ql.Following)


def test_readme_example_has_the_structure_of_the_answer(client: TestClient) -> None:
    request, shown = _example()
    response = client.post("/v1/price", json=request)
    assert response.status_code == 200, response.text
    _structure(shown, response.json(), "$")


def test_readme_example_holds_its_identities(client: TestClient) -> None:
    request, shown = _example()
    measure = shown["measure"]
    p, q, jumps = measure["probabilities"], measure["weights"], measure["jump_ratios"]
    stored = client.get(f"/v1/scenario-sets/{shown['scenario_set_id']}").json()["document"]
    market = client.get(f"/v1/markets/{stored['market_id']}").json()["document"]
    assert shown["spot"] == market["spot"] and shown["valuation_date"] == market["valuation_date"]
    assert shown["event_date"] == stored["event_date"]
    levels = {s["name"]: s["level"] for s in stored["scenarios"]}
    assert p == {s["name"]: s["probability"] for s in stored["scenarios"]}
    for name, j in jumps.items():
        assert j == pytest.approx(levels[name] / shown["spot"], rel=1e-15)
    assert math.fsum(q.values()) == pytest.approx(1.0, abs=1e-15)
    assert all(w >= 0 for w in q.values())
    mixture_jump = math.fsum(q[n] * jumps[n] for n in q)
    assert mixture_jump - 1.0 == pytest.approx(measure["forward_mismatch"], abs=1e-14)
    subjective = math.fsum(p[n] * jumps[n] for n in p) - 1.0
    assert subjective == pytest.approx(measure["subjective_forward_mismatch"], abs=1e-14)
    assert measure["measure"] == "tilt"  # exponential tilting: q ∝ p·J^λ
    tilted = {n: p[n] * jumps[n] ** measure["tilt_lambda"] for n in p}
    total = math.fsum(tilted.values())
    for name in q:
        assert q[name] == pytest.approx(tilted[name] / total, rel=1e-12)

    (line,) = request["instruments"]
    (result,) = shown["results"]
    assert math.fsum(q[n] * result["scenario_prices"][n] for n in q) == pytest.approx(
        result["price"], rel=1e-12
    )
    assert result["value"] == pytest.approx(result["notional"] * result["price"], rel=1e-15)
    greeks = result["greeks"]
    assert greeks["delta_premium_adjusted"] == pytest.approx(
        greeks["delta"] - result["price"] / shown["spot"], rel=1e-12
    )
    # dates: delivery = spot date + 3M (modified following, end of month, joint calendar);
    # expiry = the joint business day whose spot date is that delivery
    valuation = dt.date.fromisoformat(shown["valuation_date"])
    assert line["tenor"] == result["tenor"] == "3M"
    delivery = JOINT.advance(_spot_of(_ql(valuation)), ql.Period(3, ql.Months),
                             ql.ModifiedFollowing, True)  # fmt: skip
    assert result["delivery"] == _py(delivery).isoformat()
    expiry = dt.date.fromisoformat(result["expiry"])
    assert JOINT.isBusinessDay(_ql(expiry)) and _spot_of(_ql(expiry)) == delivery
    assert _spot_of(JOINT.advance(_ql(expiry), 1, ql.Days)) > delivery  # the last such day
    assert result["after_event"] == (expiry > dt.date.fromisoformat(shown["event_date"]))
    # the forward from the curves, and Black at the implied vol gives back the price
    forward, jpy_df = curves.forward(market, dt.date.fromisoformat(result["delivery"]))
    assert result["forward"] == pytest.approx(forward, rel=1e-12)
    t = (expiry - valuation).days / 365.0
    black = ql.blackFormula(ql.Option.Call, line["strike"], forward,
                            result["implied_vol"] * math.sqrt(t), jpy_df)  # fmt: skip
    assert black == pytest.approx(result["price"], rel=1e-10)
    assert result["implied_vol_status"] == "converged"


def test_readme_example_is_the_current_answer(client: TestClient) -> None:
    request, shown = _example()
    _same(shown, client.post("/v1/price", json=request).json(), "$")
