"""Monte Carlo paths and path-dependent prices against closed forms, QuantLib and identities.

Every Monte Carlo comparison is within 3 standard errors of an outside value: QuantLib's
analytic engines (one scenario), the closed-form mixture DF·Σ q_i·Black(F·J_i, K, v_i)
computed here with QuantLib's ``blackFormula``, the market forward, or the mixture CDF.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tracemalloc

import numpy as np
import pytest
import QuantLib as ql
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import ndtr
from scipy.stats import norm

from pricing.paths.fan_chart import simulate_fan_chart
from pricing.paths.model import MonteCarloSettings, PathModel, Sampling, time_grid
from pricing.paths.options import (
    Monitoring,
    PathContracts,
    PathPayoff,
    price_before_event,
    price_path_contracts,
)
from pricing.quantlib_guard import quantlib_session, to_ql_date

TODAY = dt.date(2025, 6, 13)
SPOT = 144.1
EVENT = 26 / 365  # 2025-07-09
# Post-event levels in the spirit of MARKET_FACTS.md (deal: high 150s; collapse: below 140).
LEVELS = np.array([158.0, 151.0, 146.0, 139.0, 133.0])
PROBABILITIES = np.array([0.15, 0.35, 0.2, 0.2, 0.1])
POST_VOLS = np.array([0.09, 0.10, 0.11, 0.13, 0.16])


def _tilted_weights(probabilities: np.ndarray, jumps: np.ndarray) -> np.ndarray:
    """q ∝ p·J^λ with Σ q J = 1 (DESIGN.md, `tilt`), solved here independently."""

    def mismatch(lam: float) -> float:
        w = probabilities * jumps**lam
        return float(w @ jumps / w.sum() - 1.0)

    w = probabilities * jumps ** brentq(mismatch, -500.0, 500.0, xtol=1e-14)
    return w / w.sum()


def _mixture_model(
    *, horizon: float, steps: int, curved: bool = False, measure: str = "risk_neutral"
) -> PathModel:
    times = time_grid(horizon=horizon, steps=steps, event_time=EVENT)
    carry = -0.038 * times - (0.004 * times**2 if curved else 0.0)
    jumps = LEVELS / SPOT
    pre = np.linspace(0.125, 0.105, steps) if curved else 0.115
    return PathModel(
        spot=SPOT,
        times=times,
        forwards=SPOT * np.exp(carry),
        pre_vols=pre,
        scenario_vols=POST_VOLS,
        jumps=jumps,
        weights=_tilted_weights(PROBABILITIES, jumps),
        event_time=EVENT,
        measure=measure,
    )


def _single_model(spot, r_d, r_f, vol, horizon, steps) -> tuple[PathModel, np.ndarray]:
    times = np.linspace(0.0, horizon, steps + 1)
    model = PathModel(
        spot=spot,
        times=times,
        forwards=spot * np.exp((r_d - r_f) * times),
        pre_vols=vol,
        scenario_vols=[vol],
        jumps=[1.0],
        weights=[1.0],
        event_time=None,
        measure="risk_neutral",
    )
    return model, np.exp(-r_d * times)


def _ql_process(spot: float, r_d: float, r_f: float, vol: float) -> ql.GarmanKohlagenProcess:
    day_count, today = ql.Actual365Fixed(), to_ql_date(TODAY)
    return ql.GarmanKohlagenProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r_f, day_count)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r_d, day_count)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), vol, day_count)
        ),
    )


P = PathPayoff
# kind, call?, strike, lower, upper, cash, paid at hit? (levels as multiples of spot)
SINGLE_CASES = [
    (P.DOWN_OUT, True, 1.0, 0.94, np.nan, 0.0, True),
    (P.DOWN_OUT, False, 1.02, 0.92, np.nan, 2.0, True),
    (P.UP_OUT, True, 0.98, np.nan, 1.07, 1.0, True),
    (P.UP_OUT, False, 1.0, np.nan, 1.05, 0.0, True),
    (P.DOWN_IN, False, 0.99, 0.95, np.nan, 1.5, False),
    (P.DOWN_IN, True, 1.0, 0.93, np.nan, 0.0, False),
    (P.UP_IN, True, 1.03, np.nan, 1.06, 0.5, False),
    (P.UP_IN, False, 1.05, np.nan, 1.08, 0.0, False),
    (P.ONE_TOUCH_UP, False, 0.0, np.nan, 1.06, 1.0, True),
    (P.ONE_TOUCH_DOWN, False, 0.0, 0.95, np.nan, 1.0, True),
    (P.ONE_TOUCH_UP, False, 0.0, np.nan, 1.04, 1.0, False),
    (P.ONE_TOUCH_DOWN, False, 0.0, 0.9, np.nan, 1.0, False),
    (P.NO_TOUCH_UP, False, 0.0, np.nan, 1.08, 1.0, False),
    (P.NO_TOUCH_DOWN, False, 0.0, 0.94, np.nan, 1.0, False),
    (P.DOUBLE_NO_TOUCH, False, 0.0, 0.92, 1.08, 1.0, False),
    (P.DOUBLE_NO_TOUCH, False, 0.0, 0.95, 1.04, 1.0, False),
]


def _widened(cases, factor: float):
    """The same contracts with every level's distance from spot scaled by ``factor``."""
    return [
        (
            c[0],
            c[1],
            1.0 + (c[2] - 1.0) * factor if c[2] else 0.0,
            1.0 + (c[3] - 1.0) * factor,
            1.0 + (c[4] - 1.0) * factor,
            *c[5:],
        )
        for c in cases
    ]


