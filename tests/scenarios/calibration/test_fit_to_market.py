"""Fit to market, honestly reported: status, reasons, the common scales, the fitted set.

Witnesses:

* quotes the mixture itself generated (:func:`scenarios.vol.surface_view.vol_surface_view` on
  known probabilities) must be refitted — status ``fits``, the weights those probabilities
  give under the tilt — to 1e-6;
* a lognormal jump ``ln J ~ N(−v/2, v)`` on a lognormal diffusion is lognormal with the
  variances added (closed form, as tests/scenarios/vol/test_ex_event_diffusion.py), so a
  Gauss–Hermite set carrying the market's event variance ``v`` reprices a flat market exactly
  (ATM = the quoted vol, RR = BF = 0); the same set with every log jump multiplied by ``c``
  must come back with ``κ = 1/c``;
* the jumps' variance ``Var_q(ln J)`` recomputed here from the weights and levels, the
  market's event variance from :meth:`scenarios.market.MarketSnapshot.event_strip` (the
  defined source), and an independent optimiser (SLSQP, many starts) for the least variance
  any admissible weights give;
* the rule each case states (tolerance boundaries, the fields bad inputs name).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from pricing.mixture.measure import Measure, risk_neutral
from scenarios.calibration.fit import CalibrationSettings, calibrate, fit_to_market
from scenarios.calibration.modes import FitMode, FitStatus, FitTolerances
from scenarios.calibration.quote_fits import QuoteFit
from scenarios.calibration.verdict import (
    EventVarianceCheck,
    judge,
    jump_variance,
    least_jump_variance,
)
from scenarios.catalog import builtin_catalog
from scenarios.dates import year_fraction
from scenarios.errors import DomainError
from scenarios.market import MarketSnapshot
from scenarios.scenario import Scenario, ScenarioSet
from scenarios.vol.smiles import ScenarioSmile, SmileQuote, SmileShift
from tests.scenarios.calibration.mixture_quotes import quotes_and_weights
from tests.scenarios.lognormal_jump import (
    EVENT,
    EVENT_VARIANCE,
    RATE,
    atm_market,
    lognormal_jump_set,
    years,
)

ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
MARKET, SET = ENTRY.market, ENTRY.scenario_set


def reweighted(probabilities: list[float]) -> ScenarioSet:
    return dataclasses.replace(
        SET,
        scenarios=tuple(
            dataclasses.replace(s, probability=p)
            for s, p in zip(SET.scenarios, probabilities, strict=True)
        ),
    )


def mixture_quotes(scenario_set: ScenarioSet, tenors: tuple[str, ...]):
    """The mixture's own ATM / 25Δ RR / broker BF at ``tenors``, and its pricing weights."""
    return quotes_and_weights(MARKET, scenario_set, tenors)


# --- quotes the mixture made ---------------------------------------------------------------


def test_quotes_the_mixture_made_fit_and_give_back_its_weights() -> None:
    truth_set = reweighted([0.35, 0.2, 0.1, 0.2, 0.15])
    quotes, truth = mixture_quotes(truth_set, ("1M", "3M", "6M", "1Y"))
    result = calibrate(market=MARKET, scenario_set=SET, quotes=quotes)
    assert result.verdict.status is FitStatus.FITS
    np.testing.assert_allclose(result.weights, truth, rtol=0, atol=1e-6)
    assert result.carries_weight.all()
    # the fitted set carries the implied weights as its probabilities, the levels unmoved
    fitted = result.fitted_set
    np.testing.assert_allclose([s.probability for s in fitted.scenarios], truth, atol=1e-6)
    assert [s.level for s in fitted.scenarios] == [s.level for s in SET.scenarios]
    assert [s.name for s in fitted.scenarios] == [s.name for s in SET.scenarios]
    # priced under the tilt, the fitted set's weights are its probabilities (Σ q·J = 1 already)
    again = risk_neutral(
        probabilities=np.array([s.probability for s in fitted.scenarios]),
        jumps=np.array([s.level for s in fitted.scenarios]) / MARKET.spot,
        measure=Measure.TILT,
    )
    np.testing.assert_allclose(again.weights, result.weights, rtol=0, atol=1e-14)


# --- the analyst's set on the built-in market ----------------------------------------------


