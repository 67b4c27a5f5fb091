"""The market-consistency report (scenarios.vol.consistency).

Witnesses, none read off the report's own output:

* a set carrying exactly the market's event variance reprices the market: a lognormal jump
  ``ln J ~ N(−v/2, v)`` on a lognormal diffusion is lognormal with the variances added
  (closed form), discretised by 40-node Gauss–Hermite quadrature, on a market whose forward
  variance rate is constant after the event's interval (the construction of
  tests/scenarios/vol/test_ex_event_diffusion.py); the mixture's smile is then flat at the
  quoted vol, so its ATM, RR and BF are the quotes;
* one scenario at ``J = 1`` with the market's forward vol after the event: the mixture is one
  lognormal with the diffusion's total variance ``w(T) − v`` (the quotes less the event), so
  its ATM is that Black vol (flat smile);
* ``Var_q(ln J) = Σ q (ln J)² − (Σ q ln J)²`` from the measure's own weights and jumps
  (:func:`scenarios.fx.valuation.fit_measure`), worked here;
* the event's variance: :func:`pricing.vol.event_strip.strip_events` on the quoted pillars,
  and the event-day vol ``√(365·v)`` (Clark 2011 ch. 4);
* the built-in set's analyst levels carry far more variance than the 1W→1M term structure
  holds (DESIGN.md "Market consistency": "how far the analyst's levels exceed it").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math

import numpy as np
import pytest

from pricing.mixture.measure import Measure
from pricing.vol.event_strip import EventSizing, strip_events
from scenarios.catalog import builtin_catalog
from scenarios.dates import expiry_delivery
from scenarios.fx.valuation import fit_measure
from scenarios.market import AtmVolCurve, Diffusion, DiscountCurve, MarketSnapshot
from scenarios.scenario import Scenario, ScenarioSet
from scenarios.vol.consistency import (
    ATM_TOLERANCE_VOL_POINTS,
    WING_TOLERANCE_VOL_POINTS,
    consistency_report,
)
from scenarios.vol.smiles import MarketSurface, SmileQuote
from tests.scenarios.lognormal_jump import (
    EVENT,
    EVENT_VARIANCE,
    PILLARS,
    RATE,
    SPOT,
    TODAY,
    lognormal_jump_set,
    quoted_variances,
    quoted_vols,
    years,
)

BUILTIN = "us-japan-tariff-2025-07-09"


def _market(
    diffusion: Diffusion = Diffusion.EX_EVENT, flat_surface: bool = False
) -> MarketSnapshot:
    vols = quoted_vols()
    surface = None
    if flat_surface:  # the same ATM term structure as a smile surface with RR = BF = 0
        surface = MarketSurface(
            tuple(
                SmileQuote(d, expiry_delivery(d), v, 0.0, 0.0)
                for d, v in zip(PILLARS, vols, strict=True)
            )
        )
    flat = (dt.date(2027, 6, 13),)
    return MarketSnapshot(
        valuation_date=TODAY,
        spot=SPOT,
        usd_curve=DiscountCurve(TODAY, flat, (0.04,)),
        jpy_curve=DiscountCurve(TODAY, flat, (0.005,)),
        atm_vols=AtmVolCurve(TODAY, PILLARS, vols),
        surface=surface,
        diffusion=diffusion,
    )


def _one_scenario_set(level: float = SPOT) -> ScenarioSet:
    return ScenarioSet(
        id="one",
        name="one scenario",
        event_date=EVENT,
        scenarios=(Scenario("only", 1.0, level, math.sqrt(RATE)),),
    )


@pytest.mark.parametrize("flat_surface", [False, True], ids=["atm-curve", "flat-surface"])
def test_a_set_carrying_the_market_event_variance_is_consistent(flat_surface: bool) -> None:
    report = consistency_report(
        _market(flat_surface=flat_surface), lognormal_jump_set(), Measure.TILT
    )
    assert report.consistent and report.reason is None and report.note is None
    assert [p.expiry for p in report.pillars] == list(PILLARS[1:])  # after the event only
    for pillar, vol in zip(report.pillars, quoted_vols()[1:], strict=True):
        assert pillar.market.atm == vol  # as quoted
        assert pillar.note is None and pillar.consistent
        assert abs(pillar.differences.atm) <= 1e-4
        if flat_surface:
            assert pillar.market.rr25 == 0.0 and pillar.market.bf25 == 0.0
            assert abs(pillar.differences.rr25) <= 1e-4
            assert abs(pillar.differences.bf25) <= 1e-4
        else:  # an ATM curve is quoted ATM only
            assert pillar.market.rr25 is None and pillar.mixture.rr25 is None
            assert pillar.differences.rr25 is None and pillar.differences.bf25 is None
    # 40-node quadrature integrates ln J (linear in the node) exactly: Var = v
    assert report.jump_variance == pytest.approx(EVENT_VARIANCE, rel=1e-9)
    assert report.variance_ratio == pytest.approx(1.0, rel=1e-9)


def test_one_scenario_at_the_forward_shows_the_diffusion_against_the_quote() -> None:
    """J = 1, σ = the forward vol after the event: the mixture is the diffusion alone, whose
    Black vol is √((w(T) − v)/T); the report's ATM difference is that minus the quote."""
    report = consistency_report(_market(), _one_scenario_set(), Measure.TILT)
    w = quoted_variances()
    for j, pillar in enumerate(report.pillars, start=1):
        t = years(PILLARS[j])
        closed_form = math.sqrt((w[j] - EVENT_VARIANCE) / t)
        expected = 100.0 * (closed_form - quoted_vols()[j])
        assert pillar.mixture.atm == pytest.approx(closed_form, abs=1e-9)
        assert pillar.differences.atm == pytest.approx(expected, abs=1e-6)
        assert pillar.differences.atm < 0  # the event's variance is missing: cheap
    assert report.jump_variance == 0.0 and report.variance_ratio == 0.0
    # the 1M pillar, 6 days after the event, misses most: √((w − v)/T) vs √(w/T)
    assert not report.consistent
    assert report.reason is not None and "2025-07-15 ATM is" in report.reason
    assert "cheap" in report.reason


