"""Randomised quasi-Monte Carlo draws for :mod:`pricing.paths.simulation`: scrambled Sobol points
through a Brownian bridge.

``R`` replicates, each an independently scrambled Sobol sequence (``scipy.stats.qmc.Sobol``,
scrambled with the seed spawned with key ``(1, r)``) of dimension ``k+1``: coordinate 0 draws
the scenario (inverse CDF of the weights) and coordinates 1…k are turned into normals
(``ndtri``) and fed through a Brownian bridge on the grid, so the first coordinates — the best
distributed ones — set the end point and the coarse shape of each path. A block at position
``offset`` within its replicate fast-forwards a copy of the replicate's engine, so blocks can
be drawn in any order on any thread. Standard errors come from the spread across the
replicates (:func:`pricing.paths.estimates.moment_estimates`).

Shapes: normals ``[k, units]`` (time-major, grouped by scenario), counts ``[m]``.

References: Glasserman, *Monte Carlo Methods in Financial Engineering* (2004), §3.1 (Brownian
bridge), §5.5 (randomised QMC); Owen (1997), scrambled nets; Joe & Kuo (2008), direction
numbers (scipy's).
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtri
from scipy.stats import qmc

if TYPE_CHECKING:
    from pricing.paths.model import BlockPlan, MonteCarloSettings, PathModel

_TINY = 2.0**-54  # keeps ndtri finite at a point on the cube's face


class BridgePlan:
    """Brownian-bridge construction order on a grid ``times [k+1]`` (coarse points first)."""

    def __init__(self, times: np.ndarray) -> None:
        k = times.size - 1
        self.times = times
        self.steps: list[tuple[int, int, int, float, float, float]] = []
        queue = deque([(0, k)])
        while queue:
            left, right = queue.popleft()
            if right - left < 2:
                continue
            mid = (left + right) // 2
            t_l, t_m, t_r = times[left], times[mid], times[right]
            span = t_r - t_l
            sd = float(np.sqrt((t_m - t_l) * (t_r - t_m) / span))
            self.steps.append((mid, left, right, (t_r - t_m) / span, (t_m - t_l) / span, sd))
            queue.extend([(left, mid), (mid, right)])

    def normals(self, gaussians: np.ndarray) -> np.ndarray:
        """Step normals ``[k, n]`` from bridge-ordered gaussians ``[k, n]``."""
        k = self.times.size - 1
        walk = np.zeros((k + 1, gaussians.shape[1]))
        walk[k] = np.sqrt(self.times[k]) * gaussians[0]
        for row, (mid, left, right, w_l, w_r, sd) in enumerate(self.steps, start=1):
            walk[mid] = w_l * walk[left] + w_r * walk[right] + sd * gaussians[row]
        return np.diff(walk, axis=0) / np.sqrt(np.diff(self.times))[:, None]


def sobol_draws(
    *, model: PathModel, settings: MonteCarloSettings
) -> Callable[[BlockPlan], tuple[np.ndarray, np.ndarray]]:
    """A thread-safe function giving each block its normals ``[k, units]`` (grouped by
    scenario) and scenario counts ``[m]``."""
    bridge = BridgePlan(model.times)
    engines: dict[int, qmc.Sobol] = {}
    lock = threading.Lock()
    cumulative = np.cumsum(model.weights)
    cumulative[-1] = np.inf

    def engine(replicate: int) -> qmc.Sobol:
        """A fresh engine of ``replicate``, scrambled with seed key ``(1, replicate)``."""
        with lock:
            if replicate not in engines:
                seed = np.random.SeedSequence(settings.seed, spawn_key=(1, replicate))
                engines[replicate] = qmc.Sobol(
                    model.steps + 1, scramble=True, rng=np.random.default_rng(seed)
                )
            return copy.deepcopy(engines[replicate])

    def draws(plan: BlockPlan) -> tuple[np.ndarray, np.ndarray]:
        source = engine(plan.replicate)
        if plan.offset == 0:  # first draw of a power-of-two size keeps scipy's balance check quiet
            points = np.vstack([source.random(1), source.random(plan.size - 1)])
        else:
            source.fast_forward(plan.offset)
            points = source.random(plan.size)
        labels = np.searchsorted(cumulative, points[:, 0], side="right")
        order = np.argsort(labels, kind="stable")
        gaussians = ndtri(np.clip(points[order, 1:].T, _TINY, 1.0 - _TINY))
        return bridge.normals(gaussians), np.bincount(labels, minlength=model.n_scenarios)

    return draws
