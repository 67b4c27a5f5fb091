"""Monte Carlo paths under a decision tree: each path draws its leaf and jumps at every node
date on the leaf's path, diffusing between node dates with the vol of the branch taken at the
last node passed.

Witnesses (none read off this code's own output):

* the market forward ``S0·exp((r_JPY − r_USD)·t)`` and discount factor ``exp(−r_JPY·t)`` of a
  flat market (continuous rates, ACT/365F);
* the leaf weights ``Π q``, each node's tilt ``q ∝ p·J^λ`` with ``Σ q J = 1`` solved here by
  brentq (the Esscher tilt of DESIGN.md), and the leaf jumps ``Π J`` of the branches as given;
* the closed-form tree mixture :func:`pricing.mixture.tree.tree_price` /
  :func:`pricing.mixture.tree.tree_leaf_values` (witnessed by mpmath quadrature in
  tests/pricing/mixture/test_tree.py), fed those weights;
* given its leaf, ln S is Gaussian with mean ``ln F(t) + Σ_{nodes before t} ln J − ½v(t)`` and
  increments of variance ``σ_b²·Δt`` with ``σ_b`` the branch in force: its quantiles and the
  sample variance's standard error ``s²·√(2/(n−1))``;
* QuantLib's ``AnalyticDigitalAmericanEngine`` for a touch expiring before the root;
* identities: knock-in + knock-out = vanilla path by path; ``Σ w·price_ℓ = price``; a node of
  one branch with ``J = 1`` and the same vol is no decision at all (bit-identical paths).

The market's diffusion is ``quoted``: the ATM vol before the root is the quoted flat 11%, not
the ex-event one, so the witnesses read it without the event strip (and a one-event and a
two-event strip agree, which the bit-identity test needs). Monte Carlo comparisons are within
3 standard errors.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import QuantLib as ql
from scipy.optimize import brentq
from scipy.special import ndtri
from scipy.stats import norm

from pricing.fx.black import Payoff
from pricing.mixture.tree import TreeMix, tree_leaf_values, tree_price
from pricing.paths.model import Sampling
from pricing.paths.options import PathContracts, PathPayoff, price_path_contracts
from pricing.paths.simulation import fold_path_blocks
from pricing.quantlib_guard import quantlib_session, to_ql_date
from scenarios.market import AtmVolCurve, Diffusion, DiscountCurve, MarketSnapshot
from scenarios.paths.instruments import (
    BarrierType,
    Direction,
    OptionType,
    TouchType,
    build_barrier_option,
    build_touch_option,
)
from scenarios.paths.simulation import (
    PathMeasure,
    SimulationSettings,
    build_path_request,
    decision_dates,
    path_grid,
    path_market,
    simulate_paths,
)
from scenarios.paths.valuation import PricingMethod, value_path_book
from scenarios.scenario import Scenario, ScenarioSet, tree_scenario_set
from scenarios.tree import DecisionTree

D = dt.date
TODAY, ROOT, SECOND, HORIZON = D(2025, 6, 13), D(2025, 7, 9), D(2025, 8, 1), D(2025, 9, 12)
MID = D(2025, 7, 21)  # between the nodes (a Monday)
SPOT, R_JPY, R_USD, VOL = 144.1, 0.006, 0.04, 0.11

# the tree, as given: branches in node order (deadline: deal, extension, no_deal; effective:
# late_deal, tariffs), probabilities p, jump ratios J and vols
ROOT_P, ROOT_J, ROOT_VOL = [0.35, 0.35, 0.30], [1.06, 0.99, 0.95], [0.09, 0.14, 0.13]
SECOND_P, SECOND_J, SECOND_VOL = [0.5, 0.5], [1.05, 0.93], [0.08, 0.16]
LEAVES = ("deal", "extension/late_deal", "extension/tariffs", "no_deal")


def _years(date: dt.date) -> float:
    return (date - TODAY).days / 365


def _forward(t: np.ndarray | float) -> np.ndarray:
    return SPOT * np.exp((R_JPY - R_USD) * np.asarray(t, dtype=float))


def _market() -> MarketSnapshot:
    one_year = (D(2026, 6, 13),)
    return MarketSnapshot(
        valuation_date=TODAY,
        spot=SPOT,
        usd_curve=DiscountCurve(TODAY, one_year, (R_USD,)),
        jpy_curve=DiscountCurve(TODAY, one_year, (R_JPY,)),
        atm_vols=AtmVolCurve(TODAY, one_year, (VOL,)),
        diffusion=Diffusion.QUOTED,
    )


def _branches(p: list[float], j: list[float], vols: list[float], names: list[str]) -> list:
    return [
        {"name": n, "probability": pi, "jump": ji, "vol": v}
        for n, pi, ji, v in zip(names, p, j, vols, strict=True)
    ]


def _tree() -> DecisionTree:
    root = _branches(ROOT_P, ROOT_J, ROOT_VOL, ["deal", "extension", "no_deal"])
    root[1]["next"] = "effective"
    second = _branches(SECOND_P, SECOND_J, SECOND_VOL, ["late_deal", "tariffs"])
    return DecisionTree.build(
        root="deadline",
        nodes=[
            {"id": "deadline", "date": ROOT, "branches": root},
            {"id": "effective", "date": SECOND, "branches": second},
        ],
    )


def _tree_set() -> ScenarioSet:
    return tree_scenario_set(id="two", name="two decisions", tree=_tree(), spot=SPOT)


def _tilt(p: list[float], j: list[float]) -> np.ndarray:
    """q ∝ p·J^λ with Σ q J = 1, λ by brentq."""
    p_, j_ = np.array(p), np.array(j)

    def mismatch(lam: float) -> float:
        w = p_ * j_**lam
        return float(w @ j_ / w.sum() - 1.0)

    lam = brentq(mismatch, -400.0, 400.0, xtol=1e-14)
    w = p_ * j_**lam
    return w / w.sum()


Q_ROOT, Q_SECOND = _tilt(ROOT_P, ROOT_J), _tilt(SECOND_P, SECOND_J)
# per leaf (LEAVES order): weights, jump ratio after each node, vol from each node on
RN_WEIGHTS = np.array(
    [Q_ROOT[0], Q_ROOT[1] * Q_SECOND[0], Q_ROOT[1] * Q_SECOND[1], Q_ROOT[2]]
)  # fmt: skip
RW_WEIGHTS = np.array([0.35, 0.35 * 0.5, 0.35 * 0.5, 0.30])
JUMP_AFTER_ROOT = np.array([1.06, 0.99, 0.99, 0.95])
JUMP_AFTER_SECOND = np.array([1.06, 0.99 * 1.05, 0.99 * 0.93, 0.95])
VOL_AFTER_ROOT = np.array([0.09, 0.14, 0.14, 0.13])
VOL_AFTER_SECOND = np.array([0.09, 0.08, 0.16, 0.13])


def _leaf_jump(t: float) -> np.ndarray:
    """``Π J`` over the nodes strictly before ``t``, per leaf."""
    if t > _years(SECOND):
        return JUMP_AFTER_SECOND
    return JUMP_AFTER_ROOT if t > _years(ROOT) else np.ones(4)


def _leaf_variance(t: float) -> np.ndarray:
    """Variance of ln S(t) per leaf: σ_pre² to the root, then each branch's vol²·Δt."""
    t1, t2 = _years(ROOT), _years(SECOND)
    return (
        VOL**2 * min(t, t1)
        + VOL_AFTER_ROOT**2 * max(0.0, min(t, t2) - t1)
        + VOL_AFTER_SECOND**2 * max(0.0, t - t2)
    )


