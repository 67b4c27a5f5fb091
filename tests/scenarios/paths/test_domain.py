"""The paths domain: grids, the path model read from the market, fan charts and the valuation
of path-dependent books, against outside witnesses.

Witnesses: QuantLib's ``DiscountCurve`` (log-linear discounts) and ``BlackVarianceCurve``
(linear total variance) rebuilt from the market's pillars; QuantLib's analytic barrier,
digital-American and double-barrier-binary engines (one scenario at spot: the mixture is one
lognormal); the tilt solved here by brentq; the mean ``F·Σ p·J`` of the real-world mixture;
identities (Σ q·price_i = price). Monte Carlo comparisons are within 3 standard errors.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
import QuantLib as ql
from scipy.optimize import brentq

from pricing.mixture.measure import Measure
from pricing.paths.model import Sampling
from pricing.quantlib_guard import quantlib_session, to_ql_date
from scenarios.catalog import builtin_catalog
from scenarios.errors import DomainError
from scenarios.market import AtmVolCurve, Diffusion, DiscountCurve, MarketSnapshot
from scenarios.paths.instruments import (
    BarrierType,
    Direction,
    OptionType,
    TouchType,
    build_barrier_option,
    build_double_no_touch,
    build_touch_option,
)
from scenarios.paths.simulation import (
    PathLimits,
    PathMeasure,
    SimulationSettings,
    build_path_request,
    path_grid,
    path_market,
    simulate_paths,
)
from scenarios.paths.valuation import PricingMethod, value_path_book
from scenarios.scenario import Scenario, ScenarioSet

D = dt.date
TODAY = D(2025, 6, 13)
EVENT = D(2025, 7, 9)
ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
SPOT, R_JPY, R_USD, VOL = 144.1, 0.006, 0.04, 0.11


def _flat_market() -> MarketSnapshot:
    one_year = (D(2026, 6, 13),)
    return MarketSnapshot(
        valuation_date=TODAY,
        spot=SPOT,
        usd_curve=DiscountCurve(TODAY, one_year, (R_USD,)),
        jpy_curve=DiscountCurve(TODAY, one_year, (R_JPY,)),
        atm_vols=AtmVolCurve(TODAY, one_year, (VOL,)),
    )


def _one_scenario_at_spot() -> ScenarioSet:
    only = Scenario("only", 1.0, SPOT, VOL)
    return ScenarioSet("one", "one scenario at spot", EVENT, (only,))


# ---------------------------------------------------------------------------------------------
# grids


def test_daily_grid_holds_every_weekday_and_the_event_and_horizon():
    grid = path_grid(
        valuation_date=TODAY, horizon=D(2025, 7, 12), steps_per_year=None, required=(EVENT,)
    )
    days = [TODAY + dt.timedelta(days=i) for i in range(30)]
    expected = [d for d in days if d.weekday() < 5 and d <= D(2025, 7, 12)] + [D(2025, 7, 12)]
    assert list(grid.dates) == expected  # 2025-07-12 is a Saturday: the horizon is kept
    np.testing.assert_allclose(grid.times, [(d - TODAY).days / 365 for d in expected], rtol=0)
    assert grid.dates[grid.index_of(EVENT, TODAY)] == EVENT


def test_uniform_grid_has_the_asked_steps_with_required_dates_moved_on():
    horizon = D(2026, 6, 13)
    grid = path_grid(
        valuation_date=TODAY, horizon=horizon, steps_per_year=12, required=(EVENT, D(2025, 7, 10))
    )
    # 12 steps; the event takes the nearest point, the next day (same nearest point) is inserted
    assert grid.steps == 13
    assert np.all(np.diff(grid.times) > 0)
    for date in (EVENT, D(2025, 7, 10)):
        assert grid.times[grid.index_of(date, TODAY)] == (date - TODAY).days / 365
    assert grid.times[-1] == 1.0 and grid.dates[-1] == horizon


# ---------------------------------------------------------------------------------------------
# the path model read from the market


def _ql_curve(curve: DiscountCurve) -> ql.DiscountCurve:
    """The market's log-linear-discount curve rebuilt in QuantLib (DF = 1 at the reference)."""
    dates = [to_ql_date(TODAY)] + [to_ql_date(d) for d in curve.pillar_dates]
    times = [0.0] + [(d - TODAY).days / 365 for d in curve.pillar_dates]
    dfs = [
        np.exp(-r * t) for r, t in zip((curve.zero_rates[0], *curve.zero_rates), times, strict=True)
    ]
    return ql.DiscountCurve(dates, dfs, ql.Actual365Fixed())


