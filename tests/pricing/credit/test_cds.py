"""ISDA standard-model CDS: bootstrap and pricing against outside witnesses.

Witnesses: the ISDA CDS Standard Model's figures as QuantLib's test suite reproduces them
(tests/reference/isda_cds_cases.py: upfronts, NPVs with and without the accrual rebate,
accrued premium); QuantLib computed here — ``IsdaCdsEngine`` on the same hazard and discount
curves, and ``PiecewiseFlatHazardRate`` bootstrapped from ``SpreadCdsHelper``s with the ISDA
model; identities — a contract at its own par spread has NPV 0, re-bootstrapping the model's
par spreads returns the curve, one-hot mixtures return their component.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import tomllib
from pathlib import Path

import numpy as np
import pytest
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.credit import cds
from pricing.quantlib_guard import quantlib_session, to_ql_date
from tests.reference import isda_cds_cases as ref

T0 = dt.date(2025, 6, 13)
USD_TIMES, USD_ZEROS = np.array([1, 365, 730]) / 365.0, np.array([0.043, 0.040, 0.038])
IG = np.array([15, 18, 24, 31, 38, 45, 54, 62]) * 1e-4
HY = np.array([300, 320, 350, 370, 388, 400, 405, 410]) * 1e-4
INVERTED = np.array([900, 850, 780, 720, 680, 650, 620, 600]) * 1e-4
DATA = Path(__file__).resolve().parents[3] / "scenarios" / "data" / "credit_2025.toml"


def schedule_for(valuation_date: dt.date, tenors=cds.STANDARD_TENORS) -> cds.CdsSchedule:
    maturities = cds.standard_maturities(valuation_date=valuation_date, tenors=tenors)
    return cds.cds_schedule(valuation_date=valuation_date, maturities=maturities)


def bootstrap(schedule, spreads, recoveries=0.4, times=USD_TIMES, zeros=USD_ZEROS):
    return cds.bootstrap_hazard_curves(
        schedule=schedule, par_spreads=spreads, recoveries=recoveries,
        discount_pillar_times=times, discount_zero_rates=zeros,
    )  # fmt: skip


def ql_isda_yield_curve(trade, deposits, swaps, ibor_months, frequency, currency):
    """The ISDA yield curve of QuantLib's test suite (deposits + swaps, log-linear DF)."""
    cal, a360 = ql.WeekendsOnly(), ql.Actual360()
    helpers = [ql.DepositRateHelper(q, ql.Period(m, ql.Months), 2, cal, ql.ModifiedFollowing,
                                    False, a360) for m, q in deposits]  # fmt: skip
    ibor = ql.IborIndex("IsdaIbor", ql.Period(ibor_months, ql.Months), 2, currency, cal,
                        ql.ModifiedFollowing, False, a360)  # fmt: skip
    helpers += [ql.SwapRateHelper(q, ql.Period(y, ql.Years), cal, frequency, ql.ModifiedFollowing,
                                  ql.Thirty360(ql.Thirty360.BondBasis), ibor) for y, q in swaps]  # fmt: skip
    curve = ql.PiecewiseLogLinearDiscount(0, cal, helpers, ql.Actual365Fixed())
    curve.enableExtrapolation()
    days = np.array([d - to_ql_date(trade) for d, _ in curve.nodes()[1:]], dtype=float)
    dfs = np.array([df for _, df in curve.nodes()[1:]])
    return curve, days / 365.0, -np.log(dfs) / (days / 365.0)


def quantlib_hazard_nodes(today: ql.Date, spreads: np.ndarray, disc: object) -> list:
    """QuantLib's ISDA bootstrap (``SpreadCdsHelper`` at the standard tenors, recovery 0.4,
    ``PiecewiseFlatHazardRate``): its (date, hazard) nodes after today. Call under a
    quantlib_session; the curve and helpers are dropped before it ends (relative-date helpers
    would recompute when the evaluation date is restored)."""
    helpers = [
        ql.SpreadCdsHelper(float(s), ql.Period(t), 1, ql.WeekendsOnly(), ql.Quarterly,
                           ql.Following, ql.DateGeneration.CDS2015, ql.Actual360(), 0.4, disc,
                           True, True, ql.Date(), ql.Actual360(True), True,
                           ql.CreditDefaultSwap.ISDA, today)
        for s, t in zip(spreads, cds.STANDARD_TENORS, strict=True)
    ]  # fmt: skip
    curve = ql.PiecewiseFlatHazardRate(today, helpers, ql.Actual365Fixed())
    nodes = list(curve.nodes()[1:])
    del curve, helpers
    return nodes


