"""Benchmark: many barrier lines on one simulation cost little more than one.

Run: ``python bench/bench_path_lines.py [n_paths]`` (default 1,000,000). Prints, in one run:

1. A book of 1 and of 16 one-touches (up barriers 150…161, down 139…130, half paid at the
   hit) on USD/JPY over 1Y on the daily grid, the built-in tariff scenario set, priced
   through :func:`scenarios.paths.valuation.value_path_book` as the service calls it (two
   workers), and the ratio of the two times.
2. The 16-line book at 100,000 paths evaluated line by line, as before the shared kernel
   (``tests/pricing/paths/reference.py``), against the shared kernel on the same paths: time
   and the largest relative difference of the prices.
3. The figures of the service's cost model ``work = n_paths × steps × (1 + α·lines)``: seconds
   per path-step of the simulation alone (pseudo-random and Sobol) and per path-step-line of
   the evaluation (the 16-line book less the 1-line one, over 15 lines), one worker and two.

Times are the best of a few repeats (the machine has 2 shared cores).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pricing.paths.model import MonteCarloSettings, PathModel, Sampling
from pricing.paths.options import PathContracts, PathPayoff, price_path_contracts
from pricing.paths.simulation import fold_path_blocks
from scenarios.catalog import builtin_catalog
from scenarios.dates import tenor_dates
from scenarios.paths.instruments import Direction, TouchType, build_touch_option
from scenarios.paths.simulation import SimulationSettings, path_grid, path_market
from scenarios.paths.valuation import value_path_book
from tests.pricing.paths.reference import reference_path_prices

ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
MARKET, SCENARIOS = ENTRY.market, ENTRY.scenario_set
UPS = np.arange(150.0, 162.0)
DOWNS = np.array([139.0, 136.0, 133.0, 130.0])


def best_of(repeats: int, run) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def touches(lines: int) -> tuple:
    """``lines`` one-touches over 1Y: up barriers first, then down ones; every other paid at
    the hit."""
    levels = [(Direction.UP, b) for b in UPS] + [(Direction.DOWN, b) for b in DOWNS]
    chosen = levels[:1] if lines == 1 else levels[:lines]
    return tuple(
        build_touch_option(
            valuation_date=MARKET.valuation_date,
            spot=MARKET.spot,
            touch_type=TouchType.ONE_TOUCH,
            direction=direction,
            barrier=float(barrier),
            cash=1.0,
            tenor="1Y",
            pay_at_hit=i % 2 == 1,
        )
        for i, (direction, barrier) in enumerate(chosen)
    )


def one_year_model() -> tuple[PathModel, np.ndarray]:
    """The model value_path_book simulates for a 1Y book (daily grid, mixed draw weights)."""
    horizon, _ = tenor_dates("tenor", MARKET.valuation_date, "1Y")
    grid = path_grid(
        valuation_date=MARKET.valuation_date,
        horizon=horizon,
        steps_per_year=None,
        required=(SCENARIOS.event_date,),
    )
    built = path_market(market=MARKET, scenario_set=SCENARIOS, grid=grid)
    m = built.weights.size
    return replace(built.model, weights=0.5 * built.weights + 0.5 / m), built.discount_factors


def contracts(model: PathModel, lines: int) -> PathContracts:
    ups = UPS[: min(lines, UPS.size)]
    downs = DOWNS[: max(lines - UPS.size, 0)]
    count = ups.size + downs.size
    return PathContracts(
        payoffs=np.array(
            [PathPayoff.ONE_TOUCH_UP] * ups.size + [PathPayoff.ONE_TOUCH_DOWN] * downs.size
        ),
        is_call=np.zeros(count, dtype=bool),
        strikes=np.zeros(count),
        lower_barriers=np.concatenate([np.full(ups.size, np.nan), downs]),
        upper_barriers=np.concatenate([ups, np.full(downs.size, np.nan)]),
        cash=np.ones(count),
        pay_at_hit=np.arange(count) % 2 == 1,
        expiry_indices=np.full(count, model.steps),
    )


def main() -> None:
    n_paths = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    settings = SimulationSettings(n_paths=n_paths, seed=1, workers=2)

    def book(lines: int):
        return value_path_book(
            market=MARKET, scenario_set=SCENARIOS, contracts=touches(lines), settings=settings
        )

    book(1)  # load the compiled kernels
    one, valuation = best_of(2, lambda: book(1))
    many, _ = best_of(2, lambda: book(16))
    print(f"\n1. {n_paths:,} paths × {valuation.steps} daily steps (1Y), 5 scenarios, 2 workers")
    print(f"   1 one-touch:   {one:6.2f} s")
    print(f"   16 one-touches: {many:6.2f} s   ratio {many / one:.2f}")

    model, dfs = one_year_model()
    k = model.steps
    print("\n2. 16 one-touches, 100,000 paths, 1 worker: per-line reference against the kernel")
    small = MonteCarloSettings(n_paths=100_000, seed=2)
    book16 = contracts(model, 16)
    seconds_new, new = best_of(
        2,
        lambda: price_path_contracts(
            model=model, settings=small, contracts=book16, discount_factors=dfs
        ),
    )
    seconds_old, old = best_of(
        1,
        lambda: reference_path_prices(
            model=model, settings=small, contracts=book16, discount_factors=dfs
        ),
    )
    gap = np.max(np.abs(new.prices - old.prices) / np.abs(old.prices))
    print(f"   per-line reference: {seconds_old:6.2f} s")
    print(
        f"   shared kernel:      {seconds_new:6.2f} s   ({seconds_old / seconds_new:.1f}× faster;"
    )
    print(f"   largest relative price difference {gap:.1e})")

    print("\n3. Cost model, ns per path-step (simulation) and per path-step-line (evaluation)")
    for sampling, paths in ((Sampling.PSEUDO, 200_000), (Sampling.SOBOL, 102_400)):
        for workers in (1, 2):
            mc = MonteCarloSettings(
                n_paths=paths, seed=3, sampling=sampling, sobol_replicates=16, workers=workers
            )
            work = paths * k
            simulation, _ = best_of(
                2,
                lambda mc=mc: fold_path_blocks(
                    model=model,
                    settings=mc,
                    consumer=lambda block: 0.0,
                    fold=lambda acc, x: acc + x,
                    initial=0.0,
                ),
            )
            priced = {
                lines: best_of(
                    2,
                    lambda mc=mc, lines=lines: price_path_contracts(
                        model=model,
                        settings=mc,
                        contracts=contracts(model, lines),
                        discount_factors=dfs,
                    ),
                )[0]
                for lines in (1, 16)
            }
            per_step = simulation / work
            first_line = (priced[1] - simulation) / work
            per_line = (priced[16] - priced[1]) / (15 * work)
            print(
                f"   {sampling:6s} {workers} worker(s): simulation {per_step * 1e9:5.2f},"
                f" first line {first_line * 1e9:5.2f}, each further line {per_line * 1e9:5.2f}"
                f"  →  α = {per_line / per_step:.3f}"
            )


if __name__ == "__main__":
    main()
