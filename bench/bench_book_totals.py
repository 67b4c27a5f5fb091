"""What the book's totals cost: a 100,000-line long/short book with tags, valued in one
``POST /v1/price`` pipeline (validate, resolve, value, build the response, render), with
totals and sub-totals by two tag keys against the same book with ``"totals": false``.

Both variants run in the same process, alternately, several times; the figure is the median.
The book mixes calls, puts, JPY- and USD-paying digitals and forwards over seven tenors, a
third of the lines sold, each tagged with a desk and a trader.

    python bench/bench_book_totals.py [lines] [repeats]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import orjson

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from service.routes.price import value
from service.schemas.price import PriceRequest, price_response, to_job
from service.settings import Settings

TENORS = ("1W", "1M", "2M", "3M", "6M", "9M", "1Y")
KINDS = ("call", "put", "digital_call", "digital_put", "forward")


def book(lines: int, totals: bool) -> bytes:
    instruments = []
    for i in range(lines):
        kind = KINDS[i % len(KINDS)]
        line = {
            "kind": kind,
            "strike": 130.0 + (i % 41),
            "tenor": TENORS[i % len(TENORS)],
            "notional": 1e5 * (1 + i % 10),
            "side": "sell" if i % 3 == 0 else "buy",
            "tags": {"desk": f"desk{i % 4}", "trader": f"t{i % 25}"},
        }
        if kind.startswith("digital"):
            line["payout_currency"] = "JPY" if i % 2 else "USD"
        instruments.append(line)
    return json.dumps(
        {
            "scenario_set_id": "us-japan-tariff-2025-07-09",
            "instruments": instruments,
            "group_by": ["desk", "trader"] if totals else [],
            "totals": totals,
        }
    ).encode()


def run(raw: bytes, settings: Settings) -> float:
    t0 = time.perf_counter()
    request = PriceRequest.model_validate_json(raw)
    job = to_job(request, settings.max_instruments, settings)
    orjson.dumps(price_response(job, value(job)))
    return time.perf_counter() - t0


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    settings = Settings(max_instruments=max(lines, 100_000))
    with_totals, without = book(lines, True), book(lines, False)
    run(book(100, True), settings)  # compile and cache before timing
    timed: dict[str, list[float]] = {"with totals": [], "without": []}
    for _ in range(repeats):
        timed["with totals"].append(run(with_totals, settings))
        timed["without"].append(run(without, settings))
    a, b = statistics.median(timed["with totals"]), statistics.median(timed["without"])
    print(f"{lines:,} lines, median of {repeats}:")
    print(f"  with totals and 2 tag groupings (29 groups): {a:.3f} s")
    print(f"  without totals (reference):                  {b:.3f} s")
    print(f"  totals add {100 * (a / b - 1):+.1f}%  ({(a - b) * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
