"""Double barriers, double one-touches, KIKOs/KOKIs and USD-paying touches through
``POST /v1/price``.

Witnesses: QuantLib's engines on the built-in market's rates and vol to expiry for lines that
expire before the event (``AnalyticDoubleBarrierEngine``, ``AnalyticDoubleBarrierBinaryEngine``,
``AnalyticDigitalAmericanEngine`` / ``…KOEngine`` with ``AssetOrNothingPayoff``,
``AnalyticBarrierEngine``); identities on the same simulation after the event (Σ q·price_i =
price; DKO + DKI = the vanilla; DOT + DNT = the discounted cash); the rule each bad input
breaks, named by its field path in the Problem body; the cost model's structure.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import numpy as np
import pytest
import QuantLib as ql
from fastapi.testclient import TestClient

from pricing.quantlib_guard import quantlib_session, to_ql_date
from scenarios.catalog import builtin_entry
from service.cost import price_work
from service.schemas.price import PriceRequest
from tests.service.json_checks import finite_numbers

SET_ID = "us-japan-tariff-2025-07-09"  # valuation 2025-06-13, spot 144.1, event 2025-07-09
BEFORE = "2025-07-01"  # 18 days: before the event, closed forms
AFTER = "2025-09-12"

DKO = {
    "kind": "double_barrier",
    "option_type": "call",
    "barrier_type": "knock_out",
    "strike": 145.0,
    "lower_barrier": 138.0,
    "upper_barrier": 152.0,
}
DKI = {**DKO, "barrier_type": "knock_in"}
DOT_HIT = {
    "kind": "double_one_touch",
    "lower_barrier": 139.0,
    "upper_barrier": 149.0,
    "cash": 1.0,
    "pay_at_hit": True,
}
DOT_USD = {**DOT_HIT, "payout_currency": "USD", "pay_at_hit": False}
DNT_USD = {
    "kind": "double_no_touch",
    "lower_barrier": 139.0,
    "upper_barrier": 149.0,
    "cash": 1.0,
    "payout_currency": "USD",
}
OT_USD = {
    "kind": "one_touch",
    "direction": "up",
    "barrier": 148.0,
    "cash": 1.0,
    "pay_at_hit": True,
    "payout_currency": "USD",
}
NT_USD = {
    "kind": "no_touch",
    "direction": "down",
    "barrier": 140.0,
    "cash": 1.0,
    "payout_currency": "USD",
}
KIKO = {
    "kind": "kiko",
    "option_type": "put",
    "strike": 144.0,
    "knock_in_barrier": 141.0,
    "knock_out_barrier": 150.0,
}
KOKI = {**KIKO, "kind": "koki"}
LINES = [DKO, DKI, DOT_HIT, DOT_USD, DNT_USD, OT_USD, NT_USD, KIKO, KOKI]  # fmt: skip


def post(client: TestClient, instruments: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/price", json={"scenario_set_id": SET_ID, "instruments": instruments, **extra}
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert finite_numbers(data)
    return data


def _dated(lines: list[dict[str, Any]], expiry: str) -> list[dict[str, Any]]:
    return [
        {**line, "expiry": expiry, "notional": 1e6, "label": f"line {i}"}
        for i, line in enumerate(lines)
    ]


def test_each_new_kind_after_the_event_is_simulated_with_per_scenario_prices(
    client: TestClient,
) -> None:
    data = post(client, _dated(LINES, AFTER), paths={"n_paths": 8192, "seed": 5})
    rows, q = data["results"], list(data["measure"]["weights"].values())
    assert [r["kind"] for r in rows] == [line["kind"] for line in LINES]
    for row, line in zip(rows, LINES, strict=True):
        assert row["method"] == "monte_carlo" and row["after_event"] and row["seed"] == 5
        assert row["standard_error"] > 0 and row["price"] > 0
        recombined = math.fsum(
            w * p for w, p in zip(q, row["scenario_prices"].values(), strict=True)
        )
        assert recombined == pytest.approx(row["price"], rel=1e-12)
        assert row["value"] == pytest.approx(row["price"] * 1e6, rel=1e-15)
        assert row["currency"] == "JPY"
        touch = "cash" in line
        assert row["payout_currency"] == (line.get("payout_currency", "JPY") if touch else None)
    # DKO + DKI is the simulated vanilla: the closed-form mixture within 3 s.e.
    vanilla = post(client, [{"kind": "call", "strike": 145.0, "expiry": AFTER}])["results"][0]
    error = rows[0]["standard_error"] + rows[1]["standard_error"]  # ≥ the pair's own
    assert abs(rows[0]["price"] + rows[1]["price"] - vanilla["price"]) < 3.0 * error
    assert rows[8]["price"] >= rows[7]["price"]  # a KOKI survives what kills its KIKO
    # on the same paths (same seed, same grid), 1 USD paid at the hit of 148 is 148 JPY paid
    # then, plus what a jump through 148 at the event pays beyond it
    jpy = post(
        client,
        [{**OT_USD, "payout_currency": "JPY", "cash": 148.0, "expiry": AFTER}],
        paths={"n_paths": 8192, "seed": 5},
    )["results"][0]
    assert jpy["price"] <= rows[5]["price"] < 1.1 * jpy["price"]


def test_double_one_touch_plus_no_touch_after_the_event_is_the_discounted_cash(
    client: TestClient,
) -> None:
    corridor = {"lower_barrier": 139.0, "upper_barrier": 149.0, "cash": 2.0, "expiry": AFTER}
    lines = [{"kind": "double_one_touch", **corridor}, {"kind": "double_no_touch", **corridor}]
    rows = post(client, lines, paths={"n_paths": 4096, "seed": 1})["results"]
    market = builtin_entry(SET_ID).market
    t = 91 / 365  # 2025-06-13 to 2025-09-12, ACT/365F
    df = math.exp(-float(market.jpy_curve.zero_rates_at(np.array([t]))[0]) * t)
    # paid at expiry in both: every path pays the cash once, whatever it did
    assert rows[0]["price"] + rows[1]["price"] == pytest.approx(2.0 * df, rel=1e-12)


def _flat_process(t: float) -> tuple[ql.GarmanKohlagenProcess, float, float, float]:
    """The built-in market's JPY and USD zero rates and ATM vol to ``t``, flat."""
    market = builtin_entry(SET_ID).market
    r_d = float(market.jpy_curve.zero_rates_at(np.array([t]))[0])
    r_f = float(market.usd_curve.zero_rates_at(np.array([t]))[0])
    vol = math.sqrt(float(market.atm_vols.total_variance(np.array([t]))[0]) / t)
    today, day_count = to_ql_date(market.valuation_date), ql.Actual365Fixed()
    process = ql.GarmanKohlagenProcess(
        ql.QuoteHandle(ql.SimpleQuote(market.spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r_f, day_count)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r_d, day_count)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), vol, day_count)
        ),
    )
    return process, r_d, r_f, vol