def _built(measure: PathMeasure = PathMeasure.RISK_NEUTRAL, scenario_set=None):  # type: ignore[no-untyped-def]
    scenario_set = scenario_set or _tree_set()
    grid = path_grid(
        valuation_date=TODAY,
        horizon=HORIZON,
        steps_per_year=None,
        required=decision_dates(scenario_set),
    )
    return grid, path_market(
        market=_market(), scenario_set=scenario_set, grid=grid, measure=measure
    )


def _index(grid, date: dt.date) -> int:  # type: ignore[no-untyped-def]
    return grid.index_of(date, TODAY)


# ---------------------------------------------------------------------------------------------
# the model: weights, jumps, dates


@pytest.mark.parametrize(
    ("measure", "weights"),
    [(PathMeasure.RISK_NEUTRAL, RN_WEIGHTS), (PathMeasure.REAL_WORLD, RW_WEIGHTS)],
)
def test_the_leaves_are_drawn_with_their_weights_and_jump_at_each_node(measure, weights):
    grid, built = _built(measure)
    model = built.model
    np.testing.assert_allclose(built.weights, weights, rtol=1e-10)
    np.testing.assert_allclose(built.jumps, JUMP_AFTER_SECOND, rtol=1e-13)  # tilt keeps J
    assert built.decision_dates == (ROOT, SECOND)
    e1, e2 = _index(grid, ROOT), _index(grid, SECOND)
    assert built.decision_indices == (e1, e2) and built.event_index == e1
    # the jump follows each node's date; the vol in force is the branch taken at the last node
    log_jumps = model.step_log_jumps()
    expected = np.zeros_like(log_jumps)
    expected[:, e1] = np.log(JUMP_AFTER_ROOT)
    expected[1:3, e2] = np.log(SECOND_J)
    np.testing.assert_allclose(log_jumps, expected, rtol=1e-14, atol=0)
    vols = model.step_vols()
    np.testing.assert_allclose(vols[:, :e1], VOL, rtol=1e-12)
    np.testing.assert_allclose(vols[:, e1:e2], VOL_AFTER_ROOT[:, None].repeat(e2 - e1, 1))
    np.testing.assert_allclose(vols[:, e2:], VOL_AFTER_SECOND[:, None].repeat(grid.steps - e2, 1))


