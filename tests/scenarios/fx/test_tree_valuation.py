"""Europeans under a decision-tree set, by the valuation path flat sets take.

Witnesses: the flat set's own valuation (a tree whose second decisions have one branch, J = 1
and the same vol, is the flat set: every figure); :func:`pricing.mixture.tree.tree_leaf_values`
(the committed numpy expression, held to mpmath in ``tests/pricing/mixture/test_tree.py``)
summed with the leaf weights of :func:`scenarios.tree.fit_tree_measure`; an mpmath
quadrature of each payoff against the two-node lognormal mixture written out by hand here
(each node's tilt solved alone by :func:`pricing.mixture.measure.risk_neutral`); the market
forward (a martingale at every node makes every expiry's mixture forward the market's);
central finite differences of the price in spot, every vol (the diffusion's and every
branch's), the valuation date, each rate and each branch's level (the tree rebuilt with the
bumped figure, its measure re-solved), as the flat Greeks are held (``tests/pricing/mixture/
test_european.py``, ``tests/service/test_book_totals.py``); the step-by-step valuation
(:func:`scenarios.fx.valuation.value_book_stepwise`) against the compiled book, and the
book's serial build against its threaded one.

A node dated on an expiry is not part of it. Faults planted and seen to fail here: the node
on the expiry counted (``<`` read as ``≤`` in the compiled interval search: 35 tests), a
completed segment's variance dropped from the leaf tables (17), a branch's jump chained
through its node's weight derivatives (9), the accrued vol-time left out of vega (7).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import mpmath as mp
import numpy as np
import pytest

from pricing.fx import book as fx_book
from pricing.fx.black import Payoff
from pricing.mixture.measure import Measure, risk_neutral
from pricing.mixture.tree import TreeMix, tree_leaf_values
from pricing.mixture.tree_tables import jump_tables
from scenarios.catalog import builtin_catalog
from scenarios.dates import year_fraction
from scenarios.errors import DomainError, ErrorKind
from scenarios.fx.instruments import Currency, OptionKind, build_fx_option
from scenarios.fx.valuation import (
    book_tables,
    fit_measure,
    value_book,
    value_book_stepwise,
)
from scenarios.market import AtmVolCurve, Diffusion, DiscountCurve, MarketSnapshot
from scenarios.scenario import ScenarioSet, tree_scenario_set
from scenarios.tree import (
    Branch,
    DecisionNode,
    DecisionTree,
    fit_tree_measure,
)
from scenarios.vol.model import build_vol_model
from scenarios.vol.smiles import ScenarioSmile, SmileShift
from tests.scenarios.fx.test_fx_book_compiled import LINEAR, assert_same

D = dt.date
ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
MARKET, SET = ENTRY.market, ENTRY.scenario_set
BARE = dataclasses.replace(MARKET, surface=None)
TODAY, SPOT = MARKET.valuation_date, MARKET.spot
DEADLINE, EFFECTIVE = D(2025, 7, 9), D(2025, 8, 1)
# before the root, on it (excluded), between, on the second date (excluded), just after, later
EXPIRIES = (D(2025, 6, 27), DEADLINE, D(2025, 7, 22), EFFECTIVE, D(2025, 8, 4), D(2026, 3, 12))
STRIKES = (128.0, 141.0, 144.1, 150.0, 163.0)
VANILLAS = ((OptionKind.CALL, None), (OptionKind.PUT, None), (OptionKind.FORWARD, None))
DIGITALS = (
    (OptionKind.DIGITAL_CALL, Currency.JPY),
    (OptionKind.DIGITAL_PUT, Currency.JPY),
    (OptionKind.DIGITAL_CALL, Currency.USD),
    (OptionKind.DIGITAL_PUT, Currency.USD),
)


def book(kinds=VANILLAS + DIGITALS, strikes=STRIKES, expiries=EXPIRIES, today=TODAY):
    return tuple(
        build_fx_option(
            valuation_date=today, kind=k, strike=s, expiry=e, payout_currency=c, notional=3.0
        )
        for e in expiries
        for s in strikes
        for k, c in kinds
    )


def spec(
    *,
    vol_shift: float = 0.0,
    bump: tuple[int, int, float] | None = None,
    second: dt.date = EFFECTIVE,
) -> dict[str, Any]:
    """The 07-09 deadline (levels); a deal there → whether 08-01 holds it (jumps). ``bump``
    ``(node, branch, h)`` moves one branch's level by ``h`` JPY (a jump branch by ``h/S0``)."""
    root = [
        {"name": "deal", "probability": 0.4, "vol": 0.10, "level": 152.0, "next": "effective"},
        {"name": "suspension", "probability": 0.35, "vol": 0.105, "level": 145.0},
        {"name": "no_deal", "probability": 0.25, "vol": 0.13, "level": 139.0},
    ]
    after = [
        {"name": "holds", "probability": 0.7, "vol": 0.09, "jump": 1.012},
        {"name": "unravels", "probability": 0.3, "vol": 0.14, "jump": 0.955},
    ]
    for branch in (*root, *after):
        branch["vol"] += vol_shift
    if bump is not None:
        node, index, h = bump
        branch = (root, after)[node][index]
        if "level" in branch:
            branch["level"] += h
        else:
            branch["jump"] += h / SPOT
    return {
        "root": "deadline",
        "nodes": [
            {"id": "deadline", "date": DEADLINE, "branches": root},
            {"id": "effective", "date": second, "branches": after},
        ],
    }