def _ql_double_binary(process, kind, low, high, american: bool) -> float:
    today, expiry = to_ql_date(builtin_entry(SET_ID).market.valuation_date), ql.Date(1, 7, 2025)
    exercise = ql.AmericanExercise(today, expiry) if american else ql.EuropeanExercise(expiry)
    option = ql.DoubleBarrierOption(
        kind, low, high, 0.0, ql.CashOrNothingPayoff(ql.Option.Call, 0.0, 1.0), exercise
    )
    option.setPricingEngine(ql.AnalyticDoubleBarrierBinaryEngine(process))
    return option.NPV()


def test_before_the_event_the_new_kinds_are_quantlibs_closed_forms(client: TestClient) -> None:
    # the quoted ATM curve as the diffusion, so that QuantLib's flat process reads it as is
    rows = post(client, _dated(LINES, BEFORE), diffusion="quoted")["results"]
    methods = [r["method"] for r in rows]
    assert methods == ["closed_form"] * 8 + ["monte_carlo"]  # a KOKI is always simulated
    market = builtin_entry(SET_ID).market
    spot, t = market.spot, 18 / 365
    expected = []
    with quantlib_session(market.valuation_date):
        process, r_d, r_f, vol = _flat_process(t)
        today, expiry = to_ql_date(market.valuation_date), ql.Date(1, 7, 2025)
        for barrier_type in (ql.DoubleBarrier.KnockOut, ql.DoubleBarrier.KnockIn):
            option = ql.DoubleBarrierOption(
                barrier_type, 138.0, 152.0, 0.0, ql.PlainVanillaPayoff(ql.Option.Call, 145.0),
                ql.EuropeanExercise(expiry),
            )  # fmt: skip
            option.setPricingEngine(ql.AnalyticDoubleBarrierEngine(process, 20))
            expected.append(option.NPV())
        kiko = _ql_double_binary(process, ql.DoubleBarrier.KIKO, 139.0, 149.0, True)
        koki = _ql_double_binary(process, ql.DoubleBarrier.KOKI, 139.0, 149.0, True)
        expected.append(kiko + koki)
        # USD: the double no-touch under the USD numeraire (discount r_f, carry r_d − r_f + σ²)
        today_ = to_ql_date(market.valuation_date)
        dollar = ql.GarmanKohlagenProcess(
            ql.QuoteHandle(ql.SimpleQuote(spot)),
            ql.YieldTermStructureHandle(ql.FlatForward(today_, 2 * r_f - r_d - vol**2, ql.Actual365Fixed())),
            ql.YieldTermStructureHandle(ql.FlatForward(today_, r_f, ql.Actual365Fixed())),
            ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today_, ql.NullCalendar(), vol, ql.Actual365Fixed())),
        )  # fmt: skip
        usd_dnt = spot * _ql_double_binary(dollar, ql.DoubleBarrier.KnockOut, 139.0, 149.0, False)
        expected += [spot * math.exp(-r_f * t) - usd_dnt, usd_dnt]
        for payoff, at_expiry, engine in (
            (ql.AssetOrNothingPayoff(ql.Option.Call, 148.0), False, ql.AnalyticDigitalAmericanEngine),
            (ql.AssetOrNothingPayoff(ql.Option.Put, 140.0), True, ql.AnalyticDigitalAmericanKOEngine),
        ):  # fmt: skip
            touch = ql.VanillaOption(payoff, ql.AmericanExercise(today, expiry, at_expiry))
            touch.setPricingEngine(engine(process))
            expected.append(touch.NPV())
        # KIKO (knock-in below at 141, knock-out at 150) = up-and-out − double knock-out
        single = ql.BarrierOption(
            ql.Barrier.UpOut, 150.0, 0.0, ql.PlainVanillaPayoff(ql.Option.Put, 144.0),
            ql.EuropeanExercise(expiry),
        )  # fmt: skip
        single.setPricingEngine(ql.AnalyticBarrierEngine(process))
        double = ql.DoubleBarrierOption(
            ql.DoubleBarrier.KnockOut, 141.0, 150.0, 0.0, ql.PlainVanillaPayoff(ql.Option.Put, 144.0),
            ql.EuropeanExercise(expiry),
        )  # fmt: skip
        double.setPricingEngine(ql.AnalyticDoubleBarrierEngine(process, 20))
        expected.append(single.NPV() - double.NPV())
    prices = [r["price"] for r in rows[:8]]
    # QuantLib's double-binary series stop at a 1e-8 term (its at-hit one leaves ~1e-8)
    np.testing.assert_allclose(prices, expected, rtol=1e-7, atol=1e-7)
    for row in rows[:8]:
        assert set(row["scenario_prices"].values()) == {row["price"]}
        assert row["standard_error"] == 0.0 and row["monitoring"] == "continuous"
    koki = rows[8]
    assert not koki["after_event"] and koki["standard_error"] > 0
    assert set(koki["scenario_prices"].values()) == {koki["price"]}  # the scenarios do not matter