SAMPLINGS = {
    "pseudo": SimulationSettings(n_paths=60_000, seed=21),
    "antithetic": SimulationSettings(n_paths=60_000, seed=22, antithetic=True),
    "sobol": SimulationSettings(
        n_paths=32_768, seed=23, sampling=Sampling.SOBOL, sobol_replicates=16
    ),
}


def _simulation(settings: SimulationSettings, measure=PathMeasure.RISK_NEUTRAL, quantiles=(0.5,)):  # type: ignore[no-untyped-def]
    request = build_path_request(
        valuation_date=TODAY,
        simulation=settings,
        horizon=HORIZON,
        measure=measure,
        quantiles=quantiles,
        n_sample_paths=6,
    )
    return simulate_paths(market=_market(), scenario_set=_tree_set(), request=request)


def _checked_dates(grid_dates: tuple[dt.date, ...]) -> list[int]:
    """Grid indices at and around both nodes, between them and at the horizon."""
    e1, e2 = grid_dates.index(ROOT), grid_dates.index(SECOND)
    return [e1, e1 + 1, grid_dates.index(MID), e2, e2 + 1, e2 + 10, len(grid_dates) - 1]


@pytest.mark.parametrize("sampling", list(SAMPLINGS))
def test_the_mean_is_the_market_forward_between_and_after_the_nodes(sampling):
    """The martingale at every node (Σ q J = 1 at each): E[S_t] = F(t) at every date."""
    simulation = _simulation(SAMPLINGS[sampling])
    chart = simulation.chart
    for g in _checked_dates(simulation.dates):
        forward = _forward(_years(simulation.dates[g]))
        z = (chart.means[g] - forward) / chart.mean_standard_errors[g]
        assert abs(z) < 3.0, (simulation.dates[g], z)


def test_each_leaf_is_its_own_lognormal_fan():
    """Per leaf: the mean ``F·Π J`` of the nodes passed, and the 5/50/95% bands at the
    lognormal's quantiles ``F·ΠJ·exp(−½v + √v·z_q)`` (tolerance: 3 s.e. of a sample quantile,
    ``√(q(1−q)/n)/φ(z_q)·√v``, plus one histogram bin, ``16√v/1024``)."""
    quantiles = (0.05, 0.5, 0.95)
    simulation = _simulation(SimulationSettings(n_paths=80_000, seed=5), quantiles=quantiles)
    chart = simulation.chart
    assert simulation.scenario_names == LEAVES
    z_q = ndtri(np.array(quantiles))
    for g in _checked_dates(simulation.dates):
        t = _years(simulation.dates[g])
        centre = _forward(t) * _leaf_jump(t)
        errors = chart.scenario_mean_standard_errors[:, g]
        z = (chart.scenario_means[:, g] - centre) / errors
        assert np.all(np.abs(z) < 3.0), (simulation.dates[g], z)
        v = _leaf_variance(t)
        n = chart.scenario_path_counts
        for i in range(4):
            expected = np.log(centre[i]) - 0.5 * v[i] + np.sqrt(v[i]) * z_q
            se = np.sqrt(quantiles * (1 - np.array(quantiles)) / n[i]) / norm.pdf(z_q)
            tolerance = 3.0 * se * np.sqrt(v[i]) + 16.0 * np.sqrt(v[i]) / 1024
            got = np.log(chart.scenario_bands[i, :, g])
            assert np.all(np.abs(got - expected) < tolerance), (LEAVES[i], simulation.dates[g])
    # sample paths carry their leaf; each jumps by its branches' ratios only after each node
    assert chart.sample_paths.shape == (6, len(simulation.dates))
    assert set(chart.sample_scenarios.tolist()) <= set(range(4))


