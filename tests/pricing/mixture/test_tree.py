"""Decision-tree mixture: reductions to the flat event mixture, quadrature of the hand-built
leaf mixture, the martingale at every node, and the compiled loop against numpy.

Witnesses: the flat event-mixture kernel :func:`pricing.mixture.european.mixture_greeks` (a
tree whose second decisions have one branch with J = 1 is the flat set, piecewise vols
folded into one effective vol; an expiry before a tree's second decisions sees only its
root); mpmath quadrature of each payoff against the lognormal-mixture density written out by
hand from the tree (Breeden & Litzenberger 1978: the price is the discounted payoff
integrated against the terminal density); QuantLib's ``blackFormula`` for a tree that never
jumps; put–call parity; the tower property (Σ q J = 1 at each node makes every expiry's
mixture forward the market's).
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import QuantLib as ql

from pricing.fx.black import Payoff
from pricing.mixture.european import ScenarioMix, mixture_greeks
from pricing.mixture.measure import Measure, NoRiskNeutralMeasure, risk_neutral
from pricing.mixture.tree import (
    NoRiskNeutralMeasureAtNode,
    TreeMix,
    TreeShape,
    leaf_states,
    tree_leaf_values,
    tree_measure,
    tree_price,
)
from tests.pricing.book import flat_book

SPOT, R_JPY, R_USD, PRE_VOL = 144.1, 0.0048, 0.043, 0.115
T_ROOT, T_SECOND = 26 / 365, 49 / 365  # 2025-07-09 and 2025-08-01 from 2025-06-13
LEVELS = np.array([158.0, 148.0, 152.0, 139.0, 134.0])
PROBS = np.array([0.15, 0.30, 0.15, 0.25, 0.15])
VOLS = np.array([0.09, 0.10, 0.10, 0.125, 0.15])
STRIKES = np.linspace(110.0, 180.0, 36)
# before, on the root, between, on the second decisions, after them
EXPIRIES = (7 / 365, T_ROOT, 0.1, T_SECOND, 0.25, 1.0, 3.0)


def market(strikes: np.ndarray, expiries: np.ndarray) -> dict[str, np.ndarray]:
    strikes, expiries = np.broadcast_arrays(np.asarray(strikes, float), np.asarray(expiries, float))
    return {
        "strikes": strikes.copy(),
        "forwards": SPOT * np.exp((R_JPY - R_USD) * expiries),
        "discount_factors": np.exp(-R_JPY * expiries),
        "expiries": expiries.copy(),
    }


def priced(payoff: int, mix: TreeMix, strikes=STRIKES, expiry=1.0, pre_vol=PRE_VOL) -> np.ndarray:
    args = market(strikes, expiry)
    n = args["strikes"].size
    return tree_price(payoffs=np.full(n, payoff), pre_vols=np.full(n, pre_vol), mix=mix, **args)


def flat_price(payoff: int, mix: ScenarioMix, strikes=STRIKES, expiry=1.0) -> np.ndarray:
    book = flat_book(
        payoffs=np.full(np.broadcast(strikes, expiry).shape, payoff),
        strikes=strikes,
        expiries=expiry,
        spot=SPOT,
        r_jpy=R_JPY,
        r_usd=R_USD,
        pre_vol=PRE_VOL,
        event_time=T_ROOT,
    )
    return mixture_greeks(book=book, mix=mix, spot=SPOT).price


def root_with_one_branch_children() -> tuple[TreeShape, np.ndarray]:
    """Root: the five scenarios, branch i leading to node i + 1 on the second date, which has
    one branch with J = 1. Returns the shape and the branch jumps."""
    m = LEVELS.size
    shape = TreeShape(
        node_times=np.array([T_ROOT] + [T_SECOND] * m),
        branch_nodes=np.array([0] * m + list(range(1, m + 1))),
        branch_children=np.array(list(range(1, m + 1)) + [-1] * m),
    )
    return shape, np.concatenate([LEVELS / SPOT, np.ones(m)])


def one_branch_tree_mix(second_vols: np.ndarray, measure: Measure = Measure.TILT) -> TreeMix:
    shape, jumps = root_with_one_branch_children()
    fit = tree_measure(
        shape=shape,
        probabilities=np.concatenate([PROBS, np.ones(LEVELS.size)]),
        jumps=jumps,
        measures=measure,
    )
    return TreeMix.from_fit(shape=shape, fit=fit, vols=np.concatenate([VOLS, second_vols]))


def flat_mix() -> ScenarioMix:
    fit = risk_neutral(probabilities=PROBS, jumps=LEVELS / SPOT, measure=Measure.TILT)
    return ScenarioMix(weights=fit.weights, jumps=fit.jumps, vols=VOLS)


@pytest.mark.parametrize("payoff", [Payoff.CALL, Payoff.PUT, Payoff.DIGITAL_CALL_JPY])
@pytest.mark.parametrize("expiry", EXPIRIES)
def test_one_branch_second_decisions_keeping_the_vol_price_as_the_flat_set(
    payoff: int, expiry: float
) -> None:
    """Witness: the flat event-mixture kernel with the same five scenarios."""
    tree = one_branch_tree_mix(VOLS)
    np.testing.assert_allclose(
        priced(payoff, tree, expiry=expiry),
        flat_price(payoff, flat_mix(), expiry=expiry),
        rtol=1e-13,
        atol=1e-14 * SPOT,
    )


@pytest.mark.parametrize("expiry", [0.1, T_SECOND, 0.25, 1.0])
def test_one_branch_second_decisions_change_only_the_vol(expiry: float) -> None:
    """Witness: the flat kernel with each scenario's vol the effective one of its piecewise
    variance, √((σ_i²·(t_1 − t_0) + σ'_i²·(T − t_1)) / (T − t_0)), per option ``[n, m]``."""
    second = np.array([0.07, 0.13, 0.085, 0.16, 0.2])
    post = expiry - T_ROOT
    first = min(expiry, T_SECOND) - T_ROOT
    effective = np.sqrt((VOLS**2 * first + second**2 * (post - first)) / post)
    flat = ScenarioMix(
        weights=flat_mix().weights,
        jumps=flat_mix().jumps,
        vols=np.repeat(effective[None, :], STRIKES.size, axis=0),
    )
    np.testing.assert_allclose(
        priced(Payoff.CALL, one_branch_tree_mix(second), expiry=expiry),
        flat_price(Payoff.CALL, flat, expiry=expiry),
        rtol=1e-13,
        atol=1e-14 * SPOT,
    )


def test_one_branch_with_a_jump_has_no_tilt_and_scale_makes_it_one() -> None:
    """Σ q J = 1 with one branch forces J = 1: the tilt refuses, naming the node; scale
    divides the jump by itself."""
    shape = TreeShape(
        node_times=np.array([T_ROOT, T_SECOND]),
        branch_nodes=np.array([0, 0, 1]),
        branch_children=np.array([1, -1, -1]),
    )
    p, j = np.array([0.5, 0.5, 1.0]), np.array([1.05, 0.95, 1.02])
    with pytest.raises(NoRiskNeutralMeasureAtNode, match="node 1") as caught:
        tree_measure(shape=shape, probabilities=p, jumps=j, measures=Measure.TILT)
    assert caught.value.node == 1
    assert isinstance(caught.value, NoRiskNeutralMeasure)
    fit = tree_measure(
        shape=shape, probabilities=p, jumps=j, measures=[Measure.TILT, Measure.SCALE]
    )
    assert fit.jumps[2] == 1.0
    assert np.isnan(fit.tilts[1])
    assert fit.tilts[0] == pytest.approx(0.0, abs=1e-12)  # Σ p J = 1 already at the root


# --- a two-node tree against quadrature ------------------------------------------------------

# root on 07-09: deal → the 08-01 decision, suspension ends, no deal ends
ROOT_P, ROOT_J = np.array([0.3, 0.45, 0.25]), np.array([1.07, 1.01, 0.95])
ROOT_VOL = [0.09, 0.10, 0.125]
SECOND_P, SECOND_J = np.array([0.6, 0.4]), np.array([1.02, 0.96])
SECOND_VOL = [0.085, 0.14]


def two_node_mix() -> TreeMix:
    shape = TreeShape(
        node_times=np.array([T_ROOT, T_SECOND]),
        branch_nodes=np.array([0, 0, 0, 1, 1]),
        branch_children=np.array([1, -1, -1, -1, -1]),
    )
    fit = tree_measure(
        shape=shape,
        probabilities=np.concatenate([ROOT_P, SECOND_P]),
        jumps=np.concatenate([ROOT_J, SECOND_J]),
        measures=Measure.TILT,
    )
    return TreeMix.from_fit(shape=shape, fit=fit, vols=np.array(ROOT_VOL + SECOND_VOL))


def hand_built_components(expiry: float) -> list[tuple[float, float, float]]:
    """(weight, cumulative jump, total variance) of each leaf, written out from the tree."""
    q0 = risk_neutral(probabilities=ROOT_P, jumps=ROOT_J, measure=Measure.TILT).weights
    q1 = risk_neutral(probabilities=SECOND_P, jumps=SECOND_J, measure=Measure.TILT).weights
    if expiry <= T_ROOT:
        return [(1.0, 1.0, PRE_VOL**2 * expiry)]
    pre = PRE_VOL**2 * T_ROOT
    out = []
    if expiry <= T_SECOND:  # the 08-01 decision not yet taken
        out.append((q0[0], ROOT_J[0], pre + ROOT_VOL[0] ** 2 * (expiry - T_ROOT)))
    else:
        deal = pre + ROOT_VOL[0] ** 2 * (T_SECOND - T_ROOT)
        for b in range(2):
            variance = deal + SECOND_VOL[b] ** 2 * (expiry - T_SECOND)
            out.append((q0[0] * q1[b], ROOT_J[0] * SECOND_J[b], variance))
    for b in (1, 2):
        out.append((q0[b], ROOT_J[b], pre + ROOT_VOL[b] ** 2 * (expiry - T_ROOT)))
    return out


def quadrature(payoff: int, strike: float, expiry: float) -> float:
    """DF·∫ payoff(S)·f(S) dS over the log of S_T, f the hand-built lognormal mixture."""
    mp.mp.dps = 30
    forward = mp.mpf(SPOT) * mp.exp(mp.mpf(R_JPY - R_USD) * expiry)
    parts = [
        (mp.mpf(w), mp.log(forward * j) - mp.mpf(v) / 2, mp.sqrt(v))
        for w, j, v in hand_built_components(expiry)
    ]

    def density(x: mp.mpf) -> mp.mpf:
        return mp.fsum(w * mp.npdf(x, mu, sd) for w, mu, sd in parts)

    k = mp.log(strike)
    above = sorted(mu for _, mu, _ in parts if mu > k)
    below = sorted(mu for _, mu, _ in parts if mu < k)
    if payoff == Payoff.CALL:
        value = mp.quad(lambda x: (mp.exp(x) - strike) * density(x), [k, *above, mp.inf])
    elif payoff == Payoff.PUT:
        value = mp.quad(lambda x: (strike - mp.exp(x)) * density(x), [-mp.inf, *below, k])
    else:  # DIGITAL_CALL_JPY: pays 1 JPY above the strike
        value = mp.quad(density, [k, *above, mp.inf])
    return float(mp.exp(-mp.mpf(R_JPY) * expiry) * value)


@pytest.mark.parametrize("payoff", [Payoff.CALL, Payoff.PUT, Payoff.DIGITAL_CALL_JPY])
@pytest.mark.parametrize("expiry", [7 / 365, 0.1, T_SECOND, 0.5, 1.5])
def test_two_node_tree_prices_equal_quadrature_of_the_hand_built_mixture(
    payoff: int, expiry: float
) -> None:
    strikes = np.array([125.0, 144.1, 165.0])
    ours = priced(payoff, two_node_mix(), strikes=strikes, expiry=expiry)
    reference = [quadrature(payoff, k, expiry) for k in strikes]
    np.testing.assert_allclose(ours, reference, rtol=1e-9)


# --- the measure ----------------------------------------------------------------------------


def three_level_tree(rng: np.random.Generator) -> tuple[TreeShape, np.ndarray, np.ndarray]:
    """Root (3 branches) → nodes 1, 2 (2 and 3 branches) on one date; node 2's first branch →
    node 3 (2 branches) later. Probabilities drawn, jumps drawn on both sides of 1."""
    nodes = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
    shape = TreeShape(
        node_times=np.array([T_ROOT, T_SECOND, T_SECOND, 0.4]),
        branch_nodes=nodes,
        branch_children=np.array([1, 2, -1, -1, -1, 3, -1, -1, -1, -1]),
    )
    p = rng.uniform(0.1, 1.0, nodes.size)
    p /= np.bincount(nodes, weights=p)[nodes]
    j = np.exp(rng.normal(0.0, 0.05, nodes.size))
    for node in range(4):  # each node straddles 1, so the tilt exists
        rows = np.flatnonzero(nodes == node)
        j[rows[0]], j[rows[-1]] = 1.06, 0.93
    return shape, p, j


@pytest.mark.parametrize("measure", [Measure.TILT, Measure.SCALE])
def test_every_node_is_a_martingale_and_every_expiry_has_the_market_forward(
    measure: Measure,
) -> None:
    shape, p, j = three_level_tree(np.random.default_rng(11))
    fit = tree_measure(shape=shape, probabilities=p, jumps=j, measures=measure)
    for node in range(4):
        rows = shape.branch_nodes == node
        assert float(fit.weights[rows] @ fit.jumps[rows]) == pytest.approx(1.0, abs=1e-12)
        assert fit.weights[rows].sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(fit.forward_mismatches, 0.0, atol=1e-12)
    assert fit.leaf_weights.sum() == pytest.approx(1.0, abs=1e-14)
    mix = TreeMix.from_fit(shape=shape, fit=fit, vols=np.full(p.size, 0.1))
    expiries = np.array([0.01, T_ROOT, 0.1, T_SECOND, 0.2, 0.4, 0.41, 2.0, 10.0])
    states = leaf_states(mix=mix, expiries=expiries, pre_vols=np.full(expiries.size, PRE_VOL))
    np.testing.assert_allclose(states.jumps @ mix.weights, 1.0, rtol=0, atol=1e-12)
    # the forward payoff, DF·(Σ w·F·J − K), against the market's DF·F
    args = market(np.full(expiries.size, 1e-300), expiries)
    forwards = tree_price(
        payoffs=np.full(expiries.size, Payoff.FORWARD),
        pre_vols=np.full(expiries.size, PRE_VOL),
        mix=mix,
        **args,
    )
    np.testing.assert_allclose(
        forwards, args["discount_factors"] * args["forwards"], rtol=1e-12, atol=0
    )


def test_none_reports_each_nodes_mismatch_and_prices_the_subjective_forward() -> None:
    shape, p, j = three_level_tree(np.random.default_rng(5))
    fit = tree_measure(shape=shape, probabilities=p, jumps=j, measures=Measure.NONE)
    for node in range(4):
        rows = shape.branch_nodes == node
        assert fit.forward_mismatches[node] == pytest.approx(float(p[rows] @ j[rows]) - 1.0)
    np.testing.assert_array_equal(fit.weights, p)
    mix = TreeMix.from_fit(shape=shape, fit=fit, vols=np.full(p.size, 0.1))
    states = leaf_states(mix=mix, expiries=np.array([5.0]), pre_vols=np.array([PRE_VOL]))
    # E_p[Π J] written out from the tree: each node's mean jump nested under its branch
    pj = p * j
    expected = pj[0] * (pj[3] + pj[4]) + pj[1] * (pj[5] * (pj[8] + pj[9]) + pj[6] + pj[7]) + pj[2]
    assert float(states.jumps[0] @ mix.weights) == pytest.approx(expected, rel=1e-13)


# --- identities, limits, the compiled loop ---------------------------------------------------


@pytest.mark.parametrize("expiry", EXPIRIES)
def test_put_call_parity_and_digitals_summing_to_the_discount_factor(expiry: float) -> None:
    mix = two_node_mix()
    calls, puts = priced(Payoff.CALL, mix, expiry=expiry), priced(Payoff.PUT, mix, expiry=expiry)
    args = market(STRIKES, expiry)
    parity = args["discount_factors"] * (args["forwards"] - STRIKES)
    np.testing.assert_allclose(calls - puts, parity, rtol=0, atol=1e-12 * SPOT)
    up = priced(Payoff.DIGITAL_CALL_JPY, mix, expiry=expiry)
    down = priced(Payoff.DIGITAL_PUT_JPY, mix, expiry=expiry)
    np.testing.assert_allclose(up + down, args["discount_factors"], rtol=1e-13)


def test_a_tree_that_never_jumps_with_one_vol_is_black() -> None:
    """Every J = 1 and every vol σ_pre: Black with σ_pre (QuantLib ``blackFormula``)."""
    shape, p, _ = three_level_tree(np.random.default_rng(3))
    fit = tree_measure(shape=shape, probabilities=p, jumps=np.ones(p.size), measures=Measure.TILT)
    mix = TreeMix.from_fit(shape=shape, fit=fit, vols=np.full(p.size, PRE_VOL))
    for expiry in (0.05, 0.3, 2.0):
        forward = SPOT * math.exp((R_JPY - R_USD) * expiry)
        ours = priced(Payoff.CALL, mix, expiry=expiry)
        for k, value in zip(STRIKES, ours, strict=True):
            reference = ql.blackFormula(
                ql.Option.Call, k, forward, PRE_VOL * math.sqrt(expiry), math.exp(-R_JPY * expiry)
            )
            assert value == pytest.approx(reference, rel=1e-12)


def test_an_expiry_before_the_second_decisions_sees_only_the_root() -> None:
    """Leaves sharing the root branch share its jump and variance, and their weights sum to
    its q: the price is the flat kernel's over the root's branches alone (witness), and the
    sharing leaves' values are equal."""
    mix = two_node_mix()
    root = risk_neutral(probabilities=ROOT_P, jumps=ROOT_J, measure=Measure.TILT)
    flat = ScenarioMix(weights=root.weights, jumps=root.jumps, vols=np.array(ROOT_VOL))
    for expiry in (0.1, T_SECOND):  # an expiry on the second date does not include it
        np.testing.assert_allclose(
            priced(Payoff.CALL, mix, expiry=expiry),
            flat_price(Payoff.CALL, flat, expiry=expiry),
            rtol=1e-13,
            atol=1e-15,  # the leaves sharing the prefix summed one by one: ~1e-16 on 1e-6
        )
        args = market(STRIKES, expiry)
        values = tree_leaf_values(
            payoffs=np.zeros(STRIKES.size, dtype=np.int64),
            pre_vols=np.full(STRIKES.size, PRE_VOL),
            mix=mix,
            **args,
        )
        np.testing.assert_array_equal(values[:, 0], values[:, 1])
        assert mix.weights[0] + mix.weights[1] == pytest.approx(root.weights[0], rel=1e-15)


def test_paths_are_depth_first_in_branch_order() -> None:
    shape, _, _ = three_level_tree(np.random.default_rng(0))
    assert shape.paths.tolist() == [
        [0, 3, -1],
        [0, 4, -1],
        [1, 5, 8],
        [1, 5, 9],
        [1, 6, -1],
        [1, 7, -1],
        [2, -1, -1],
    ]
    assert shape.path_times[2].tolist() == [T_ROOT, T_SECOND, 0.4]
    assert shape.path_times[6, 1] == np.inf


@pytest.mark.parametrize(
    ("times", "match"),
    [([0.1, 0.1], "after its parent"), ([0.2, 0.1], "after its parent")],
)
def test_shape_refuses_a_child_not_after_its_parent(times: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TreeShape(
            node_times=np.array(times),
            branch_nodes=np.array([0, 1]),
            branch_children=np.array([1, -1]),
        )
