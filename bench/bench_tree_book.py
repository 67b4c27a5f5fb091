"""The compiled book under a decision tree: 1,000,000 options on a 2-node, 6-leaf tree, against
the step-by-step valuation in the same run.

The tree (the shape of the built-in ``us-japan-tariff-2025-tree``): the 07-09 deadline with
five branches, one of them (the extension) leading to the 08-01 decision with two, so six
leaves and seven branch levels. The book: expiries drawn from 7 days to 2 years (6% on or
before 08-01, 3% on or before the root), strikes around the forward (10% log-normal spread),
the lines of the other book benches (call, put, JPY digital call, USD digital put, forward);
the same book all calls and puts (each line inverted to its implied vol, ~0.4 µs a line on
its own: ``bench/bench_implied_vol.py``); and the same book without vanillas (digitals and
forwards: no implied vol). Every figure is computed: price, the eight Greeks, value per leaf,
∂/∂J per leaf, ∂price/∂L per branch (7), implied vol of the vanillas.

Printed, per market (the built-in market's surface read per leaf at K/J_ℓ(T), and its ATM
curve alone), in ns per option-leaf (wall time / (options × 6)):

* the compiled book, ``pricing.fx.book.value_fx_options`` on ``book_tables`` (best of 5);
* ``scenarios.fx.valuation.value_book_stepwise`` (numpy around the kernels, the reference) on
  the first 100,000 options, best of 3, and the largest price difference between the two in
  JPY per unit of notional (~1e-13: the forward to delivery is numpy's ``exp`` in one, libm's
  in the other, an ulp apart at times);

and, beside them, the compiled book on a flat set of the same six leaves (each leaf a
scenario at its cumulative level: the same work per option-leaf, one decision date), so the
tree's own cost shows.

Options come as arrays (expiry and delivery times, strikes, payoff codes), as the service
packs them; building a million ``FxOption`` objects is not part of either valuation.

    python bench/bench_tree_book.py [n_options]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Callable

import numpy as np

from pricing.fx.book import value_fx_options
from pricing.mixture.measure import Measure
from scenarios.catalog import builtin_catalog
from scenarios.dates import year_fraction
from scenarios.fx.instruments import Currency, FxOption, OptionKind, build_fx_option
from scenarios.fx.valuation import _BookArrays, book_tables, value_book_stepwise
from scenarios.market import MarketSnapshot
from scenarios.scenario import ScenarioSet, tree_scenario_set
from scenarios.tree import DecisionTree

ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
MARKET = ENTRY.market
TODAY, SPOT = MARKET.valuation_date, MARKET.spot
KINDS = (
    (OptionKind.CALL, None),
    (OptionKind.PUT, None),
    (OptionKind.DIGITAL_CALL, Currency.JPY),
    (OptionKind.DIGITAL_PUT, Currency.USD),
    (OptionKind.FORWARD, None),
)


def tree_set() -> ScenarioSet:
    tree = DecisionTree.build(
        root="deadline",
        nodes=[
            {"id": "deadline", "date": dt.date(2025, 7, 9), "branches": [
                {"name": "deal", "probability": 0.10, "vol": 0.09, "level": 158.0},
                {"name": "suspension", "probability": 0.25, "vol": 0.10, "level": 148.0},
                {"name": "extension", "probability": 0.30, "vol": 0.115, "jump": 1.0,
                 "next": "effective"},
                {"name": "no_deal", "probability": 0.25, "vol": 0.125, "level": 139.0},
                {"name": "escalation", "probability": 0.10, "vol": 0.15, "level": 134.0}]},
            {"id": "effective", "date": dt.date(2025, 8, 1), "branches": [
                {"name": "late_deal", "probability": 0.45, "vol": 0.10, "jump": 1.04},
                {"name": "tariffs", "probability": 0.55, "vol": 0.13, "jump": 0.955}]},
        ],
    )  # fmt: skip
    return tree_scenario_set(id="bench-tree", name="2 nodes, 6 leaves", tree=tree, spot=SPOT)


def random_book(n: int, kinds, rng: np.random.Generator) -> tuple[_BookArrays, list]:
    """``n`` lines as packed arrays, and the recipe (expiry, strike, kind) of each."""
    days = rng.integers(7, 731, n)
    expiry_dates = [TODAY + dt.timedelta(days=int(d)) for d in range(7, 731)]
    delivery = {  # the spot date of each expiry, once per date
        e: build_fx_option(
            valuation_date=TODAY, kind=OptionKind.CALL, strike=1.0, expiry=e
        ).delivery
        for e in expiry_dates
    }
    expiries = np.array([year_fraction(TODAY, e) for e in expiry_dates])[days - 7]
    deliveries = np.array([year_fraction(TODAY, delivery[e]) for e in expiry_dates])[days - 7]
    forwards = MARKET.forwards(deliveries)
    strikes = forwards * np.exp(rng.normal(0.0, 0.1, n))
    which = rng.integers(0, len(kinds), n)
    codes = np.array([_code(*kinds[k]) for k in range(len(kinds))], dtype=np.int64)[which]
    packed = np.ascontiguousarray(np.array([expiries, deliveries, strikes]))
    recipe = [(expiry_dates[d - 7], delivery[expiry_dates[d - 7]], float(s), kinds[k])
              for d, s, k in zip(days, strikes, which, strict=True)]  # fmt: skip
    return _BookArrays(packed=packed, payoffs=codes), recipe


def _code(kind: OptionKind, currency: Currency | None) -> int:
    option = build_fx_option(
        valuation_date=TODAY, kind=kind, strike=150.0, expiry=TODAY + dt.timedelta(days=30),
        payout_currency=currency,
    )  # fmt: skip
    return int(option.payoff)


def options_of(recipe: list) -> tuple[FxOption, ...]:
    return tuple(
        build_fx_option(valuation_date=TODAY, kind=kind, strike=strike, expiry=e,
                        delivery=d, payout_currency=currency)
        for e, d, strike, (kind, currency) in recipe
    )  # fmt: skip


def best_of(runs: int, call: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def flat_of(scenario_set: ScenarioSet) -> ScenarioSet:
    """The leaves as a flat set on the root's date (no tree)."""
    return ScenarioSet(
        id="bench-flat-leaves",
        name="the tree's leaves, flat",
        event_date=scenario_set.event_date,
        scenarios=scenario_set.scenarios,
    )