QL_BARRIERS = {
    P.DOWN_IN: ql.Barrier.DownIn,
    P.UP_IN: ql.Barrier.UpIn,
    P.DOWN_OUT: ql.Barrier.DownOut,
    P.UP_OUT: ql.Barrier.UpOut,
}


def _contracts(cases, spot: float, expiry_index: int) -> PathContracts:
    columns = list(zip(*cases, strict=True))
    return PathContracts(
        payoffs=np.array(columns[0]),
        is_call=np.array(columns[1]),
        strikes=spot * np.array(columns[2]),
        lower_barriers=spot * np.array(columns[3]),
        upper_barriers=spot * np.array(columns[4]),
        cash=np.array(columns[5]),
        pay_at_hit=np.array(columns[6]),
        expiry_indices=np.full(len(cases), expiry_index),
    )


def _quantlib_prices(cases, spot, r_d, r_f, vol, days) -> list[float]:
    prices = []
    with quantlib_session(TODAY):
        process = _ql_process(spot, r_d, r_f, vol)
        today = to_ql_date(TODAY)
        maturity = today + days
        for kind, is_call, k, low, high, cash, at_hit in cases:
            side = ql.Option.Call if is_call else ql.Option.Put
            if kind in QL_BARRIERS:
                barrier = spot * (low if kind in (P.DOWN_IN, P.DOWN_OUT) else high)
                option = ql.BarrierOption(
                    QL_BARRIERS[kind],
                    barrier,
                    cash,
                    ql.PlainVanillaPayoff(side, spot * k),
                    ql.EuropeanExercise(maturity),
                )
                option.setPricingEngine(ql.AnalyticBarrierEngine(process))
            elif kind == P.DOUBLE_NO_TOUCH:
                option = ql.DoubleBarrierOption(
                    ql.DoubleBarrier.KnockOut,
                    spot * low,
                    spot * high,
                    0.0,
                    ql.CashOrNothingPayoff(ql.Option.Call, 0.0, cash),
                    ql.EuropeanExercise(maturity),
                )
                option.setPricingEngine(ql.AnalyticDoubleBarrierBinaryEngine(process))
            else:
                up = kind in (P.ONE_TOUCH_UP, P.NO_TOUCH_UP)
                level = spot * (high if up else low)
                touch = ql.VanillaOption(
                    ql.CashOrNothingPayoff(ql.Option.Call if up else ql.Option.Put, level, cash),
                    ql.AmericanExercise(today, maturity, not at_hit),
                )
                touch.setPricingEngine(ql.AnalyticDigitalAmericanEngine(process))
                if kind in (P.ONE_TOUCH_UP, P.ONE_TOUCH_DOWN):
                    prices.append(touch.NPV())
                else:  # no-touch = discounted cash − one-touch paid at expiry
                    df = np.exp(-r_d * days / 365.0)
                    prices.append(cash * df - touch.NPV())
                continue
            prices.append(option.NPV())
    return prices


