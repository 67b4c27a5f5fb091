"""``POST /v1/calibrate`` of a decision tree: node weights, their identification, the fitted
tree pasted back into ``/v1/price``, and every bad input a 422 naming its field.

Witnesses: option vols ``/v1/price`` quotes for a tree whose node weights are built here to
be martingales (``Σ q = 1``, ``Σ q·J = 1`` solved by hand), at expiries between the two
decisions and after both — the calibration must give back those weights (1e-6) and a fitted
tree that ``/v1/price`` reprices to the quotes; the martingale recomputed from the fitted
tree's JSON (1e-12); a tree whose second decision repeats the first's outcomes with equal
vols, which quotes after the second decision cannot split (tests/scenarios/calibration/
test_tree_calibration.py shows the prices after it depend on the product of the two
deferrals only); the rule each bad input breaks.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.scenarios.calibration.two_decisions import HI, LO, tree_spec, two_to_the_forward
from tests.service.json_checks import finite_numbers

SPOT = 144.1
pair = two_to_the_forward


def tree(root: list[float], second: list[float]) -> dict[str, Any]:
    return {"tree": tree_spec(root, second)}


_no, _deal = pair([0.25, 0.3], [146.0 / SPOT, 1.0], 138.0 / SPOT, 152.0 / SPOT)
_tariffs, _late = pair([0.2], [1.0], LO / SPOT, HI / SPOT)
ROOT_Q, SECOND_Q = [_deal, 0.25, 0.3, _no], [_tariffs, 0.2, _late]
TRUTH, ANALYST = tree(ROOT_Q, SECOND_Q), tree([0.3, 0.2, 0.3, 0.2], [0.4, 0.2, 0.4])
LINES = [
    {"kind": "call" if k >= 144.0 else "put", "strike": k, "expiry": e}
    for e in ("2025-07-22", "2025-09-12", "2025-12-15")  # between the decisions, after both
    for k in (136.0, 141.0, 144.0, 147.0, 152.0)
]


def post(client: TestClient, path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    data = response.json()
    assert finite_numbers(data)
    return data


def option_vols(client: TestClient, scenario_set: dict[str, Any]) -> list[dict[str, Any]]:
    """The mixture's implied vol of every line, as calibration option quotes."""
    results = post(client, "/v1/price", {"scenario_set": scenario_set, "instruments": LINES})
    return [
        {"expiry": line["expiry"], "strike": line["strike"], "vol": row["implied_vol"]}
        for line, row in zip(LINES, results["results"], strict=True)
    ]


def branch_jump(branch: dict[str, Any]) -> float:
    return branch["jump"] if "jump" in branch else branch["level"] / SPOT


def test_a_tree_fitted_to_option_vols_gives_back_its_node_weights_and_reprices_them(
    client: TestClient,
) -> None:
    options = option_vols(client, TRUTH)
    data = post(client, "/v1/calibrate", {"scenario_set": ANALYST, "options": options})
    assert data["status"] == "fits", data["reasons"]
    root, second = data["nodes"]
    assert [root["id"], second["id"]] == ["deadline", "effective"]
    for node, truth in ((root, ROOT_Q), (second, SECOND_Q)):
        assert node["identified"]
        assert abs(node["forward_mismatch"]) <= 1e-12
        implied = [b["implied_probability"] for b in node["branches"]]
        assert implied == pytest.approx(truth, abs=1e-6)
        assert all(b["identified"] for b in node["branches"])
    assert [b["subjective_probability"] for b in root["branches"]] == [0.3, 0.2, 0.3, 0.2]
    assert second["reached"] == pytest.approx(ROOT_Q[2], abs=1e-6)
    assert "Every node's split is identified" in data["identification"]["summary"]
    # the fitted tree: a martingale at every node, recomputed from its JSON …
    fitted = data["fitted_set"]
    assert data["fitted_set_note"] is None and "scenarios" not in fitted
    for node in fitted["tree"]["nodes"]:
        p = [b["probability"] for b in node["branches"]]
        assert abs(math.fsum(p) - 1.0) <= 1e-12
        mean = math.fsum(q * branch_jump(b) for q, b in zip(p, node["branches"], strict=True))
        assert abs(mean - 1.0) <= 1e-12
    # … which, pasted into /v1/price, reprices the quotes it was fitted to
    repriced = post(client, "/v1/price", {"scenario_set": fitted, "instruments": LINES})
    assert abs(repriced["measure"]["tilt_lambda"]) < 1e-9  # the tilt leaves q as it is
    for quote, row in zip(options, repriced["results"], strict=True):
        assert row["implied_vol"] == pytest.approx(quote["vol"], abs=1e-6)
    # its leaves weigh Π q along their paths
    weights = repriced["measure"]["weights"]
    assert weights["extension/still_open"] == pytest.approx(ROOT_Q[2] * SECOND_Q[1], abs=1e-6)


