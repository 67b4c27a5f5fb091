"""Benchmark: Monte Carlo paths with the decision-date jump, against QuantLib's path generator.

Run: ``python bench/bench_paths.py``. Prints, in one run:

1. 100,000 paths × 252 daily steps under the five-scenario mixture with the event jump
   (ours: generation only, then with the fan-chart statistics), against the same streams
   drawn and stepped in numpy (``standard_normal((k, n))`` then a row-by-row cumulative
   sum: the engine before the fused compiled loop) and QuantLib's ``GaussianPathGenerator``
   drawing the same number of 252-step GBM paths (no jump; the loop only draws each path and
   reads its last value, a lower bound on its cost).
2. A one-touch (USD/JPY up at 155, paid at hit, 3 months, spanning the event) priced to a
   stated standard error, for each sampling scheme and monitoring method.
3. A no-touch expiring before the event: simulation against the closed form.

Times are the best of a few repeats (the machine has 2 shared cores).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

import numpy as np
import QuantLib as ql

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pricing.fx.barriers import touch_price
from pricing.paths.fan_chart import simulate_fan_chart
from pricing.paths.model import BLOCK_PATHS, MonteCarloSettings, PathModel, Sampling, time_grid
from pricing.paths.options import (
    Monitoring,
    PathContracts,
    PathPayoff,
    price_path_contracts,
)
from pricing.paths.simulation import fold_path_blocks
from pricing.quantlib_guard import quantlib_session, to_ql_date

SPOT, R_JPY, R_USD, PRE_VOL = 144.1, 0.005, 0.043, 0.115
EVENT = 26 / 365
LEVELS = np.array([158.0, 151.0, 146.0, 139.0, 133.0])  # assumption, as in the tests
PROBABILITIES = np.array([0.15, 0.35, 0.2, 0.2, 0.1])
POST_VOLS = np.array([0.09, 0.10, 0.11, 0.13, 0.16])


def best_of(repeats: int, run) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def tilted(probabilities: np.ndarray, jumps: np.ndarray) -> np.ndarray:
    low, high = -500.0, 500.0
    for _ in range(200):  # bisection on λ: Σ q·J = 1 with q ∝ p·J^λ
        lam = 0.5 * (low + high)
        q = probabilities * jumps**lam
        if (q @ jumps) / q.sum() > 1.0:
            high = lam
        else:
            low = lam
    return q / q.sum()


def model_for(horizon: float, steps: int) -> PathModel:
    times = time_grid(horizon=horizon, steps=steps, event_time=EVENT)
    jumps = LEVELS / SPOT
    return PathModel(
        spot=SPOT,
        times=times,
        forwards=SPOT * np.exp((R_JPY - R_USD) * times),
        pre_vols=PRE_VOL,
        scenario_vols=POST_VOLS,
        jumps=jumps,
        weights=tilted(PROBABILITIES, jumps),
        event_time=EVENT,
        measure="risk_neutral",
    )


def quantlib_paths(n_paths: int, steps: int, horizon: float) -> float:
    today = dt.date(2025, 6, 13)
    with quantlib_session(today):
        day_count, ref = ql.Actual365Fixed(), to_ql_date(today)
        process = ql.GarmanKohlagenProcess(
            ql.QuoteHandle(ql.SimpleQuote(SPOT)),
            ql.YieldTermStructureHandle(ql.FlatForward(ref, R_USD, day_count)),
            ql.YieldTermStructureHandle(ql.FlatForward(ref, R_JPY, day_count)),
            ql.BlackVolTermStructureHandle(
                ql.BlackConstantVol(ref, ql.NullCalendar(), PRE_VOL, day_count)
            ),
        )
        uniform = ql.UniformRandomSequenceGenerator(steps, ql.UniformRandomGenerator(42))
        generator = ql.GaussianPathGenerator(
            process, horizon, steps, ql.GaussianRandomSequenceGenerator(uniform), False
        )
        start = time.perf_counter()
        total = 0.0
        for _ in range(n_paths):
            path = generator.next().value()
            total += path[steps]
        elapsed = time.perf_counter() - start
    assert total > 0
    return elapsed


def numpy_paths(model: PathModel, n_paths: int, seed: int) -> float:
    """The same blocks in plain numpy: draw ``[k, n]`` normals, scale, add the drift, sum."""
    dt_ = np.diff(model.times)
    vols = model.step_vols()
    drifts = np.diff(np.log(model.forwards))[None, :] - 0.5 * vols**2 * dt_[None, :]
    drifts[:, model.event_index] += np.log(model.jumps)
    scales = vols * np.sqrt(dt_)[None, :]
    cumulative = np.cumsum(model.weights)
    cumulative[-1] = np.inf
    total = 0.0
    for index, start in enumerate(range(0, n_paths, BLOCK_PATHS)):
        units = min(BLOCK_PATHS, n_paths - start)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, index)))
        positions = (np.arange(units) + rng.random()) / units
        counts = np.bincount(np.searchsorted(cumulative, positions, side="right"), minlength=5)
        z = rng.standard_normal((model.steps, units))
        first, sums = 0, []
        for scenario, count in enumerate(counts.tolist()):
            x = np.empty((model.steps + 1, count))
            x[0] = np.log(model.spot)
            np.multiply(z[:, first : first + count], scales[scenario][:, None], out=x[1:])
            x[1:] += drifts[scenario][:, None]
            for row in range(1, x.shape[0]):
                x[row] += x[row - 1]
            sums.append(x[-1].sum())
            first += count
        total += sum(sums)  # summed as the engine's consumer and fold do
    return total


def main() -> None:
    n_paths, steps = 100_000, 252
    model = model_for(1.0, steps)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"\n1. {n_paths:,} paths × {steps} steps, five scenarios, jump after {EVENT:.4f}y")

    def generate(workers: int, antithetic: bool = False):
        settings = MonteCarloSettings(
            n_paths=n_paths, seed=1, workers=workers, antithetic=antithetic
        )
        return fold_path_blocks(
            model=model,
            settings=settings,
            consumer=lambda block: sum(p.log_spots[-1].sum() for p in block.scenarios),
            fold=lambda acc, x: acc + x,
            initial=0.0,
        )

    for workers in (1, 2):
        seconds, _ = best_of(3, lambda w=workers: generate(w))
        print(f"   ours, paths only, {workers} worker(s):            {seconds:6.3f} s")
    seconds, _ = best_of(3, lambda: generate(2, antithetic=True))
    print(f"   ours, paths only, antithetic (half the normals): {seconds:6.3f} s")
    seconds, reference = best_of(3, lambda: numpy_paths(model, n_paths, 1))
    same = reference == generate(1)
    print(f"   numpy reference (same streams), 1 worker:   {seconds:6.3f} s  (same sums: {same})")
    for workers in (1, 2):
        settings = MonteCarloSettings(n_paths=n_paths, seed=1, workers=workers)
        seconds, chart = best_of(
            2,
            lambda s=settings: simulate_fan_chart(
                model=model,
                settings=s,
                quantiles=[0.05, 0.25, 0.5, 0.75, 0.95],
                levels=[140.0, 155.0],
                n_sample_paths=20,
            ),
        )
        print(f"   ours, fan chart (5 bands × 5 scenarios), {workers} w:  {seconds:6.3f} s")
    seconds_ql = quantlib_paths(n_paths, steps, 1.0)
    print(f"   QuantLib GaussianPathGenerator (GBM, no jump):  {seconds_ql:6.3f} s")
    z = np.abs(chart.means - model.forwards) / np.maximum(chart.mean_standard_errors, 1e-300)
    print(f"   forward check: max |mean − F|/s.e. over {steps + 1} dates = {z[1:].max():.2f}")
    print(f"   1Y bands 5/50/95%: {np.round(chart.bands[[0, 2, 4], -1], 2)} JPY per USD")

    print("\n2. One-touch USD/JPY ≥ 155 within 3M, pays 1 JPY at hit (mixture, across the event)")
    short = model_for(0.25, 63)
    dfs = np.exp(-R_JPY * short.times)
    touch = PathContracts(
        payoffs=np.array([PathPayoff.ONE_TOUCH_UP]),
        is_call=np.array([False]),
        strikes=np.array([0.0]),
        lower_barriers=np.array([np.nan]),
        upper_barriers=np.array([155.0]),
        cash=np.array([1.0]),
        pay_at_hit=np.array([True]),
        expiry_indices=np.array([short.steps]),
    )
    target = 0.001
    for label, settings, monitoring in (
        ("pseudo, bridge", MonteCarloSettings(n_paths=100_000, seed=3, workers=2), "bridge"),
        (
            "antithetic, bridge",
            MonteCarloSettings(n_paths=100_000, seed=3, antithetic=True, workers=2),
            "bridge",
        ),
        (
            "Sobol ×32, bridge",
            MonteCarloSettings(
                n_paths=102_400, seed=3, sampling=Sampling.SOBOL, sobol_replicates=32, workers=2
            ),
            "bridge",
        ),
        ("pseudo, BGK shift", MonteCarloSettings(n_paths=100_000, seed=3, workers=2), "bgk"),
    ):
        seconds, result = best_of(
            2,
            lambda s=settings, m=monitoring: price_path_contracts(
                model=short,
                settings=s,
                contracts=touch,
                discount_factors=dfs,
                monitoring=Monitoring(m),
            ),
        )
        se = result.standard_errors[0]
        needed = int(np.ceil(settings.n_paths * (se / target) ** 2))
        print(
            f"   {label:20s} {settings.n_paths:>7,} paths: {result.prices[0]:.5f} ± {se:.5f}"
            f"  ({seconds:.3f} s; ≈{needed:,} paths for ± {target})"
        )
    per_scenario = ", ".join(f"{p:.3f}" for p in result.scenario_prices[:, 0])
    print(f"   per scenario ({', '.join(str(int(v)) for v in LEVELS)}): {per_scenario}")

    print("\n3. No-touch below 140 expiring on the event date (closed form applies)")
    before = model_for(EVENT, 26)
    dfs = np.exp(-R_JPY * before.times)
    no_touch = PathContracts(
        payoffs=np.array([PathPayoff.NO_TOUCH_DOWN]),
        is_call=np.array([False]),
        strikes=np.array([0.0]),
        lower_barriers=np.array([140.0]),
        upper_barriers=np.array([np.nan]),
        cash=np.array([1.0]),
        pay_at_hit=np.array([False]),
        expiry_indices=np.array([before.steps]),
    )
    seconds, result = best_of(
        2,
        lambda: price_path_contracts(
            model=before,
            settings=MonteCarloSettings(n_paths=100_000, seed=4, workers=2),
            contracts=no_touch,
            discount_factors=dfs,
        ),
    )
    closed = touch_price(
        is_up=False,
        one_touch=False,
        pay_at_hit=False,
        spots=SPOT,
        barriers=140.0,
        cash=1.0,
        forwards=before.forwards[-1],
        discount_factors=dfs[-1],
        vols=PRE_VOL,
        times=EVENT,
    ).prices
    print(
        f"   simulation {result.prices[0]:.5f} ± {result.standard_errors[0]:.5f} ({seconds:.3f} s);"
        f" closed form {float(closed):.5f}"
    )


if __name__ == "__main__":
    main()
