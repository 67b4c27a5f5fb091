"""Credit under the scenarios: domain rules, drivers → spreads, the q-mixture, the base limit.

Witnesses: the formula and figures of the data files (scenarios/data/credit_2025.toml,
tariff_2025.toml) recomputed here from the TOML; QuantLib computed in the test
(``SpreadCdsHelper`` + ``PiecewiseFlatHazardRate`` + ``IsdaCdsEngine`` on the snapshot's USD
curve); identities — a pillar contract on its own curve has par spread = quote, the mixture
value is Σ q·value, a contract struck at the mixture par spread has mixture value 0, a
seller's value is minus the buyer's, a zero shift reproduces the base.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import QuantLib as ql

from pricing.credit.cds import STANDARD_TENORS
from pricing.mixture.measure import Measure
from pricing.quantlib_guard import quantlib_session, to_ql_date
from scenarios.catalog import builtin_catalog
from scenarios.credit.curves import (
    CreditMarket,
    CurveOverride,
    CurveSource,
    EntityCurve,
    scenario_curves,
)
from scenarios.credit.valuation import CdsContract, Side, build_cds_contract, value_cds_book
from scenarios.errors import DomainError
from scenarios.fx.valuation import fit_measure
from scenarios.scenario import Scenario, ScenarioSet

DATA = Path(__file__).resolve().parents[3] / "scenarios" / "data"
ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
MARKET, SET, CREDIT = ENTRY.market, ENTRY.scenario_set, ENTRY.credit
T0 = MARKET.valuation_date
IG = (15.0, 18.0, 24.0, 31.0, 38.0, 45.0, 54.0, 62.0)


def raises(field: str, build, match: str | None = None) -> None:
    with pytest.raises(DomainError, match=match) as info:
        build()
    assert field in [e.field for e in info.value.errors], info.value.errors


def curve(**changes) -> EntityCurve:
    kwargs = dict(entity="acme", currency="USD", recovery=0.4, tenors=STANDARD_TENORS,
                  spreads_bp=IG)  # fmt: skip
    return EntityCurve(**{**kwargs, **changes})


def contracts(*specs) -> tuple[CdsContract, ...]:
    return tuple(build_cds_contract(credit=CREDIT, **spec) for spec in specs)


def value(scenario_set=SET, credit=CREDIT, book=None, measure=Measure.TILT, overrides=None):
    book = book or contracts({"entity": "toyota", "tenor": "5Y"})
    return value_cds_book(market=MARKET, scenario_set=scenario_set, credit=credit,
                          contracts=book, measure=measure, scenario_credit=overrides)  # fmt: skip


# --- domain rules ---------------------------------------------------------------------------

BAD_CURVES = [
    ("spreads_bp[2]", {"spreads_bp": (15, 18, -1, 31, 38, 45, 54, 62)}),
    ("spreads_bp[0]", {"spreads_bp": (math.nan, *IG[1:])}),
    ("spreads_bp[7]", {"spreads_bp": (*IG[:7], math.inf)}),
    ("spreads_bp", {"spreads_bp": IG[:5]}),
    ("recovery", {"recovery": 1.0}),
    ("recovery", {"recovery": -0.1}),
    ("recovery", {"recovery": math.nan}),
    ("tenors[1]", {"tenors": ("1Y", "6M"), "spreads_bp": (20, 10)}),
    ("tenors[1]", {"tenors": ("1Y", "1Y"), "spreads_bp": (20, 20)}),
    ("tenors[0]", {"tenors": ("8Y",), "spreads_bp": (20,)}),
    ("tenors", {"tenors": (), "spreads_bp": ()}),
    ("currency", {"currency": "EUR"}),
    ("coupon_bp", {"coupon_bp": 0.0}),
    ("sensitivities_bp_per_10pp.auto_tariff_pct",
     {"sensitivities_bp_per_10pp": {"auto_tariff_pct": math.nan}}),
    ("entity", {"entity": " "}),
]  # fmt: skip


@pytest.mark.parametrize(("field", "changes"), BAD_CURVES, ids=[b[0] for b in BAD_CURVES])
def test_bad_entity_curves_are_refused_naming_the_field(field, changes):
    raises(field, lambda: curve(**changes))


def test_bad_credit_markets_are_refused_naming_the_field():
    sensitive = curve(sensitivities_bp_per_10pp={"auto_tariff_pct": 10.0})
    raises("entities[1].entity", lambda: CreditMarket(T0, (curve(), curve())))
    raises("entities", lambda: CreditMarket(T0, ()))
    raises("tenor_weights.8Y", lambda: CreditMarket(T0, (curve(),), tenor_weights={"8Y": 1.0}))
    raises("tenor_weights.5Y", lambda: CreditMarket(T0, (curve(),), tenor_weights={"5Y": -1}))
    raises(
        "entities[0].sensitivities_bp_per_10pp.auto_tariff_pct",
        lambda: CreditMarket(T0, (sensitive,), tenor_weights=dict.fromkeys(STANDARD_TENORS, 1.0)),
    )
    raises(
        "tenor_weights",
        lambda: CreditMarket(T0, (sensitive,), {"auto_tariff_pct": 20.0}, {"5Y": 1.0}),
        match="6M",
    )


def test_overrides_and_drivers_are_validated():
    raises("", lambda: CurveOverride())
    raises("", lambda: CurveOverride(spreads_bp=IG, parallel_shift_bp=1.0))
    raises("spreads_bp[1]", lambda: CurveOverride(spreads_bp=(10.0, -5.0)))
    raises("shift_bp[0]", lambda: CurveOverride(shift_bp=(math.nan,)))
    raises("parallel_shift_bp", lambda: CurveOverride(parallel_shift_bp=math.inf))
    raises("drivers.auto_tariff_pct",
           lambda: Scenario("s", 1.0, 144.1, 0.1, drivers={"auto_tariff_pct": -1.0}))  # fmt: skip
    raises("drivers.auto_tariff_pct",
           lambda: Scenario("s", 1.0, 144.1, 0.1, drivers={"auto_tariff_pct": math.nan}))  # fmt: skip
    raises("drivers", lambda: Scenario("s", 1.0, 144.1, 0.1, drivers={"Auto Tariff": 1.0}))


BAD_CONTRACTS = [
    ("entity", {"entity": "tesla", "tenor": "5Y"}),
    ("maturity", {"entity": "toyota", "maturity": dt.date(2025, 6, 14)}),
    ("maturity", {"entity": "toyota", "maturity": dt.date(2025, 3, 20)}),
    ("maturity", {"entity": "toyota", "maturity": dt.date(2030, 6, 13)}),
    ("maturity", {"entity": "toyota", "maturity": dt.date(2060, 6, 20)}),
    ("maturity", {"entity": "toyota"}),
    ("maturity", {"entity": "toyota", "tenor": "5Y", "maturity": dt.date(2030, 6, 20)}),
    ("tenor", {"entity": "toyota", "tenor": "5X"}),
    ("tenor", {"entity": "toyota", "tenor": "40Y"}),
    ("tenor", {"entity": "toyota", "tenor": "0M"}),
    ("coupon_bp", {"entity": "toyota", "tenor": "5Y", "coupon_bp": -100.0}),
    ("notional", {"entity": "toyota", "tenor": "5Y", "notional": 0.0}),
    ("side", {"entity": "toyota", "tenor": "5Y", "side": "hold"}),
]


@pytest.mark.parametrize(("field", "spec"), BAD_CONTRACTS, ids=[str(b[1]) for b in BAD_CONTRACTS])
def test_bad_contracts_are_refused_naming_the_field(field, spec):
    raises(field, lambda: build_cds_contract(credit=CREDIT, **spec))


def test_contract_terms_follow_the_entity_and_the_cds2015_roll():
    """Tenor → the standard maturity (Markit Big Bang: 20 Jun/Dec rolls, CDS2015): a 5Y
    traded 2025-06-13 matures 2030-06-20; the coupon defaults to the entity's (data file)."""
    nissan, toyota = contracts({"entity": "nissan", "tenor": "5Y"},
                               {"entity": "toyota", "tenor": "6M"})  # fmt: skip
    assert (nissan.maturity, nissan.coupon_bp) == (dt.date(2030, 6, 20), 500.0)
    assert (toyota.maturity, toyota.coupon_bp) == (dt.date(2025, 12, 20), 100.0)


