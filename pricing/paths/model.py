"""The path model's nouns: the market and scenarios on a time grid, the Monte Carlo settings,
and the blocks path space is cut into.

Shared by :mod:`pricing.paths.simulation` (which walks the paths) and :mod:`pricing.paths.sobol`
(which draws quasi-random normals for a block); neither imports the other's machinery through
here. Conventions: spot and forwards JPY per USD; vols annualised decimals; times years ACT/365F.

A scenario is one path of dated decisions (:class:`Decisions`): a flat set's scenario has one
decision, the event; a decision tree's scenario is a leaf, with a jump at each node on its
path and the branch's vol in force until the next. A flat model is the one-level case, built
from ``event_time``, ``jumps`` and ``scenario_vols`` alone, and simulates exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

BLOCK_PATHS = 4096
_TIME_TOL = 1e-10


class Sampling(StrEnum):
    """How the normals are drawn."""

    PSEUDO = "pseudo"
    SOBOL = "sobol"


def require(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless ``condition``: the kernels' pre-condition check."""
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class Decisions:
    """Each scenario's dated decisions, level by level along its path: arrays ``[m, D]``.

    Level 0 is the first decision (the root, the same time for every scenario). Scenario
    ``i``'s spot jumps by ``jumps[i, d]`` just *after* ``times[i, d]`` (the grid value at a
    node's time is pre-jump, as at a flat event), and from there diffuses with ``vols[i, d]``
    until ``times[i, d+1]`` (for good after its last level).

    Attributes:
        times: years ACT/365F from valuation, strictly increasing along a row, ``+inf`` past
            the scenario's last decision (shorter paths of a tree are padded so).
        jumps: jump ratios (> 0); ``1`` past the last decision.
        vols: annualised vols from each node on (> 0); past the last decision ignored.
    """

    times: np.ndarray
    jumps: np.ndarray
    vols: np.ndarray

    def __post_init__(self) -> None:
        arrays = {
            name: np.atleast_2d(np.asarray(getattr(self, name), dtype=float))
            for name in ("times", "jumps", "vols")
        }
        times, jumps, vols = arrays["times"], arrays["jumps"], arrays["vols"]
        require(times.ndim == 2 and times.shape[1] >= 1, "decision times must be [m, D]")
        require(jumps.shape == times.shape == vols.shape, "decision arrays must all be [m, D]")
        live = np.isfinite(times)
        require(bool(np.all(times[:, 0] == times[0, 0])), "the first decision is shared")
        require(bool(np.all(live[:, :-1] | ~live[:, 1:])), "+inf only past the last decision")
        gaps = np.diff(np.where(live, times, 0.0), axis=1)
        require(bool(np.all(np.where(live[:, 1:], gaps > 0, True))), "times must increase")
        require(bool(np.all(np.isfinite(jumps) & (jumps > 0))), "decision jumps must be > 0")
        past = ~live & np.isfinite(times[:, :1])  # a scenario's padding past its last decision
        require(bool(np.all(jumps[past] == 1.0)), "decision jumps must be 1 past the last one")
        require(bool(np.all(np.where(live, vols > 0, True))), "decision vols must be > 0")
        for name, value in arrays.items():
            object.__setattr__(self, name, value)

    @classmethod
    def one_event(cls, *, event_time: float, jumps: np.ndarray, vols: np.ndarray) -> Decisions:
        """The flat set's: one decision at ``event_time`` with scenario jumps and vols [m]."""
        jumps = np.asarray(jumps, dtype=float)
        return cls(np.full((jumps.size, 1), float(event_time)), jumps[:, None], vols[:, None])

    @property
    def live(self) -> np.ndarray:
        """``[m, D]`` True where the scenario takes a decision at that level."""
        live: np.ndarray = np.isfinite(self.times)
        return live

    @property
    def total_jumps(self) -> np.ndarray:
        """``[m]`` each scenario's jump ratio over all its decisions, ``Π_d J``."""
        product: np.ndarray = np.prod(self.jumps, axis=1)
        return product

    @property
    def last_vols(self) -> np.ndarray:
        """``[m]`` the vol in force after each scenario's last decision."""
        last = self.live.sum(axis=1) - 1
        vols: np.ndarray = self.vols[np.arange(self.vols.shape[0]), last]
        return vols


