"""Decision trees as domain objects: leaves, the rules a tree must keep (each broken rule
names its field), the market checks, and the flat set as a one-node tree.

Witnesses: products written out by hand along each path (Π p, Π J with J = level/S0); the
law of total probability (leaf probabilities sum to 1); the flat event-mixture kernel
:func:`pricing.mixture.european.mixture_greeks` for a flat set priced as a one-node tree, and
as a tree whose second decisions have one branch with J = 1 and the same vol.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from typing import Any

import numpy as np
import pytest

from pricing.fx.black import Payoff
from pricing.mixture.european import ScenarioMix, mixture_greeks
from pricing.mixture.measure import Measure, risk_neutral
from pricing.mixture.tree import TreeMix, tree_price
from scenarios.errors import DomainError, ErrorKind
from scenarios.scenario import Scenario, ScenarioSet, one_node_tree
from scenarios.tree import (
    MAX_DEPTH,
    MAX_LEAVES,
    Branch,
    DecisionNode,
    DecisionTree,
    fit_tree_measure,
)
from tests.pricing.book import flat_book

TODAY, SPOT = dt.date(2025, 6, 13), 144.1  # the built-in market (MARKET_FACTS.md)
G7, DEADLINE, EFFECTIVE = dt.date(2025, 6, 15), dt.date(2025, 7, 9), dt.date(2025, 8, 1)


def spec() -> dict[str, Any]:
    """The G7 bilateral, then the 07-09 deadline; a deal there → whether 08-01 holds it."""
    return {
        "root": "g7",
        "nodes": [
            {
                "id": "g7",
                "date": G7,
                "branches": [
                    {"name": "warm", "probability": 0.55, "vol": 0.11, "level": 146.0,
                     "next": "deadline"},
                    {"name": "cold", "probability": 0.45, "vol": 0.12, "level": 142.5,
                     "next": "deadline"},
                ],
            },
            {
                "id": "deadline",
                "date": DEADLINE,
                "branches": [
                    {"name": "deal", "probability": 0.4, "vol": 0.10, "level": 152.0,
                     "next": "effective"},
                    {"name": "suspension", "probability": 0.35, "vol": 0.10, "level": 145.0},
                    {"name": "no_deal", "probability": 0.25, "vol": 0.13, "level": 139.0},
                ],
            },
            {
                "id": "effective",
                "date": EFFECTIVE,
                "branches": [
                    {"name": "holds", "probability": 0.7, "vol": 0.09, "jump": 1.01},
                    {"name": "unravels", "probability": 0.3, "vol": 0.14, "jump": 0.95},
                ],
            },
        ],
    }  # fmt: skip


def test_leaves_multiply_probabilities_and_jumps_along_each_path() -> None:
    tree = DecisionTree.build(**spec())
    leaves = tree.leaves(SPOT)
    assert [leaf.names for leaf in leaves] == [
        ("warm", "deal", "holds"),
        ("warm", "deal", "unravels"),
        ("warm", "suspension"),
        ("warm", "no_deal"),
        ("cold", "deal", "holds"),
        ("cold", "deal", "unravels"),
        ("cold", "suspension"),
        ("cold", "no_deal"),
    ]
    first = leaves[1]
    assert [date for date, _ in first.steps] == [G7, DEADLINE, EFFECTIVE]
    assert first.node_ids == ("g7", "deadline", "effective")
    assert first.probability == pytest.approx(0.55 * 0.4 * 0.3, rel=1e-15)
    # a level is the move from today's spot at every depth: J = level / S0
    assert first.jump == pytest.approx(146.0 / SPOT * 152.0 / SPOT * 0.95, rel=1e-15)
    assert math.fsum(leaf.probability for leaf in leaves) == pytest.approx(1.0, abs=1e-15)


def test_jumps_alone_need_no_spot_and_levels_do() -> None:
    tree = DecisionTree.build(**spec())
    branch = tree.node("effective").branches[0]
    assert branch.jump_ratio() == 1.01
    with pytest.raises(ValueError, match="needs the spot"):
        tree.leaves()


def bad(path: list[Any], value: Any) -> dict[str, Any]:
    """``spec()`` with the item at ``path`` set to ``value`` (deleted if ``value`` is ...)."""
    data = copy.deepcopy(spec())
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (bad(["nodes", 2, "branches", 0, "next"], "g7"), "nodes[2].branches[0].next",
         "cycle, got 'g7' -> 'deadline' -> 'effective' -> 'g7'"),
        (bad(["nodes", 2, "date"], DEADLINE), "nodes[2].date", "must be after 2025-07-09"),
        (bad(["nodes", 2, "date"], G7), "nodes[2].date", "its parent 'deadline'"),
        (bad(["nodes", 1, "branches", 2, "probability"], 0.3), "nodes[1].branches",
         "must sum to 1"),
        (bad(["nodes", 1, "branches", 0, "next"], "deal_day"), "nodes[1].branches[0].next",
         "must be the id of a node, got 'deal_day'"),
        (bad(["nodes", 1, "branches", 0, "next"], None), "nodes[2].id",
         "reachable from the root 'g7'"),
        (bad(["nodes", 2, "id"], "deadline"), "nodes[2].id", "'deadline' is also nodes[1]"),
        (bad(["nodes", 1, "branches", 1, "name"], "deal"), "nodes[1].branches[1].name",
         "unique within the node"),
        (bad(["root"], "deadline_day"), "root", "got 'deadline_day'"),
        (bad(["nodes", 0, "branches", 0, "probability"], 1.3), "nodes[0].branches[0].probability",
         "must be in [0, 1]"),
        (bad(["nodes", 2, "branches", 0, "level"], 150.0), "nodes[2].branches[0].jump",
         "exactly one of jump and level, got both"),
        (bad(["nodes", 2, "branches", 1, "jump"], ...), "nodes[2].branches[1].jump",
         "got neither"),
        (bad(["nodes", 2, "branches", 1, "vol"], 0.0), "nodes[2].branches[1].vol", "[0.0001, 5]"),
        (bad(["nodes", 1, "branches", 0, "colour"], "red"), "nodes[1].branches[0].colour",
         "not a field"),
        (bad(["nodes", 1, "date"], "09/07/2025"), "nodes[1].date", "ISO date"),
        (bad(["nodes", 1, "branches"], []), "nodes[1].branches", "at least one branch"),
    ],
)  # fmt: skip
def test_a_broken_rule_names_its_field(data: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(DomainError) as caught:
        DecisionTree.build(**data)
    assert [e.field for e in caught.value.errors] == [field]
    assert reason in caught.value.errors[0].reason
    assert caught.value.kind is ErrorKind.INVALID


def chain(levels: int, width: int = 1) -> DecisionTree:
    """``levels`` nodes one a day apart; every branch of node k leads to node k + 1."""
    nodes = []
    for k in range(levels):
        nxt = f"n{k + 1}" if k + 1 < levels else None
        branches = tuple(
            Branch(f"b{j}", 1.0 / width, 0.1, jump=1.0, next=nxt) for j in range(width)
        )
        nodes.append(DecisionNode(f"n{k}", G7 + dt.timedelta(days=k), branches))
    return DecisionTree("n0", tuple(nodes))


def test_depth_and_leaf_count_are_bounded() -> None:
    assert len(chain(MAX_DEPTH, 4).leaves()) == 4**MAX_DEPTH == MAX_LEAVES
    with pytest.raises(DomainError) as caught:
        chain(MAX_DEPTH + 1)
    assert caught.value.errors[0].field == f"nodes[{MAX_DEPTH - 1}].branches[0].next"
    assert f"level {MAX_DEPTH + 1}" in caught.value.errors[0].reason
    wide = DecisionNode("n0", G7, tuple(Branch(f"b{j}", 1 / 64, 0.1, jump=1.0, next="n1")
                                      for j in range(64)))  # fmt: skip
    last = DecisionNode(
        "n1", DEADLINE, tuple(Branch(f"b{j}", 0.2, 0.1, jump=1.0) for j in range(5))
    )
    with pytest.raises(DomainError) as caught:
        DecisionTree("n0", (wide, last))
    assert caught.value.errors[0].field == "nodes"
    assert "at most 256 root-to-leaf paths, got 320" in caught.value.errors[0].reason


def test_a_node_reached_by_two_routes_is_two_paths() -> None:
    tree = DecisionTree.build(**spec())
    assert len(tree.leaves(SPOT)) == 8  # 'deadline' follows both G7 branches
    assert tree.leaves(SPOT)[0].node_ids == tree.leaves(SPOT)[4].node_ids


def test_a_node_validates_itself_with_relative_paths() -> None:
    branches = (Branch("a", 0.5, 0.1, jump=1.0), Branch("b", 0.4, 0.1, jump=1.0))
    with pytest.raises(DomainError, match=r"^branches: probabilities must sum to 1"):
        DecisionNode("n", G7, branches)
    with pytest.raises(DomainError, match=r"^probability: must be in \[0, 1\]"):
        Branch("a", -0.1, 0.1, jump=1.0)


@pytest.mark.parametrize(
    ("path", "value", "field", "reason"),
    [
        (["nodes", 0, "date"], TODAY, "nodes[0].date", "after the valuation date 2025-06-13"),
        (["nodes", 1, "branches", 0, "level"], 0.1, "nodes[1].branches[0].level",
         "within a factor of 1000 of spot"),
        (["nodes", 2, "branches", 0, "jump"], 999.0, "nodes[2].branches[0].jump",
         "warm -> deal -> holds within a factor of 1000"),
    ],
)  # fmt: skip
def test_checks_against_the_market_name_the_field(
    path: list[Any], value: Any, field: str, reason: str
) -> None:
    tree = DecisionTree.build(**bad(path, value))
    with pytest.raises(DomainError) as caught:
        tree.check_against(TODAY, SPOT)
    assert caught.value.errors[0].field == field
    assert reason in caught.value.errors[0].reason


def test_inputs_flatten_the_branches_node_by_node() -> None:
    tree = DecisionTree.build(**spec())
    inputs = tree.inputs(valuation_date=TODAY, spot=SPOT)
    np.testing.assert_array_equal(inputs.shape.node_times, np.array([2, 26, 49]) / 365)
    assert inputs.shape.branch_children.tolist() == [1, 1, 2, -1, -1, -1, -1]
    assert inputs.branch_fields[3] == "nodes[1].branches[1]"
    assert inputs.jumps[3] == 145.0 / SPOT and inputs.jumps[4] == 139.0 / SPOT
    assert inputs.shape.paths.shape == (8, 3)


def test_a_node_without_a_tilt_is_named_and_node_measures_override_the_choice() -> None:
    data = bad(["nodes", 2, "branches", 1, "jump"], 1.03)  # both 08-01 jumps above 1
    tree = DecisionTree.build(**data)
    with pytest.raises(DomainError) as caught:
        fit_tree_measure(tree, valuation_date=TODAY, spot=SPOT)
    assert caught.value.kind is ErrorKind.NO_MEASURE
    assert caught.value.errors[0].field == "nodes[2].branches"
    assert "'effective'" in caught.value.errors[0].reason
    _, fit = fit_tree_measure(
        tree, valuation_date=TODAY, spot=SPOT, node_measures={"effective": Measure.SCALE}
    )
    assert np.isnan(fit.tilts[2]) and not np.isnan(fit.tilts[0])
    np.testing.assert_allclose(fit.forward_mismatches, 0.0, atol=1e-14)
    with pytest.raises(DomainError, match=r"node_measures\.later"):
        fit_tree_measure(
            tree, valuation_date=TODAY, spot=SPOT, node_measures={"later": Measure.NONE}
        )


# --- the flat set as a tree ------------------------------------------------------------------

FLAT = ScenarioSet(
    "tariff-2025",
    "US-Japan auto-tariff talks",
    DEADLINE,
    (
        Scenario("comprehensive_deal", 0.15, 158.0, 0.09),
        Scenario("narrow_suspension", 0.30, 148.0, 0.10),
        Scenario("production_framework", 0.15, 152.0, 0.10),
        Scenario("no_deal", 0.25, 139.0, 0.125),
        Scenario("escalation", 0.15, 134.0, 0.15),
    ),
)
R_JPY, R_USD, PRE_VOL = 0.0048, 0.043, 0.115
STRIKES = np.linspace(120.0, 170.0, 26)


def tree_prices(tree: DecisionTree, payoff: int, expiry: float) -> np.ndarray:
    inputs, fit = fit_tree_measure(tree, valuation_date=TODAY, spot=SPOT)
    mix = TreeMix.from_fit(shape=inputs.shape, fit=fit, vols=inputs.vols)
    n = STRIKES.size
    return tree_price(
        payoffs=np.full(n, payoff),
        strikes=STRIKES,
        forwards=np.full(n, SPOT * math.exp((R_JPY - R_USD) * expiry)),
        discount_factors=np.full(n, math.exp(-R_JPY * expiry)),
        expiries=np.full(n, expiry),
        pre_vols=np.full(n, PRE_VOL),
        mix=mix,
    )


def flat_prices(payoff: int, expiry: float) -> np.ndarray:
    event_time = (DEADLINE - TODAY).days / 365
    book = flat_book(
        payoffs=np.full(STRIKES.size, payoff),
        strikes=STRIKES,
        expiries=np.full(STRIKES.size, expiry),
        spot=SPOT,
        r_jpy=R_JPY,
        r_usd=R_USD,
        pre_vol=PRE_VOL,
        event_time=event_time,
    )
    levels = np.array([s.level for s in FLAT.scenarios])
    fit = risk_neutral(
        probabilities=np.array([s.probability for s in FLAT.scenarios]),
        jumps=levels / SPOT,
        measure=Measure.TILT,
    )
    vols = np.array([s.vol for s in FLAT.scenarios])
    mix = ScenarioMix(weights=fit.weights, jumps=fit.jumps, vols=vols)
    return mixture_greeks(book=book, mix=mix, spot=SPOT).price


def with_one_branch_second_decisions(tree: DecisionTree) -> DecisionTree:
    """Each root branch → its own 08-01 node of one branch, J = 1, the same vol."""
    root = tree.root_node
    seconds = tuple(
        DecisionNode(f"after_{b.name}", EFFECTIVE, (Branch("holds", 1.0, b.vol, jump=1.0),))
        for b in root.branches
    )
    branches = tuple(
        Branch(b.name, b.probability, b.vol, level=b.level, next=f"after_{b.name}")
        for b in root.branches
    )
    return DecisionTree(tree.root, (DecisionNode(root.id, root.date, branches), *seconds))


def test_a_flat_set_is_a_one_node_tree() -> None:
    tree = one_node_tree(FLAT)
    leaves = tree.leaves(SPOT)
    assert [leaf.names for leaf in leaves] == [(s.name,) for s in FLAT.scenarios]
    assert [leaf.jump for leaf in leaves] == [s.level / SPOT for s in FLAT.scenarios]
    assert [leaf.steps[0][0] for leaf in leaves] == [DEADLINE] * 5


@pytest.mark.parametrize("payoff", [Payoff.CALL, Payoff.PUT, Payoff.DIGITAL_CALL_JPY])
@pytest.mark.parametrize("expiry", [10 / 365, 26 / 365, 0.1, 49 / 365, 0.5, 2.0])
def test_a_flat_set_prices_the_same_as_a_tree_of_one_node_or_with_one_branch_after(
    payoff: int, expiry: float
) -> None:
    """Witness: the flat event-mixture kernel with the set's own scenarios."""
    flat = flat_prices(payoff, expiry)
    one = one_node_tree(FLAT)
    for tree in (one, with_one_branch_second_decisions(one)):
        np.testing.assert_allclose(tree_prices(tree, payoff, expiry), flat, rtol=1e-13, atol=1e-13)