def tree_set(tree: DecisionTree, spot: float = SPOT) -> ScenarioSet:
    return tree_scenario_set(id="tree", name="a two-node tree", tree=tree, spot=spot)


TREE = DecisionTree.build(**spec())
TREE_SET = tree_set(TREE)


def one_branch_after(flat: ScenarioSet, date: dt.date = EFFECTIVE) -> ScenarioSet:
    """The flat set's scenarios as the root's branches, each leading to its own decision on
    ``date`` with one branch: J = 1, the same vol."""
    seconds = tuple(
        DecisionNode(f"after_{s.name}", date, (Branch("holds", 1.0, s.vol, jump=1.0),))
        for s in flat.scenarios
    )
    root = tuple(
        Branch(s.name, s.probability, s.vol, level=s.level, next=f"after_{s.name}")
        for s in flat.scenarios
    )
    tree = DecisionTree("event", (DecisionNode("event", flat.event_date, root), *seconds))
    return tree_set(tree)


def close(a: np.ndarray, b: np.ndarray, rel: float, floor: float = 1e-12) -> bool:
    return bool(np.all(np.abs(a - b) <= rel * np.maximum(np.abs(b), floor)))


def assert_difference(analytic: np.ndarray, fd: np.ndarray, what: str, rel=1e-6) -> None:
    """Within ``rel`` of the difference, or of its rounding: a price of ~100 JPY differenced
    over 2h = 2e-3 JPY carries ~1e-11 of noise (1e-9 allowed)."""
    gap = np.abs(analytic - fd)
    worst = int(np.argmax(gap - rel * np.abs(fd)))
    assert np.all(gap <= rel * np.abs(fd) + 1e-9), (what, worst, analytic[worst], fd[worst])


# --- the flat set is a tree ------------------------------------------------------------------


@pytest.mark.parametrize("market", [MARKET, BARE], ids=["surface", "atm-curve"])
@pytest.mark.parametrize("measure", list(Measure))
def test_a_second_decision_of_one_branch_keeping_the_vol_is_the_flat_set(market, measure) -> None:
    """Witness: the flat set's own valuation, every column; ∂/∂L of the root's branches are
    the flat set's ∂/∂L_i."""
    options = book()
    flat = value_book(market=market, scenario_set=SET, options=options, measure=measure)
    tree_set_ = one_branch_after(SET)
    tree = value_book(market=market, scenario_set=tree_set_, options=options, measure=measure)
    assert tree.scenario_names == tuple(f"{s.name}/holds" for s in SET.scenarios)
    for field in dataclasses.fields(flat.greeks):
        a, b = getattr(tree.greeks, field.name), getattr(flat.greeks, field.name)
        assert a.shape == b.shape, field.name
        assert close(a, b, 1e-13, 1e-12 * SPOT), field.name
    np.testing.assert_array_equal(tree.forwards, flat.forwards)
    np.testing.assert_array_equal(tree.after_event, flat.after_event)
    np.testing.assert_array_equal(tree.implied_status, flat.implied_status)
    assert np.all(np.abs(tree.implied_vols - flat.implied_vols) <= 1e-13)
    m = len(SET.scenarios)
    assert tree.level_names[:m] == tuple(f"event/{s.name}" for s in SET.scenarios)
    assert flat.level_names == flat.scenario_names
    row_scale = np.maximum(np.abs(flat.greeks.scenario_values).max(axis=1), 1e-12)
    assert np.all(np.abs(tree.d_levels[:, :m] - flat.d_levels) <= 1e-13 * row_scale[:, None])
    np.testing.assert_allclose(tree.fit.weights, flat.fit.weights, rtol=1e-15, atol=0)