@dataclass(frozen=True)
class PathModel:
    """Market and scenarios on the simulation grid (validated when built).

    Attributes:
        spot: S0, JPY per USD.
        times: ``[k+1]`` grid in years, ``times[0] == 0``, strictly increasing; must contain
            ``event_time`` if the event falls strictly inside the grid.
        forwards: ``[k+1]`` market forward ``F(t) = S0·DF_f/DF_d`` at each grid time.
        pre_vols: ``[k]`` (or scalar) vol of each step before the event; forward vols of a
            term structure, ``σ_j² = (V(t_{j+1}) − V(t_j))/Δt_j``. Steps after the event
            ignore it.
        scenario_vols, jumps, weights: ``[m]`` post-event vol, jump ratio J_i, probability
            with which paths draw the scenario. With ``decisions``: the vol after the last
            decision and the total jump ``Π J`` (checked against them).
        event_time: ``T_e`` in years (the first decision's time), or None (no event before
            the horizon).
        measure: label echoed in results (e.g. ``"risk_neutral"``, ``"real_world"``).
        decisions: each scenario's dated decisions (a decision tree's leaves), or None for
            the flat set's one event at ``event_time`` with ``jumps`` and ``scenario_vols``.
            Every decision strictly inside the grid must be a grid time; decisions at or
            after the horizon take no effect (as a flat event there).
        event_index: grid index of ``event_time`` (``k`` if none before the horizon).
        decision_indices: ``[m, D]`` grid index of each decision, ``k`` where none takes
            effect (at or after the horizon, or past the scenario's last decision).
    """

    spot: float
    times: np.ndarray
    forwards: np.ndarray
    pre_vols: np.ndarray
    scenario_vols: np.ndarray
    jumps: np.ndarray
    weights: np.ndarray
    event_time: float | None
    measure: str
    decisions: Decisions | None = None
    event_index: int = field(init=False)
    decision_indices: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=float)
        k = times.size - 1
        forwards = np.asarray(self.forwards, dtype=float)
        pre_vols = np.broadcast_to(np.asarray(self.pre_vols, dtype=float), (max(k, 0),)).copy()
        arrays = {
            name: np.atleast_1d(np.asarray(getattr(self, name), dtype=float))
            for name in ("scenario_vols", "jumps", "weights")
        }
        require(k >= 1 and times[0] == 0.0, "times must start at 0 with at least one step")
        require(bool(np.all(np.diff(times) > 0)), "times must be strictly increasing")
        require(forwards.shape == times.shape, "forwards must have the shape of times")
        require(bool(np.all(np.isfinite(forwards) & (forwards > 0))), "forwards must be > 0")
        require(abs(forwards[0] - self.spot) <= 1e-12 * self.spot, "forwards[0] must be spot")
        require(bool(np.all(np.isfinite(pre_vols) & (pre_vols > 0))), "pre_vols must be > 0")
        m = arrays["weights"].size
        require(all(a.shape == (m,) for a in arrays.values()), "scenario arrays must be [m]")
        require(bool(np.all(arrays["scenario_vols"] > 0)), "scenario_vols must be > 0")
        require(bool(np.all(arrays["jumps"] > 0)), "jumps must be > 0")
        weights = arrays["weights"]
        require(bool(np.all(weights >= 0)), "weights must be >= 0")
        require(abs(weights.sum() - 1.0) <= 1e-9, f"weights must sum to 1, got {weights.sum()}")
        for name, value in (("times", times), ("forwards", forwards), ("pre_vols", pre_vols)):
            object.__setattr__(self, name, value)
        for name, value in arrays.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "event_index", _event_index(times, self.event_time))
        decisions = self.decisions
        if decisions is None:
            at = self.event_time if self.event_time is not None else np.inf
            decisions = Decisions.one_event(
                event_time=at, jumps=arrays["jumps"], vols=arrays["scenario_vols"]
            )
            indices: npt.NDArray[np.intp] = np.full((m, 1), self.event_index, dtype=np.intp)
        else:
            require(decisions.times.shape[0] == m, "decisions must hold one row per scenario")
            root = float(decisions.times[0, 0])
            beyond = root >= times[-1] - _TIME_TOL
            require(
                (self.event_time is None or self.event_time >= times[-1] - _TIME_TOL)
                if beyond
                else self.event_time is not None and abs(self.event_time - root) <= _TIME_TOL,
                "event_time must be the first decision's time (or None at or after the horizon)",
            )
            total = decisions.total_jumps
            require(
                bool(np.allclose(arrays["jumps"], total, rtol=1e-12, atol=0.0)),
                "jumps must be each scenario's total jump over its decisions",
            )
            require(
                bool(np.allclose(arrays["scenario_vols"], decisions.last_vols, rtol=1e-12)),
                "scenario_vols must be each scenario's vol after its last decision",
            )
            indices = np.array(
                [[_event_index(times, t) for t in row] for row in decisions.times.tolist()],
                dtype=np.intp,
            ).reshape(decisions.times.shape)
        object.__setattr__(self, "decisions", decisions)
        object.__setattr__(self, "decision_indices", indices)

    @property
    def steps(self) -> int:
        return self.times.size - 1

    @property
    def n_scenarios(self) -> int:
        return self.weights.size

    def step_vols(self) -> np.ndarray:
        """``[m, k]`` vol of each step per scenario: the pre-event vol before the first
        decision, then from each decision's grid index on the vol of the branch taken there."""
        vols = np.repeat(self.pre_vols[None, :], self.n_scenarios, axis=0)
        steps = np.arange(self.steps)[None, :]
        assert self.decisions is not None
        for level in range(self.decision_indices.shape[1]):
            start = self.decision_indices[:, level, None]
            vols = np.where(steps >= start, self.decisions.vols[:, level, None], vols)
        return vols

    def step_log_jumps(self) -> np.ndarray:
        """``[m, k]`` ln J added in each step: at step ``j`` = a decision's grid index the
        jump of that decision (just after its time), 0 elsewhere."""
        out = np.zeros((self.n_scenarios, self.steps))
        assert self.decisions is not None
        log_jumps = np.log(self.decisions.jumps)
        for level in range(self.decision_indices.shape[1]):
            index = self.decision_indices[:, level]
            rows = np.flatnonzero(index < self.steps)
            out[rows, index[rows]] = log_jumps[rows, level]
        return out

    def jump_ratios(self) -> np.ndarray:
        """``[m, k+1]`` cumulative jump ratio in each scenario's spot at each grid time:
        the product of the jumps of the decisions strictly before it (1 before the first)."""
        ratios = np.ones((self.n_scenarios, self.steps + 1))
        assert self.decisions is not None
        dates = np.arange(self.steps + 1)[None, :]
        for level in range(self.decision_indices.shape[1]):
            after = dates > self.decision_indices[:, level, None]
            ratios = np.where(after, ratios * self.decisions.jumps[:, level, None], ratios)
        return ratios

    def total_vars(self) -> np.ndarray:
        """``[m, k+1]`` variance of ln S(t) per scenario (0 at t = 0)."""
        increments = self.step_vols() ** 2 * np.diff(self.times)[None, :]
        return np.concatenate([np.zeros((self.n_scenarios, 1)), np.cumsum(increments, 1)], 1)

    def log_means(self) -> np.ndarray:
        """``[m, k+1]`` mean of ln S(t) per scenario: ln F + Σ_{decisions before t} ln J −
        ½·variance (a flat set: ln F + 1{t > T_e}·ln J − ½·variance)."""
        jumps = np.concatenate(
            [np.zeros((self.n_scenarios, 1)), np.cumsum(self.step_log_jumps(), axis=1)], axis=1
        )
        means: np.ndarray = np.log(self.forwards)[None, :] + jumps - 0.5 * self.total_vars()
        return means


