"""Valuing a book under scenario smiles: the compiled call against the step-by-step path.

On the built-in set and market (its surface read before the event), with post-event smiles on
every scenario — quotes counted from the event date on some, a shift of the market's surface
on the others — and, beside it, digitals under the market's surface with flat scenario vols.
Each case is timed with :func:`scenarios.fx.valuation.value_book` (one compiled call,
:mod:`pricing.fx.book`) and :func:`scenarios.fx.valuation.value_book_stepwise` (numpy around
the kernels: the reference, and the path these books took before), for one option and for a
1,000-option book (calls, puts, JPY and USD digitals, forwards; 8 expiries either side of the
event). Median µs per valuation over many repetitions, warm (tables, vol model and measure
cached, as for a repeated request); the largest relative difference of the prices printed as
a check that both valued the same book.

    python bench/bench_scenario_smiles.py [repetitions]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Callable

import numpy as np

from scenarios.catalog import builtin_catalog
from scenarios.dates import tenor_dates
from scenarios.fx.instruments import Currency, FxOption, OptionKind, build_fx_option
from scenarios.fx.valuation import value_book, value_book_stepwise
from scenarios.scenario import ScenarioSet
from scenarios.vol.smiles import ScenarioSmile, SmileQuote, SmileShift

ENTRY = builtin_catalog()["us-japan-tariff-2025-07-09"]
MARKET, SET = ENTRY.market, ENTRY.scenario_set
TODAY, EVENT = MARKET.valuation_date, SET.event_date


def smiled_set() -> ScenarioSet:
    """Every scenario with a post-event smile: quotes on even ones, a shift on odd ones."""
    rows = (("1M", 0.13, -0.025, 0.004), ("6M", 0.125, -0.03, 0.0045), ("2Y", 0.12, -0.03, 0.005))
    quotes = tuple(
        SmileQuote(*tenor_dates("t", EVENT, tenor), atm=a, rr25=r, bf25=b, tenor=tenor)
        for tenor, a, r, b in rows
    )
    smiles = (
        ScenarioSmile(quotes=quotes),
        ScenarioSmile(shift=SmileShift(atm=-0.02, rr25=0.01, bf25=0.002)),
    )
    scenarios = tuple(
        dataclasses.replace(s, smile=smiles[i % 2]) for i, s in enumerate(SET.scenarios)
    )
    return dataclasses.replace(SET, scenarios=scenarios)


KINDS = (
    (OptionKind.CALL, None),
    (OptionKind.PUT, None),
    (OptionKind.DIGITAL_CALL, Currency.JPY),
    (OptionKind.DIGITAL_PUT, Currency.USD),
    (OptionKind.FORWARD, None),
)


def one_option(kind: OptionKind, currency: Currency | None) -> tuple[FxOption, ...]:
    option = build_fx_option(
        valuation_date=TODAY, kind=kind, strike=146.0, expiry=dt.date(2025, 9, 12),
        payout_currency=currency,
    )  # fmt: skip
    return (option,)


def thousand_options() -> tuple[FxOption, ...]:
    expiries = [TODAY + dt.timedelta(days=d) for d in (10, 20, 40, 70, 100, 180, 365, 540)]
    strikes = np.linspace(125.0, 165.0, 25)
    return tuple(
        build_fx_option(valuation_date=TODAY, kind=k, strike=float(s), expiry=e, payout_currency=c)
        for e in expiries
        for s in strikes
        for k, c in KINDS
    )


def median_us(call: Callable[[], object], repetitions: int) -> float:
    for _ in range(max(repetitions // 10, 3)):
        call()
    runs = []
    for _ in range(repetitions):
        start = time.perf_counter()
        call()
        runs.append(time.perf_counter() - start)
    return float(np.median(runs)) * 1e6


def compare(label: str, scenario_set: ScenarioSet, options: tuple, repetitions: int) -> None:
    kwargs = dict(market=MARKET, scenario_set=scenario_set, options=options)
    fused, stepwise = value_book(**kwargs), value_book_stepwise(**kwargs)
    a, b = fused.greeks.price, stepwise.greeks.price
    diff = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))
    compiled = median_us(lambda: value_book(**kwargs), repetitions)
    reference = median_us(lambda: value_book_stepwise(**kwargs), repetitions)
    print(
        f"  {label:<44} compiled {compiled:9.1f} us   stepwise {reference:9.1f} us   "
        f"{reference / compiled:5.1f}x   price diff {diff:.1e}"
    )


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    smiled = smiled_set()
    book = thousand_options()
    few = max(repetitions // 20, 20)
    print(f"value_book vs value_book_stepwise, median of {repetitions:,} (1,000 lines: {few:,})")
    print("scenario smiles on every scenario (quotes and shifts), market surface before:")
    compare("1 call", smiled, one_option(OptionKind.CALL, None), repetitions)
    compare("1 JPY digital call", smiled, one_option(OptionKind.DIGITAL_CALL, Currency.JPY),
            repetitions)  # fmt: skip
    compare(f"{len(book):,} lines", smiled, book, few)
    print("flat scenario vols, digitals under the market surface:")
    compare("1 JPY digital call", SET, one_option(OptionKind.DIGITAL_CALL, Currency.JPY),
            repetitions)  # fmt: skip
    compare(f"{len(book):,} lines", SET, book, few)


if __name__ == "__main__":
    main()