def test_sobol_draws_each_leaf_as_often_as_its_weight():
    """Per-leaf draw frequencies against ``Π q``, the spread over 16 replicates their s.e."""
    settings = SimulationSettings(
        n_paths=16 * 8_192, seed=3, sampling=Sampling.SOBOL, sobol_replicates=16
    )
    _, built = _built()

    def counts(block):  # type: ignore[no-untyped-def]
        out = np.zeros(4)
        for part in block.scenarios:
            out[part.scenario] += part.log_spots.shape[1]
        return block.replicate, out

    def fold(acc, result):  # type: ignore[no-untyped-def]
        acc[result[0]] += result[1]
        return acc

    per_replicate = fold_path_blocks(
        model=built.model,
        settings=settings.monte_carlo(),
        consumer=counts,
        fold=fold,
        initial=np.zeros((16, 4)),
    )
    frequencies = per_replicate / 8_192
    mean = frequencies.mean(axis=0)
    se = frequencies.std(axis=0, ddof=1) / np.sqrt(16)
    assert np.all(se > 0)
    assert np.all(np.abs(mean - RN_WEIGHTS) <= 3.0 * se), (mean - RN_WEIGHTS) / se


# ---------------------------------------------------------------------------------------------
# European calls against the closed-form tree mixture


def test_european_calls_match_the_closed_form_tree_mixture_around_the_nodes():
    grid, built = _built()
    tree = _tree()
    inputs = tree.inputs(valuation_date=TODAY, spot=SPOT)
    branch_q = np.concatenate([Q_ROOT, Q_SECOND])  # branches in node order
    paths = inputs.shape.paths
    leaf_q = np.prod(np.where(paths >= 0, branch_q[np.maximum(paths, 0)], 1.0), axis=1)
    np.testing.assert_allclose(leaf_q, RN_WEIGHTS, rtol=1e-14)  # the shape's leaf order
    mix = TreeMix(
        paths=paths,
        path_times=inputs.shape.path_times,
        weights=leaf_q,
        jumps=np.array(ROOT_J + SECOND_J),
        vols=np.array(ROOT_VOL + SECOND_VOL),
    )
    dates = _checked_dates(grid.dates)  # on a node date its jump has not happened yet
    strikes = np.array([138.0, SPOT, 151.0])
    expiries = np.repeat(dates, strikes.size)
    k = np.tile(strikes, len(dates))
    n = expiries.size
    contracts = PathContracts(
        payoffs=np.full(n, PathPayoff.VANILLA), is_call=np.ones(n, dtype=bool), strikes=k,
        lower_barriers=np.zeros(n), upper_barriers=np.full(n, np.inf), cash=np.zeros(n),
        pay_at_hit=np.zeros(n, dtype=bool), expiry_indices=expiries,
    )  # fmt: skip
    t = grid.times[expiries]
    simulated = price_path_contracts(
        model=built.model,
        settings=SimulationSettings(n_paths=100_000, seed=8, antithetic=True).monte_carlo(),
        contracts=contracts,
        discount_factors=built.discount_factors,
    )
    closed = tree_price(
        payoffs=np.full(n, Payoff.CALL),
        strikes=k,
        forwards=_forward(t),
        discount_factors=np.exp(-R_JPY * t),
        expiries=t,
        pre_vols=np.full(n, VOL),
        mix=mix,
    )
    z = (simulated.prices - closed) / simulated.standard_errors
    assert np.all(np.abs(z) < 3.0), z.reshape(len(dates), -1)
    # and leaf by leaf (the conditional price if that leaf happens)
    leaf_values = tree_leaf_values(
        payoffs=np.full(n, Payoff.CALL), strikes=k, forwards=_forward(t),
        discount_factors=np.exp(-R_JPY * t), expiries=t, pre_vols=np.full(n, VOL), mix=mix,
    )  # fmt: skip
    z = (simulated.scenario_prices.T - leaf_values) / simulated.scenario_standard_errors.T
    assert np.all(np.abs(z) < 3.0), z


