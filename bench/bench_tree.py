"""Decision-tree mixture prices for 1,000,000 options × 6 leaves, against the flat event
mixture kernel pricing the same leaves, in the same run.

The tree: the 07-09 deadline (3 branches), each followed by an 08-01 decision (2 branches),
so 6 leaves. Prints ns per option-leaf for

* ``tree_price`` (compiled, price only, parallel over options);
* ``tree_leaf_values`` (the numpy expression), on a subsample;
* the flat kernel ``pricing.mixture.european.mixture_greeks`` (``option_mixture`` per option:
  price and every Greek) over the same 6 leaves, each leaf a scenario with its cumulative
  jump and its piecewise variance folded into a per-option vol ``[n, 6]``. That is the same
  mixture for options expiring after 08-01 (the agreement there is printed), and the same
  work (but not the same prices) before.

    python bench/bench_tree.py [n_options]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from pricing.fx.black import Payoff
from pricing.mixture.european import OptionBook, ScenarioMix, mixture_greeks
from pricing.mixture.measure import Measure
from pricing.mixture.tree import (
    TreeMix,
    TreeShape,
    leaf_states,
    tree_leaf_values,
    tree_measure,
    tree_price,
)

SPOT, R_JPY, R_USD, PRE_VOL = 144.1, 0.006, 0.04, 0.115
T_ROOT, T_SECOND = 26 / 365, 49 / 365


def tree_mix() -> TreeMix:
    shape = TreeShape(
        node_times=np.array([T_ROOT, T_SECOND, T_SECOND, T_SECOND]),
        branch_nodes=np.array([0, 0, 0, 1, 1, 2, 2, 3, 3]),
        branch_children=np.array([1, 2, 3, -1, -1, -1, -1, -1, -1]),
    )
    fit = tree_measure(
        shape=shape,
        probabilities=np.array([0.35, 0.40, 0.25, 0.7, 0.3, 0.5, 0.5, 0.4, 0.6]),
        # 07-09 levels over spot, then the 08-01 moves as ratios
        jumps=np.concatenate(
            [np.array([152.0, 146.0, 138.0]) / SPOT, [1.02, 0.96, 1.01, 0.98, 1.03, 0.95]]
        ),
        measures=Measure.TILT,
    )
    vols = np.array([0.10, 0.105, 0.125, 0.09, 0.12, 0.10, 0.11, 0.13, 0.16])
    return TreeMix.from_fit(shape=shape, fit=fit, vols=vols)


def flat_inputs(mix: TreeMix, args: dict[str, np.ndarray]) -> tuple[OptionBook, ScenarioMix]:
    """The flat kernel's book and mix over the tree's leaves: each leaf's final cumulative
    jump, and its piecewise variance after the root folded into a per-option vol [n, L]."""
    t = args["expiries"]
    states = leaf_states(mix=mix, expiries=t, pre_vols=args["pre_vols"])
    pre_times = np.minimum(t, T_ROOT)
    post_times = np.maximum(t - T_ROOT, 0.0)
    after = post_times > 0
    post_vars = np.where(after[:, None], states.total_vars - PRE_VOL**2 * pre_times[:, None], 1.0)
    post_vols = np.sqrt(post_vars / np.where(after, post_times, 1.0)[:, None])
    n = t.size
    book = OptionBook(
        payoffs=args["payoffs"],
        strikes=args["strikes"],
        forwards=args["forwards"],
        discount_factors=args["discount_factors"],
        delivery_times=t,
        rates_jpy=np.full(n, R_JPY),
        rates_usd=np.full(n, R_USD),
        pre_vols=args["pre_vols"],
        pre_times=pre_times,
        post_times=post_times,
    )
    final = mix.jumps[mix.paths].prod(axis=1)  # every path is 2 deep: no padding
    return book, ScenarioMix(weights=mix.weights, jumps=final, vols=post_vols)


def best_of(runs: int, call: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(7)
    mix = tree_mix()
    n_leaves = mix.weights.size
    t = rng.uniform(7 / 365, 2.0, n)
    forwards = SPOT * np.exp((R_JPY - R_USD) * t)
    args = {
        "payoffs": rng.choice([Payoff.CALL, Payoff.PUT], n),
        "strikes": forwards * np.exp(rng.normal(0.0, 0.1, n)),
        "forwards": forwards,
        "discount_factors": np.exp(-R_JPY * t),
        "expiries": t,
        "pre_vols": np.full(n, PRE_VOL),
    }

    book, flat = flat_inputs(mix, args)
    tree_price(mix=mix, **{k: v[:1000] for k, v in args.items()})  # compile outside timing
    tree_price(mix=mix, **{k: v[:5000] for k, v in args.items()})
    small_book, small_flat = flat_inputs(mix, {k: v[:1000] for k, v in args.items()})
    mixture_greeks(book=small_book, mix=small_flat, spot=SPOT)

    elements = n * n_leaves
    ours = best_of(5, lambda: tree_price(mix=mix, **args))
    reference = best_of(3, lambda: mixture_greeks(book=book, mix=flat, spot=SPOT))
    sample = min(n, 200_000)
    sub = {k: v[:sample] for k, v in args.items()}
    numpy_time = best_of(3, lambda: tree_leaf_values(mix=mix, **sub) @ mix.weights)

    prices = tree_price(mix=mix, **args)
    flat_prices = mixture_greeks(book=book, mix=flat, spot=SPOT).price
    late = t > T_SECOND
    gap = np.max(
        np.abs(prices[late] - flat_prices[late]) / np.maximum(np.abs(flat_prices[late]), 1e-12)
    )
    shared = 1.0 - late.mean()
    print(f"decision-tree prices, {n:,} options x {n_leaves} leaves "
          f"({shared:.0%} expire on or before 08-01 and share leaves)")  # fmt: skip
    print(
        f"  tree_price (compiled):    best {ours:.3f} s -> {ours / elements * 1e9:.1f} ns per option-leaf"
    )
    print(f"  tree_leaf_values (numpy): {numpy_time / (sample * n_leaves) * 1e9:.1f} ns per option-leaf "
          f"(on {sample:,} options)")  # fmt: skip
    print(f"  flat kernel mixture_greeks on the same leaves (price + Greeks): best {reference:.3f} s "
          f"-> {reference / elements * 1e9:.1f} ns per option-leaf")  # fmt: skip
    print(f"  agreement after 08-01: max relative gap {gap:.1e}")


if __name__ == "__main__":
    main()