def test_unknown_scenarios_entities_and_lengths_in_overrides_are_named():
    shift = CurveOverride(parallel_shift_bp=1.0)
    raises("scenario_credit.nope", lambda: value(overrides={"nope": {"toyota": shift}}))
    raises("scenario_credit.no_deal.tesla", lambda: value(overrides={"no_deal": {"tesla": shift}}))
    short = CurveOverride(shift_bp=(1.0, 2.0))
    raises("scenario_credit.no_deal.toyota.shift_bp",
           lambda: value(overrides={"no_deal": {"toyota": short}}))  # fmt: skip
    negative = CurveOverride(parallel_shift_bp=-20.0)  # toyota 6M base 15bp
    raises("scenario_credit.no_deal.toyota.parallel_shift_bp",
           lambda: value(overrides={"no_deal": {"toyota": negative}}))  # fmt: skip


def test_drivers_pushing_a_spread_below_zero_name_the_scenario_drivers():
    zero = dataclasses.replace(SET.scenarios[0], drivers={"auto_tariff_pct": 0.0,
                                                           "reciprocal_tariff_pct": 0.0})  # fmt: skip
    scenarios = ScenarioSet("s", "s", SET.event_date, (zero, *SET.scenarios[1:]))
    raises("scenario_set.scenarios[0].drivers", lambda: value(scenario_set=scenarios),
           match="toyota")  # fmt: skip