@pytest.mark.parametrize(
    ("spot", "r_d", "r_f", "vol", "days", "steps", "monitoring", "sampling", "widen"),
    [
        (144.1, 0.005, 0.043, 0.115, 91, 63, Monitoring.BRIDGE, Sampling.PSEUDO, 1.0),
        (100.0, 0.05, 0.02, 0.25, 182, 40, Monitoring.BRIDGE, Sampling.SOBOL, 2.5),
        (144.1, 0.005, 0.043, 0.115, 91, 91, Monitoring.BGK, Sampling.PSEUDO, 1.0),
    ],
)
def test_one_scenario_limit_matches_quantlib_analytic_engines(
    spot, r_d, r_f, vol, days, steps, monitoring, sampling, widen
):
    """Levels are widened with the vol·√T so no contract is a rare event (where a Monte Carlo
    standard error says little)."""
    cases = _widened(SINGLE_CASES, widen)
    model, dfs = _single_model(spot, r_d, r_f, vol, days / 365.0, steps)
    settings = MonteCarloSettings(n_paths=32768, seed=2024, sampling=sampling, sobol_replicates=64)
    result = price_path_contracts(
        model=model,
        settings=settings,
        contracts=_contracts(cases, spot, steps),
        discount_factors=dfs,
        monitoring=monitoring,
    )
    expected = np.array(_quantlib_prices(cases, spot, r_d, r_f, vol, days))
    assert np.all(result.standard_errors > 0)
    z = (result.prices - expected) / result.standard_errors
    assert np.all(np.abs(z) < 3.0), z


def test_discrete_monitoring_is_not_continuous_monitoring():
    """Daily fixings miss crossings between dates: a discretely monitored one-touch is worth
    less than the continuous closed form (the reason for the bridge and the shift)."""
    spot, r_d, r_f, vol, days, steps = 144.1, 0.005, 0.043, 0.115, 91, 63
    model, dfs = _single_model(spot, r_d, r_f, vol, days / 365.0, steps)
    cases = [(P.ONE_TOUCH_UP, False, 0.0, np.nan, 1.04, 1.0, False)]
    result = price_path_contracts(
        model=model,
        settings=MonteCarloSettings(n_paths=16384, seed=5),
        contracts=_contracts(cases, spot, steps),
        discount_factors=dfs,
        monitoring=Monitoring.DISCRETE,
    )
    expected = _quantlib_prices(cases, spot, r_d, r_f, vol, days)[0]
    assert result.prices[0] < expected - 5.0 * result.standard_errors[0]


def _black_mixture(model: PathModel, index: int, strikes, is_call, df: float) -> np.ndarray:
    """DF·Σ q_i·Black(F·J_i, K, v_i), v_i = σ_pre²·T_e + σ_i²(T − T_e) (pre-event: Black)."""
    t, forward = model.times[index], model.forwards[index]
    pre_var = float(
        np.sum(
            model.pre_vols[: min(index, model.event_index)] ** 2
            * np.diff(model.times)[: min(index, model.event_index)]
        )
    )
    after = t > model.times[model.event_index]
    prices = []
    for k, call in zip(strikes, is_call, strict=True):
        side = ql.Option.Call if call else ql.Option.Put
        if not after:
            prices.append(ql.blackFormula(side, k, forward, np.sqrt(pre_var), df))
            continue
        post = t - model.times[model.event_index]
        prices.append(
            sum(
                q * ql.blackFormula(side, k, forward * j, np.sqrt(pre_var + s**2 * post), df)
                for q, j, s in zip(model.weights, model.jumps, model.scenario_vols, strict=True)
            )
        )
    return np.array(prices)


