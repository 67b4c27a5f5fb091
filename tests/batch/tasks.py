"""Tasks for the executor tests, importable by the cluster's workers (``tests.batch.tasks``)."""

from __future__ import annotations

import os

import numpy as np


def slow_square(i: int) -> tuple[int, int]:
    """``i²`` and the pid of the process that computed it, after work that varies with ``i``
    (so tasks finish out of order)."""
    n = 200_000 * (1 + (7 * i) % 5)
    np.sort(np.random.default_rng(i).random(n))
    return i * i, os.getpid()


def fail_on_three(i: int) -> int:
    if i == 3:
        raise ValueError(f"item {i} is refused")
    return i