def test_bootstrap_failures_name_the_tenor():
    """Spreads too steep for any curve (QuantLib's bootstrap fails on them too: see
    tests/pricing/credit/test_cds.py) and spreads falling so fast the hazard turns negative."""
    steep = curve(recovery=0.75, spreads_bp=(625.0,) * 7 + (780.0,))
    credit = CreditMarket(T0, (steep,))
    book = (CdsContract("acme", dt.date(2030, 6, 20), 100.0),)
    raises("credit.entities[0].spreads_bp[7]", lambda: value(credit=credit, book=book),
           match="10Y")  # fmt: skip
    falling = CurveOverride(spreads_bp=(900, 850, 780, 720, 680, 650, 400, 200))
    credit = CreditMarket(T0, (curve(),))
    with pytest.raises(DomainError) as info:
        value(credit=credit, book=book, overrides={"no_deal": {"acme": falling}})
    fields = [e.field for e in info.value.errors]
    assert fields == ["scenario_credit.no_deal.acme.spreads_bp[6]",
                      "scenario_credit.no_deal.acme.spreads_bp[7]"]  # fmt: skip
    assert "negative hazard" in info.value.errors[0].reason


def test_credit_must_share_the_market_valuation_date():
    credit = CreditMarket(dt.date(2025, 6, 12), (curve(),))
    raises("credit.valuation_date", lambda: value(credit=credit, book=(
        CdsContract("acme", dt.date(2030, 6, 20), 100.0),)))  # fmt: skip


# --- drivers → spreads, against the data files ------------------------------------------------


def test_builtin_drivers_give_the_data_file_formula():
    """Δs = w(tenor)·[β_auto·(auto − ref_auto) + β_recip·(recip − ref_recip)]/10, recomputed
    from the TOML (credit_2025.toml's header) — not from the code under test."""
    credit = tomllib.loads((DATA / "credit_2025.toml").read_text(encoding="utf-8"))
    tariff = tomllib.loads((DATA / "tariff_2025.toml").read_text(encoding="utf-8"))
    c, weights = credit["credit"], np.array(credit["credit"]["tenor_weights"])
    curves = scenario_curves(credit=CREDIT, scenario_set=SET)
    for i, s in enumerate(tariff["scenario_set"]["scenarios"]):
        d = s["drivers"]
        for e, entity in enumerate(credit["entities"]):
            move = (
                entity["auto_tariff_bp_per_10pp"]
                * (d["auto_tariff_pct"] - c["reference_auto_tariff_pct"])
                + entity["reciprocal_tariff_bp_per_10pp"]
                * (d["reciprocal_tariff_pct"] - c["reference_reciprocal_tariff_pct"])
            ) / 10
            expected = np.array(entity["spreads_bp"]) + move * weights  # fmt: skip
            np.testing.assert_allclose(curves.spreads_bp[e][i], expected, rtol=1e-14)
            assert curves.sources[i][e] is CurveSource.DRIVERS


def test_reference_tariffs_are_the_probability_weighted_drivers():
    """credit_2025.toml: the base curves price Σ p·drivers of tariff_2025.toml's scenarios."""
    for driver in ("auto_tariff_pct", "reciprocal_tariff_pct"):
        weighted = math.fsum(s.probability * s.drivers[driver] for s in SET.scenarios)
        assert CREDIT.reference_drivers[driver] == pytest.approx(weighted, rel=1e-15)