def test_the_event_variance_is_the_strip_of_the_quoted_pillars() -> None:
    """An uneven ATM curve (the built-in's, without its surface): the report's event variance
    is strip_events on the pillars' ``σ²T``, its event-day vol ``√(365·v)``."""
    entry = builtin_catalog()[BUILTIN]
    market = dataclasses.replace(entry.market, surface=None)
    curve = market.atm_vols
    times = np.array([(d - curve.valuation_date).days / 365.0 for d in curve.pillar_dates])
    te = (entry.scenario_set.event_date - market.valuation_date).days / 365.0
    strip = strip_events(
        pillar_times=times, total_variances=np.array(curve.vols) ** 2 * times, event_times=[te]
    )
    report = consistency_report(market, entry.scenario_set, Measure.TILT)
    assert report.market_event_variance == pytest.approx(strip.event_variances[0], rel=1e-12)
    assert report.market_event_variance > 0
    assert report.market_event_day_vol == pytest.approx(
        math.sqrt(365.0 * report.market_event_variance), rel=1e-12
    )
    assert report.sizing is EventSizing.TERM_STRUCTURE
    assert report.diffusion is Diffusion.EX_EVENT
    # ATM curve pillars after the event, dated, ATM only
    after = [d for d in curve.pillar_dates if d > entry.scenario_set.event_date]
    assert [p.expiry for p in report.pillars] == after
    assert all(p.tenor is None and p.market.rr25 is None for p in report.pillars)


