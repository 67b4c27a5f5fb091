"""Blocks shared by the pricing responses: the measure used and the scenario P&L matrix."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
from pydantic import Field

from pricing.mixture.measure import Measure, MeasureFit, NodeFit
from scenarios.scenario import ScenarioSet
from service.schemas.common import Schema

BUILTIN_SET = "us-japan-tariff-2025-07-09"
# an inline two-outcome set on a one-pillar market: the OpenAPI examples' second case
INLINE_SET_AND_MARKET: dict[str, Any] = {
    "scenario_set": {
        "event_date": "2025-07-09",
        "scenarios": [
            {"name": "deal", "probability": 0.6, "level": 156.0, "vol": 0.09},
            {"name": "no_deal", "probability": 0.4, "level": 138.0, "vol": 0.13},
        ],
    },
    "market": {
        "valuation_date": "2025-06-13",
        "spot": 144.1,
        "usd_curve": [{"tenor": "1Y", "rate": 0.04}],
        "jpy_curve": [{"tenor": "1Y", "rate": 0.006}],
        "atm_vols": [{"tenor": "1M", "vol": 0.115}, {"tenor": "1Y", "vol": 0.103}],
    },
}


class NodeMeasureRead(Schema):
    """The pricing measure at one decision node of a tree."""

    id: str
    date: dt.date
    tilt_lambda: float | None = Field(description="λ of this node's tilt, null for scale/none.")
    forward_mismatch: float = Field(
        description="Σ q·J − 1 over this node's branches (0 to rounding unless none)."
    )
    probabilities: dict[str, float] = Field(
        description="Subjective p per branch, given the node is reached."
    )
    weights: dict[str, float] = Field(description="Pricing weights q per branch (sum 1).")
    jump_ratios: dict[str, float] = Field(description="Jump ratios J priced with, per branch.")


class MeasureRead(Schema):
    measure: Measure
    tilt_lambda: float | None = Field(description="λ of the tilt, null for scale/none.")
    forward_mismatch: float = Field(description="Σ q·J − 1 embedded in the prices.")
    subjective_forward_mismatch: float = Field(description="Σ p·J − 1 before any adjustment.")
    probabilities: dict[str, float] = Field(description="Subjective p by scenario.")
    weights: dict[str, float] = Field(description="Pricing weights q by scenario.")
    jump_ratios: dict[str, float] = Field(description="Jump ratios J priced with, by scenario.")
    nodes: list[NodeMeasureRead] | None = Field(
        default=None,
        description="A tree's measure node by node (the martingale holds at each); the "
        "scenario figures above are then the leaves' (q = Π q, J = Π J along the path; "
        "tilt_lambda the root's). Null for a flat set.",
    )


class ScenarioPnl(Schema):
    scenarios: list[str]
    instruments: list[str] = Field(description="Each instrument's label, or its path.")
    values: list[list[float | None]] = Field(
        description="[scenario][instrument]: ±value × notional by side if the scenario "
        "happens (null where a Monte Carlo line drew no path in that scenario)."
    )
    pnl: list[list[float | None]] = Field(
        description="[scenario][instrument]: value in the scenario minus today's mixture value."
    )
    currencies: list[str] | None = Field(
        default=None, description="Each instrument's currency (FX lines JPY, CDS lines USD)."
    )


def measure_read(fit: MeasureFit, scenario_set: ScenarioSet) -> dict[str, Any]:
    """The measure block of a response: λ, mismatches, p beside q, jumps priced with."""
    names = [s.name for s in scenario_set.scenarios]
    return {
        "measure": fit.measure.value,
        "tilt_lambda": fit.tilt,
        "forward_mismatch": fit.forward_mismatch,
        "subjective_forward_mismatch": fit.subjective_mismatch,
        "probabilities": {s.name: s.probability for s in scenario_set.scenarios},
        "weights": dict(zip(names, fit.weights.tolist(), strict=True)),
        "jump_ratios": dict(zip(names, fit.jumps.tolist(), strict=True)),
        "nodes": None if fit.nodes is None else [_node_read(n, scenario_set) for n in fit.nodes],
    }


def _node_read(node: NodeFit, scenario_set: ScenarioSet) -> dict[str, Any]:
    assert scenario_set.tree is not None
    branches = scenario_set.tree.node(node.id).branches
    names = list(node.branch_names)
    return {
        "id": node.id,
        "date": node.date.isoformat(),
        "tilt_lambda": node.tilt,
        "forward_mismatch": node.forward_mismatch,
        "probabilities": {b.name: b.probability for b in branches},
        "weights": dict(zip(names, node.weights.tolist(), strict=True)),
        "jump_ratios": dict(zip(names, node.jumps.tolist(), strict=True)),
    }


def scenario_pnl(
    names: tuple[str, ...],
    labels: list[str],
    values: np.ndarray,
    mixture: np.ndarray,
    *,
    finite: bool = False,
) -> dict[str, Any]:
    """Scenario × instrument matrix: value if scenario i happens, and P&L against today's
    mixture value (both × notional, in each instrument's currency). NaN (a Monte Carlo
    scenario no path reached) becomes null; ``finite`` says the caller knows there is none."""

    def rows(matrix: np.ndarray) -> list[list[float | None]]:
        table = matrix.T
        if finite or np.isfinite(table).all():  # no per-element check (~100 ms/10k lines)
            return table.tolist()  # type: ignore[no-any-return]
        return [[v if math.isfinite(v) else None for v in row] for row in table.tolist()]

    return {
        "scenarios": list(names),
        "instruments": labels,
        "values": rows(values),
        "pnl": rows(values - mixture[:, None]),
    }