@pytest.mark.parametrize("diffusion", list(Diffusion))
def test_path_model_reads_forwards_discounting_and_pre_event_variance_from_the_market(
    diffusion: Diffusion,
):
    """Under ``quoted`` the variance to the event is QuantLib's BlackVarianceCurve of the
    quoted ATM vols; under ``ex_event`` the same curve with the market's event variance ``v``
    (MarketSnapshot.event_strip, tested in tests/pricing/vol/test_event_strip.py) taken out of
    the pillars after the event, interpolated linearly in total variance:
    ``w(1W) + (T_e − T_1W)/(T_1M − T_1W)·(w(1M) − v − w(1W))``."""
    market, scenario_set = ENTRY.market.with_diffusion(diffusion), ENTRY.scenario_set
    grid = path_grid(
        valuation_date=TODAY, horizon=D(2025, 9, 15), steps_per_year=None, required=(EVENT,)
    )
    built = path_market(market=market, scenario_set=scenario_set, grid=grid)
    model = built.model
    with quantlib_session(TODAY):
        usd, jpy = _ql_curve(market.usd_curve), _ql_curve(market.jpy_curve)
        atm = market.atm_vols
        variance = ql.BlackVarianceCurve(
            to_ql_date(TODAY),
            [to_ql_date(d) for d in atm.pillar_dates],
            list(atm.vols),
            ql.Actual365Fixed(),
        )
        variance.enableExtrapolation()
        dates = [to_ql_date(d) for d in grid.dates]
        forwards = [SPOT * usd.discount(d) / jpy.discount(d) for d in dates]
        dfs = [jpy.discount(d) for d in dates]
        t_event = (EVENT - TODAY).days / 365
        event_variance = variance.blackVariance(t_event, SPOT)
        if diffusion is Diffusion.EX_EVENT:
            w1, w2 = (variance.blackVariance(to_ql_date(d), SPOT) for d in atm.pillar_dates[:2])
            d1, d2 = ((d - TODAY).days / 365 for d in atm.pillar_dates[:2])
            v = float(market.event_strip((t_event,)).event_variances[0])
            assert v > 0
            event_variance = w1 + (t_event - d1) / (d2 - d1) * (w2 - v - w1)
    np.testing.assert_allclose(model.forwards, forwards, rtol=1e-13)
    np.testing.assert_allclose(built.discount_factors, dfs, rtol=1e-13)
    e = built.event_index
    assert grid.dates[e] == EVENT and model.event_index == e
    simulated_variance = float(np.sum(model.pre_vols[:e] ** 2 * np.diff(model.times)[:e]))
    assert simulated_variance == pytest.approx(event_variance, rel=1e-12)
    np.testing.assert_array_equal(
        model.step_vols()[:, e:],
        np.array([[s.vol] for s in scenario_set.scenarios]) * np.ones((1, model.steps - e)),
    )