def ql_handles(curves: cds.HazardCurves, k: int, times=USD_TIMES, zeros=USD_ZEROS):
    """QuantLib discount and hazard curves holding exactly our pillars (curve index k)."""
    today = to_ql_date(curves.valuation_date)
    disc = ql.DiscountCurve([today] + [today + round(t * 365) for t in times],
                            [1.0, *np.exp(-zeros * times)], ql.Actual365Fixed())  # fmt: skip
    hazards = curves.hazard_rates.reshape(-1, len(curves.pillar_days))[k]
    dates = [today] + [today + int(d) for d in curves.pillar_days]
    haz = ql.HazardRateCurve(dates, [hazards[0], *hazards], ql.Actual365Fixed())
    disc.enableExtrapolation()
    haz.enableExtrapolation()
    return ql.YieldTermStructureHandle(disc), ql.DefaultProbabilityTermStructureHandle(haz)


def ql_contract(maturity: dt.date, coupon: float, engine, trade: dt.date):
    return ql.MakeCreditDefaultSwap(
        to_ql_date(maturity), coupon, tradeDate=to_ql_date(trade), pricingEngine=engine,
        dateGenerationRule=ql.DateGeneration.CDS2015,
    )  # fmt: skip


def close(actual: float, expected: float, rel: float) -> bool:
    """Boost's CHECK_CLOSE (strong): relative to both values."""
    return abs(actual - expected) <= rel * min(abs(actual), abs(expected))


# --- ISDA Standard Model figures (QuantLib test-suite/creditdefaultswap.cpp) ---------------


@pytest.fixture(scope="module")
def usd_2009():
    with quantlib_session(ref.USD_2009_TRADE_DATE):
        curve, times, zeros = ql_isda_yield_curve(
            ref.USD_2009_TRADE_DATE, ref.USD_2009_DEPOSITS, ref.USD_2009_SWAPS, 3,
            ql.Semiannual, ql.USDCurrency(),
        )  # fmt: skip
        del curve  # relative-date helpers must not outlive the session's date
    return times, zeros


@pytest.mark.parametrize(("term", "spread", "recovery", "markit"), ref.USD_2009_UPFRONTS)
def test_upfront_matches_isda_standard_model_per_quantlib_test_isda_engine(
    usd_2009, term, spread, recovery, markit
):
    """testIsdaEngine: conventional quote → flat curve → 100bp contract's upfront on 10mm."""
    times, zeros = usd_2009
    schedule = cds.cds_schedule(valuation_date=ref.USD_2009_TRADE_DATE, maturities=(term,))
    curves = bootstrap(schedule, [spread], recovery, times, zeros)
    prices = cds.price_cds(curves=curves, schedule=schedule, coupons=ref.USD_2009_COUPON)
    upfront = prices.clean_upfronts[0] * ref.USD_2009_NOTIONAL
    assert close(upfront, markit, ref.USD_2009_RELATIVE_TOLERANCE), (upfront, markit)


def test_eur_2021_npv_accrual_and_dirty_value_match_isda_standard_model():
    """testIsdaCalculatorReconcileSingleQuote (+ ...WithIssueDateInThePast), negative rates."""
    trade = ref.EUR_2021_TRADE_DATE
    with quantlib_session(trade):
        curve, times, zeros = ql_isda_yield_curve(
            trade, ref.EUR_2021_DEPOSITS, ref.EUR_2021_SWAPS, 6, ql.Annual, ql.EURCurrency()
        )
        schedule = cds.cds_schedule(valuation_date=trade, maturities=(ref.EUR_2021_MATURITY,))
        settle_df = curve.discount(to_ql_date(trade) + schedule.cash_settlement_day)
        del curve
    curves = bootstrap(schedule, [ref.EUR_2021_SPREAD], ref.EUR_2021_RECOVERY, times, zeros)
    prices = cds.price_cds(curves=curves, schedule=schedule, coupons=ref.EUR_2021_COUPON)
    n, tol = ref.EUR_2021_NOTIONAL, ref.EUR_2021_RELATIVE_TOLERANCE
    assert close(prices.clean_upfronts[0] * settle_df * n, ref.EUR_2021_NPV_WITH_REBATE, tol)
    assert close(prices.dirty_upfronts[0] * settle_df * n, ref.EUR_2021_NPV_WITHOUT_REBATE, tol)
    assert close(prices.accrued[0] * n, ref.EUR_2021_ACCRUAL, tol)