@pytest.mark.parametrize(
    ("sampling", "antithetic"),
    [(Sampling.PSEUDO, False), (Sampling.PSEUDO, True), (Sampling.SOBOL, False)],
)
def test_mixture_europeans_by_simulation_match_the_closed_form_mixture(sampling, antithetic):
    model = _mixture_model(horizon=0.5, steps=40, curved=True)
    dfs = np.exp(-0.005 * model.times)
    strikes = np.array([130.0, 138.0, 144.0, 150.0, 158.0, 140.0, 146.0])
    is_call = np.array([False, False, True, True, True, False, True])
    cases, expected = [], []
    for index in (model.event_index, model.event_index + 3, model.steps):
        cases += [
            (P.VANILLA, c, k / SPOT, np.nan, np.nan, 0.0, False)
            for k, c in zip(strikes, is_call, strict=True)
        ]
        expected.append(_black_mixture(model, index, strikes, is_call, dfs[index]))
    expiries = np.repeat([model.event_index, model.event_index + 3, model.steps], strikes.size)
    contracts = dataclasses.replace(_contracts(cases, SPOT, 0), expiry_indices=expiries)
    settings = MonteCarloSettings(
        n_paths=32768, seed=2025, antithetic=antithetic, sampling=sampling, sobol_replicates=32
    )
    result = price_path_contracts(
        model=model, settings=settings, contracts=contracts, discount_factors=dfs
    )
    z = (result.prices - np.concatenate(expected)) / result.standard_errors
    assert np.all(np.abs(z) < 3.0), z


@pytest.mark.parametrize(
    ("sampling", "antithetic"),
    [(Sampling.PSEUDO, False), (Sampling.PSEUDO, True), (Sampling.SOBOL, False)],
)
def test_simulated_forward_equals_the_market_forward_at_every_date(sampling, antithetic):
    model = _mixture_model(horizon=1.0, steps=52, curved=True)
    assert model.weights @ model.jumps == pytest.approx(1.0, abs=1e-12)
    settings = MonteCarloSettings(
        n_paths=32768, seed=7, antithetic=antithetic, sampling=sampling, sobol_replicates=32
    )
    chart = simulate_fan_chart(
        model=model, settings=settings, quantiles=[0.5], levels=[], n_sample_paths=0
    )
    assert chart.means[0] == pytest.approx(SPOT, rel=1e-15)
    z = (chart.means[1:] - model.forwards[1:]) / chart.mean_standard_errors[1:]
    assert np.all(np.abs(z) < 3.0), z
    # conditional on scenario i the mean after the event is F·J_i
    after = slice(model.event_index + 1, None)
    conditional = model.forwards[after] * model.jumps[:, None]
    z_i = (chart.scenario_means[:, after] - conditional) / chart.scenario_mean_standard_errors[
        :, after
    ]
    assert np.all(np.abs(z_i) < 3.5), z_i  # 5 scenarios × 45 dates: a wider net


def test_real_world_measure_drifts_to_the_probability_weighted_levels():
    """Drawn with p instead of q, the mean is F·Σ p_i J_i: no compensator is added."""
    model = _mixture_model(horizon=0.25, steps=20)
    real = dataclasses.replace(model, weights=PROBABILITIES, measure="real_world")
    chart = simulate_fan_chart(
        model=real,
        settings=MonteCarloSettings(n_paths=16384, seed=1),
        quantiles=[0.5],
        levels=[],
        n_sample_paths=0,
    )
    target = model.forwards[-1] * PROBABILITIES @ model.jumps
    assert chart.measure == "real_world"
    assert abs(chart.means[-1] - target) < 3.0 * chart.mean_standard_errors[-1]
    assert abs(target - model.forwards[-1]) > 10.0 * chart.mean_standard_errors[-1]