# ---------------------------------------------------------------------------------------------
# the law between the nodes


def test_the_variance_of_log_spot_between_nodes_is_the_branch_vol_squared_times_dt():
    """Per leaf, ``Var[ln S(b) − ln S(a)] = σ_b²·(t_b − t_a)`` over a stretch inside one
    segment: before the root (σ_pre), between the nodes, after the second node; and the mean
    increment ``ln(F_b/F_a) − ½σ²Δt`` plus the jump of a node inside the stretch."""
    grid, built = _built()
    e1, e2, last = _index(grid, ROOT), _index(grid, SECOND), grid.steps
    stretches = [(0, e1, np.full(4, VOL)), (e1 + 1, e2, VOL_AFTER_ROOT),
                 (e2 + 1, last, VOL_AFTER_SECOND)]  # fmt: skip

    def moments(block):  # type: ignore[no-untyped-def]
        out = np.zeros((len(stretches), 4, 3))
        for part in block.scenarios:
            x = part.log_spots
            for s, (a, b, _) in enumerate(stretches):
                dx = x[b] - x[a]
                out[s, part.scenario] += (dx.size, dx.sum(), (dx * dx).sum())
        return out

    sums = fold_path_blocks(
        model=built.model,
        settings=SimulationSettings(n_paths=80_000, seed=13).monte_carlo(),
        consumer=moments,
        fold=lambda acc, r: acc + r,
        initial=0.0,
    )
    for s, (a, b, vols) in enumerate(stretches):
        n, total, squares = sums[s, :, 0], sums[s, :, 1], sums[s, :, 2]
        variance = (squares - total**2 / n) / (n - 1)
        expected = vols**2 * (grid.times[b] - grid.times[a])
        se = expected * np.sqrt(2.0 / (n - 1))
        assert np.all(np.abs(variance - expected) < 3.0 * se), (s, (variance - expected) / se)
        drift = np.log(_forward(grid.times[b]) / _forward(grid.times[a])) - 0.5 * expected
        assert np.all(np.abs(total / n - drift) < 3.0 * np.sqrt(expected / n)), s

    # the jump at the second node: ln S(e2+1) − ln S(e2) is ln J of the branch plus diffusion
    def jump_step(block):  # type: ignore[no-untyped-def]
        out = np.zeros((4, 2))
        for part in block.scenarios:
            dx = part.log_spots[e2 + 1] - part.log_spots[e2]
            out[part.scenario] += (dx.size, dx.sum())
        return out

    step = fold_path_blocks(
        model=built.model,
        settings=SimulationSettings(n_paths=20_000, seed=14).monte_carlo(),
        consumer=jump_step,
        fold=lambda acc, r: acc + r,
        initial=0.0,
    )
    dt_step = grid.times[e2 + 1] - grid.times[e2]
    expected = (
        np.log(JUMP_AFTER_SECOND / JUMP_AFTER_ROOT)
        + np.log(_forward(grid.times[e2 + 1]) / _forward(grid.times[e2]))
        - 0.5 * VOL_AFTER_SECOND**2 * dt_step
    )
    se = VOL_AFTER_SECOND * np.sqrt(dt_step / step[:, 0])
    assert np.all(np.abs(step[:, 1] / step[:, 0] - expected) < 3.0 * se)


# ---------------------------------------------------------------------------------------------
# a flat set is a one-node tree


def _flat_and_padded() -> tuple[ScenarioSet, ScenarioSet]:
    """The flat set, and the same as a tree whose extension leads to a second node of one
    branch with J = 1 and the extension's own vol (a decision that changes nothing)."""
    levels = [SPOT * j for j in ROOT_J]
    names = ["deal", "extension", "no_deal"]
    flat = ScenarioSet(
        "flat", "flat", ROOT,
        tuple(Scenario(n, p, lv, v) for n, p, lv, v in zip(names, ROOT_P, levels, ROOT_VOL, strict=True)),
    )  # fmt: skip
    root = [
        {"name": n, "probability": p, "level": lv, "vol": v}
        for n, p, lv, v in zip(names, ROOT_P, levels, ROOT_VOL, strict=True)
    ]
    root[1]["next"] = "nothing"
    hold = [{"name": "hold", "probability": 1.0, "jump": 1.0, "vol": ROOT_VOL[1]}]
    tree = DecisionTree.build(
        root="deadline",
        nodes=[
            {"id": "deadline", "date": ROOT, "branches": root},
            {"id": "nothing", "date": SECOND, "branches": hold},
        ],
    )
    return flat, tree_scenario_set(id="padded", name="padded", tree=tree, spot=SPOT)