def test_the_builtin_set_is_not_consistent_with_its_market() -> None:
    entry = builtin_catalog()[BUILTIN]
    market, scenario_set = entry.market, entry.scenario_set
    report = consistency_report(market, scenario_set, Measure.TILT)
    assert not report.consistent
    fit = fit_measure(market, scenario_set, Measure.TILT)
    log_j = np.log(fit.jumps)
    expected = float(np.sum(fit.weights * log_j**2) - np.sum(fit.weights * log_j) ** 2)
    assert report.jump_variance == pytest.approx(expected, rel=1e-12)
    assert report.jump_event_day_vol == pytest.approx(math.sqrt(365.0 * expected), rel=1e-12)
    assert report.variance_ratio == pytest.approx(expected / report.market_event_variance)
    assert report.variance_ratio > 1
    one_month = next(p for p in report.pillars if p.tenor == "1M")
    assert one_month.market.atm == 0.115  # the data file's quote
    assert one_month.differences.atm > ATM_TOLERANCE_VOL_POINTS
    assert not one_month.consistent
    # the surface's post-event pillars, each with a full set of figures
    quotes = [q for q in market.surface.quotes if q.expiry > scenario_set.event_date]
    assert [p.expiry for p in report.pillars] == [q.expiry for q in quotes]
    for p, q in zip(report.pillars, quotes, strict=True):
        assert (p.market.atm, p.market.rr25, p.market.bf25) == (q.atm, q.rr25, q.bf25)
        assert p.note is None
        for model, quoted, diff in (
            (p.mixture.atm, q.atm, p.differences.atm),
            (p.mixture.rr25, q.rr25, p.differences.rr25),
            (p.mixture.bf25, q.bf25, p.differences.bf25),
        ):
            assert diff == pytest.approx(100.0 * (model - quoted), abs=1e-12)
    assert report.reason is not None
    assert report.reason.startswith("the jumps imply")
    assert "1M ATM is" in report.reason and "rich" in report.reason
    assert (report.atm_tolerance, report.wing_tolerance) == (
        ATM_TOLERANCE_VOL_POINTS,
        WING_TOLERANCE_VOL_POINTS,
    )


def test_quoted_diffusion_reads_no_event_and_a_richer_mixture() -> None:
    """Under ``quoted`` without a stated event-day weight nothing is stripped (the event's
    variance reads 0, no ratio) and the diffusion holds part of the event: the same set's
    mixture ATM is higher at every post-event pillar (test_ex_event_diffusion's witness)."""
    scenario_set = lognormal_jump_set()
    ex_event = consistency_report(_market(), scenario_set, Measure.TILT)
    quoted = consistency_report(_market(Diffusion.QUOTED), scenario_set, Measure.TILT)
    assert quoted.diffusion is Diffusion.QUOTED
    assert quoted.market_event_variance == 0.0 and quoted.variance_ratio is None
    assert quoted.jump_variance == pytest.approx(ex_event.jump_variance, rel=1e-12)
    for a, b in zip(ex_event.pillars, quoted.pillars, strict=True):
        assert b.mixture.atm > a.mixture.atm + 1e-6
    assert not quoted.consistent
    assert quoted.reason is not None and "hold none for the event" in quoted.reason


def test_a_set_without_a_risk_neutral_measure_is_reported_not_raised() -> None:
    above = ScenarioSet(
        id="above",
        name="every level above spot",
        event_date=EVENT,
        scenarios=(
            Scenario("up", 0.5, 150.0, 0.1),
            Scenario("more", 0.5, 155.0, 0.1),
        ),
    )
    report = consistency_report(_market(), above, Measure.TILT)
    assert not report.consistent
    assert report.jump_variance is None and report.variance_ratio is None
    assert report.note is not None and "risk-neutral" in report.note
    assert report.pillars and all(
        not p.consistent and p.note is not None and p.mixture.atm is None for p in report.pillars
    )
    assert report.reason is not None and "cannot be quoted" in report.reason
    # no NaN anywhere: every float finite or None
    for p in report.pillars:
        json.dumps(dataclasses.asdict(p), default=str, allow_nan=False)
    # under scale the same set has a measure
    assert consistency_report(_market(), above, Measure.SCALE).jump_variance is not None


def test_no_pillar_after_the_event_is_vacuously_consistent_and_says_so() -> None:
    late = dataclasses.replace(_one_scenario_set(), event_date=dt.date(2026, 3, 2))
    report = consistency_report(_market(), late, Measure.TILT)
    assert report.pillars == () and report.consistent
    assert report.note is not None and "no market pillar" in report.note
    assert report.market_event_variance == 0.0  # past the last pillar no quote holds it


def test_the_report_is_cached_per_market_set_and_measure() -> None:
    market, scenario_set = _market(), lognormal_jump_set()
    first = consistency_report(market, scenario_set, Measure.TILT)
    hits = consistency_report.cache_info().hits
    assert consistency_report(_market(), lognormal_jump_set(), Measure.TILT) is first  # equal keys
    assert consistency_report.cache_info().hits == hits + 1
    assert consistency_report(market, scenario_set, Measure.SCALE) is not first