def _mixture_cdf(model: PathModel, index: int, level: float) -> float:
    variances = np.sum(model.step_vols()[:, :index] ** 2 * np.diff(model.times)[:index], axis=1)
    jumps = model.jumps if index > model.event_index else np.ones_like(model.jumps)
    sd = np.sqrt(variances)
    z = (np.log(level / (model.forwards[index] * jumps)) + 0.5 * variances) / sd
    return float(model.weights @ ndtr(z))


def _mixture_density(model: PathModel, index: int, level: float) -> float:
    step = 1e-4 * level
    return (_mixture_cdf(model, index, level + step) - _mixture_cdf(model, index, level - step)) / (
        2 * step
    )


def test_fan_chart_bands_match_the_mixture_quantiles():
    model = _mixture_model(horizon=0.5, steps=40)
    settings = MonteCarloSettings(n_paths=65536, seed=99, workers=2)
    probabilities = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    chart = simulate_fan_chart(
        model=model,
        settings=settings,
        quantiles=probabilities,
        levels=[140.0, 155.0],
        n_sample_paths=25,
    )
    assert chart.bands_resolved.all()
    for index in (1, model.event_index, model.event_index + 1, 20, model.steps):
        for p, band in zip(probabilities, chart.bands[:, index], strict=True):
            exact = brentq(lambda x, i=index, p=p: _mixture_cdf(model, i, x) - p, 50.0, 400.0)
            # s.e. of a sample quantile: √(p(1−p)/n)/f(x_p) (stratification only lowers it)
            error = np.sqrt(p * (1 - p) / settings.n_paths) / _mixture_density(model, index, exact)
            assert abs(band - exact) < 3.0 * error, (index, p, band, exact, error)
    # per scenario at the horizon: lognormal quantiles of F·J_i with variance v_i
    last = model.steps
    variances = np.sum(model.step_vols() ** 2 * np.diff(model.times), axis=1)
    for i in range(model.n_scenarios):
        n_i = chart.scenario_path_counts[i]
        centre = np.log(model.forwards[last] * model.jumps[i]) - 0.5 * variances[i]
        exact = np.exp(centre + np.sqrt(variances[i]) * norm.ppf(probabilities))
        density = norm.pdf(norm.ppf(probabilities)) / (exact * np.sqrt(variances[i]))
        error = np.sqrt(probabilities * (1 - probabilities) / n_i) / density
        assert np.all(np.abs(chart.scenario_bands[i, :, last] - exact) < 3.0 * error), i
    # P(S_T > L) against the mixture CDF
    for level, prob, se in zip(
        chart.levels, chart.probabilities_above, chart.probability_standard_errors, strict=True
    ):
        assert abs(prob - (1.0 - _mixture_cdf(model, last, level))) < 3.0 * se
    np.testing.assert_allclose(chart.probabilities_below, 1.0 - chart.probabilities_above)
    assert chart.sample_paths.shape == (25, model.steps + 1)
    assert set(chart.sample_scenarios.tolist()) == set(range(model.n_scenarios))