def _line(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    line = copy.deepcopy(base)
    line.update({"tenor": "3M", **changes})
    return {k: v for k, v in line.items() if v is not None}


GOOD = {"kind": "call", "strike": 150.0, "tenor": "1M"}
BAD = [
    ("lower above upper", _line(DKO, lower_barrier=153.0), "lower_barrier"),
    ("lower equals upper", _line(DOT_HIT, lower_barrier=149.0), "lower_barrier"),
    ("spot below the corridor", _line(DKO, lower_barrier=145.0, upper_barrier=150.0), "lower_barrier"),
    ("spot above the corridor", _line(DNT_USD, lower_barrier=130.0, upper_barrier=140.0), "upper_barrier"),
    ("zero lower barrier", _line(DKO, lower_barrier=0.0), "lower_barrier"),
    ("missing upper barrier", _line(DKO, upper_barrier=None), "upper_barrier"),
    ("zero strike", _line(DKI, strike=0.0), "strike"),
    ("strike beyond 1,000× spot", _line(DKO, strike=1e6), "strike"),
    ("unknown double barrier type", _line(DKO, barrier_type="up_and_out"), "barrier_type"),
    ("unknown option type", _line(DKO, option_type="straddle"), "option_type"),
    ("a rebate on a double barrier", _line(DKO, rebate=1.0), "rebate"),
    ("zero cash", _line(DOT_HIT, cash=0.0), "cash"),
    ("negative cash", _line(DOT_USD, cash=-1.0), "cash"),
    ("cash over 1e15", _line(OT_USD, cash=1e16), "cash"),
    ("unknown payout currency", _line(DOT_USD, payout_currency="EUR"), "payout_currency"),
    ("unknown touch payout currency", _line(OT_USD, payout_currency="usd"), "payout_currency"),
    ("payout currency not a string", _line(DNT_USD, payout_currency=1), "payout_currency"),
    ("no-touch paid at hit", _line(NT_USD, pay_at_hit=True), "pay_at_hit"),
    ("kiko barriers both below spot", _line(KIKO, knock_out_barrier=138.0), "knock_out_barrier"),
    ("koki barriers both above spot", _line(KOKI, knock_in_barrier=147.0), "knock_out_barrier"),
    ("knock-in at spot", _line(KIKO, knock_in_barrier=144.1), "knock_in_barrier"),
    ("knock-in negative", _line(KOKI, knock_in_barrier=-141.0), "knock_in_barrier"),
    ("knock-out at spot", _line(KIKO, knock_out_barrier=144.1), "knock_out_barrier"),
    ("knock-out below spot/1,000", _line(KIKO, knock_out_barrier=1e-300), "knock_out_barrier"),
    ("kiko without a strike", _line(KIKO, strike=None), "strike"),
    ("kiko with a barrier_type", _line(KIKO, barrier_type="knock_out"), "barrier_type"),
    ("expiry before valuation", _line(DOT_HIT, tenor=None, expiry="2025-06-01"), "expiry"),
    ("expiry and tenor", _line(KOKI, expiry="2025-09-12"), "expiry"),
    ("unknown tenor", _line(DKI, tenor="7Q"), "tenor"),
    ("zero notional", _line(DKO, notional=0.0), "notional"),
    ("unknown side", _line(KIKO, side="short"), "side"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "line", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_exotic_lines_get_a_problem_naming_the_field(
    client: TestClient, name: str, line: dict[str, Any], field: str
) -> None:
    response = client.post(
        "/v1/price", json={"scenario_set_id": SET_ID, "instruments": [GOOD, line]}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    fields = [e["field"] for e in response.json()["errors"]]
    assert f"instruments[1].{field}" in fields, response.json()


def test_an_unknown_exotic_kind_is_a_problem_naming_the_line(client: TestClient) -> None:
    response = client.post(
        "/v1/price", json={"scenario_set_id": SET_ID, "instruments": [_line(KIKO, kind="kiko2")]}
    )
    assert response.status_code == 422
    assert "instruments[0].kind" in [e["field"] for e in response.json()["errors"]]


def test_the_cost_counts_both_barriers_and_always_a_koki() -> None:
    def units(lines: list[dict[str, Any]], tenor: str) -> float:
        body = {
            "scenario_set_id": SET_ID,
            "instruments": [{**line, "tenor": tenor} for line in lines],
            "paths": {"n_paths": 100_000},
        }
        return price_work(PriceRequest.model_validate(body)).units

    single = units([OT_USD] * 10, "1Y")
    double = units([DKO] * 10, "1Y")
    kiko = units([KIKO] * 10, "1Y")
    assert single < double < kiko
    # expiring before the event: closed forms cost nothing to simulate, a KOKI does
    assert units([DKO, KIKO, DOT_HIT], "1W") < 1e3
    assert units([KOKI], "1W") > 5e3  # 10⁵ paths × 5 daily steps


# ---------------------------------------------------------------------------------------------
# never a 500: extreme numbers in every new line, and markets at the bounds validation allows

EXTREMES: list[Any] = [0, -1, 1e-308, 5e-324, 1e6, 1e15, 1e308, -1e308, 10**30, "x", None, True]


@pytest.fixture(scope="module")
def lenient() -> Any:
    from service.app import create_app
    from service.settings import Settings

    with TestClient(
        create_app(Settings(response_cache_bytes=0)), raise_server_exceptions=False
    ) as c:
        yield c


def _assert_named_4xx_or_finite(response: Any, where: str) -> None:
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    if response.status_code == 200:
        assert finite_numbers(response.json()), where
    else:
        assert response.headers["content-type"] == "application/problem+json", where
        assert response.json()["errors"][0]["field"], where


@pytest.mark.parametrize("expiry", [BEFORE, AFTER])
def test_extreme_numbers_in_each_new_line_get_a_named_4xx_or_finite_figures(
    lenient: TestClient, expiry: str
) -> None:
    for line in LINES:
        base = {**line, "expiry": expiry, "notional": 1e6}
        for field, value in itertools.product(
            [k for k, v in base.items() if isinstance(v, float)], EXTREMES
        ):
            body = {
                "scenario_set_id": SET_ID,
                "instruments": [{**base, field: value}],
                "paths": {"n_paths": 256, "seed": 1},
            }
            where = f"{line['kind']} {field} = {value!r}"
            _assert_named_4xx_or_finite(lenient.post("/v1/price", json=body), where)


@pytest.mark.parametrize(
    ("vol", "r_jpy", "r_usd"), list(itertools.product((1e-4, 5.0), (-0.2, 1.0), (-0.2, 1.0)))
)
def test_markets_at_the_validation_bounds_get_finite_figures_or_a_named_4xx(
    lenient: TestClient, vol: float, r_jpy: float, r_usd: float
) -> None:
    """Closed forms whose series would lose their digits (carry huge against vol) are
    flagged and left to the simulation, never returned as NaN or a 500."""
    market = {
        "valuation_date": "2025-06-13",
        "spot": 144.1,
        "usd_curve": [{"tenor": "1Y", "rate": r_usd}],
        "jpy_curve": [{"tenor": "1Y", "rate": r_jpy}],
        "atm_vols": [{"tenor": "1Y", "vol": vol}],
    }
    scenarios = [
        {"name": "up", "probability": 0.5, "level": 150.0, "vol": vol},
        {"name": "down", "probability": 0.5, "level": 138.0, "vol": vol},
    ]
    body = {
        "scenario_set": {"event_date": "2025-07-09", "scenarios": scenarios},
        "market": market,
        "instruments": _dated(LINES, BEFORE) + _dated(LINES, AFTER),
        "paths": {"n_paths": 512, "seed": 2},
    }
    _assert_named_4xx_or_finite(lenient.post("/v1/price", json=body), f"{vol} {r_jpy} {r_usd}")
