"""Decision trees over HTTP: an inline tree, the built-in tree, and every bad tree a 422.

Witnesses: a tree whose second node has one branch with jump 1 and the same vol changes
nothing, so it prices as the flat set of the first node's branches (the flat pricer is held to
QuantLib elsewhere); a leaf's probability is the product of its branches' (the chain rule of
probability) and its level ``S0·Π J``; the martingale at every node makes a forward line
worth the market's forward price (tests/pricing/mixture/test_tree.py proves it in the domain).
Bad trees: each named by the field of the node at fault (scenarios/tree.py's rules).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.json_checks import finite_numbers

SPOT = 144.1
FLAT = {
    "event_date": "2025-07-09",
    "scenarios": [
        {"name": "deal", "probability": 0.4, "level": 156.0, "vol": 0.09},
        {"name": "extension", "probability": 0.3, "level": SPOT, "vol": 0.11},
        {"name": "no_deal", "probability": 0.3, "level": 138.0, "vol": 0.125},
    ],
}
TREE = {
    "tree": {
        "root": "deadline",
        "nodes": [
            {
                "id": "deadline",
                "date": "2025-07-09",
                "branches": [
                    {"name": "deal", "probability": 0.4, "level": 156.0, "vol": 0.09},
                    {
                        "name": "extension",
                        "probability": 0.3,
                        "jump": 1.0,
                        "vol": 0.11,
                        "next": "effective",
                    },
                    {"name": "no_deal", "probability": 0.3, "level": 138.0, "vol": 0.125},
                ],
            },
            {
                "id": "effective",
                "date": "2025-08-01",
                "branches": [
                    {"name": "late_deal", "probability": 0.5, "level": 150.0, "vol": 0.10},
                    {"name": "tariffs", "probability": 0.5, "level": 139.0, "vol": 0.125},
                ],
            },
        ],
    }
}
LINES = [
    {"kind": "call", "strike": 146.0, "tenor": "3M"},
    {"kind": "put", "strike": 140.0, "expiry": "2025-07-25"},
    {"kind": "forward", "strike": 143.0, "tenor": "6M"},
]


def post(client: TestClient, body: dict[str, Any], status: int = 200) -> Any:
    response = client.post("/v1/price", json=body)
    assert response.status_code == status, response.text
    data = response.json()
    assert finite_numbers(data)
    return data


def _one_branch_second_node() -> dict[str, Any]:
    tree = copy.deepcopy(TREE)
    tree["tree"]["nodes"][1]["branches"] = [
        {"name": "still_open", "probability": 1.0, "jump": 1.0, "vol": 0.11}
    ]
    return tree


def test_a_second_node_of_one_branch_that_changes_nothing_prices_as_the_flat_set(
    client: TestClient,
) -> None:
    flat = post(client, {"scenario_set": FLAT, "instruments": LINES})
    tree = post(client, {"scenario_set": _one_branch_second_node(), "instruments": LINES})
    for a, b in zip(flat["results"], tree["results"], strict=True):
        assert b["price"] == pytest.approx(a["price"], rel=1e-12, abs=1e-12)
        for greek, value in a["greeks"].items():
            assert b["greeks"][greek] == pytest.approx(value, rel=1e-9, abs=1e-12), greek


def test_the_leaves_are_the_scenarios_with_probabilities_and_levels_along_their_paths(
    client: TestClient,
) -> None:
    data = post(client, {"scenario_set": TREE, "instruments": LINES[:1]})
    p = data["measure"]["probabilities"]
    assert p == pytest.approx(
        {
            "deal": 0.4,
            "extension/late_deal": 0.3 * 0.5,
            "extension/tariffs": 0.3 * 0.5,
            "no_deal": 0.3,
        },
        rel=1e-15,
    )
    assert math.fsum(data["measure"]["weights"].values()) == pytest.approx(1.0, abs=1e-14)


def test_a_forward_line_under_a_tree_is_worth_the_market_forward(client: TestClient) -> None:
    """Martingale at every node ⇒ E[S_T] = F(T): the forward line's price is DF·(F − K)."""
    data = post(client, {"scenario_set": TREE, "instruments": [LINES[2]]})
    row = data["results"][0]
    flat = post(client, {"scenario_set": FLAT, "instruments": [LINES[2]]})["results"][0]
    assert row["forward"] == flat["forward"]
    assert row["price"] == pytest.approx(flat["price"], rel=1e-12)


def test_the_built_in_tree_is_listed_and_prices(client: TestClient) -> None:
    listed = client.get("/v1/scenario-sets/us-japan-tariff-2025-tree")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [n["id"] for n in body["document"]["tree"]["nodes"]] == ["deadline", "effective"]
    assert len(body["leaves"]) == 6
    data = post(client, {"scenario_set_id": "us-japan-tariff-2025-tree", "instruments": LINES})
    assert len(data["results"][0]["scenario_prices"]) == 6