def test_injected_normals_give_the_model_recursion_and_sample_quantiles():
    """Paths from injected normals equal the model recursion computed here; each band lies
    within two histogram bins of numpy's sample quantile of the same paths."""
    model = _mixture_model(horizon=0.25, steps=12)
    n, k = 3000, model.steps
    rng = np.random.default_rng(123)
    normals = rng.standard_normal((n, k))
    scenarios = rng.choice(model.n_scenarios, size=n, p=model.weights)
    chart = simulate_fan_chart(
        model=model,
        settings=MonteCarloSettings(n_paths=n, seed=0),
        quantiles=[0.1, 0.5, 0.9],
        levels=[],
        n_sample_paths=n,
        quantile_bins=256,
        normals=normals,
        scenario_indices=scenarios,
    )
    dt_ = np.diff(model.times)
    vols = np.where(
        np.arange(k) >= model.event_index,
        model.scenario_vols[scenarios][:, None],
        model.pre_vols[None, :],
    )
    increments = (
        np.diff(np.log(model.forwards)) - 0.5 * vols**2 * dt_ + vols * np.sqrt(dt_) * normals
    )
    increments[:, model.event_index] += np.log(model.jumps[scenarios])
    paths = SPOT * np.exp(np.concatenate([np.zeros((n, 1)), np.cumsum(increments, axis=1)], 1))
    # the chart returns every path, grouped by scenario within each block
    expected = paths[np.argsort(scenarios, kind="stable")]
    np.testing.assert_allclose(chart.sample_paths, expected, rtol=1e-12)
    assert np.array_equal(chart.sample_scenarios, np.sort(scenarios))
    for i in range(model.n_scenarios):
        mine = paths[scenarios == i]
        sample = np.quantile(mine, [0.1, 0.5, 0.9], axis=0)
        # one bin is 16σ/bins; allow it twice (bin, plus the spacing of order statistics)
        width = 2.0 * 16.0 * np.sqrt(model.total_vars()[i, 1:]) / 256
        gap = np.abs(np.log(chart.scenario_bands[i][:, 1:]) - np.log(sample[:, 1:]))
        assert np.all(gap <= width), i


def test_a_jump_through_the_barrier_is_a_hit():
    """With vanishing diffusion, a scenario whose jump lands beyond a barrier touches it at the
    event and the others never do: the one-touch is q_down·DF(T_e) (hit in the event step)."""
    times = time_grid(horizon=0.25, steps=25, event_time=EVENT)
    model = PathModel(
        spot=SPOT,
        times=times,
        forwards=np.full(times.size, SPOT),
        pre_vols=1e-4,
        scenario_vols=[1e-4, 1e-4],
        jumps=[1.05, 0.95],
        weights=[0.4, 0.6],
        event_time=EVENT,
        measure="none",
    )
    dfs = np.exp(-0.01 * times)
    cases = [
        (P.ONE_TOUCH_DOWN, False, 0.0, 0.97, np.nan, 1.0, True),
        (P.NO_TOUCH_UP, False, 0.0, np.nan, 1.03, 1.0, False),
    ]
    result = price_path_contracts(
        model=model,
        settings=MonteCarloSettings(n_paths=4096, seed=3),
        contracts=_contracts(cases, SPOT, model.steps),
        discount_factors=dfs,
    )
    e = model.event_index
    assert result.prices[0] == pytest.approx(0.6 * np.sqrt(dfs[e] * dfs[e + 1]), rel=1e-12)
    assert result.prices[1] == pytest.approx(0.6 * dfs[-1], rel=1e-12)
    np.testing.assert_allclose(result.scenario_prices[:, 1], [0.0, dfs[-1]], atol=1e-15)


@pytest.mark.parametrize(
    ("sampling", "antithetic"),
    [(Sampling.PSEUDO, False), (Sampling.PSEUDO, True), (Sampling.SOBOL, False)],
)
def test_same_seed_same_numbers_on_any_worker_count(sampling, antithetic):
    model = _mixture_model(horizon=0.25, steps=16)
    cases = [
        (P.ONE_TOUCH_UP, False, 0.0, np.nan, 1.06, 1.0, True),
        (P.DOWN_OUT, True, 1.0, 0.95, np.nan, 0.0, True),
    ]
    contracts, dfs = _contracts(cases, SPOT, model.steps), np.exp(-0.005 * model.times)
    runs = []
    for workers in (1, 2, 3):
        # 20,000 paths: partial blocks; with Sobol, 4 replicates of 5,000 (fast-forwarded)
        settings = MonteCarloSettings(
            n_paths=20_000,
            seed=42,
            workers=workers,
            antithetic=antithetic,
            sampling=sampling,
            sobol_replicates=4,
        )
        chart = simulate_fan_chart(
            model=model, settings=settings, quantiles=[0.1, 0.9], levels=[150.0], n_sample_paths=7
        )
        prices = price_path_contracts(
            model=model, settings=settings, contracts=contracts, discount_factors=dfs
        )
        runs.append((chart, prices))
    for chart, prices in runs[1:]:
        for name in (
            "bands",
            "scenario_bands",
            "means",
            "mean_standard_errors",
            "probabilities_above",
            "sample_paths",
        ):
            assert np.array_equal(getattr(chart, name), getattr(runs[0][0], name), equal_nan=True)
        assert np.array_equal(prices.prices, runs[0][1].prices)
        assert np.array_equal(prices.standard_errors, runs[0][1].standard_errors)


