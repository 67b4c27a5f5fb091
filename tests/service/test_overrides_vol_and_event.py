"""The ``vol_bump``, ``event_date`` and ``event_delay_days`` overrides of every pricing request.

Witnesses: QuantLib's ``blackFormula`` (an option expiring before the decision, on a flat ATM
curve, is Black at the ATM vol: the scenarios do not reach it); the same request with the set
or market written out inline with every vol, or the event date, changed by hand (an override
is only a shorter way of sending the changed set and market, so both must price the same);
the definition of ``greeks.vega`` (∂price/∂σ for a parallel shift of every vol) as a central
difference of two bumps; Python's calendar arithmetic for the moved dates; and the rule each
refused override breaks, named in the problem body.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from typing import Any

import pytest
import QuantLib as ql
from fastapi.testclient import TestClient

SET = "us-japan-tariff-2025-07-09"
CONSISTENT = "us-japan-tariff-2025-07-09-consistent"  # post-event smiles given as dated quotes
TREE = "us-japan-tariff-2025-tree"
MARKET_ID = "usdjpy-2025-06-13"  # carries a surface (ATM, 25Δ RR and BF per tenor)
FLAT = {
    "valuation_date": "2025-06-13",
    "spot": 144.1,
    "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
    "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
    "atm_vols": [{"tenor": "1Y", "vol": 0.11}],
}
TWO = {
    "event_date": "2025-09-09",
    "scenarios": [
        {"name": "deal", "probability": 0.55, "level": 156.0, "vol": 0.09},
        {"name": "no_deal", "probability": 0.45, "level": 136.0, "vol": 0.13},
    ],
}
BEFORE = {"kind": "call", "strike": 146.0, "expiry": "2025-08-12"}  # expires before 09-09
AFTER = {"kind": "put", "strike": 141.0, "expiry": "2025-12-10"}
BOOK = [
    {"kind": "call", "strike": 150.0, "tenor": "1M"},  # 2025-07-14: after 07-09, before 08-08
    {"kind": "call", "strike": 150.0, "tenor": "3M"},
    {"kind": "put", "strike": 140.0, "tenor": "6M"},
]


def priced(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/price", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def refused(client: TestClient, **body: Any) -> str:
    """The field a 422 names."""
    response = client.post("/v1/price", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()["errors"][0]["field"]  # type: ignore[no-any-return]


def document(client: TestClient, kind: str, id: str) -> dict[str, Any]:
    """A built-in set or market as the inline ``scenario_set`` / ``market`` a request takes."""
    doc: dict[str, Any] = client.get(f"/v1/{kind}/{id}").json()["document"]
    dropped = ("id", "name", "description") if kind == "markets" else ("market_id", "credit_id")
    return {k: v for k, v in doc.items() if k not in dropped}


def prices(body: dict[str, Any]) -> list[float]:
    return [r["price"] for r in body["results"]]


def bumped_market(market: dict[str, Any], bump: float) -> dict[str, Any]:
    """Every ATM vol and every surface ATM quote + bump; RR and BF as they are."""
    out = copy.deepcopy(market)
    for pillar in out["atm_vols"]:
        pillar["vol"] += bump
    for quote in out.get("surface") or ():
        quote["atm"] += bump
    return out


def bumped_set(scenario_set: dict[str, Any], bump: float) -> dict[str, Any]:
    """Every scenario vol, scenario smile ATM quote and tree branch vol + bump."""
    out = copy.deepcopy(scenario_set)
    for s in out.get("scenarios") or ():
        s["vol"] += bump
        for quote in (s.get("smile") or {}).get("quotes") or ():
            quote["atm"] += bump
    for node in (out.get("tree") or {}).get("nodes", ()):
        for branch in node["branches"]:
            branch["vol"] += bump
    return out


def test_a_vol_bump_before_the_event_is_black_at_the_bumped_vol(client: TestClient) -> None:
    bump = 0.01
    body = priced(
        client, market=FLAT, scenario_set=TWO, instruments=[BEFORE], overrides={"vol_bump": bump}
    )
    result = body["results"][0]
    assert result["after_event"] is False
    # 2025-08-12 is a Tuesday: delivered T+2, Thursday 08-14 (no US or Japanese holiday)
    assert result["delivery"] == "2025-08-14"
    t, t_delivery = 60 / 365, 62 / 365  # vol time to the expiry; forward and DF to delivery
    forward = 144.1 * math.exp((0.006 - 0.04) * t_delivery)
    black = ql.blackFormula(
        ql.Option.Call, 146.0, forward, (0.11 + bump) * math.sqrt(t), math.exp(-0.006 * t_delivery)
    )
    assert result["price"] == pytest.approx(black, rel=1e-12)
    inline = priced(
        client, market=bumped_market(FLAT, bump), scenario_set=TWO, instruments=[BEFORE]
    )
    assert result["price"] == pytest.approx(inline["results"][0]["price"], rel=1e-15)
    assert body["sources"]["overrides"] == {
        "probabilities": {},
        "levels": {},
        "spot": None,
        "vol_bump": bump,
    }


@pytest.mark.parametrize("line", [BEFORE, AFTER], ids=["before_event", "after_event"])
def test_vega_is_the_central_difference_of_two_vol_bumps(
    client: TestClient, line: dict[str, Any]
) -> None:
    h = 1e-4  # vega is ∂price/∂σ for a parallel shift of every vol: what vol_bump does

    def price(bump: float | None) -> dict[str, Any]:
        overrides = {"vol_bump": bump} if bump is not None else None
        body = priced(
            client, market=FLAT, scenario_set=TWO, instruments=[line], overrides=overrides
        )
        return body["results"][0]  # type: ignore[no-any-return]

    base, up, down = price(None), price(h), price(-h)
    central = (up["price"] - down["price"]) / (2 * h)
    assert central == pytest.approx(base["greeks"]["vega"], rel=1e-6)


def test_a_vol_bump_after_the_event_is_every_vol_of_set_and_market_shifted_by_hand(
    client: TestClient,
) -> None:
    bump = 0.015
    overridden = priced(client, scenario_set_id=SET, instruments=BOOK, overrides={"vol_bump": bump})
    market = document(client, "markets", MARKET_ID)
    assert market["surface"], "the witness must cover the surface's ATM quotes"
    by_hand = priced(
        client,
        scenario_set=bumped_set(document(client, "scenario-sets", SET), bump),
        market=bumped_market(market, bump),
        instruments=BOOK,
    )
    assert prices(overridden) == pytest.approx(prices(by_hand), rel=1e-14)
    for got, want in zip(overridden["results"], by_hand["results"], strict=True):
        assert got["greeks"] == pytest.approx(want["greeks"], rel=1e-12)
    assert overridden["sources"]["overrides"]["vol_bump"] == bump
    plain = priced(client, scenario_set_id=SET, instruments=BOOK)
    assert all(a > b for a, b in zip(prices(overridden), prices(plain), strict=True))


@pytest.mark.parametrize("set_id", [CONSISTENT, TREE])
def test_a_vol_bump_moves_scenario_smiles_and_tree_branches_as_by_hand(
    client: TestClient, set_id: str
) -> None:
    bump = -0.005
    overridden = priced(
        client, scenario_set_id=set_id, instruments=BOOK, overrides={"vol_bump": bump}
    )
    by_hand = priced(
        client,
        scenario_set=bumped_set(document(client, "scenario-sets", set_id), bump),
        market=bumped_market(document(client, "markets", MARKET_ID), bump),
        instruments=BOOK,
    )
    assert prices(overridden) == pytest.approx(prices(by_hand), rel=1e-14)


def test_a_vol_bump_that_leaves_a_vol_at_or_below_zero_is_refused(client: TestClient) -> None:
    # the lowest vol is deal's 0.09: −0.09 leaves it at 0, −0.095 below
    for bump in (-0.09, -0.095):
        field = refused(
            client, market=FLAT, scenario_set=TWO, instruments=[AFTER],
            overrides={"vol_bump": bump},
        )  # fmt: skip
        assert field == "overrides.vol_bump"
    for bump in (-0.5, 1.0):  # outside (−0.5, 1.0)
        field = refused(client, scenario_set_id=SET, instruments=BOOK, overrides={"vol_bump": bump})
        assert field == "overrides.vol_bump"


def moved(date: str, days: int) -> str:
    return (dt.date.fromisoformat(date) + dt.timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    "overrides, event",
    [
        ({"event_delay_days": 30}, "2025-08-08"),
        ({"event_delay_days": -10}, "2025-06-29"),
        ({"event_date": "2025-09-01"}, "2025-09-01"),
    ],
)
def test_a_moved_event_is_the_set_with_its_event_date_changed_inline(
    client: TestClient, overrides: dict[str, Any], event: str
) -> None:
    overridden = priced(client, scenario_set_id=SET, instruments=BOOK, overrides=overrides)
    by_hand = priced(
        client,
        scenario_set=document(client, "scenario-sets", SET) | {"event_date": event},
        instruments=BOOK,
    )
    assert overridden["event_date"] == by_hand["event_date"] == event
    assert prices(overridden) == pytest.approx(prices(by_hand), rel=1e-14)
    for got, want in zip(overridden["results"], by_hand["results"], strict=True):
        assert got["after_event"] == want["after_event"]
        assert got["greeks"] == pytest.approx(want["greeks"], rel=1e-12)
    assert overridden["sources"]["overrides"] == {
        "probabilities": {},
        "levels": {},
        "spot": None,
        "event_date": ["2025-07-09", event],
    }
    if "event_delay_days" in overrides:  # Python's calendar: 07-09 + 30 days is 08-08
        assert event == moved("2025-07-09", overrides["event_delay_days"])


def test_a_moved_event_redates_a_scenario_smiles_tenors(client: TestClient) -> None:
    """A smile's tenors count from the event date: moved with it, as an inline set reads them."""
    smile = {
        "quotes": [
            {"tenor": "1M", "atm": 0.10, "rr25": -0.01, "bf25": 0.003},
            {"tenor": "6M", "atm": 0.095, "rr25": -0.015, "bf25": 0.004},
        ]
    }
    scenarios = copy.deepcopy(TWO)
    scenarios["scenarios"][0]["smile"] = smile
    overridden = priced(
        client, market=FLAT, scenario_set=scenarios, instruments=[AFTER],
        overrides={"event_delay_days": 20},
    )  # fmt: skip
    by_hand = priced(
        client,
        market=FLAT,
        scenario_set=scenarios | {"event_date": moved(TWO["event_date"], 20)},
        instruments=[AFTER],
    )
    assert prices(overridden) == pytest.approx(prices(by_hand), rel=1e-14)
    unmoved = priced(client, market=FLAT, scenario_set=scenarios, instruments=[AFTER])
    assert prices(unmoved) != pytest.approx(prices(overridden), rel=1e-9)


