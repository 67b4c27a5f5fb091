"""The per-line evaluation of path contracts as it was before the shared kernel: a reference.

:func:`reference_path_prices` is the body of ``pricing.paths.options.price_path_contracts``
before the lines of a book were evaluated together (one compiled pass per path): per line
and block, min/max reductions over the whole ``[steps, n]`` block, the Brownian-bridge
crossing factors of the paths that come near the barrier as ``[steps, n_near]`` numpy arrays,
and their running products. It is kept verbatim as the readable statement of the method;
``tests/pricing/paths/test_path_lines.py`` holds the kernel to it and ``bench/bench_path_lines.py``
times the two.
"""

from __future__ import annotations

import numpy as np

from pricing.paths.estimates import MomentSums, moment_estimates, unit_values
from pricing.paths.model import MonteCarloSettings, PathBlock, PathModel
from pricing.paths.options import BGK_BETA, Monitoring, PathContracts, PathPayoff, PathPrices
from pricing.paths.simulation import fold_path_blocks

_DOWN = {PathPayoff.DOWN_IN, PathPayoff.DOWN_OUT, PathPayoff.ONE_TOUCH_DOWN}
_DOWN |= {PathPayoff.NO_TOUCH_DOWN}
_UP = {PathPayoff.UP_IN, PathPayoff.UP_OUT, PathPayoff.ONE_TOUCH_UP, PathPayoff.NO_TOUCH_UP}


def _no_cross(
    starts: np.ndarray, ends: np.ndarray, log_barrier: float, up: bool, variances: np.ndarray
) -> np.ndarray:
    """Bridge probability ``[E, n]`` of not crossing one barrier within each step.

    With ``a, b`` the distances of the step's ends to the barrier (positive on the live
    side), ``1{a > 0}·(1 − exp(−2·max(ab, 0)/v))``: a crossed end (``b ≤ 0``) gives 0.
    """
    a = log_barrier - starts if up else starts - log_barrier
    b = log_barrier - ends if up else ends - log_barrier
    b *= a
    np.maximum(b, 0.0, out=b)
    b *= (-2.0 / variances)[:, None]
    np.exp(b, out=b)
    np.subtract(1.0, b, out=b)
    b *= a > 0.0
    return b


def _no_exit(
    starts: np.ndarray, ends: np.ndarray, low: float, high: float, variances: np.ndarray
) -> np.ndarray:
    """Bridge probability ``[E, n]`` of staying inside ``(low, high)`` within each step.

    Image terms beyond the two barriers' own are dropped when they are all below
    ``exp(−80)`` (corridor wide against the step), else n = −3…3 are summed.
    """
    width = high - low
    v = variances[:, None]
    inside = (starts > low) & (starts < high) & (ends > low) & (ends < high)
    middle = 0.5 * (low + high)  # stands in outside the corridor, where the answer is 0
    a, b = np.where(inside, starts, middle), np.where(inside, ends, middle)
    reach = np.abs(a - b).max(initial=0.0)
    images = range(0, 2) if 2.0 * width * (width - reach) > 80.0 * v.max() else range(-3, 4)
    total = np.ones(starts.shape) if 0 in images else np.zeros(starts.shape)
    for n in images:
        shift = n * width
        if n != 0:
            total += np.exp(-2.0 * shift * (shift + a - b) / v)
        total -= np.exp(-2.0 * (a - high + shift) * (b - high + shift) / v)
    return np.where(inside, np.clip(total, 0.0, 1.0), 0.0)


def _discrete_stay(
    starts: np.ndarray,
    ends: np.ndarray,
    low: float,
    high: float,
    shifts: np.ndarray,
) -> np.ndarray:
    """1 where the step's end stays inside the shifted corridor and its start inside the
    corridor itself (the start is the post-jump spot after the event, spot at step 0)."""
    s = shifts[:, None]
    ok = (ends > low + s) & (ends < high - s) & (starts > low) & (starts < high)
    return ok.astype(float)