def repeated(q_ext: float, q_open: float) -> dict[str, Any]:
    """The second decision repeats the first's outcomes, every vol 0.11."""

    def around(q_one: float) -> tuple[float, float]:
        return pair([q_one], [1.0], LO / SPOT, HI / SPOT)

    (r_lo, r_hi), (s_lo, s_hi) = around(q_ext), around(q_open)
    return {
        "tree": {
            "root": "deadline",
            "nodes": [
                {
                    "id": "deadline",
                    "date": "2025-07-09",
                    "branches": [
                        {"name": "deal", "probability": r_hi, "level": HI, "vol": 0.11},
                        {
                            "name": "extension",
                            "probability": q_ext,
                            "jump": 1.0,
                            "vol": 0.11,
                            "next": "effective",
                        },
                        {"name": "no_deal", "probability": r_lo, "level": LO, "vol": 0.11},
                    ],
                },
                {
                    "id": "effective",
                    "date": "2025-08-01",
                    "branches": [
                        {"name": "late_deal", "probability": s_hi, "jump": HI / SPOT, "vol": 0.11},
                        {"name": "still_open", "probability": q_open, "jump": 1.0, "vol": 0.11},
                        {"name": "tariffs", "probability": s_lo, "jump": LO / SPOT, "vol": 0.11},
                    ],
                },
            ],
        }
    }


def test_quotes_after_the_second_decision_only_leave_the_split_unidentified(
    client: TestClient,
) -> None:
    tenors = ["3M", "6M", "1Y"]  # every one after 2025-08-01
    surface = post(
        client,
        "/v1/vol-surface",
        {"scenario_set": repeated(0.4, 0.5), "tenors": tenors, "strikes": [144.0]},
    )
    quotes = [
        {
            "tenor": t,
            "atm": q["atm_vol"],
            "rr25": q["wings"][0]["rr"],
            "bf25": q["wings"][0]["bf_broker"],
        }
        for t, q in zip(tenors, surface["mixture"]["quotes"], strict=True)
    ]
    data = post(client, "/v1/calibrate", {"scenario_set": repeated(0.3, 0.3), "quotes": quotes})
    assert data["status"] == "fits"
    for node in data["nodes"]:
        assert not node["identified"]
        assert "not identified" in node["summary"]
        assert all(b["implied_probability"] is None for b in node["branches"])
        assert not any(b["identified"] for b in node["branches"])
        ext = next(b for b in node["branches"] if b["jump_ratio"] == 1.0)
        assert ext["range"] == pytest.approx([0.4 * 0.5, 1.0], abs=1e-6)
    assert (
        "The split at nodes deadline, effective is not identified"
        in (data["identification"]["summary"])
    )
    scenarios = {s["name"]: s for s in data["scenarios"]}
    assert scenarios["extension/still_open"]["implied_probability"] == pytest.approx(0.2, abs=1e-6)
    assert scenarios["deal"]["implied_probability"] is None
    assert "do not identify the split" in data["fitted_set"]["description"]


# --- bad inputs: 422 naming the field ------------------------------------------------------


def one_sided() -> dict[str, Any]:
    bad = copy.deepcopy(ANALYST)
    for branch, jump in zip(bad["tree"]["nodes"][1]["branches"], (1.01, 1.02, 1.04), strict=True):
        branch.pop("level", None)
        branch["jump"] = jump
    return bad


def two_branches() -> dict[str, Any]:
    return {
        "tree": {
            "root": "deadline",
            "nodes": [
                {
                    "id": "deadline",
                    "date": "2025-07-09",
                    "branches": [
                        {"name": "deal", "probability": 0.5, "level": HI, "vol": 0.1},
                        {"name": "no_deal", "probability": 0.5, "level": LO, "vol": 0.1},
                    ],
                }
            ],
        }
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scenario_set": ANALYST, "refit_levels": True}, "refit_levels"),
        ({"scenario_set": ANALYST, "refit_vols": True}, "refit_vols"),
        ({"scenario_set": ANALYST, "fit": "jump_scale"}, "fit"),
        ({"scenario_set": ANALYST, "fit": "probabilities_and_post_vols"}, "fit"),
        ({"scenario_set": two_branches()}, "fit"),
        ({"scenario_set": one_sided(), "measure": "none"}, "scenario_set.tree.nodes[1].branches"),
        ({"scenario_set": one_sided()}, "scenario_set.tree.nodes[1].branches"),
        (
            {
                "scenario_set": ANALYST,
                "options": [{"expiry": "2025-07-01", "strike": 144.0, "vol": 0.1}],
            },
            "options[0].expiry",
        ),
        (
            {"scenario_set": ANALYST, "options": [{"tenor": "3M", "strike": 0.1, "vol": 0.1}]},
            "options[0].strike",
        ),
        (
            {
                "scenario_set": ANALYST,
                "quotes": [{"tenor": "1W", "atm": 0.1, "rr25": 0.0, "bf25": 0.0}],
            },
            "quotes[0].tenor",
        ),
    ],
)
def test_bad_tree_calibrations_are_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    data = post(client, "/v1/calibrate", body, status=422)
    fields = [e["field"] for e in data["errors"]]
    assert field in fields, fields  # exactly the field, not a prefix of it