def test_a_flat_sets_tables_are_one_node_of_todays_arrays() -> None:
    """The tree tables of a flat fit: row 1 is its weights, jumps and measure derivatives;
    nothing accrued; the compiled book's own tables are those."""
    fit = fit_measure(MARKET, SET, Measure.TILT)
    event = build_vol_model(MARKET, SET).event_time
    tables = jump_tables(fit, event)
    np.testing.assert_array_equal(tables.times, [event])
    np.testing.assert_array_equal(tables.jumps[1], fit.jumps)
    np.testing.assert_array_equal(tables.d_jumps[1], fit.d_jumps)
    packed = book_tables(MARKET, SET, Measure.TILT)
    np.testing.assert_array_equal(packed.leaves[0, 1], fit.jumps)
    np.testing.assert_array_equal(packed.leaves[2, 1], [s.vol for s in SET.scenarios])
    np.testing.assert_array_equal(packed.leaves[3:], 0.0)
    np.testing.assert_array_equal(packed.measure_derivatives[0], fit.d_weights)
    np.testing.assert_array_equal(packed.measure_derivatives[1:], tables.d_jumps)


# --- prices against the tree's own expression and against quadrature ------------------------


def flat_market(*, spot=SPOT, r_jpy=0.006, r_usd=0.04, vol=0.11, today=TODAY) -> MarketSnapshot:
    """Flat curves and a flat ATM vol: the diffusion is ``vol`` at every expiry, a shift of
    the pillar is a shift of every pre-event vol, a roll of the date moves no rate or vol."""
    year = (D(2027, 6, 14),)
    return MarketSnapshot(
        valuation_date=today,
        spot=spot,
        usd_curve=DiscountCurve(today, year, (r_usd,)),
        jpy_curve=DiscountCurve(today, year, (r_jpy,)),
        atm_vols=AtmVolCurve(today, year, (vol,)),
    )


FLAT = flat_market()


def option_arrays(market: MarketSnapshot, options) -> dict[str, np.ndarray]:
    today = market.valuation_date
    t_exp = np.array([year_fraction(today, o.expiry) for o in options])
    t_del = np.array([year_fraction(today, o.delivery) for o in options])
    return {
        "payoffs": np.array([int(o.payoff) for o in options]),
        "strikes": np.array([o.strike for o in options]),
        "forwards": market.forwards(t_del),
        "discount_factors": np.exp(-market.jpy_curve.zero_rates_at(t_del) * t_del),
        "expiries": t_exp,
    }