def test_risk_neutral_draws_with_the_tilt_and_real_world_with_p():
    market, scenario_set = ENTRY.market, ENTRY.scenario_set
    grid = path_grid(
        valuation_date=TODAY, horizon=D(2025, 9, 15), steps_per_year=52, required=(EVENT,)
    )
    p = np.array([s.probability for s in scenario_set.scenarios])
    jumps = np.array([s.level for s in scenario_set.scenarios]) / market.spot

    def excess(lam: float) -> float:
        w = p * jumps**lam
        return float(w @ jumps / w.sum() - 1.0)

    q = p * jumps ** brentq(excess, -200.0, 200.0, xtol=1e-14)
    q /= q.sum()
    rn = path_market(market=market, scenario_set=scenario_set, grid=grid)
    assert rn.model.measure == "risk_neutral" and rn.fit is not None
    np.testing.assert_allclose(rn.model.weights, q, atol=1e-12)
    rw = path_market(
        market=market, scenario_set=scenario_set, grid=grid, measure=PathMeasure.REAL_WORLD
    )
    assert rw.model.measure == "real_world" and rw.fit is None
    np.testing.assert_allclose(rw.model.weights, p, rtol=1e-15)
    np.testing.assert_allclose(rw.model.jumps, jumps, rtol=1e-15)
    scaled = path_market(
        market=market, scenario_set=scenario_set, grid=grid, adjustment=Measure.SCALE
    )
    np.testing.assert_allclose(scaled.model.jumps, jumps / (p @ jumps), rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# fan charts


def _request(**changes) -> object:
    simulation = changes.pop("simulation", SimulationSettings(n_paths=20_000, seed=3))
    base = dict(valuation_date=TODAY, simulation=simulation, tenor="3M", levels=(140.0, 155.0))
    return build_path_request(**{**base, **changes})


@pytest.mark.parametrize(
    "simulation",
    [
        SimulationSettings(n_paths=20_000, seed=3),
        SimulationSettings(n_paths=16_384, seed=3, sampling=Sampling.SOBOL, steps_per_year=52),
    ],
    ids=["pseudo-daily", "sobol-weekly"],
)
def test_risk_neutral_fan_chart_mean_is_the_market_forward(simulation):
    result = simulate_paths(
        market=ENTRY.market,
        scenario_set=ENTRY.scenario_set,
        request=_request(simulation=simulation),
    )
    chart = result.chart
    with quantlib_session(TODAY):
        usd, jpy = _ql_curve(ENTRY.market.usd_curve), _ql_curve(ENTRY.market.jpy_curve)
        forwards = np.array(
            [SPOT * usd.discount(to_ql_date(d)) / jpy.discount(to_ql_date(d)) for d in result.dates]
        )
    z = (chart.means[1:] - forwards[1:]) / chart.mean_standard_errors[1:]
    assert np.all(np.abs(z) < 3.0), z
    assert chart.measure == "risk_neutral"
    assert chart.scenario_path_counts.sum() == simulation.n_paths
    assert result.dates[-1] == result.request.horizon


def test_real_world_fan_chart_mean_jumps_to_the_probability_weighted_levels():
    result = simulate_paths(
        market=ENTRY.market,
        scenario_set=ENTRY.scenario_set,
        request=_request(measure=PathMeasure.REAL_WORLD),
    )
    chart, e = result.chart, result.market.event_index
    p = np.array([s.probability for s in ENTRY.scenario_set.scenarios])
    levels = np.array([s.level for s in ENTRY.scenario_set.scenarios])
    expected = chart.forwards * np.where(np.arange(chart.times.size) > e, p @ levels / SPOT, 1.0)
    z = (chart.means[1:] - expected[1:]) / chart.mean_standard_errors[1:]
    assert np.all(np.abs(z) < 3.0), z
    assert chart.measure == "real_world"
    # the analyst's p put less weight above the forward than q: the real-world mean is off it
    assert abs(p @ levels / SPOT - 1.0) > 0.01


def test_same_seed_same_chart_on_any_worker_count_and_other_seeds_differ():
    charts = [
        simulate_paths(
            market=ENTRY.market,
            scenario_set=ENTRY.scenario_set,
            request=_request(simulation=SimulationSettings(n_paths=10_000, seed=seed, workers=w)),
        ).chart
        for seed, w in ((5, 1), (5, 2), (6, 2))
    ]
    for name in ("bands", "means", "mean_standard_errors", "probabilities_above", "sample_paths"):
        assert np.array_equal(getattr(charts[0], name), getattr(charts[1], name))
    assert not np.array_equal(charts[0].means[1:], charts[2].means[1:])


# ---------------------------------------------------------------------------------------------
# path-dependent books


def _book(expiry_before: dt.date, expiry_after: dt.date) -> tuple:
    v, s = TODAY, SPOT
    return (
        build_barrier_option(valuation_date=v, spot=s, option_type=OptionType.CALL,
                             barrier_type=BarrierType.UP_AND_OUT, strike=145.0, barrier=158.0,
                             rebate=1.0, rebate_at_hit=True, expiry=expiry_after),
        build_barrier_option(valuation_date=v, spot=s, option_type=OptionType.PUT,
                             barrier_type=BarrierType.DOWN_AND_IN, strike=142.0, barrier=136.0,
                             rebate=0.5, expiry=expiry_after),
        build_touch_option(valuation_date=v, spot=s, touch_type=TouchType.ONE_TOUCH,
                           direction=Direction.UP, barrier=152.0, cash=1.0, pay_at_hit=True,
                           expiry=expiry_after),
        build_touch_option(valuation_date=v, spot=s, touch_type=TouchType.NO_TOUCH,
                           direction=Direction.DOWN, barrier=137.0, cash=1.0, expiry=expiry_after),
        build_double_no_touch(valuation_date=v, spot=s, lower_barrier=132.0, upper_barrier=156.0,
                              cash=1.0, expiry=expiry_after),
        build_touch_option(valuation_date=v, spot=s, touch_type=TouchType.ONE_TOUCH,
                           direction=Direction.DOWN, barrier=139.0, cash=1.0, expiry=expiry_before),
        build_double_no_touch(valuation_date=v, spot=s, lower_barrier=139.0, upper_barrier=149.0,
                              cash=1.0, expiry=expiry_before),
    )  # fmt: skip


def _quantlib_book(book: tuple) -> list[float]:
    """QuantLib's analytic engines on the flat market (the one-scenario mixture is GBM)."""
    prices = []
    with quantlib_session(TODAY):
        today, day_count = to_ql_date(TODAY), ql.Actual365Fixed()
        process = ql.GarmanKohlagenProcess(
            ql.QuoteHandle(ql.SimpleQuote(SPOT)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, R_USD, day_count)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, R_JPY, day_count)),
            ql.BlackVolTermStructureHandle(
                ql.BlackConstantVol(today, ql.NullCalendar(), VOL, day_count)
            ),
        )
        for inst in book:
            maturity = to_ql_date(inst.expiry)
            if hasattr(inst, "barrier_type"):
                kinds = {
                    BarrierType.UP_AND_OUT: ql.Barrier.UpOut,
                    BarrierType.DOWN_AND_IN: ql.Barrier.DownIn,
                }
                side = ql.Option.Call if inst.option_type == OptionType.CALL else ql.Option.Put
                option = ql.BarrierOption(
                    kinds[inst.barrier_type], inst.barrier, inst.rebate,
                    ql.PlainVanillaPayoff(side, inst.strike), ql.EuropeanExercise(maturity),
                )  # fmt: skip
                option.setPricingEngine(ql.AnalyticBarrierEngine(process))
                prices.append(option.NPV())
            elif hasattr(inst, "touch_type"):
                up = inst.direction == Direction.UP
                touch = ql.VanillaOption(
                    ql.CashOrNothingPayoff(
                        ql.Option.Call if up else ql.Option.Put, inst.barrier, inst.cash
                    ),
                    ql.AmericanExercise(today, maturity, not inst.pay_at_hit),
                )
                touch.setPricingEngine(ql.AnalyticDigitalAmericanEngine(process))
                if inst.touch_type == TouchType.ONE_TOUCH:
                    prices.append(touch.NPV())
                else:  # no-touch = discounted cash − one-touch paid at expiry
                    df = np.exp(-R_JPY * (inst.expiry - TODAY).days / 365)
                    prices.append(inst.cash * df - touch.NPV())
            else:
                option = ql.DoubleBarrierOption(
                    ql.DoubleBarrier.KnockOut, inst.lower_barrier, inst.upper_barrier, 0.0,
                    ql.CashOrNothingPayoff(ql.Option.Call, 0.0, inst.cash),
                    ql.EuropeanExercise(maturity),
                )  # fmt: skip
                option.setPricingEngine(ql.AnalyticDoubleBarrierBinaryEngine(process))
                prices.append(option.NPV())
    return prices