def test_a_wider_tariff_widens_every_automaker_curve():
    curves = scenario_curves(credit=CREDIT, scenario_set=SET)
    names = [s.name for s in SET.scenarios]
    deal, escalation = names.index("comprehensive_deal"), names.index("escalation")
    for spreads in curves.spreads_bp:
        assert np.all(spreads[escalation] > spreads[deal])


# --- the base limit and QuantLib ------------------------------------------------------------


def test_zero_shift_and_reference_drivers_reproduce_the_base_curve():
    at_reference = dataclasses.replace(SET.scenarios[3], name="reference",
                                       drivers=dict(CREDIT.reference_drivers))  # fmt: skip
    scenarios = ScenarioSet("s", "s", SET.event_date, (*SET.scenarios[:3], at_reference,
                                                        SET.scenarios[4]))  # fmt: skip
    book = contracts(*({"entity": e, "tenor": t} for e in CREDIT.entity_names
                       for t in STANDARD_TENORS))  # fmt: skip
    zero = {"escalation": {e: CurveOverride(parallel_shift_bp=0.0) for e in CREDIT.entity_names}}
    v = value(scenario_set=scenarios, book=book, overrides=zero)
    for k in (3, 4):
        for name in ("par_spreads_bp", "clean_upfronts", "values", "risky_pv01s"):
            np.testing.assert_array_equal(getattr(v.scenarios, name)[:, k], getattr(v.base, name))
    # pillar contracts on their own curve: par spread = the quote (re-bootstrap identity)
    quotes = np.concatenate([e.spreads_bp for e in CREDIT.entities])
    np.testing.assert_allclose(v.base.par_spreads_bp, quotes, rtol=1e-10)


def _quantlib_contract(spreads_bp, recovery, maturity, coupon):
    """QuantLib's own ISDA bootstrap and engine on the snapshot's USD curve, per unit notional:
    (fair spread, fair upfront, NPV) of a protection buyer."""
    usd = MARKET.usd_curve
    with quantlib_session(T0):
        today = to_ql_date(T0)
        times = [(d - T0).days / 365 for d in usd.pillar_dates]
        disc = ql.DiscountCurve([today] + [to_ql_date(d) for d in usd.pillar_dates],
                                [1.0] + [math.exp(-r * t) for r, t in zip(usd.zero_rates, times, strict=True)],
                                ql.Actual365Fixed())  # fmt: skip
        disc.enableExtrapolation()
        handle = ql.YieldTermStructureHandle(disc)
        helpers = [
            ql.SpreadCdsHelper(s * 1e-4, ql.Period(t), 1, ql.WeekendsOnly(), ql.Quarterly,
                               ql.Following, ql.DateGeneration.CDS2015, ql.Actual360(), recovery,
                               handle, True, True, ql.Date(), ql.Actual360(True), True,
                               ql.CreditDefaultSwap.ISDA, today)
            for s, t in zip(spreads_bp, STANDARD_TENORS, strict=True)
        ]  # fmt: skip
        hazard = ql.PiecewiseFlatHazardRate(today, helpers, ql.Actual365Fixed())
        hazard.enableExtrapolation()
        engine = ql.IsdaCdsEngine(ql.DefaultProbabilityTermStructureHandle(hazard), recovery,
                                  handle)  # fmt: skip
        cds = ql.MakeCreditDefaultSwap(to_ql_date(maturity), coupon * 1e-4, tradeDate=today,
                                       pricingEngine=engine,
                                       dateGenerationRule=ql.DateGeneration.CDS2015)  # fmt: skip
        out = cds.fairSpread() * 1e4, cds.fairUpfront(), cds.NPV()
        del cds, engine, hazard, helpers
    return out