@pytest.mark.parametrize("market", [FLAT, BARE], ids=["flat", "atm-curve"])
@pytest.mark.parametrize("measure", list(Measure))
def test_prices_are_the_trees_leaf_values_under_the_fitted_leaf_weights(market, measure) -> None:
    options = book()
    ours = value_book(market=market, scenario_set=TREE_SET, options=options, measure=measure)
    inputs, fit = fit_tree_measure(TREE, valuation_date=TODAY, spot=market.spot, measure=measure)
    args = option_arrays(market, options)
    root = year_fraction(TODAY, DEADLINE)
    pre_t = np.minimum(args["expiries"], root)
    # the diffusion with every decision's variance out (ScenarioSet.event_dates)
    decisions = tuple((d - TODAY).days / 365.0 for d in TREE_SET.event_dates)
    pre_vols = np.sqrt(market.diffusion_atm(decisions).total_variance(pre_t) / pre_t)
    mix = TreeMix.from_fit(shape=inputs.shape, fit=fit, vols=inputs.vols)
    leaves = tree_leaf_values(pre_vols=pre_vols, mix=mix, **args)
    # two writings of Black (numpy black_terms, the compiled kernel): 1e-12 of the price even
    # where a far wing's value is 1e-9 (its cancellation, not the tree)
    assert close(ours.greeks.price, leaves @ fit.leaf_weights, 1e-12, 1e-9)
    after = ours.after_event
    assert close(ours.greeks.scenario_values[after], leaves[after], 1e-12, 1e-9)
    np.testing.assert_allclose(ours.fit.weights, fit.leaf_weights, rtol=1e-15, atol=0)


def hand_built(market: MarketSnapshot, expiry: float) -> list[tuple[float, float, float]]:
    """(weight, cumulative jump, total variance) of each component at ``expiry`` (years),
    written out from :func:`spec`: the tilt solved node by node, the vols piecewise."""
    root_p, root_j = np.array([0.4, 0.35, 0.25]), np.array([152.0, 145.0, 139.0]) / SPOT
    second_p, second_j = np.array([0.7, 0.3]), np.array([1.012, 0.955])
    q0 = risk_neutral(probabilities=root_p, jumps=root_j, measure=Measure.TILT).weights
    q1 = risk_neutral(probabilities=second_p, jumps=second_j, measure=Measure.TILT).weights
    t0, t1 = year_fraction(TODAY, DEADLINE), year_fraction(TODAY, EFFECTIVE)
    sigma = market.atm_vols.vols[0]
    if expiry <= t0:
        return [(1.0, 1.0, sigma**2 * expiry)]
    pre = sigma**2 * t0
    parts = []
    if expiry <= t1:  # 08-01 not yet decided: the deal's leaves are one component
        parts.append((q0[0], root_j[0], pre + 0.10**2 * (expiry - t0)))
    else:
        deal = pre + 0.10**2 * (t1 - t0)
        for b, vol in enumerate((0.09, 0.14)):
            parts.append((q0[0] * q1[b], root_j[0] * second_j[b], deal + vol**2 * (expiry - t1)))
    parts.append((q0[1], root_j[1], pre + 0.105**2 * (expiry - t0)))
    parts.append((q0[2], root_j[2], pre + 0.13**2 * (expiry - t0)))
    return parts


def quadrature(market, payoff: int, strike: float, t_exp: float, t_del: float) -> float:
    """DF·∫ payoff(S)·f(S) over ln S_T, f the hand-built lognormal mixture around F(t_del)."""
    mp.mp.dps = 30
    r_d, r_f = market.jpy_curve.zero_rates[0], market.usd_curve.zero_rates[0]
    forward = mp.mpf(SPOT) * mp.exp(mp.mpf(r_d - r_f) * t_del)
    parts = [
        (mp.mpf(w), mp.log(forward * j) - mp.mpf(v) / 2, mp.sqrt(v))
        for w, j, v in hand_built(market, t_exp)
    ]

    def density(x):
        return mp.fsum(w * mp.npdf(x, mu, sd) for w, mu, sd in parts)

    k = mp.log(strike)
    above = sorted(mu for _, mu, _ in parts if mu > k)
    below = sorted(mu for _, mu, _ in parts if mu < k)
    if payoff == Payoff.CALL:
        value = mp.quad(lambda x: (mp.exp(x) - strike) * density(x), [k, *above, mp.inf])
    elif payoff == Payoff.PUT:
        value = mp.quad(lambda x: (strike - mp.exp(x)) * density(x), [-mp.inf, *below, k])
    elif payoff == Payoff.DIGITAL_CALL_JPY:
        value = mp.quad(density, [k, *above, mp.inf])
    else:  # DIGITAL_PUT_USD: pays 1 USD (S_T JPY) below the strike
        value = mp.quad(lambda x: mp.exp(x) * density(x), [-mp.inf, *below, k])
    return float(mp.exp(-mp.mpf(r_d) * t_del) * value)