def test_one_scenario_book_matches_quantlib_closed_forms_and_simulation():
    book = _book(D(2025, 7, 1), D(2025, 9, 12))
    valuation = value_path_book(
        market=_flat_market(),
        scenario_set=_one_scenario_at_spot(),
        contracts=book,
        settings=SimulationSettings(n_paths=40_000, seed=11, antithetic=True),
    )
    expected = np.array(_quantlib_book(book))
    simulated = np.array([m == PricingMethod.MONTE_CARLO for m in valuation.methods])
    assert simulated.tolist() == [True] * 5 + [False] * 2
    np.testing.assert_allclose(valuation.prices[~simulated], expected[~simulated], rtol=1e-9)
    assert np.all(valuation.standard_errors[~simulated] == 0.0)
    z = (valuation.prices[simulated] - expected[simulated]) / valuation.standard_errors[simulated]
    assert np.all(np.abs(z) < 3.0), z


def test_mixture_book_recombines_its_scenario_prices_with_q():
    book = _book(D(2025, 7, 1), D(2025, 9, 12))
    valuation = value_path_book(
        market=ENTRY.market,
        scenario_set=ENTRY.scenario_set,
        contracts=book,
        settings=SimulationSettings(n_paths=8_192, seed=1, steps_per_year=252),
    )
    assert valuation.scenario_valid.all()
    np.testing.assert_allclose(
        valuation.scenario_prices @ valuation.weights, valuation.prices, rtol=1e-12
    )
    np.testing.assert_allclose(
        valuation.scenario_values, valuation.scenario_prices * valuation.notionals[:, None]
    )
    # contracts expiring before the event are worth the same whatever happens at it
    before = ~valuation.after_event
    assert np.all(np.ptp(valuation.scenario_prices[before], axis=1) == 0.0)
    assert valuation.measure == PathMeasure.RISK_NEUTRAL and valuation.simulation.seed == 1
    # an up one-touch is worth more in the deal scenarios (levels above spot) than in no deal
    names = valuation.scenario_names
    touch = valuation.scenario_prices[2]
    assert touch[names.index("comprehensive_deal")] > touch[names.index("no_deal")]