@pytest.mark.parametrize(("trade", "accrual"), ref.ACCRUALS)
def test_accrued_at_step_in_matches_isda_model_website(trade, accrual):
    """testAccrualRebateAmounts: ACT/360 from the accrual start to the step-in date."""
    schedule = cds.cds_schedule(valuation_date=trade, maturities=(ref.ACCRUAL_MATURITY,))
    accrued = schedule.accrual_fractions[0] * ref.ACCRUAL_COUPON * ref.ACCRUAL_NOTIONAL
    assert abs(accrued - accrual) <= ref.ACCRUAL_ABSOLUTE_TOLERANCE


# --- QuantLib computed here -----------------------------------------------------------------

NEGATIVE_TIMES, NEGATIVE_ZEROS = (
    np.array([30, 365, 1825]) / 365.0,
    np.array([-0.006, -0.004, 0.001]),
)


@pytest.mark.parametrize(
    "valuation_date",
    [T0, dt.date(2025, 6, 19), dt.date(2025, 6, 20), dt.date(2025, 3, 19), dt.date(2025, 9, 19),
     dt.date(2025, 12, 19), dt.date(2025, 12, 22), dt.date(2024, 2, 29)],
)  # fmt: skip
@pytest.mark.parametrize("rates", ["usd", "negative"])
def test_legs_match_quantlib_isda_cds_engine(valuation_date, rates):
    """Same hazard and discount curves in QuantLib: every figure to 1e-12 per unit notional."""
    times, zeros = (USD_TIMES, USD_ZEROS) if rates == "usd" else (NEGATIVE_TIMES, NEGATIVE_ZEROS)
    schedule = schedule_for(valuation_date)
    rng = np.random.default_rng(7)
    hazards = np.exp(rng.uniform(np.log(1e-4), np.log(0.6), size=(3, 8)))
    curves = bootstrap(schedule, np.full((3, 8), 0.01), 0.4, times, zeros)
    curves = cds.HazardCurves(**{**vars(curves), "hazard_rates": hazards})
    coupons = np.array([[0.01], [0.05], [0.01]])
    prices = cds.price_cds(curves=curves, schedule=schedule, coupons=coupons)
    with quantlib_session(valuation_date):
        for k in range(3):
            disc, haz = ql_handles(curves, k, times, zeros)
            engine = ql.IsdaCdsEngine(haz, 0.4, disc)
            for i, maturity in enumerate(schedule.maturities):
                c = ql_contract(maturity, float(coupons[k, 0]), engine, valuation_date)
                assert c.fairSpread() == pytest.approx(prices.par_spreads[k, i], abs=1e-12)
                assert c.fairUpfront() == pytest.approx(prices.clean_upfronts[k, i], abs=1e-12)
                assert c.accrualRebate().amount() == pytest.approx(prices.accrued[k, i], abs=1e-15)
                assert c.defaultLegNPV() == pytest.approx(prices.protection_legs[k, i], abs=1e-12)
                rpv01 = (-c.couponLegNPV() - c.accrualRebateNPV()) / coupons[k, 0] * 1e-4
                assert rpv01 == pytest.approx(prices.risky_pv01s[k, i], abs=1e-14)


@pytest.mark.parametrize("spreads", [IG, HY, INVERTED], ids=["ig", "hy", "inverted"])
@pytest.mark.parametrize("valuation_date", [T0, dt.date(2025, 9, 19)])
def test_bootstrap_matches_quantlib_spread_cds_helpers(spreads, valuation_date):
    """PiecewiseFlatHazardRate on ISDA SpreadCdsHelpers (step-in T+1, trade date T)."""
    schedule = schedule_for(valuation_date)
    curves = bootstrap(schedule, spreads)
    assert curves.converged.all() and curves.arbitrage_free.all()
    with quantlib_session(valuation_date):
        today = to_ql_date(valuation_date)
        disc, _ = ql_handles(curves, 0)
        nodes = quantlib_hazard_nodes(today, spreads, disc)
    assert [d - today for d, _ in nodes] == list(curves.pillar_days)
    np.testing.assert_allclose(curves.hazard_rates, [h for _, h in nodes], rtol=1e-9)