def _bad(path: list[Any], value: Any) -> dict[str, Any]:
    tree = copy.deepcopy(TREE)
    target: Any = tree["tree"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return tree


BAD_TREES = [
    (_bad(["nodes", 1, "branches", 0, "next"], "deadline"), "scenario_set.tree.nodes[1].branches[0].next"),
    (_bad(["nodes", 1, "date"], "2025-07-01"), "scenario_set.tree.nodes[1].date"),
    (_bad(["nodes", 1, "date"], "2025-07-09"), "scenario_set.tree.nodes[1].date"),
    (_bad(["nodes", 0, "branches", 0, "probability"], 0.5), "scenario_set.tree.nodes[0].branches"),
    (_bad(["nodes", 0, "branches", 1, "next"], "nowhere"), "scenario_set.tree.nodes[0].branches[1].next"),
    (_bad(["nodes", 1, "id"], "deadline"), "scenario_set.tree.nodes[1].id"),
    (_bad(["root"], "effective"), "scenario_set.tree.nodes[0].id"),
    (_bad(["nodes", 0, "branches", 0, "jump"], 1.1), "scenario_set.tree.nodes[0].branches[0].jump"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field"), BAD_TREES)
def test_a_bad_tree_is_a_422_naming_the_nodes_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    data = post(client, {"scenario_set": body, "instruments": LINES[:1]}, status=422)
    fields = [e["field"] for e in data["errors"]]
    assert field in fields, fields  # exactly the field, not a prefix of it


def test_scenarios_and_tree_together_or_neither_is_a_422(client: TestClient) -> None:
    both = {**FLAT, **TREE}
    data = post(client, {"scenario_set": both, "instruments": LINES[:1]}, status=422)
    assert [e["field"] for e in data["errors"]] == ["scenario_set"]
    data = post(client, {"scenario_set": {"name": "x"}, "instruments": LINES[:1]}, status=422)
    assert [e["field"] for e in data["errors"]] == ["scenario_set"]


def test_the_measure_is_a_martingale_at_every_node_and_the_leaves_multiply_it(
    client: TestClient,
) -> None:
    """Σ q·J = 1 at each node (DESIGN.md: the martingale at every node); a leaf's weight is
    the product of its branches' q (the chain rule of probability)."""
    data = post(client, {"scenario_set": TREE, "instruments": LINES[:1]})
    nodes = {n["id"]: n for n in data["measure"]["nodes"]}
    assert list(nodes) == ["deadline", "effective"]
    for node in nodes.values():
        total = math.fsum(q * node["jump_ratios"][b] for b, q in node["weights"].items())
        assert total == pytest.approx(1.0, abs=1e-12)
        assert math.fsum(node["weights"].values()) == pytest.approx(1.0, abs=1e-14)
        assert node["probabilities"] == {
            b["name"]: b["probability"]
            for b in next(n for n in TREE["tree"]["nodes"] if n["id"] == node["id"])["branches"]
        }
    root, later = nodes["deadline"]["weights"], nodes["effective"]["weights"]
    leaves = data["measure"]["weights"]
    assert leaves["extension/late_deal"] == pytest.approx(
        root["extension"] * later["late_deal"], rel=1e-14
    )
    assert leaves["no_deal"] == pytest.approx(root["no_deal"], rel=1e-14)
    flat = post(client, {"scenario_set": FLAT, "instruments": LINES[:1]})
    assert flat["measure"]["nodes"] is None


def test_dprice_dlevel_of_a_tree_is_per_branch(client: TestClient) -> None:
    """One entry per branch, '<node>/<branch>'; a line expiring between the nodes does not
    move with the second node's levels (it is decided after the expiry)."""
    data = post(client, {"scenario_set": TREE, "instruments": LINES[:2]})
    between = data["results"][1]["dprice_dlevel"]  # 2025-07-25: after 07-09, before 08-01
    assert set(between) == {
        "deadline/deal",
        "deadline/extension",
        "deadline/no_deal",
        "effective/late_deal",
        "effective/tariffs",
    }
    # zero but for rounding: the two leaves' weights sum to the extension's whatever q is
    assert abs(between["effective/late_deal"]) < 1e-14
    assert abs(between["effective/tariffs"]) < 1e-14
    assert set(data["totals"]["dvalue_dlevel"]) == set(between)


def test_each_nodes_tilt_and_mismatch_are_what_its_weights_say(client: TestClient) -> None:
    """The tilt q ∝ p·J^λ (DESIGN.md): for any two branches of a node,
    λ = ln((q_a/p_a)/(q_b/p_b)) / ln(J_a/J_b); the mismatch is Σ q·J − 1."""
    nodes = post(client, {"scenario_set": TREE, "instruments": LINES[:1]})["measure"]["nodes"]
    for node in nodes:
        q, p, j = node["weights"], node["probabilities"], node["jump_ratios"]
        names = list(q)
        a, b = names[0], names[-1]
        tilt = math.log((q[a] / p[a]) / (q[b] / p[b])) / math.log(j[a] / j[b])
        assert node["tilt_lambda"] == pytest.approx(tilt, rel=1e-9, abs=1e-12)
        mismatch = math.fsum(q[k] * j[k] for k in q) - 1.0
        assert node["forward_mismatch"] == pytest.approx(mismatch, abs=1e-14)


def test_the_books_dvalue_dlevel_per_branch_adds_its_lines(client: TestClient) -> None:
    """Totals are sums of the lines: ∂V/∂L_b = Σ_lines ±notional·∂price/∂L_b."""
    lines = [{**line, "notional": 1e6 * (i + 1)} for i, line in enumerate(LINES)]
    lines[1]["side"] = "sell"
    data = post(client, {"scenario_set": TREE, "instruments": lines})
    totals = data["totals"]["dvalue_dlevel"]
    for branch, total in totals.items():
        expected = math.fsum(
            (-1.0 if r["side"] == "sell" else 1.0) * r["notional"] * r["dprice_dlevel"][branch]
            for r in data["results"]
        )
        assert total == pytest.approx(expected, rel=1e-12, abs=1e-9), branch