def reference_path_prices(
    *,
    model: PathModel,
    settings: MonteCarloSettings,
    contracts: PathContracts,
    discount_factors: np.ndarray,
    monitoring: Monitoring = Monitoring.BRIDGE,
    weights: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    scenario_indices: np.ndarray | None = None,
) -> PathPrices:
    """Monte Carlo prices of ``contracts`` under ``model``, with standard errors.

    Args:
        discount_factors: ``[k+1]`` JPY discount factor at each grid time (payments at
            expiry use the expiry's; delivery lags are the caller's to fold in).
        monitoring: :class:`Monitoring`.
        weights: ``[m]`` scenario probabilities the prices are taken under (default
            ``model.weights``, the probabilities the paths draw scenarios with). The
            post-stratified estimator ``Σ_i w_i·mean_i`` is unbiased for any drawing
            probabilities that give every scenario with weight paths, so a caller may draw
            more paths of unlikely scenarios to price them conditionally.
        normals, scenario_indices: injected draws, see :func:`pricing.paths.simulation.fold_path_blocks`.
    """
    payoffs = np.asarray(contracts.payoffs, dtype=np.intp)
    count = payoffs.size
    expiries = np.asarray(contracts.expiry_indices, dtype=np.intp)
    if not np.all((expiries >= 1) & (expiries <= model.steps)):
        raise ValueError(f"expiry_indices must be in [1, {model.steps}]")
    discount_factors = np.asarray(discount_factors, dtype=float)
    if discount_factors.shape != model.times.shape:
        raise ValueError("discount_factors must have the shape of times")
    mid_dfs = np.sqrt(discount_factors[:-1] * discount_factors[1:])
    dt = np.diff(model.times)
    step_vols = model.step_vols()
    log_jumps = np.log(model.jumps)
    event = model.event_index
    fields = [
        np.broadcast_to(np.asarray(getattr(contracts, name)), (count,))
        for name in ("is_call", "strikes", "lower_barriers", "upper_barriers", "cash")
    ]
    calls, strikes, lowers, uppers, cash = fields
    at_hit = np.broadcast_to(np.asarray(contracts.pay_at_hit, dtype=bool), (count,))

    def survival(
        c: int, starts: np.ndarray, ends: np.ndarray, variances: np.ndarray, pays_at_hit: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """P(contract ``c`` never triggered) ``[n]`` and the discounted value of 1 at the hit.

        Only paths that come within ``√(40·max v)`` of a barrier are computed: elsewhere the
        crossing probabilities are below ``exp(−80)`` and survival is 1.
        """
        kind = int(payoffs[c])
        double = kind == PathPayoff.DOUBLE_NO_TOUCH
        low = np.log(lowers[c]) if kind in _DOWN or double else -np.inf
        high = np.log(uppers[c]) if kind in _UP or double else np.inf
        gap = np.minimum(
            np.minimum(starts.min(axis=0), ends.min(axis=0)) - low,
            high - np.maximum(starts.max(axis=0), ends.max(axis=0)),
        )
        near = np.flatnonzero(gap < np.sqrt(40.0 * variances.max()))
        never = np.ones(starts.shape[1])
        hit = np.zeros(starts.shape[1])
        if near.size == 0:
            return never, hit
        a, b = starts[:, near], ends[:, near]
        if monitoring == Monitoring.BRIDGE and double:
            steps = _no_exit(a, b, low, high, variances)
        elif monitoring == Monitoring.BRIDGE:
            up = kind in _UP
            steps = _no_cross(a, b, high if up else low, up, variances)
        else:
            shifts = np.sqrt(variances) * (BGK_BETA if monitoring == Monitoring.BGK else 0.0)
            steps = _discrete_stay(a, b, low, high, shifts)
        if pays_at_hit:
            alive = steps  # running product, row by row (faster than cumprod(axis=0))
            for row in range(1, alive.shape[0]):
                alive[row] *= alive[row - 1]
            never[near] = alive[-1]
            # Σ_j DF_j·(alive_{j−1} − alive_j), alive_{−1} = 1
            dfs = mid_dfs[: alive.shape[0]]
            hit[near] = dfs[0] + dfs[1:] @ alive[:-1] - dfs @ alive
        else:
            never[near] = np.prod(steps, axis=0)
            hit = (1.0 - never) * discount_factors[steps.shape[0]]
        return never, hit

    at_hit_kinds = (
        PathPayoff.DOWN_OUT,
        PathPayoff.UP_OUT,
        PathPayoff.ONE_TOUCH_DOWN,
        PathPayoff.ONE_TOUCH_UP,
    )

    def block_values(block: PathBlock) -> MomentSums:
        sums = MomentSums.zeros(
            replicates=settings.replicates, scenarios=model.n_scenarios, offsets=np.zeros(count)
        )
        for part in block.scenarios:
            x = part.log_spots
            starts = x[:-1].copy()
            if event < model.steps:
                starts[event] += log_jumps[part.scenario]
            variances = step_vols[part.scenario] ** 2 * dt
            values = np.empty((count, x.shape[1]))
            for c in range(count):
                kind, end = int(payoffs[c]), int(expiries[c])
                df = discount_factors[end]
                phi = 1.0 if calls[c] else -1.0
                vanilla = np.maximum(phi * (np.exp(x[end]) - strikes[c]), 0.0) * df
                if kind == PathPayoff.VANILLA:
                    values[c] = vanilla
                    continue
                pays_at_hit = bool(at_hit[c]) and kind in at_hit_kinds
                never, hit = survival(c, starts[:end], x[1 : end + 1], variances[:end], pays_at_hit)
                if kind in (PathPayoff.DOWN_OUT, PathPayoff.UP_OUT):
                    values[c] = vanilla * never + cash[c] * hit
                elif kind in (PathPayoff.DOWN_IN, PathPayoff.UP_IN):
                    values[c] = vanilla * (1.0 - never) + cash[c] * never * df
                elif kind in (PathPayoff.ONE_TOUCH_DOWN, PathPayoff.ONE_TOUCH_UP):
                    values[c] = cash[c] * hit
                else:  # no-touch, double no-touch
                    values[c] = cash[c] * never * df
            units = unit_values(values, antithetic=part.antithetic)
            sums.add(replicate=block.replicate, scenario=part.scenario, values=units)
        return sums

    totals = fold_path_blocks(
        model=model,
        settings=settings,
        consumer=block_values,
        fold=lambda acc, result: result if acc is None else acc.merge(result),
        initial=None,
        normals=normals,
        scenario_indices=scenario_indices,
    )
    if weights is None:
        weights = model.weights
    weights = np.asarray(weights, dtype=float)
    if weights.shape != model.weights.shape:
        raise ValueError("weights must have the shape of model.weights")
    estimates = moment_estimates(totals, weights=weights)
    return PathPrices(
        prices=estimates.means,
        standard_errors=estimates.standard_errors,
        scenario_prices=estimates.scenario_means,
        scenario_standard_errors=estimates.scenario_standard_errors,
        scenario_valid=estimates.scenario_valid,
        n_paths=settings.n_paths,
        seed=settings.seed,
        measure=model.measure,
        sampling=str(settings.sampling),
        antithetic=settings.antithetic,
        monitoring=str(monitoring),
    )