@pytest.mark.parametrize(
    "kind", [VANILLAS[0], VANILLAS[1], DIGITALS[0], DIGITALS[3]], ids=["call", "put", "dcj", "dpu"]
)
def test_prices_equal_quadrature_of_the_hand_built_two_node_mixture(kind) -> None:
    """Before the root, on it, between the nodes, on the second date, after both."""
    options = book(kinds=(kind,), strikes=(130.0, 144.1, 158.0))
    ours = value_book(market=FLAT, scenario_set=TREE_SET, options=options).greeks.price
    model = build_vol_model(FLAT, TREE_SET)
    assert model.pre_atm.vols == FLAT.atm_vols.vols  # a flat curve has no event to strip
    for option, price in zip(options, ours, strict=True):
        t_exp = year_fraction(TODAY, option.expiry)
        t_del = year_fraction(TODAY, option.delivery)
        reference = quadrature(FLAT, option.payoff, option.strike, t_exp, t_del)
        assert price == pytest.approx(reference, rel=1e-9), option


@pytest.mark.parametrize("measure", [Measure.TILT, Measure.SCALE])
def test_every_expirys_forward_line_is_the_market_forward(measure) -> None:
    """A martingale at every node: Σ_ℓ w_ℓ·J_ℓ(T) = 1 at every expiry, so a forward line's
    price is DF·(F − K) — on the node dates, between them, before and after."""
    expiries = (*EXPIRIES, D(2025, 7, 10), D(2025, 7, 31), D(2025, 8, 2), D(2027, 6, 1))
    options = book(kinds=VANILLAS[2:], strikes=(100.0, 150.0), expiries=expiries)
    for market in (MARKET, BARE):
        ours = value_book(market=market, scenario_set=TREE_SET, options=options, measure=measure)
        strikes = np.array([o.strike for o in options])
        dfs = option_arrays(market, options)["discount_factors"]
        np.testing.assert_allclose(ours.greeks.price / dfs + strikes, ours.forwards, rtol=1e-12)
    fit = fit_measure(MARKET, TREE_SET, measure)
    for node in fit.nodes:
        assert abs(node.forward_mismatch) < 1e-13
        assert float(node.weights @ node.jumps) == pytest.approx(1.0, abs=1e-13)
    assert abs(fit.forward_mismatch) < 1e-13