def test_the_builtin_set_does_not_fit_and_says_the_jumps_carry_too_much_event() -> None:
    result = calibrate(market=MARKET, scenario_set=SET)
    assert result.converged  # the optimiser stopped cleanly …
    assert result.verdict.status is FitStatus.DOES_NOT_FIT  # … and the fit is still bad
    tolerances = FitTolerances()
    misses = [f for f in result.fits if abs(f.residual) > tolerances.of(f.kind)]
    assert result.verdict.misses == len(misses) > 0
    worst = max(misses, key=lambda f: abs(f.residual) / tolerances.of(f.kind))
    assert (
        f"{worst.label} ATM misses by {100 * worst.residual:+.2f} vol points"
        in (result.verdict.reasons[1])
    )
    # the event-variance gap, recomputed here
    log_j = np.log(result.levels / MARKET.spot)
    q = result.weights
    jumps_var = float(q @ log_j**2 - (q @ log_j) ** 2)
    t_event = year_fraction(MARKET.valuation_date, SET.event_date)
    market_var = float(MARKET.event_strip((t_event,)).event_variances[0])
    assert result.event.jumps == pytest.approx(jumps_var, rel=1e-12)
    assert result.event.market == market_var > 0
    ratio = jumps_var / market_var
    assert ratio > 1.25
    gap = [r for r in result.verdict.reasons if "event variance" in r]
    assert gap and f"{ratio:.1f}× the market's event variance" in gap[0]
    # no reweighting of these levels gets below the least variance, itself above the market's
    assert result.event.least_possible > 1.25 * market_var
    assert "no reweighting can fit" in gap[0]
    # three of the five scenarios left at zero weight carry none
    assert int(result.carries_weight.sum()) == int((q > 0).sum()) < len(q)


def test_least_jump_variance_is_what_an_optimiser_finds() -> None:
    jumps = np.array([s.level for s in SET.scenarios]) / MARKET.spot
    least = least_jump_variance(jumps)
    rng = np.random.default_rng(20250709)
    constraints = [
        {"type": "eq", "fun": lambda q: q.sum() - 1.0},
        {"type": "eq", "fun": lambda q: q @ jumps - 1.0},
    ]
    found = []
    for _ in range(40):
        start = rng.dirichlet(np.ones(jumps.size))
        result = minimize(
            lambda q: jump_variance(q, jumps),
            start,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * jumps.size,
            constraints=constraints,
            options={"ftol": 1e-15, "maxiter": 500},
        )
        if result.success:
            found.append(result.fun)
    assert found and min(found) >= least - 1e-12
    assert min(found) == pytest.approx(least, rel=1e-6)
    assert least_jump_variance(np.array([1.1, 1.2])) != least_jump_variance(np.array([1.1, 1.2]))
    assert least_jump_variance(np.array([0.9, 1.0, 1.1])) == 0.0


# --- a common jump scale -------------------------------------------------------------------

flat_market = atm_market


def flat_quotes(market: MarketSnapshot) -> tuple[SmileQuote, ...]:
    """The market's pillars after the event as it quotes them: flat in strike, RR = BF = 0."""
    return tuple(
        SmileQuote(d, d, vol, 0.0, 0.0, tenor=None)
        for d, vol in zip(market.atm_vols.pillar_dates, market.atm_vols.vols, strict=True)
        if d > EVENT
    )


def test_the_consistent_set_fits_the_flat_market_as_it_stands() -> None:
    """The witness itself: the market's event variance is the one it was built with, and the
    Gauss–Hermite set carrying it reprices every pillar after the event."""
    market = flat_market()
    assert market.event_strip((years(EVENT),)).event_variances[0] == pytest.approx(
        EVENT_VARIANCE, rel=1e-9
    )
    settings = CalibrationSettings(mode=FitMode.POST_VOLS)  # free: the factor stays at 1
    result = calibrate(
        market=market, scenario_set=lognormal_jump_set(), quotes=flat_quotes(market),
        settings=settings,
    )  # fmt: skip
    assert result.verdict.status is FitStatus.FITS
    assert max(abs(f.residual) for f in result.fits) < 1e-8
    assert result.vol_factor == pytest.approx(1.0, abs=1e-6)
    assert result.event.ratio == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("c", [0.5, 2.0, 3.0])