def run(market: MarketSnapshot, label: str, scenario_set: ScenarioSet, n: int) -> None:
    leaves = len(scenario_set.scenarios)
    tables = book_tables(market, scenario_set, Measure.TILT)
    flat = book_tables(market, flat_of(scenario_set), Measure.TILT)
    rng = np.random.default_rng(7)
    books = (("5 kinds", KINDS), ("calls and puts", KINDS[:2]), ("no vanillas", KINDS[2:]))
    for book_label, kinds in books:
        arrays, recipe = random_book(n, kinds, rng)
        warm = np.ascontiguousarray(arrays.packed[:, :5000])
        value_fx_options(tables, payoffs=arrays.payoffs[:5000], options=warm)  # both builds
        value_fx_options(tables, payoffs=arrays.payoffs[:10], options=warm[:, :10].copy())
        compiled = best_of(
            5, lambda a=arrays: value_fx_options(tables, payoffs=a.payoffs, options=a.packed)
        )
        value_fx_options(flat, payoffs=arrays.payoffs[:5000], options=warm)
        flat_time = best_of(
            5, lambda a=arrays: value_fx_options(flat, payoffs=a.payoffs, options=a.packed)
        )
        sample = min(n, 100_000)
        sliced = _BookArrays(
            packed=np.ascontiguousarray(arrays.packed[:, :sample]), payoffs=arrays.payoffs[:sample]
        )
        options = options_of(recipe[:sample])
        kwargs = dict(market=market, scenario_set=scenario_set, options=options, arrays=sliced)
        stepwise = best_of(3, lambda k=kwargs: value_book_stepwise(**k))
        fused = value_fx_options(tables, payoffs=sliced.payoffs, options=sliced.packed)
        reference = value_book_stepwise(**kwargs).greeks.price
        price = fused.columns[0]
        gap = float(np.max(np.abs(price - reference)))
        after_last = float(np.mean(arrays.expiries > tables.node_times[-1]))
        per = 1e9 / (n * leaves)
        print(
            f"  {label:<15} {book_label:<15} compiled {compiled * per:6.1f} ns "
            f"({compiled:.3f} s)   stepwise {stepwise / (sample * leaves) * 1e9:6.1f} ns "
            f"({sample:,} lines) {stepwise * n / sample / compiled:4.1f}x   max |Δ price| {gap:.0e}"
            f"   flat set of the leaves {flat_time * per:5.1f} ns   after 08-01 {after_last:.0%}"
        )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    scenario_set = tree_set()
    leaves = len(scenario_set.scenarios)
    print(f"compiled book under a tree: {n:,} options x {leaves} leaves, 2 nodes, 7 branches; "
          f"ns per option-leaf")  # fmt: skip
    run(MARKET, "market surface", scenario_set, n)
    run(dataclasses.replace(MARKET, surface=None), "ATM curve", scenario_set, n)


if __name__ == "__main__":
    main()