def _event_index(times: np.ndarray, event_time: float | None) -> int:
    """Grid index of the event; ``k`` when it lies at or beyond the horizon (no jump)."""
    if event_time is None or event_time >= times[-1] - _TIME_TOL:
        return times.size - 1
    require(event_time >= 0.0, f"event_time must be >= 0, got {event_time}")
    index = int(np.argmin(np.abs(times - event_time)))
    require(
        abs(times[index] - event_time) <= _TIME_TOL,
        f"event_time {event_time} must be a grid time (see time_grid)",
    )
    return index


def time_grid(*, horizon: float, steps: int, event_time: float | None) -> np.ndarray:
    """Uniform grid ``[steps+1]`` on ``[0, horizon]`` with the nearest point moved onto the event.

    The event time (if inside ``(0, horizon)``) replaces the closest interior grid point, so
    the step count stays ``steps``; if that would leave a zero-length step the grid is kept
    and the event inserted instead (``steps+1`` steps).
    """
    require(horizon > 0 and steps >= 1, "horizon must be > 0 and steps >= 1")
    times = np.linspace(0.0, horizon, steps + 1)
    if event_time is None or not 0.0 < event_time < horizon:
        return times
    index = int(np.clip(np.rint(event_time / horizon * steps), 1, steps - 1)) if steps > 1 else 1
    candidate = times.copy()
    if steps > 1:
        candidate[index] = event_time
        if np.all(np.diff(candidate) > _TIME_TOL):
            return candidate
    return np.sort(np.append(times, event_time))


