"""A desk's book in ``POST /v1/price``: long and short lines of every kind, the book's totals,
sub-totals by tag, and the position Greeks in desk units.

Witnesses: the lines themselves (a total is the ``math.fsum`` of its lines, in each currency,
converted by the rates the response states), the sign convention (a sold line is exactly minus
the bought one), a straddle bought and sold (its Greeks net to exactly zero), closed forms (an
outright forward's delta is notional × DF_USD; the forward to the event S0·exp((r_JPY − r_USD)t)
on flat continuously compounded curves), and central finite differences through the API of the
Greeks' definitions (gamma, vega, rho, ∂/∂q_i, ∂/∂L_i) and a one-day roll for theta.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

SET_ID = "us-japan-tariff-2025-07-09"

EVERY_KIND: list[dict[str, Any]] = [
    {"kind": "call", "strike": 150.0, "tenor": "3M", "notional": 1e6, "tags": {"desk": "g10"}},
    {"kind": "put", "strike": 140.0, "tenor": "6M", "notional": 2e6, "side": "sell",
     "tags": {"desk": "g10", "trader": "x"}},
    {"kind": "digital_call", "strike": 155.0, "tenor": "1M", "payout_currency": "JPY",
     "notional": 1e8, "side": "sell", "tags": {"desk": "exotics"}},
    {"kind": "digital_put", "strike": 138.0, "tenor": "3M", "payout_currency": "USD",
     "notional": 1e6, "tags": {"desk": "exotics"}},
    {"kind": "forward", "strike": 143.0, "tenor": "1Y", "notional": 5e6, "side": "sell"},
    {"kind": "barrier", "option_type": "call", "barrier_type": "up_and_out", "strike": 145.0,
     "barrier": 160.0, "tenor": "3M", "notional": 1e6, "side": "sell",
     "tags": {"desk": "exotics"}},
    {"kind": "one_touch", "direction": "down", "barrier": 135.0, "cash": 1.0, "tenor": "3M",
     "notional": 1e7, "tags": {"desk": "exotics"}},
    {"kind": "double_no_touch", "lower_barrier": 130.0, "upper_barrier": 165.0, "cash": 1.0,
     "tenor": "2M", "notional": 1e7, "side": "sell"},
    {"kind": "double_barrier", "option_type": "put", "barrier_type": "knock_out",
     "strike": 142.0, "lower_barrier": 128.0, "upper_barrier": 160.0, "tenor": "3M",
     "notional": 2e6, "tags": {"desk": "exotics"}},
    {"kind": "double_one_touch", "lower_barrier": 132.0, "upper_barrier": 158.0, "cash": 1.0,
     "payout_currency": "USD", "pay_at_hit": True, "tenor": "2M", "notional": 1e5,
     "side": "sell"},
    {"kind": "kiko", "option_type": "call", "strike": 146.0, "knock_in_barrier": 138.0,
     "knock_out_barrier": 162.0, "tenor": "3M", "notional": 1e6},
    {"kind": "one_touch", "direction": "up", "barrier": 150.0, "cash": 1.0,
     "payout_currency": "USD", "tenor": "1M", "notional": 1e5, "side": "sell"},
    {"kind": "cds", "entity": "nissan", "tenor": "5Y", "notional": 1e7, "side": "sell",
     "tags": {"desk": "credit"}},
    {"kind": "cds", "entity": "toyota", "tenor": "3Y", "notional": 5e6,
     "tags": {"desk": "credit"}},
]  # fmt: skip
PATHS = {"n_paths": 8192, "seed": 11}


def price(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/price", json={"scenario_set_id": SET_ID, **body})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def close(a: float, b: float, rel: float = 1e-12, abs_: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def test_totals_are_the_sum_of_the_lines_per_scenario_and_under_the_mixture(
    client: TestClient,
) -> None:
    body = price(client, instruments=EVERY_KIND, paths=PATHS)
    lines, totals, names = body["results"], body["totals"], body["scenario_pnl"]["scenarios"]
    currency = {"JPY": [], "USD": []}  # type: dict[str, list[int]]
    for j, line in enumerate(lines):
        currency[line["currency"]].append(j)
    assert totals["lines"] == len(EVERY_KIND)
    for ccy, rows in currency.items():
        assert close(totals["value_by_currency"][ccy], math.fsum(lines[j]["value"] for j in rows))
    matrix = body["scenario_pnl"]["values"]
    for i, name in enumerate(names):
        for ccy, rows in currency.items():
            expected = math.fsum(matrix[i][j] for j in rows)
            assert close(totals["scenario_values_by_currency"][ccy][name], expected)
    # converted totals tie out at the rates the response states
    rate = totals["mixture_rate"]
    by = totals["value_by_currency"]
    assert close(totals["value"], by["JPY"] + by["USD"] * rate)
    for name in names:
        jpy = totals["scenario_values_by_currency"]["JPY"][name]
        usd = totals["scenario_values_by_currency"]["USD"][name]
        converted = jpy + usd * totals["scenario_rates"][name]
        assert close(totals["scenario_values"][name], converted)
        assert close(totals["scenario_pnl"][name], converted - totals["value"])
        assert close(totals["dvalue_dq"][name], jpy + usd * rate)
    # the Greek totals: the FX European lines' position Greeks
    fx = [line for line in lines if "position" in line]
    assert totals["lines_with_greeks"] == len(fx) == 5
    for greek, total in totals["greeks"].items():
        assert close(total, math.fsum(line["position"][greek] for line in fx)), greek
    for name in names:
        expected = math.fsum(
            (1 if line["side"] == "buy" else -1) * line["notional"] * line["dprice_dlevel"][name]
            for line in fx
        )
        assert close(totals["dvalue_dlevel"][name], expected)


def test_reporting_in_usd_divides_by_the_same_rates(client: TestClient) -> None:
    jpy = price(client, instruments=EVERY_KIND, paths=PATHS)["totals"]
    usd = price(client, instruments=EVERY_KIND, paths=PATHS, reporting_currency="USD")["totals"]
    assert usd["reporting_currency"] == "USD" and usd["mixture_rate"] == jpy["mixture_rate"]
    assert close(usd["value"], jpy["value"] / jpy["mixture_rate"])
    for name, rate in jpy["scenario_rates"].items():
        assert close(usd["scenario_values"][name], jpy["scenario_values"][name] / rate)
        assert close(usd["dvalue_dq"][name], jpy["dvalue_dq"][name] / jpy["mixture_rate"])


def test_the_rates_are_the_forward_to_the_event_and_the_scenario_levels(
    client: TestClient,
) -> None:
    """Inline flat curves (continuously compounded zero rates, ACT/365F): F(T_e) =
    S0·exp((r_JPY − r_USD)·T_e); under the tilt each scenario converts at its own level."""
    market = {
        "valuation_date": "2025-06-13",
        "spot": 144.1,
        "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
        "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
        "atm_vols": [{"tenor": "1M", "vol": 0.115}, {"tenor": "1Y", "vol": 0.103}],
    }
    scenario_set = {
        "event_date": "2025-07-09",
        "scenarios": [
            {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09},
            {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13},
        ],
    }
    response = client.post(
        "/v1/price",
        json={
            "scenario_set": scenario_set,
            "market": market,
            "instruments": [{"kind": "call", "strike": 145.0, "tenor": "1M"}],
        },
    )
    totals = response.json()["totals"]
    t = (dt.date(2025, 7, 9) - dt.date(2025, 6, 13)).days / 365.0
    assert close(totals["mixture_rate"], 144.1 * math.exp((0.006 - 0.04) * t), rel=1e-12)
    assert totals["scenario_rates"] == pytest.approx({"deal": 156.0, "no_deal": 138.0}, 1e-14)


def flipped(line: dict[str, Any]) -> dict[str, Any]:
    return {**line, "side": "buy" if line.get("side", "buy") == "sell" else "sell"}


def test_a_sold_line_is_exactly_minus_the_bought_one(client: TestClient) -> None:
    bought = price(client, instruments=EVERY_KIND, paths=PATHS)
    sold = price(client, instruments=[flipped(x) for x in EVERY_KIND], paths=PATHS)
    for a, b in zip(bought["results"], sold["results"], strict=True):
        assert a["side"] != b["side"]
        assert a["price"] == b["price"]  # per unit: unsigned
        assert a["value"] == -b["value"]
        if "position" in a:
            assert a["greeks"] == b["greeks"]
            assert a["position"] == {k: -v for k, v in b["position"].items()}
    for key in ("values", "pnl"):
        for row_a, row_b in zip(
            bought["scenario_pnl"][key], sold["scenario_pnl"][key], strict=True
        ):
            assert row_a == [None if v is None else -v for v in row_b]
    assert bought["totals"]["value"] == -sold["totals"]["value"]
    assert bought["totals"]["greeks"] == {k: -v for k, v in sold["totals"]["greeks"].items()}


def test_a_straddle_bought_and_sold_nets_to_zero(client: TestClient) -> None:
    straddle = [
        {"kind": "call", "strike": 146.0, "tenor": "3M", "notional": 1e6},
        {"kind": "put", "strike": 146.0, "tenor": "3M", "notional": 1e6},
    ]
    book = straddle + [flipped(x) for x in straddle]
    totals = price(client, instruments=book)["totals"]
    assert totals["value"] == 0.0
    assert all(v == 0.0 for v in totals["greeks"].values())
    assert all(v == 0.0 for v in totals["scenario_pnl"].values())


def test_a_cds_price_is_the_buyers_and_its_value_carries_the_side(client: TestClient) -> None:
    buy = {"kind": "cds", "entity": "nissan", "tenor": "5Y", "notional": 1e7}
    body = price(client, instruments=[buy, {**buy, "side": "sell"}])
    bought, sold = body["results"]
    assert bought["price"] == sold["price"]
    assert sold["value"] == -bought["value"]
    assert close(bought["value"], bought["price"] * 1e7)
    assert sold["mixture"]["jump_to_default"] == -bought["mixture"]["jump_to_default"]


def test_groups_by_tag_partition_the_book(client: TestClient) -> None:
    body = price(client, instruments=EVERY_KIND, paths=PATHS, group_by=["desk", "trader"])
    groups, totals, lines = body["groups"], body["totals"], body["results"]
    desks = [g for g in groups if g["tag"] == "desk"]
    assert [g["value_of_tag"] for g in desks] == ["g10", "exotics", "credit", None]
    for ccy in ("JPY", "USD"):
        assert close(
            math.fsum(g["value_by_currency"][ccy] for g in desks), totals["value_by_currency"][ccy]
        )
    for g in desks:
        members = [x for x in lines if x["tags"].get("desk") == g["value_of_tag"]]
        assert g["lines"] == len(members)
        assert close(g["value"], totals["mixture_rate"] * math.fsum(
            x["value"] for x in members if x["currency"] == "USD"
        ) + math.fsum(x["value"] for x in members if x["currency"] == "JPY"))  # fmt: skip
    traders = [g for g in groups if g["tag"] == "trader"]
    assert [(g["value_of_tag"], g["lines"]) for g in traders] == [("x", 1), (None, 13)]
    assert price(client, instruments=EVERY_KIND, paths=PATHS, totals=False)["totals"] is None


# ---- desk units against closed forms and finite differences -------------------------------

# flat curves and a flat ATM vol: a shift of every pillar vol by h is a shift of the vol at
# every expiry by h (variance interpolation keeps a flat curve flat), and rolling the date
# moves no rate or vol under a line, so differences isolate each Greek's definition
MARKET = {
    "valuation_date": "2025-06-13",
    "spot": 144.1,
    "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
    "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
    "atm_vols": [{"tenor": "1M", "vol": 0.11}, {"tenor": "1Y", "vol": 0.11}],
}
SCENARIOS = {
    "event_date": "2025-09-09",
    "scenarios": [
        {"name": "deal", "probability": 0.55, "level": 156.0, "vol": 0.09},
        {"name": "no_deal", "probability": 0.45, "level": 136.0, "vol": 0.13},
    ],
}
LINES = [
    {"kind": "call", "strike": 146.0, "expiry": "2025-08-12", "notional": 3e6, "side": "sell"},
    {"kind": "put", "strike": 141.0, "expiry": "2025-12-10", "notional": 2e6},
    {"kind": "digital_call", "strike": 150.0, "expiry": "2025-11-12", "payout_currency": "JPY",
     "notional": 1e8},
]  # fmt: skip


def inline(
    client: TestClient, market: dict[str, Any], scenarios: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    response = client.post(
        "/v1/price",
        json={"market": market, "scenario_set": scenarios, "instruments": LINES, **extra},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def bumped(tree: dict[str, Any], edit: Any) -> dict[str, Any]:
    out = copy.deepcopy(tree)
    edit(out)
    return out


def test_an_outright_forwards_delta_is_notional_times_the_usd_discount_factor(
    client: TestClient,
) -> None:
    """price = (F − K)·DF_JPY and F = S0·DF_USD/DF_JPY, so ∂value/∂S0 = N·DF_USD."""
    line = {"kind": "forward", "strike": 140.0, "expiry": "2026-03-12", "notional": 4e6}
    body = client.post(
        "/v1/price",
        json={"market": MARKET, "scenario_set": SCENARIOS, "instruments": [line]},
    ).json()
    result = body["results"][0]
    df_jpy = result["price"] / (result["forward"] - 140.0)
    df_usd = df_jpy * result["forward"] / 144.1
    assert close(result["position"]["delta_usd"], 4e6 * df_usd, rel=1e-10)
    assert close(result["position"]["delta_jpy"], -4e6 * df_usd * 144.1, rel=1e-10)
    assert close(result["position"]["delta_pct"], 100.0 * df_usd, rel=1e-10)
    # premium-adjusted: ∂/∂S0 of the value counted in USD, V/S0: N·(DF_USD − price/S0)
    pa = df_usd - result["price"] / 144.1
    assert close(result["position"]["delta_premium_adjusted_usd"], 4e6 * pa, rel=1e-10)
    assert close(result["position"]["delta_premium_adjusted_pct"], 100.0 * pa, rel=1e-10)


def test_vega_per_vol_point_is_the_value_change_of_a_parallel_vol_shift(
    client: TestClient,
) -> None:
    h = 1e-4  # a hundredth of a vol point, every vol: market and scenarios

    def shift(sign: float) -> dict[str, Any]:
        market = bumped(
            MARKET, lambda m: [p.update(vol=p["vol"] + sign * h) for p in m["atm_vols"]]
        )
        scen = bumped(
            SCENARIOS, lambda s: [x.update(vol=x["vol"] + sign * h) for x in s["scenarios"]]
        )
        return inline(client, market, scen)

    base, up, down = inline(client, MARKET, SCENARIOS), shift(1.0), shift(-1.0)
    for j, line in enumerate(base["results"]):
        fd = (up["results"][j]["value"] - down["results"][j]["value"]) / (2 * h) * 0.01
        assert math.isclose(line["position"]["vega_jpy_per_vol_point"], fd, rel_tol=1e-5), j
    fd_total = (up["totals"]["value"] - down["totals"]["value"]) / (2 * h) * 0.01
    assert math.isclose(base["totals"]["greeks"]["vega_jpy_per_vol_point"], fd_total, rel_tol=1e-5)


def test_delta_and_gamma_per_big_figure_are_spot_differences_before_the_event(
    client: TestClient,
) -> None:
    """The first line expires before the event: the scenarios do not reach it, so a spot bump
    (levels fixed) is a pure spot move. Gamma: delta_usd change per 1.00 JPY."""
    h = 0.01

    def at(spot: float) -> dict[str, Any]:
        return inline(client, bumped(MARKET, lambda m: m.update(spot=spot)), SCENARIOS)

    base, up, down = at(144.1), at(144.1 + h), at(144.1 - h)
    line = base["results"][0]
    assert line["after_event"] is False
    fd_delta = (up["results"][0]["value"] - down["results"][0]["value"]) / (2 * h)
    assert math.isclose(line["position"]["delta_usd"], fd_delta, rel_tol=1e-6)
    fd_gamma = (
        up["results"][0]["position"]["delta_usd"] - down["results"][0]["position"]["delta_usd"]
    ) / (2 * h)
    assert math.isclose(line["position"]["gamma_usd_per_big_figure"], fd_gamma, rel_tol=1e-5)
    assert math.isclose(line["position"]["delta_jpy"], -fd_delta * 144.1, rel_tol=1e-6)


def test_rho_per_bp_is_the_value_change_of_a_one_bp_rate_shift(client: TestClient) -> None:
    h = 1e-5

    def shift(curve: str, sign: float) -> dict[str, Any]:
        market = bumped(MARKET, lambda m: m[curve][0].update(rate=m[curve][0]["rate"] + sign * h))
        return inline(client, market, SCENARIOS)

    base = inline(client, MARKET, SCENARIOS)
    for curve, greek in (("jpy_curve", "rho_jpy_per_bp"), ("usd_curve", "rho_usd_per_bp")):
        up, down = shift(curve, 1.0), shift(curve, -1.0)
        for j, line in enumerate(base["results"]):
            fd = (up["results"][j]["value"] - down["results"][j]["value"]) / (2 * h) * 1e-4
            assert math.isclose(line["position"][greek], fd, rel_tol=1e-5, abs_tol=1e-6), (greek, j)


def test_theta_per_day_is_the_value_change_of_a_one_day_roll(client: TestClient) -> None:
    """Theta is ∂value/∂t per calendar day: the central difference of a roll one day either
    way, (V(t+1d) − V(t−1d))/2, differs by O(θ''/365²) — inside 0.2% here, where a 360-day
    or a business-day count would be 1.4% or 40% off."""
    base = inline(client, MARKET, SCENARIOS)

    def on(date: str) -> dict[str, Any]:
        return inline(client, bumped(MARKET, lambda m: m.update(valuation_date=date)), SCENARIOS)

    later, earlier = on("2025-06-14"), on("2025-06-12")
    for j, line in enumerate(base["results"]):
        per_day = (later["results"][j]["value"] - earlier["results"][j]["value"]) / 2
        assert math.isclose(line["position"]["theta_jpy_per_day"], per_day, rel_tol=2e-3), j


def test_dvalue_dq_and_dvalue_dlevel_are_differences_of_the_book_value(client: TestClient) -> None:
    """Under measure 'none' q = p: moving probability h from no_deal to deal changes the value
    by h·(∂V/∂q_deal − ∂V/∂q_no_deal). Moving one level (tilt re-solved) gives ∂V/∂L_i."""
    h = 1e-5

    def probs(sign: float) -> dict[str, Any]:
        def edit(s: dict[str, Any]) -> None:
            s["scenarios"][0]["probability"] += sign * h
            s["scenarios"][1]["probability"] -= sign * h

        return inline(client, MARKET, bumped(SCENARIOS, edit), measure="none")

    base = inline(client, MARKET, SCENARIOS, measure="none")["totals"]
    fd = (probs(1.0)["totals"]["value"] - probs(-1.0)["totals"]["value"]) / (2 * h)
    dq = base["dvalue_dq"]
    assert math.isclose(fd, dq["deal"] - dq["no_deal"], rel_tol=1e-6)

    tilt = inline(client, MARKET, SCENARIOS)["totals"]
    for i, name in enumerate(("deal", "no_deal")):

        def level(sign: float, i: int = i, k: float = 1e-4) -> float:
            scen = bumped(
                SCENARIOS,
                lambda s: s["scenarios"][i].update(level=s["scenarios"][i]["level"] + sign * k),
            )
            return float(inline(client, MARKET, scen)["totals"]["value"])

        fd_level = (level(1.0) - level(-1.0)) / (2 * 1e-4)
        assert math.isclose(tilt["dvalue_dlevel"][name], fd_level, rel_tol=1e-5), name


def test_a_jpy_digitals_delta_percentage_is_of_its_notional_in_usd(client: TestClient) -> None:
    line = inline(client, MARKET, SCENARIOS)["results"][2]
    assert line["payout_currency"] == "JPY"
    usd_notional = line["notional"] / 144.1
    assert close(line["position"]["delta_pct"], 100 * line["position"]["delta_usd"] / usd_notional)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"side": "long"}, "instruments[0].side"),
        ({"side": 1}, "instruments[0].side"),
        ({"tags": {"desk name": "g10"}}, "instruments[0].tags"),
        ({"tags": {"desk": 7}}, "instruments[0].tags.desk"),
        ({"tags": {"desk": "x" * 101}}, "instruments[0].tags.desk"),
        ({"tags": {f"k{i}": "v" for i in range(17)}}, "instruments[0].tags"),
    ],
)
def test_bad_position_fields_are_refused_by_name(
    client: TestClient, edit: dict[str, Any], field: str
) -> None:
    for line in (EVERY_KIND[0], EVERY_KIND[6], EVERY_KIND[8]):
        response = client.post(
            "/v1/price", json={"scenario_set_id": SET_ID, "instruments": [{**line, **edit}]}
        )
        assert response.status_code == 422, response.text
        fields = [e["field"] for e in response.json()["errors"]]
        assert field in fields, fields  # exactly the field, not a prefix of it


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"reporting_currency": "EUR"}, "reporting_currency"),
        ({"group_by": ["bad key"]}, "group_by[0]"),
        ({"group_by": "desk"}, "group_by"),
        ({"totals": "yes"}, "totals"),
    ],
)
def test_bad_totals_fields_are_refused_by_name(
    client: TestClient, edit: dict[str, Any], field: str
) -> None:
    response = client.post(
        "/v1/price", json={"scenario_set_id": SET_ID, "instruments": EVERY_KIND[:1], **edit}
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_one_group_holding_every_fx_line_equals_the_book(client: TestClient) -> None:
    """An FX-only book's totals come from the compiled pass over its lines, its groups from the
    general per-column sums: the two must agree on a group that holds the whole book."""
    book = [{**x, "tags": {"desk": "g10"}} for x in LINES]
    body = client.post(
        "/v1/price",
        json={
            "market": MARKET,
            "scenario_set": SCENARIOS,
            "instruments": book,
            "group_by": ["desk"],
        },
    ).json()
    (group,) = body["groups"]
    totals = body["totals"]
    for key in ("value", "value_by_currency", "scenario_values", "scenario_pnl", "dvalue_dq"):
        assert group[key] == totals[key], key
    for name, v in totals["dvalue_dlevel"].items():
        assert close(group["dvalue_dlevel"][name], v, rel=1e-14)
    for greek, v in totals["greeks"].items():
        assert close(group["greeks"][greek], v, rel=1e-14), greek
    assert group["lines"] == group["lines_with_greeks"] == totals["lines_with_greeks"] == 3