def test_different_seeds_give_different_numbers():
    model = _mixture_model(horizon=0.25, steps=16)
    charts = [
        simulate_fan_chart(
            model=model,
            settings=MonteCarloSettings(n_paths=4096, seed=seed),
            quantiles=[0.5],
            levels=[],
            n_sample_paths=3,
        )
        for seed in (1, 2)
    ]
    assert not np.array_equal(charts[0].sample_paths, charts[1].sample_paths)
    assert not np.array_equal(charts[0].means[1:], charts[1].means[1:])
    assert charts[0].seed == 1 and charts[1].seed == 2


def test_a_million_paths_never_hold_a_million_paths_of_floats():
    model = _mixture_model(horizon=0.1, steps=16)
    settings = MonteCarloSettings(n_paths=1_000_000, seed=8)
    tracemalloc.start()
    try:
        chart = simulate_fan_chart(
            model=model,
            settings=settings,
            quantiles=[0.5],
            levels=[],
            n_sample_paths=10,
            quantile_bins=256,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole = settings.n_paths * (model.steps + 1) * 8  # one float per path and date
    assert chart.scenario_path_counts.sum() == settings.n_paths
    assert peak < whole / 10, (peak, whole)


def test_broken_contracts_between_layers_raise():
    times = time_grid(horizon=0.5, steps=10, event_time=None)
    base = dict(
        spot=SPOT,
        times=times,
        forwards=np.full(11, SPOT),
        pre_vols=0.1,
        scenario_vols=[0.1, 0.1],
        jumps=[1.1, 0.9],
        weights=[0.5, 0.5],
        event_time=0.123,
        measure="risk_neutral",
    )
    with pytest.raises(ValueError, match=r"event_time 0\.123 must be a grid time"):
        PathModel(**base)
    with pytest.raises(ValueError, match="weights must sum to 1"):
        PathModel(**{**base, "event_time": None, "weights": [0.5, 0.6]})
    with pytest.raises(ValueError, match="n_paths must be >= 2"):
        MonteCarloSettings(n_paths=0, seed=1)
    with pytest.raises(ValueError, match="multiple of sobol_replicates"):
        MonteCarloSettings(n_paths=1000, seed=1, sampling=Sampling.SOBOL, sobol_replicates=16)


def test_contracts_before_the_event_have_closed_forms_that_the_simulation_matches():
    """Expiring on the event date, the scenarios do not matter: the closed forms of
    :mod:`pricing.fx.barriers` (themselves checked against QuantLib) hold, and the simulation of
    the whole mixture agrees within 3 s.e.; contracts after the event get no closed form."""
    model = _mixture_model(horizon=0.25, steps=63)
    dfs = np.exp(-0.005 * model.times)
    cases = [*_widened(SINGLE_CASES, 0.5), (P.VANILLA, True, 1.01, np.nan, np.nan, 0.0, False)]
    late_rebate = (P.UP_OUT, True, 0.99, np.nan, 1.03, 1.0, False)  # knock-out rebate at expiry
    contracts = _contracts([*cases, late_rebate, late_rebate], SPOT, model.event_index)
    expiries = np.full(len(cases) + 2, model.event_index)
    expiries[-1] = model.steps
    contracts = dataclasses.replace(contracts, expiry_indices=expiries)
    closed = price_before_event(model=model, contracts=contracts, discount_factors=dfs)
    assert closed.valid[:-1].all() and not closed.valid[-1] and np.isnan(closed.prices[-1])
    simulated = price_path_contracts(
        model=model,
        settings=MonteCarloSettings(n_paths=32768, seed=17),
        contracts=contracts,
        discount_factors=dfs,
    )
    z = (simulated.prices[:-1] - closed.prices[:-1]) / simulated.standard_errors[:-1]
    assert np.all(np.abs(z) < 3.0), z


def _no_touch_across_the_event(model: PathModel, barrier: float, up: bool, index: int) -> float:
    """P(no touch of ``barrier`` on [0, T]) under the mixture, by the reflection principle.

    In z = ±ln(S/S0) (sign so the barrier h is above), the density of z(T_e) killed at h is
    φ(z; νT_e, σ²T_e) − e^{2νh/σ²}·φ(z − 2h; νT_e, σ²T_e); after the jump ln J_i the
    distance left is d = h − z ∓ ln J_i and the survival to T is
    N((d − ν_iτ)/(σ_i√τ)) − e^{2ν_i d/σ_i²}·N((−d − ν_iτ)/(σ_i√τ)). One quadrature per
    scenario (flat carry and pre-event vol, as in the non-curved model).
    """
    sign = 1.0 if up else -1.0
    t_e, horizon = model.times[model.event_index], model.times[index]
    tau = horizon - t_e
    carry = np.log(model.forwards[-1] / SPOT) / model.times[-1]
    sigma = model.pre_vols[0]
    nu = sign * (carry - 0.5 * sigma**2)
    h = sign * np.log(barrier / SPOT)
    sd = sigma * np.sqrt(t_e)

    def killed(z: float) -> float:
        return norm.pdf(z, nu * t_e, sd) - np.exp(2 * nu * h / sigma**2) * norm.pdf(
            z - 2 * h, nu * t_e, sd
        )

    total = 0.0
    for q, jump, vol in zip(model.weights, model.jumps, model.scenario_vols, strict=True):
        nu_i = sign * (carry - 0.5 * vol**2)

        def survive(z: float, nu_i=nu_i, vol=vol, jump=jump) -> float:
            d = h - z - sign * np.log(jump)
            if d <= 0.0:
                return 0.0
            s = vol * np.sqrt(tau)
            return norm.cdf((d - nu_i * tau) / s) - np.exp(2 * nu_i * d / vol**2) * norm.cdf(
                (-d - nu_i * tau) / s
            )

        value, _ = quad(lambda z, f=survive: killed(z) * f(z), nu * t_e - 12 * sd, h, limit=200)
        total += q * value
    return total


def test_touches_across_the_event_match_the_reflection_principle_under_the_mixture():
    model = _mixture_model(horizon=0.25, steps=63)
    dfs = np.exp(-0.005 * model.times)
    cases = [
        (P.NO_TOUCH_UP, False, 0.0, np.nan, 155.0 / SPOT, 1.0, False),
        (P.NO_TOUCH_DOWN, False, 0.0, 136.0 / SPOT, np.nan, 1.0, False),
        (P.ONE_TOUCH_UP, False, 0.0, np.nan, 160.0 / SPOT, 1.0, False),
        (P.ONE_TOUCH_DOWN, False, 0.0, 140.0 / SPOT, np.nan, 1.0, False),
    ]
    result = price_path_contracts(
        model=model,
        settings=MonteCarloSettings(n_paths=32768, seed=23, antithetic=True),
        contracts=_contracts(cases, SPOT, model.steps),
        discount_factors=dfs,
    )
    df = dfs[-1]
    expected = [
        df * _no_touch_across_the_event(model, 155.0, True, model.steps),
        df * _no_touch_across_the_event(model, 136.0, False, model.steps),
        df * (1.0 - _no_touch_across_the_event(model, 160.0, True, model.steps)),
        df * (1.0 - _no_touch_across_the_event(model, 140.0, False, model.steps)),
    ]
    z = (result.prices - np.array(expected)) / result.standard_errors
    assert np.all(np.abs(z) < 3.0), (z, result.prices, expected)