def test_jump_scale_recovers_one_over_the_multiple_the_jumps_were_blown_up_by(c: float) -> None:
    market = flat_market()
    blown = lognormal_jump_set(c)
    result = calibrate(
        market=market,
        scenario_set=blown,
        quotes=flat_quotes(market),
        settings=CalibrationSettings(mode=FitMode.JUMP_SCALE),
    )
    assert result.jump_scale == pytest.approx(1.0 / c, abs=1e-4)
    assert result.verdict.status is FitStatus.FITS
    assert result.vol_factor == 1.0
    # the fitted set: the consistent set's levels, the analyst's p, names and order kept
    consistent = lognormal_jump_set(1.0)
    fitted = result.fitted_set
    np.testing.assert_allclose(
        [s.level for s in fitted.scenarios], [s.level for s in consistent.scenarios], rtol=1e-6
    )
    assert [s.probability for s in fitted.scenarios] == [s.probability for s in blown.scenarios]
    assert [s.name for s in fitted.scenarios] == [s.name for s in blown.scenarios]
    # the blown-up set, as given, carries c² times the event and fails
    as_given = calibrate(
        market=market, scenario_set=blown, quotes=flat_quotes(market),
        settings=CalibrationSettings(mode=FitMode.POST_VOLS),
    )  # fmt: skip
    assert as_given.event.ratio == pytest.approx(c * c, rel=1e-3)


def test_post_vol_factor_moves_every_flat_vol_by_one_factor() -> None:
    """Post-event vols at half the consistent ones: the factor comes back at 2 (the jump is
    the market's, so only the vols are off)."""
    market = flat_market()
    half = dataclasses.replace(
        lognormal_jump_set(),
        scenarios=tuple(
            dataclasses.replace(s, vol=s.vol / 2) for s in lognormal_jump_set().scenarios
        ),
    )
    result = calibrate(
        market=market, scenario_set=half, quotes=flat_quotes(market),
        settings=CalibrationSettings(mode=FitMode.POST_VOLS),
    )  # fmt: skip
    assert result.vol_factor == pytest.approx(2.0, abs=1e-4)
    assert result.outer_evaluations > 2  # found by the least squares, not the start
    assert result.verdict.status is FitStatus.FITS
    vols = [s.vol for s in result.fitted_set.scenarios]
    np.testing.assert_allclose(vols, math.sqrt(RATE), rtol=1e-4)


def test_jump_scale_and_post_vols_together_undo_both_distortions() -> None:
    """Jumps blown up by 2 and post-event vols halved: κ = 1/2 and the factor 2 at once. (A
    lognormal jump starts κ at its answer, √(v_e / Var_q(ln J)); the factor starts at 1, so
    the least squares has both to hold and one to find.)"""
    market = flat_market()
    blown = lognormal_jump_set(2.0)
    distorted = dataclasses.replace(
        blown, scenarios=tuple(dataclasses.replace(s, vol=s.vol / 2) for s in blown.scenarios)
    )
    result = calibrate(
        market=market, scenario_set=distorted, quotes=flat_quotes(market),
        settings=CalibrationSettings(mode=FitMode.JUMP_SCALE_AND_POST_VOLS),
    )  # fmt: skip
    assert result.outer_evaluations > 2
    assert result.jump_scale == pytest.approx(0.5, abs=1e-4)
    assert result.vol_factor == pytest.approx(2.0, abs=1e-4)
    assert result.verdict.status is FitStatus.FITS


def test_the_pricing_fit_is_cached_per_market_set_measure_and_mode() -> None:
    first = fit_to_market(MARKET, SET, Measure.TILT, FitMode.JUMP_SCALE)
    assert fit_to_market(MARKET, SET, Measure.TILT, FitMode.JUMP_SCALE) is first
    other = fit_to_market(MARKET, SET, Measure.TILT, FitMode.PROBABILITIES)
    assert other is not first and other.mode is FitMode.PROBABILITIES


# --- the verdict's rule --------------------------------------------------------------------


def quote(kind: str, residual: float | None) -> QuoteFit:
    market = 0.10
    model = None if residual is None else market + residual
    return QuoteFit("1M", EVENT, kind, None, market, model)