@pytest.mark.parametrize("measure", list(PathMeasure))
@pytest.mark.parametrize("sampling", list(SAMPLINGS))
def test_a_node_that_changes_nothing_leaves_the_flat_sets_paths_bit_for_bit(sampling, measure):
    flat, padded = _flat_and_padded()
    assert [s.name for s in padded.scenarios] == ["deal", "extension/hold", "no_deal"]
    settings = SAMPLINGS[sampling].monte_carlo()
    outputs = []
    for scenario_set in (flat, padded):
        grid, built = _built(measure, scenario_set)
        assert grid.dates == _built(measure, flat)[0].dates  # 08-01 is a weekday: no new date
        outputs.append(
            fold_path_blocks(
                model=built.model,
                settings=settings,
                consumer=lambda b: [(p.scenario, p.log_spots.copy()) for p in b.scenarios],
                fold=lambda acc, r: acc + r,
                initial=[],
            )
        )
    assert len(outputs[0]) == len(outputs[1])
    for (i, x), (j, y) in zip(*outputs, strict=True):
        assert i == j and np.array_equal(x, y)


# ---------------------------------------------------------------------------------------------
# path instruments under the tree


def _touch_before_root() -> float:
    """QuantLib's analytic one-touch (up 147, paid at expiry 2025-07-01) on the flat GBM."""
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
        touch = ql.VanillaOption(
            ql.CashOrNothingPayoff(ql.Option.Call, 147.0, 1.0),
            ql.AmericanExercise(today, to_ql_date(D(2025, 7, 1)), True),
        )
        touch.setPricingEngine(ql.AnalyticDigitalAmericanEngine(process))
        return float(touch.NPV())


def test_barriers_and_touches_are_priced_per_leaf_under_the_tree():
    v, s = TODAY, SPOT
    book = (
        build_touch_option(valuation_date=v, spot=s, touch_type=TouchType.ONE_TOUCH,
                           direction=Direction.UP, barrier=147.0, cash=1.0,
                           expiry=D(2025, 7, 1)),
        build_barrier_option(valuation_date=v, spot=s, option_type=OptionType.CALL,
                             barrier_type=BarrierType.DOWN_AND_IN, strike=145.0, barrier=137.0,
                             expiry=HORIZON),
        build_barrier_option(valuation_date=v, spot=s, option_type=OptionType.CALL,
                             barrier_type=BarrierType.DOWN_AND_OUT, strike=145.0, barrier=137.0,
                             expiry=HORIZON),
        build_touch_option(valuation_date=v, spot=s, touch_type=TouchType.NO_TOUCH,
                           direction=Direction.DOWN, barrier=138.0, cash=1.0,
                           expiry=D(2025, 7, 25)),
    )  # fmt: skip
    valuation = value_path_book(
        market=_market(),
        scenario_set=_tree_set(),
        contracts=book,
        settings=SimulationSettings(n_paths=40_000, seed=17, antithetic=True),
    )
    assert valuation.scenario_names == LEAVES
    assert valuation.methods == (PricingMethod.CLOSED_FORM,) + (PricingMethod.MONTE_CARLO,) * 3
    assert valuation.fit is None and valuation.tree_fit is not None
    np.testing.assert_allclose(valuation.weights, RN_WEIGHTS, rtol=1e-10)
    # before the root: QuantLib's closed form, the same in every leaf
    assert valuation.prices[0] == pytest.approx(_touch_before_root(), rel=1e-9)
    assert np.all(valuation.scenario_prices[0] == valuation.prices[0])
    # the mixture recombines the leaves with Π q
    np.testing.assert_allclose(valuation.scenario_prices @ RN_WEIGHTS, valuation.prices, rtol=1e-12)
    # knock-in + knock-out = the vanilla, leaf by leaf: the closed-form tree leaf values
    t = _years(HORIZON)
    tree = _tree()
    inputs = tree.inputs(valuation_date=TODAY, spot=SPOT)
    mix = TreeMix(
        paths=inputs.shape.paths, path_times=inputs.shape.path_times, weights=RN_WEIGHTS,
        jumps=np.array(ROOT_J + SECOND_J), vols=np.array(ROOT_VOL + SECOND_VOL),
    )  # fmt: skip
    vanilla = tree_leaf_values(
        payoffs=np.array([Payoff.CALL]), strikes=np.array([145.0]), forwards=_forward([t]),
        discount_factors=np.exp(-R_JPY * np.array([t])), expiries=np.array([t]),
        pre_vols=np.array([VOL]), mix=mix,
    )[0]  # fmt: skip
    both = valuation.scenario_prices[1] + valuation.scenario_prices[2]
    error = valuation.scenario_standard_errors[1] + valuation.scenario_standard_errors[2]
    assert np.all(np.abs(both - vanilla) < 3.0 * error), (both - vanilla) / error
    # the no-touch expires between the nodes: both extension leaves share their law until 08-01
    no_touch, errors = valuation.scenario_prices[3], valuation.scenario_standard_errors[3]
    gap = abs(no_touch[1] - no_touch[2]) / np.hypot(errors[1], errors[2])
    assert gap < 3.0
    # and a down jump at the root makes it likelier to be touched
    assert no_touch[LEAVES.index("no_deal")] < no_touch[LEAVES.index("deal")]