def test_contract_at_its_par_spread_has_zero_npv_in_quantlib():
    """Contracts struck at the quotes, priced by IsdaCdsEngine on our curve: NPV < 1e-9."""
    schedule = schedule_for(T0)
    spreads = np.stack([IG, HY, INVERTED])
    curves = bootstrap(schedule, spreads)
    ours = cds.price_cds(curves=curves, schedule=schedule, coupons=spreads)
    assert np.all(np.abs(ours.clean_upfronts) < 1e-9)
    with quantlib_session(T0):
        for k in range(3):
            disc, haz = ql_handles(curves, k)
            engine = ql.IsdaCdsEngine(haz, 0.4, disc)
            for i, maturity in enumerate(schedule.maturities):
                npv = ql_contract(maturity, float(spreads[k, i]), engine, T0).NPV()
                assert abs(npv) < 1e-9


# --- identities ----------------------------------------------------------------------------


@settings(max_examples=25)
@given(
    hazards=st.lists(st.floats(1e-4, 1.0), min_size=8, max_size=8),
    recovery=st.floats(0.0, 0.9),
)
def test_rebootstrapping_the_model_par_spreads_reproduces_the_curve(hazards, recovery):
    schedule = schedule_for(T0)
    curves = bootstrap(schedule, np.full(8, 0.01), recovery)
    curves = cds.HazardCurves(**{**vars(curves), "hazard_rates": np.array(hazards)})
    model = cds.price_cds(curves=curves, schedule=schedule, coupons=0.01).par_spreads
    again = bootstrap(schedule, model, recovery)
    assert again.converged.all() and again.arbitrage_free.all()
    # atol: a hazard rate after near-certain default barely moves any price
    np.testing.assert_allclose(again.hazard_rates, hazards, rtol=1e-10, atol=1e-12)
    reprice = cds.price_cds(curves=again, schedule=schedule, coupons=model)
    assert np.all(np.abs(reprice.clean_upfronts) < 1e-12)


def test_spreads_too_steep_for_any_curve_are_reported_not_repriced():
    """7Y at 625bp with 75% recovery leaves too little survival for a 780bp 10Y."""
    spreads = np.array([625, 625, 625, 625, 625, 625, 625, 780]) * 1e-4
    curves = bootstrap(schedule_for(T0), np.stack([IG, spreads]), 0.75)
    np.testing.assert_array_equal(curves.converged.all(axis=-1), [True, False])
    np.testing.assert_array_equal(curves.converged[1], [True] * 7 + [False])  # names the 10Y
    assert np.all(np.isfinite(curves.hazard_rates))


def test_inverted_spreads_falling_too_fast_give_negative_hazards_flagged():
    spreads = np.array([900, 850, 780, 720, 680, 650, 400, 200]) * 1e-4
    curves = bootstrap(schedule_for(T0), spreads)
    assert curves.converged.all()
    np.testing.assert_array_equal(curves.arbitrage_free, [True] * 6 + [False] * 2)


def test_batch_axes_and_one_hot_mixtures():
    schedule = schedule_for(T0)
    spreads = np.stack([np.stack([IG, HY, INVERTED]) * f for f in (0.8, 1.0)])  # [2, 3, 8]
    curves = bootstrap(schedule, spreads, np.array([0.4, 0.25, 0.4]))
    assert curves.hazard_rates.shape == curves.converged.shape == (2, 3, 8)
    prices = cds.price_cds(
        curves=curves, schedule=schedule, coupons=np.array([[0.01], [0.05], [0.01]])
    )
    assert prices.par_spreads.shape == (2, 3, 8)
    single = bootstrap(schedule, spreads[1, 1], 0.25)
    alone = cds.price_cds(curves=single, schedule=schedule, coupons=0.05)
    np.testing.assert_allclose(prices.clean_upfronts[1, 1], alone.clean_upfronts, rtol=1e-13)
    mixed = cds.mix_cds_prices(prices=prices, weights=np.array([0.0, 1.0]))
    for name in vars(mixed):
        np.testing.assert_allclose(getattr(mixed, name), getattr(prices, name)[1], rtol=1e-13)
    half = cds.mix_cds_prices(prices=prices, weights=np.array([0.5, 0.5]))
    protection = 0.5 * (prices.protection_legs[0] + prices.protection_legs[1])
    annuity = 0.5 * (prices.risky_pv01s[0] + prices.risky_pv01s[1]) * 1e4
    np.testing.assert_allclose(half.par_spreads, protection / annuity, rtol=1e-14)