def test_a_zero_probability_scenario_still_gets_a_price_but_no_weight():
    scenarios = (
        Scenario("deal", 0.6, 156.0, 0.09),
        Scenario("no_deal", 0.4, 136.0, 0.13),
        Scenario("tail", 0.0, 120.0, 0.25),
    )
    scenario_set = ScenarioSet("three", "three", EVENT, scenarios)
    book = _book(D(2025, 7, 1), D(2025, 9, 12))[:3]
    valuation = value_path_book(
        market=_flat_market(),
        scenario_set=scenario_set,
        contracts=book,
        settings=SimulationSettings(n_paths=6_000, seed=2),
    )
    assert valuation.weights[2] == 0.0 and valuation.scenario_valid.all()
    assert np.all(np.isfinite(valuation.scenario_prices))
    np.testing.assert_allclose(
        valuation.scenario_prices[:, :2] @ valuation.weights[:2], valuation.prices, rtol=1e-12
    )
    # the tail scenario jumps below 136: the down-and-in put is knocked in there for sure
    assert valuation.scenario_prices[1, 2] > valuation.scenario_prices[1, 0]


# ---------------------------------------------------------------------------------------------
# bad inputs


def _raises(field: str, build) -> None:
    with pytest.raises(DomainError) as caught:
        build()
    assert [e.field for e in caught.value.errors] == [field], caught.value


BARRIER = dict(valuation_date=TODAY, spot=SPOT, option_type=OptionType.CALL, strike=145.0,
               tenor="3M")  # fmt: skip
TOUCH = dict(valuation_date=TODAY, spot=SPOT, touch_type=TouchType.ONE_TOUCH, cash=1.0, tenor="3M")


@pytest.mark.parametrize(
    ("field", "build"),
    [
        ("barrier", lambda: build_barrier_option(**BARRIER, barrier_type=BarrierType.UP_AND_OUT, barrier=140.0)),
        ("barrier", lambda: build_barrier_option(**BARRIER, barrier_type=BarrierType.DOWN_AND_IN, barrier=150.0)),
        ("barrier", lambda: build_barrier_option(**BARRIER, barrier_type=BarrierType.DOWN_AND_OUT, barrier=SPOT)),
        ("rebate", lambda: build_barrier_option(**BARRIER, barrier_type=BarrierType.UP_AND_IN, barrier=150.0, rebate=-1.0)),
        ("rebate_at_hit", lambda: build_barrier_option(**BARRIER, barrier_type=BarrierType.UP_AND_IN, barrier=150.0, rebate_at_hit=True)),
        ("strike", lambda: build_barrier_option(**{**BARRIER, "strike": 0.0}, barrier_type=BarrierType.UP_AND_IN, barrier=150.0)),
        ("barrier", lambda: build_touch_option(**TOUCH, direction=Direction.UP, barrier=140.0)),
        ("barrier", lambda: build_touch_option(**TOUCH, direction=Direction.DOWN, barrier=150.0)),
        ("cash", lambda: build_touch_option(**{**TOUCH, "cash": 0.0}, direction=Direction.UP, barrier=150.0)),
        ("cash", lambda: build_touch_option(**{**TOUCH, "cash": -2.0}, direction=Direction.UP, barrier=150.0)),
        ("pay_at_hit", lambda: build_touch_option(**{**TOUCH, "touch_type": TouchType.NO_TOUCH}, direction=Direction.UP, barrier=150.0, pay_at_hit=True)),
        ("tenor", lambda: build_touch_option(**{**TOUCH, "tenor": "3Q"}, direction=Direction.UP, barrier=150.0)),
        ("expiry", lambda: build_touch_option(**{**TOUCH, "tenor": None, "expiry": TODAY}, direction=Direction.UP, barrier=150.0)),
        ("expiry", lambda: build_touch_option(**{**TOUCH, "tenor": None}, direction=Direction.UP, barrier=150.0)),
        ("lower_barrier", lambda: build_double_no_touch(valuation_date=TODAY, spot=SPOT, lower_barrier=150.0, upper_barrier=140.0, cash=1.0, tenor="1M")),
        ("lower_barrier", lambda: build_double_no_touch(valuation_date=TODAY, spot=SPOT, lower_barrier=150.0, upper_barrier=150.0, cash=1.0, tenor="1M")),
        ("lower_barrier", lambda: build_double_no_touch(valuation_date=TODAY, spot=SPOT, lower_barrier=145.0, upper_barrier=150.0, cash=1.0, tenor="1M")),
        ("upper_barrier", lambda: build_double_no_touch(valuation_date=TODAY, spot=SPOT, lower_barrier=130.0, upper_barrier=144.0, cash=1.0, tenor="1M")),
        ("cash", lambda: build_double_no_touch(valuation_date=TODAY, spot=SPOT, lower_barrier=130.0, upper_barrier=150.0, cash=0.0, tenor="1M")),
    ],
)  # fmt: skip
def test_bad_contracts_name_the_field(field, build):
    _raises(field, build)