def test_barrier_crossings_start_each_node_step_from_the_post_jump_spot():
    """A down no-touch (137, paid at the horizon) priced by the compiled crossings against the
    Brownian-bridge survival written out here on the same paths (Glasserman 2004, §6.4):
    ``Π_j 1{a_j > l, b_j > l}·(1 − exp(−2(a_j − l)(b_j − l)/v_j))`` with ``a_j`` the step's
    start *after* the jump of a node on that date (the given ``ln J`` of the leaf's branch),
    ``b_j`` its end and ``v_j`` the variance of the branch vol in force."""
    grid, built = _built()
    e1, e2, k = _index(grid, ROOT), _index(grid, SECOND), grid.steps
    low = 137.0
    contracts = PathContracts(
        payoffs=np.array([PathPayoff.NO_TOUCH_DOWN]), is_call=np.array([False]),
        strikes=np.array([0.0]), lower_barriers=np.array([low]),
        upper_barriers=np.array([np.inf]), cash=np.array([1.0]),
        pay_at_hit=np.array([False]), expiry_indices=np.array([k]),
    )  # fmt: skip
    settings = SimulationSettings(n_paths=12_000, seed=31).monte_carlo()
    priced = price_path_contracts(
        model=built.model,
        settings=settings,
        contracts=contracts,
        discount_factors=built.discount_factors,
    )
    dts = np.diff(grid.times)
    steps = np.arange(k)
    vols = np.where(
        steps < e1, VOL, np.where(steps < e2, VOL_AFTER_ROOT[:, None], VOL_AFTER_SECOND[:, None])
    )
    variances = vols**2 * dts  # [4, k]
    jump_at = {e1: np.log(JUMP_AFTER_ROOT), e2: np.log(JUMP_AFTER_SECOND / JUMP_AFTER_ROOT)}
    discount = np.exp(-R_JPY * _years(HORIZON))

    def reference(block):  # type: ignore[no-untyped-def]
        out = np.zeros((4, 2))
        for part in block.scenarios:
            i, x = part.scenario, part.log_spots
            a, b = x[:-1].copy(), x[1:]
            for j, log_jumps in jump_at.items():
                a[j] += log_jumps[i]
            gap_a, gap_b = a - np.log(low), b - np.log(low)
            inside = (gap_a > 0) & (gap_b > 0)
            factor = 1.0 - np.exp(-2.0 * gap_a * gap_b / variances[i][:, None])
            never = np.prod(np.where(inside, factor, 0.0), axis=0)
            out[i] += (never.size, discount * never.sum())
        return out

    sums = fold_path_blocks(
        model=built.model,
        settings=settings,
        consumer=reference,
        fold=lambda acc, r: acc + r,
        initial=0.0,
    )
    np.testing.assert_allclose(priced.scenario_prices[:, 0], sums[:, 1] / sums[:, 0], rtol=1e-9)
    # the tariffs leaf jumps through 137 at 08-01 on most paths
    assert priced.scenario_prices[LEAVES.index("extension/tariffs"), 0] < 0.5 * discount