def test_results_are_the_same_from_many_threads():
    """The numpy part runs outside the QuantLib lock; answers must not depend on threads."""
    schedule = schedule_for(T0)
    inputs = [np.stack([IG, HY]) * (1 + 0.1 * k) for k in range(8)]
    serial = [bootstrap(schedule, s).hazard_rates for s in inputs]
    results: dict[int, np.ndarray] = {}

    def work(k: int) -> None:
        results[k] = bootstrap(schedule_for(T0), inputs[k]).hazard_rates

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(8):
        np.testing.assert_array_equal(results[k], serial[k])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: cds.cds_schedule(valuation_date=T0, maturities=(dt.date(2030, 6, 20), dt.date(2026, 6, 20))), "increasing"),
        (lambda: cds.cds_schedule(valuation_date=T0, maturities=(dt.date(2025, 6, 14),)), "step-in"),
        (lambda: bootstrap(schedule_for(T0), IG[:5]), "pillars"),
        (lambda: cds.price_cds(curves=bootstrap(schedule_for(T0), IG), schedule=schedule_for(dt.date(2025, 6, 16)), coupons=0.01), "dated"),
        (lambda: cds.mix_cds_prices(prices=cds.price_cds(curves=bootstrap(schedule_for(T0), IG), schedule=schedule_for(T0), coupons=0.01), weights=np.ones(3)), "weights"),
    ],
    ids=["unsorted", "before-step-in", "shape", "dates", "weights"],
)  # fmt: skip
def test_broken_contracts_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- the built-in credit data ---------------------------------------------------------------


def test_every_number_in_the_credit_data_is_traced():
    """Each line holding a number (outside comments) carries, or follows, a source tag."""
    lines = DATA.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        code = line.split("#", 1)[0]
        if not re.search(r"\d", code) or re.match(r'\s*(\[|\w+\s*=\s*")', code):
            continue
        context = " ".join(lines[max(0, i - 4) : i + 1])
        assert "MF:" in context or "ASSUMPTION" in context, f"untraced line {i + 1}: {line}"


def test_builtin_credit_data_bootstraps_in_every_scenario():
    """Base curves and every scenario's shifted curves: positive spreads, clean bootstrap."""
    data = tomllib.loads(DATA.read_text(encoding="utf-8"))
    credit, entities = data["credit"], data["entities"]
    weights = np.array(credit["tenor_weights"])
    base = np.array([e["spreads_bp"] for e in entities], dtype=float)
    auto = np.array([e["auto_tariff_bp_per_10pp"] for e in entities])
    recip = np.array([e["reciprocal_tariff_bp_per_10pp"] for e in entities])
    scenarios = [base]
    tariff = tomllib.loads(DATA.with_name("tariff_2025.toml").read_text(encoding="utf-8"))
    drivers_by_name = {s["name"]: s["drivers"] for s in tariff["scenario_set"]["scenarios"]}
    for drivers in drivers_by_name.values():
        shift = (auto * (drivers["auto_tariff_pct"] - credit["reference_auto_tariff_pct"])
                 + recip * (drivers["reciprocal_tariff_pct"]
                            - credit["reference_reciprocal_tariff_pct"])) / 10.0  # fmt: skip
        scenarios.append(base + shift[:, None] * weights)
    spreads = np.stack(scenarios) * 1e-4
    assert np.all(spreads > 0)
    schedule = schedule_for(credit["valuation_date"], credit["tenors"])
    curves = bootstrap(schedule, spreads, credit["recovery"])
    assert curves.converged.all() and curves.arbitrage_free.all()
    assert set(drivers_by_name) == {
        "comprehensive_deal", "narrow_suspension", "production_linked", "no_deal", "escalation"
    }  # fmt: skip