@pytest.mark.parametrize(
    "overrides, days",
    [({"event_delay_days": 14}, 14), ({"event_date": "2025-07-01"}, -8)],
)
def test_a_moved_event_on_a_tree_moves_every_node_by_the_roots_days(
    client: TestClient, overrides: dict[str, Any], days: int
) -> None:
    tree = document(client, "scenario-sets", TREE)
    by_hand = copy.deepcopy(tree)
    for node in by_hand["tree"]["nodes"]:
        node["date"] = moved(node["date"], days)
    by_hand["event_date"] = moved(tree["event_date"], days)
    overridden = priced(client, scenario_set_id=TREE, instruments=BOOK, overrides=overrides)
    inline = priced(client, scenario_set=by_hand, instruments=BOOK)
    assert prices(overridden) == pytest.approx(prices(inline), rel=1e-14)
    assert overridden["sources"]["overrides"]["event_date"] == [
        tree["event_date"],
        by_hand["event_date"],
    ]


def test_an_event_moved_to_or_before_the_valuation_date_is_refused(client: TestClient) -> None:
    def field(overrides: dict[str, Any], set_id: str = SET) -> str:
        return refused(client, scenario_set_id=set_id, instruments=BOOK, overrides=overrides)

    # the market's valuation date is 2025-06-13, 26 days before the 07-09 event
    assert field({"event_delay_days": -26}) == "overrides.event_delay_days"
    assert field({"event_delay_days": -40}) == "overrides.event_delay_days"
    assert field({"event_date": "2025-06-13"}) == "overrides.event_date"
    assert field({"event_date": "2025-06-13"}, TREE) == "overrides.event_date"
    assert field({"event_delay_days": 30 * 366}) == "overrides.event_delay_days"  # > 30 years
    both = {"event_date": "2025-08-01", "event_delay_days": 5}
    assert field(both) == "overrides.event_delay_days"
    assert field({"event_delay_days": 1.5}) == "overrides.event_delay_days"
    # a dated smile quote (the consistent set's first, 2025-07-15) must expire after the event
    assert field({"event_delay_days": 10}, CONSISTENT) == "overrides.event_delay_days"


def test_the_other_overrides_read_as_before_and_leave_no_context_behind(
    client: TestClient,
) -> None:
    body = priced(
        client, scenario_set_id=SET, instruments=BOOK,
        overrides={"probabilities": {"no_deal": 0.35}},
    )  # fmt: skip
    assert body["sources"]["overrides"].keys() == {"probabilities", "levels", "spot"}
    plain = priced(client, scenario_set_id=SET, instruments=BOOK)
    priced(client, scenario_set_id=SET, instruments=BOOK, overrides={"vol_bump": 0.02})
    priced(client, scenario_set_id=SET, instruments=BOOK, overrides={"event_delay_days": 3})
    again = priced(client, scenario_set_id=SET, instruments=BOOK)
    assert again == plain and again["sources"]["overrides"] is None