@dataclass(frozen=True)
class MonteCarloSettings:
    """How many paths and how they are drawn.

    Attributes:
        n_paths: number of paths (even with antithetics; a multiple of ``sobol_replicates``
            with Sobol).
        seed: non-negative integer; same seed, same numbers.
        antithetic: use each normal vector with both signs (pseudo-random only).
        sampling: :class:`Sampling`.
        sobol_replicates: independently scrambled Sobol sequences (≥ 2) for the error estimate.
        workers: threads simulating blocks (the compiled loop releases the GIL); results do
            not depend on it.
    """

    n_paths: int
    seed: int
    antithetic: bool = False
    sampling: Sampling = Sampling.PSEUDO
    sobol_replicates: int = 16
    workers: int = 1

    def __post_init__(self) -> None:
        require(self.n_paths >= 2, f"n_paths must be >= 2, got {self.n_paths}")
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        require(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        require(not self.antithetic or self.n_paths % 2 == 0, "antithetic needs even n_paths")
        if self.sampling == Sampling.SOBOL:
            require(not self.antithetic, "antithetic is for pseudo-random sampling only")
            require(self.sobol_replicates >= 2, "sobol_replicates must be >= 2")
            require(
                self.n_paths % self.sobol_replicates == 0,
                f"n_paths ({self.n_paths}) must be a multiple of sobol_replicates",
            )

    @property
    def replicates(self) -> int:
        return self.sobol_replicates if self.sampling == Sampling.SOBOL else 1


@dataclass(frozen=True)
class ScenarioPaths:
    """The paths of one scenario within one block.

    Attributes:
        scenario: scenario index.
        log_spots: ``[k+1, n]`` ln S at each grid time (time-major; pre-jump at ``T_e``).
        antithetic: columns ``[0, n/2)`` and ``[n/2, n)`` are antithetic partners.
        first_position: position of column 0 in the block's path order.
    """

    scenario: int
    log_spots: np.ndarray
    antithetic: bool
    first_position: int


@dataclass(frozen=True)
class PathBlock:
    """One block of paths: global paths ``[start, start + size)``, grouped by scenario."""

    index: int
    replicate: int
    start: int
    size: int
    scenarios: tuple[ScenarioPaths, ...]


@dataclass(frozen=True)
class BlockPlan:
    """Where a block sits: global paths ``[start, start + size)``, ``offset`` within its
    replicate (the Sobol position)."""

    index: int
    replicate: int
    start: int
    size: int
    offset: int


def plans(settings: MonteCarloSettings) -> list[BlockPlan]:
    """The blocks of a run in order: replicate-major, :data:`BLOCK_PATHS` paths each."""
    per_replicate = settings.n_paths // settings.replicates
    plans: list[BlockPlan] = []
    for replicate in range(settings.replicates):
        for offset in range(0, per_replicate, BLOCK_PATHS):
            size = min(BLOCK_PATHS, per_replicate - offset)
            start = replicate * per_replicate + offset
            plans.append(BlockPlan(len(plans), replicate, start, size, offset))
    return plans