SMALL = PathLimits(max_paths=50_000, max_steps=100, max_sample_paths=10, max_path_steps=10**9)


@pytest.mark.parametrize(
    ("field", "build"),
    [
        ("n_paths", lambda: SimulationSettings(n_paths=0)),
        ("n_paths", lambda: SimulationSettings(n_paths=-5)),
        ("seed", lambda: SimulationSettings(seed=-1)),
        ("n_paths", lambda: SimulationSettings(n_paths=1000, sampling=Sampling.SOBOL)),
        ("antithetic", lambda: SimulationSettings(n_paths=1024, sampling=Sampling.SOBOL, antithetic=True)),
        ("n_paths", lambda: SimulationSettings(n_paths=1001, antithetic=True)),
        ("steps_per_year", lambda: SimulationSettings(steps_per_year=0)),
        ("n_paths", lambda: _request(simulation=SimulationSettings(n_paths=60_000), limits=SMALL)),
        ("tenor", lambda: _request(tenor="1Y", limits=SMALL)),
        ("steps_per_year", lambda: _request(simulation=SimulationSettings(steps_per_year=1000), limits=SMALL)),
        ("n_paths", lambda: _request(limits=dataclasses.replace(SMALL, max_path_steps=100_000))),
        ("quantiles[1]", lambda: _request(quantiles=(0.5, 1.0))),
        ("quantiles[0]", lambda: _request(quantiles=(0.0,))),
        ("quantiles[0]", lambda: _request(quantiles=(float("nan"),))),
        ("quantiles", lambda: _request(quantiles=())),
        ("levels[0]", lambda: _request(levels=(-140.0,))),
        ("n_sample_paths", lambda: _request(n_sample_paths=11, limits=SMALL)),
        ("horizon", lambda: _request(tenor=None, horizon=D(2025, 6, 1))),
        ("horizon", lambda: _request(tenor=None, horizon=D(2040, 6, 1))),
        ("horizon", lambda: _request(tenor=None)),
    ],
)  # fmt: skip
def test_bad_path_settings_name_the_field(field, build):
    _raises(field, build)


def test_too_few_paths_for_the_scenarios_and_grids_past_the_limits_are_refused():
    book = _book(D(2025, 7, 1), D(2026, 6, 12))
    market, scenario_set = ENTRY.market, ENTRY.scenario_set
    _raises("n_paths", lambda: value_path_book(
        market=market, scenario_set=scenario_set, contracts=book,
        settings=SimulationSettings(n_paths=100),
    ))  # fmt: skip
    _raises("instruments[0].expiry", lambda: value_path_book(
        market=market, scenario_set=scenario_set, contracts=book,
        settings=SimulationSettings(n_paths=1000), limits=SMALL,
    ))  # fmt: skip
    late = dataclasses.replace(scenario_set, event_date=D(2025, 6, 1))
    with pytest.raises(
        DomainError, match=r"event_date: must be after the valuation date 2025-06-13"
    ):
        value_path_book(market=market, scenario_set=late, contracts=book)