def test_scenario_figures_match_quantlib_isda_on_the_scenario_curve():
    """Escalation's Nissan curve (the data formula) and a sold Toyota 3Y in the deal."""
    book = contracts({"entity": "nissan", "tenor": "5Y"},
                     {"entity": "toyota", "tenor": "3Y", "side": "sell", "notional": 1e7},
                     {"entity": "japan_autos", "maturity": dt.date(2032, 12, 20),
                      "coupon_bp": 500})  # fmt: skip
    v = value(book=book)
    curves = v.curves
    names = list(v.scenario_names)
    cases = [(0, "nissan", "escalation", 1.0), (1, "toyota", "comprehensive_deal", -1.0),
             (2, "japan_autos", "no_deal", 1.0)]  # fmt: skip
    for j, entity, scenario, sign in cases:
        e, i = CREDIT.index(entity), names.index(scenario)
        spreads = curves.spreads_bp[e][i]
        c = book[j]
        spread, upfront, npv = _quantlib_contract(spreads, 0.4, c.maturity, c.coupon_bp)
        assert v.scenarios.par_spreads_bp[j, i] == pytest.approx(spread, abs=1e-8)
        assert v.scenarios.clean_upfronts[j, i] == pytest.approx(upfront, abs=1e-10)
        assert v.scenarios.values[j, i] == pytest.approx(sign * npv, abs=1e-10)
        assert v.scenarios.jump_to_defaults[j, i] == pytest.approx(sign * (0.6 - upfront), abs=1e-10)  # fmt: skip
    assert v.scenario_values[1, 0] == pytest.approx(1e7 * v.scenarios.values[1, 0], rel=1e-15)


# --- the q-weighted mixture -----------------------------------------------------------------


@pytest.mark.parametrize("measure", list(Measure))
def test_mixture_is_the_q_weighted_scenarios(measure):
    book = contracts({"entity": "toyota", "tenor": "5Y", "notional": 2e6},
                     {"entity": "nissan", "tenor": "3Y", "side": "sell"},
                     {"entity": "honda", "tenor": "10Y"})  # fmt: skip
    v = value(book=book, measure=measure)
    q = fit_measure(MARKET, SET, measure).weights
    np.testing.assert_array_equal(v.fit.weights, q)
    for name in ("clean_upfronts", "dirty_upfronts", "accrued", "risky_pv01s",
                 "jump_to_defaults", "values"):  # fmt: skip
        expected = [math.fsum(q * row) for row in getattr(v.scenarios, name)]
        np.testing.assert_allclose(getattr(v.mixture, name), expected, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(v.mixture_values, v.scenario_values @ q, rtol=1e-13)
    # a contract struck at the mixture par spread is worth nothing under the mixture
    struck = tuple(dataclasses.replace(c, coupon_bp=float(s), side=Side.BUY)
                   for c, s in zip(book, v.mixture.par_spreads_bp, strict=True))  # fmt: skip
    again = value(book=struck, measure=measure)
    assert np.all(np.abs(again.mixture.values) < 1e-12)


def test_selling_protection_negates_the_holder_figures_only():
    spec = {"entity": "nissan", "tenor": "5Y"}
    v = value(book=contracts(spec, {**spec, "side": "sell"}))
    for name in ("values", "jump_to_defaults"):
        np.testing.assert_array_equal(getattr(v.scenarios, name)[1], -getattr(v.scenarios, name)[0])
    for name in ("par_spreads_bp", "clean_upfronts", "dirty_upfronts", "accrued", "risky_pv01s"):
        np.testing.assert_array_equal(getattr(v.scenarios, name)[1], getattr(v.scenarios, name)[0])


def test_direct_curves_and_per_tenor_shifts_replace_the_scenario_curve():
    direct = (20.0, 22.0, 28.0, 35.0, 41.0, 48.0, 57.0, 66.0)
    shift = tuple(float(k) for k in range(8))
    overrides = {"no_deal": {"toyota": CurveOverride(spreads_bp=direct)},
                 "escalation": {"toyota": CurveOverride(shift_bp=shift)}}  # fmt: skip
    curves = scenario_curves(credit=CREDIT, scenario_set=SET, scenario_credit=overrides)
    e = CREDIT.index("toyota")
    np.testing.assert_array_equal(curves.spreads_bp[e][3], direct)
    np.testing.assert_array_equal(curves.spreads_bp[e][4], np.array(IG) + shift)
    assert (curves.sources[3][e], curves.sources[4][e]) == (CurveSource.DIRECT, CurveSource.SHIFT)
    assert curves.sources[3][CREDIT.index("honda")] is CurveSource.DRIVERS


def test_a_scenario_without_drivers_keeps_the_base_curve():
    plain = ScenarioSet("s", "s", SET.event_date, tuple(
        dataclasses.replace(s, drivers={}) for s in SET.scenarios))  # fmt: skip
    curves = scenario_curves(credit=CREDIT, scenario_set=plain)
    for e, entity in enumerate(CREDIT.entities):
        assert {src[e] for src in curves.sources} == {CurveSource.BASE}
        np.testing.assert_array_equal(curves.spreads_bp[e], np.tile(entity.spreads_bp, (5, 1)))