def test_a_decision_on_the_expiry_is_not_part_of_it() -> None:
    """An option expiring on 08-01 is priced as if the 08-01 decision came later; on 07-09,
    as if no decision came: the same prices with the second node moved a day later, and with
    both nodes moved (witness: the day-later trees, whose nodes are after the expiry). Read
    with the quoted diffusion: ex-event, each decision date's variance comes out of the
    quotes, so moving a node moves the diffusion too (tests/pricing/vol/test_event_strip.py)."""
    quoted = BARE.with_diffusion(Diffusion.QUOTED)
    later = tree_set(DecisionTree.build(**spec(second=D(2025, 8, 4))))
    on_second = book(expiries=(EFFECTIVE,))
    np.testing.assert_allclose(
        value_book(market=quoted, scenario_set=TREE_SET, options=on_second).greeks.price,
        value_book(market=quoted, scenario_set=later, options=on_second).greeks.price,
        rtol=1e-13,
        atol=1e-13 * SPOT,
    )
    on_root = book(expiries=(DEADLINE,))
    tree = value_book(market=quoted, scenario_set=TREE_SET, options=on_root)
    assert not tree.after_event.any()
    flat = value_book(market=quoted, scenario_set=SET, options=on_root)  # its event is 07-09 too
    np.testing.assert_allclose(tree.greeks.price, flat.greeks.price, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(tree.d_levels, 0.0)


# --- Greeks by finite differences --------------------------------------------------------------


def jump_tree_set(*, spot: float = SPOT, vol_shift: float = 0.0) -> ScenarioSet:
    """The tree with every move a jump ratio (levels as ratios to today's spot), so a bump of
    spot moves no jump: delta is ∂/∂S0 at fixed ratios, as for a flat set."""
    data = spec(vol_shift=vol_shift)
    for node in data["nodes"]:
        for branch in node["branches"]:
            if "level" in branch:
                branch["jump"] = branch.pop("level") / SPOT
    return tree_set(DecisionTree.build(**data), spot=spot)


GREEK_BOOK = book(
    expiries=(D(2025, 6, 27), D(2025, 7, 22), D(2025, 8, 12), D(2026, 3, 12)),
    strikes=(132.0, 144.0, 157.0),
)


def priced(market=FLAT, scenario_set=None) -> Any:
    scenario_set = scenario_set or jump_tree_set(spot=market.spot)
    return value_book(market=market, scenario_set=scenario_set, options=GREEK_BOOK).greeks


def test_delta_gamma_vega_rho_are_differences_of_the_tree_price() -> None:
    g = priced()
    h_spot, h_vol, h_rate = 1e-3, 1e-5, 1e-6

    def diff(up, down, h):
        return (up.price - down.price) / (2 * h)

    spot_up, spot_down = (priced(flat_market(spot=SPOT + s * h_spot)) for s in (1, -1))
    np.testing.assert_allclose(g.delta, diff(spot_up, spot_down, h_spot), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        g.gamma, (spot_up.delta - spot_down.delta) / (2 * h_spot), rtol=1e-5, atol=1e-8
    )
    vol_up, vol_down = (
        priced(flat_market(vol=0.11 + s * h_vol), jump_tree_set(vol_shift=s * h_vol))
        for s in (1, -1)
    )
    np.testing.assert_allclose(g.vega, diff(vol_up, vol_down, h_vol), rtol=1e-5, atol=1e-8)
    for greek, field in (("rho_jpy", "r_jpy"), ("rho_usd", "r_usd")):
        base = {"r_jpy": 0.006, "r_usd": 0.04}
        up, down = (
            priced(flat_market(**{**base, field: base[field] + s * h_rate})) for s in (1, -1)
        )
        np.testing.assert_allclose(
            getattr(g, greek), diff(up, down, h_rate), rtol=1e-5, atol=1e-8, err_msg=greek
        )


def test_theta_is_the_difference_of_a_roll_of_the_date_with_the_decisions_fixed() -> None:
    """Rolls of one and two days either way, Richardson-combined,
    ``(8·(V₊₁ − V₋₁) − (V₊₂ − V₋₂))/12`` per day (O(h⁴)): within 5e-4 even for a two-week
    far-wing digital, whose time derivatives grow as (d²/T)^k (the plain one-day difference
    is 4% off there; a 360-day count would be 1.4% off everywhere)."""
    g = priced()
    values = {}
    for days in (-2, -1, 1, 2):
        values[days] = priced(flat_market(today=TODAY + dt.timedelta(days=days))).price
    per_day = (8 * (values[1] - values[-1]) - (values[2] - values[-2])) / 12
    np.testing.assert_allclose(g.theta / 365.0, per_day, rtol=5e-4, atol=1e-10)


def level_bumped(node: int, branch: int, h: float) -> ScenarioSet:
    return tree_set(DecisionTree.build(**spec(bump=(node, branch, h))))


@pytest.mark.parametrize("measure", list(Measure))
def test_dprice_dlevel_per_branch_is_the_difference_of_the_rebuilt_tree(measure) -> None:
    """Each branch's level (a jump branch: S0·J) bumped, the tree rebuilt and its measure
    re-solved at that node: the central difference of the price, per line (the ATM curve:
    the vols do not move with the level)."""
    options = book(kinds=VANILLAS + DIGITALS[:2])
    ours = value_book(market=BARE, scenario_set=TREE_SET, options=options, measure=measure)
    assert ours.level_names == (
        "deadline/deal",
        "deadline/suspension",
        "deadline/no_deal",
        "effective/holds",
        "effective/unravels",
    )
    assert ours.d_levels.shape == (len(options), 5)
    h = 1e-3
    for column, (node, branch) in enumerate(((0, 0), (0, 1), (0, 2), (1, 0), (1, 1))):
        up, down = (
            value_book(
                market=BARE,
                scenario_set=level_bumped(node, branch, s * h),
                options=options,
                measure=measure,
            ).greeks.price
            for s in (1, -1)
        )
        fd = (up - down) / (2 * h)
        assert_difference(ours.d_levels[:, column], fd, ours.level_names[column])
    assert np.any(np.abs(ours.d_levels[:, 3:]) > 1e-3)  # the second node moves late lines
    before_second = np.array([o.expiry <= EFFECTIVE for o in options])
    np.testing.assert_array_equal(ours.d_levels[before_second, 3:], 0.0)


def test_a_flat_sets_dprice_dlevel_is_the_difference_of_its_price() -> None:
    options = book(kinds=VANILLAS + DIGITALS[:2])
    ours = value_book(market=BARE, scenario_set=SET, options=options)
    assert ours.d_levels.shape == (len(options), len(SET.scenarios))
    h = 1e-3
    for i in range(len(SET.scenarios)):

        def at(shift: float, i: int = i) -> np.ndarray:
            scenarios = list(SET.scenarios)
            scenarios[i] = dataclasses.replace(scenarios[i], level=scenarios[i].level + shift)
            bumped = dataclasses.replace(SET, scenarios=tuple(scenarios))
            return value_book(market=BARE, scenario_set=bumped, options=options).greeks.price

        fd = (at(h) - at(-h)) / (2 * h)
        assert_difference(ours.d_levels[:, i], fd, SET.scenarios[i].name)


# --- the compiled book against the step-by-step valuation ---------------------------------------


def three_level_set() -> ScenarioSet:
    """Root (3) → a 07-22 node on two routes (reached from deal and from suspension), the
    suspension's → an 08-01 node; no_deal ends: 9 leaves, nodes on three dates."""
    b = {"vol": 0.1}
    tree = DecisionTree.build(
        root="deadline",
        nodes=[
            {"id": "deadline", "date": DEADLINE, "branches": [
                {"name": "deal", "probability": 0.4, **b, "level": 152.0, "next": "talks"},
                {"name": "suspension", "probability": 0.35, "vol": 0.11, "level": 145.0,
                 "next": "talks"},
                {"name": "no_deal", "probability": 0.25, "vol": 0.13, "level": 139.0}]},
            {"id": "talks", "date": D(2025, 7, 22), "branches": [
                {"name": "progress", "probability": 0.5, "vol": 0.095, "jump": 1.01,
                 "next": "effective"},
                {"name": "stall", "probability": 0.3, "vol": 0.12, "jump": 0.985},
                {"name": "collapse", "probability": 0.2, "vol": 0.15, "jump": 0.96}]},
            {"id": "effective", "date": EFFECTIVE, "branches": [
                {"name": "holds", "probability": 0.7, "vol": 0.09, "jump": 1.012},
                {"name": "unravels", "probability": 0.3, "vol": 0.14, "jump": 0.955}]},
        ],
    )  # fmt: skip
    return tree_set(tree)


DEEP_SET = three_level_set()
ALL_EXPIRIES = (*EXPIRIES, D(2025, 7, 15), D(2025, 7, 28), D(2027, 12, 1))


@pytest.mark.parametrize(
    "market", [MARKET, BARE, LINEAR], ids=["surface", "atm-curve", "linear-zero"]
)
@pytest.mark.parametrize("scenario_set", [TREE_SET, DEEP_SET], ids=["two-node", "three-level"])
@pytest.mark.parametrize("measure", list(Measure))
def test_the_compiled_book_equals_the_stepwise_valuation_on_trees(
    market, scenario_set, measure
) -> None:
    options = book(expiries=ALL_EXPIRIES)
    fused = value_book(market=market, scenario_set=scenario_set, options=options, measure=measure)
    stepwise = value_book_stepwise(
        market=market, scenario_set=scenario_set, options=options, measure=measure
    )
    assert fused.after_event.any() and not fused.after_event.all()
    assert fused.level_names == stepwise.level_names
    assert_same(fused, stepwise)


@pytest.mark.parametrize("scenario_set", [TREE_SET, DEEP_SET], ids=["two-node", "three-level"])
@pytest.mark.parametrize("market", [MARKET, BARE], ids=["surface", "atm-curve"])
def test_serial_and_threaded_builds_agree_bit_for_bit_on_trees(
    monkeypatch, scenario_set, market
) -> None:
    options = book(strikes=tuple(np.linspace(110.0, 185.0, 30)), expiries=ALL_EXPIRIES)
    assert len(options) > 1000
    tables = book_tables(market, scenario_set, Measure.TILT)
    args = option_arrays(market, options)
    arrays = dict(
        payoffs=args["payoffs"],
        strikes=args["strikes"],
        expiries=args["expiries"],
        deliveries=np.array([year_fraction(TODAY, o.delivery) for o in options]),
    )
    monkeypatch.setattr(fx_book, "PARALLEL_THRESHOLD", 10**9)
    serial = fx_book.value_fx_book(tables, **arrays)
    monkeypatch.setattr(fx_book, "PARALLEL_THRESHOLD", 1)
    threaded = fx_book.value_fx_book(tables, **arrays)
    assert serial.problem is threaded.problem is fx_book.Problem.NONE
    for name in ("columns", "scenario_values", "d_jumps", "d_levels", "implied_status"):
        np.testing.assert_array_equal(getattr(serial, name), getattr(threaded, name), name)


# --- the measure node by node, and what is refused ---------------------------------------------


def test_the_fit_reports_every_node() -> None:
    fit = fit_measure(MARKET, DEEP_SET, Measure.TILT)
    assert [n.id for n in fit.nodes] == ["deadline", "talks", "effective"]
    assert [n.date for n in fit.nodes] == [DEADLINE, D(2025, 7, 22), EFFECTIVE]
    assert fit.nodes[1].branch_names == ("progress", "stall", "collapse")
    assert fit.tilt == fit.nodes[0].tilt
    for node in fit.nodes:
        assert node.tilt is not None and math.isfinite(node.tilt)
        assert node.weights.sum() == pytest.approx(1.0, abs=1e-15)
    # leaf weights: Π q along each path, in the set's order (written out for two leaves)
    q = {n.id: dict(zip(n.branch_names, n.weights, strict=True)) for n in fit.nodes}
    names = [s.name for s in DEEP_SET.scenarios]
    assert len(names) == 9
    leaf = names.index("suspension/progress/unravels")
    expected = q["deadline"]["suspension"] * q["talks"]["progress"] * q["effective"]["unravels"]
    assert fit.weights[leaf] == pytest.approx(expected, rel=1e-15)
    assert fit.weights[names.index("no_deal")] == q["deadline"]["no_deal"]
    assert fit.weights.sum() == pytest.approx(1.0, abs=1e-14)


def test_a_node_the_tilt_cannot_make_a_martingale_is_named() -> None:
    data = spec()
    for branch in data["nodes"][1]["branches"]:
        branch["jump"] = 1.02 + 0.01 * len(branch["name"]) / 10
    one_sided = tree_set(DecisionTree.build(**data))
    for path in (value_book, value_book_stepwise):
        with pytest.raises(DomainError, match=r"must straddle the forward for the tilt") as caught:
            path(market=MARKET, scenario_set=one_sided, options=book())
        assert caught.value.kind is ErrorKind.NO_MEASURE
        assert [e.field for e in caught.value.errors] == ["scenario_set.tree.nodes[1].branches"]
    fit = fit_measure(MARKET, one_sided, Measure.SCALE)  # scale makes it one
    assert abs(fit.nodes[1].forward_mismatch) < 1e-15


def test_a_scenario_smile_under_a_tree_is_refused_by_name() -> None:
    smile = ScenarioSmile(shift=SmileShift(atm=-0.01, rr25=0.0, bf25=0.0))
    scenarios = list(TREE_SET.scenarios)
    scenarios[2] = dataclasses.replace(scenarios[2], smile=smile)
    smiled = dataclasses.replace(TREE_SET, scenarios=tuple(scenarios))
    for path in (value_book, value_book_stepwise):
        with pytest.raises(DomainError, match=r"is not supported under a decision tree") as caught:
            path(market=MARKET, scenario_set=smiled, options=book())
        assert caught.value.kind is ErrorKind.INVALID
        assert [e.field for e in caught.value.errors] == ["scenario_set.scenarios[2].smile"]