NO_EVENT_GAP = EventVarianceCheck(EVENT, 1e-4, 1e-4, 5e-5, "term_structure")


@pytest.mark.parametrize(
    ("fits", "status"),
    [
        ((quote("atm", 0.0025), quote("rr25", -0.005), quote("bf25", 0.005)), FitStatus.FITS),
        ((quote("atm", 0.0026),), FitStatus.DOES_NOT_FIT),
        ((quote("rr25", 0.0051),), FitStatus.DOES_NOT_FIT),
        ((quote("atm", 0.0),), FitStatus.FITS),
        ((quote("atm", None),), FitStatus.DOES_NOT_FIT),  # not quoted: no claim of a fit
    ],
)
def test_a_fit_fits_only_with_every_quote_within_its_tolerance(fits, status) -> None:
    verdict = judge(
        fits=fits, tolerances=FitTolerances(), event=NO_EVENT_GAP, mode=FitMode.PROBABILITIES
    )
    assert verdict.status is status
    if status is FitStatus.DOES_NOT_FIT:
        assert verdict.reasons[0] == f"1 of {len(fits)} quotes miss their tolerance"
        assert not any("event variance" in r for r in verdict.reasons)  # ratio 1: no gap


def test_a_request_may_set_its_own_tolerances() -> None:
    loose = FitTolerances(atm=0.05)
    fits = (quote("atm", 0.03),)
    assert judge(fits=fits, tolerances=loose, event=NO_EVENT_GAP, mode=FitMode.JUMP_SCALE).status
    assert (
        judge(
            fits=fits, tolerances=FitTolerances(), event=NO_EVENT_GAP, mode=FitMode.JUMP_SCALE
        ).status
        is FitStatus.DOES_NOT_FIT
    )
    with pytest.raises(DomainError, match="atm"):
        FitTolerances(atm=-0.01)


# --- what a fit cannot do -------------------------------------------------------------------


def two_scenarios() -> ScenarioSet:
    return ScenarioSet(
        "two", "two", SET.event_date,
        (Scenario("deal", 0.6, 156.0, 0.09), Scenario("no_deal", 0.4, 138.0, 0.13)),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("scenario_set", "settings", "field", "words"),
    [
        (two_scenarios(), CalibrationSettings(), "fit", "fix the weights"),
        (
            ScenarioSet(
                "flat",
                "flat",
                SET.event_date,
                (Scenario("a", 0.5, MARKET.spot, 0.1), Scenario("b", 0.5, MARKET.spot, 0.12)),
            ),
            CalibrationSettings(mode=FitMode.JUMP_SCALE),
            "fit",
            "no jump to scale",
        ),
        (
            dataclasses.replace(
                SET,
                scenarios=(
                    dataclasses.replace(SET.scenarios[0], smile=ScenarioSmile(shift=SmileShift())),
                    *SET.scenarios[1:],
                ),
            ),
            CalibrationSettings(mode=FitMode.POST_VOLS),
            "fit",
            "scenario_set.scenarios[0]",
        ),
        (
            SET,
            CalibrationSettings(mode=FitMode.JUMP_SCALE, refit_levels=True),
            "refit_levels",
            "'probabilities' only",
        ),
    ],
    ids=["weights fixed by the constraints", "no jump", "vol factor on a smile", "refit"],
)
def test_a_fit_with_nothing_to_fit_or_no_fitted_form_names_the_field(
    scenario_set: ScenarioSet, settings: CalibrationSettings, field: str, words: str
) -> None:
    with pytest.raises(DomainError) as caught:
        calibrate(market=MARKET, scenario_set=scenario_set, settings=settings)
    assert caught.value.errors[0].field == field
    assert words in caught.value.errors[0].reason


def test_two_scenarios_still_fit_a_jump_scale() -> None:
    result = calibrate(
        market=MARKET,
        scenario_set=two_scenarios(),
        settings=CalibrationSettings(mode=FitMode.PROBABILITIES_AND_JUMP_SCALE),
    )
    assert result.jump_scale != 1.0
    assert sum(s.probability for s in result.fitted_set.scenarios) == pytest.approx(1, abs=1e-12)
    assert abs(result.forward_mismatch) < 1e-12
