"""The two-decision tree the tree-calibration tests fit (domain and API), and the martingale
weights of a node built by hand.

Deadline (2025-07-09: deal / narrow / extension → effective / no deal), then effective
(2025-08-01: tariffs / still open / late deal); levels JPY per USD, vols distinct.
"""

from __future__ import annotations

import math
from typing import Any

LO, HI = 139.0, 150.0  # the second decision's outer levels


def two_to_the_forward(
    rest_q: list[float], rest_j: list[float], lo: float, hi: float
) -> tuple[float, float]:
    """``(q_lo, q_hi)`` completing ``rest_q`` so that ``Σ q = 1`` and ``Σ q·J = 1`` (the two
    linear conditions on the two remaining weights, solved by hand)."""
    total = 1.0 - math.fsum(rest_q)
    mean = 1.0 - math.fsum(q * j for q, j in zip(rest_q, rest_j, strict=True))
    q_hi = (mean - total * lo) / (hi - lo)
    return total - q_hi, q_hi


def tree_spec(root: list[float], second: list[float]) -> dict[str, Any]:
    """The tree as a request takes it (``DecisionTree.build(**spec)`` in the domain)."""
    return {
        "root": "deadline",
        "nodes": [
            {
                "id": "deadline",
                "date": "2025-07-09",
                "branches": [
                    {"name": "deal", "probability": root[0], "level": 152.0, "vol": 0.09},
                    {"name": "narrow", "probability": root[1], "level": 146.0, "vol": 0.10},
                    {
                        "name": "extension",
                        "probability": root[2],
                        "jump": 1.0,
                        "vol": 0.115,
                        "next": "effective",
                    },
                    {"name": "no_deal", "probability": root[3], "level": 138.0, "vol": 0.125},
                ],
            },
            {
                "id": "effective",
                "date": "2025-08-01",
                "branches": [
                    {"name": "tariffs", "probability": second[0], "level": LO, "vol": 0.125},
                    {"name": "still_open", "probability": second[1], "jump": 1.0, "vol": 0.11},
                    {"name": "late_deal", "probability": second[2], "level": HI, "vol": 0.10},
                ],
            },
        ],
    }
