"""Where one ``POST /v1/price`` valuation spends its time, stage by stage, in process.

Each stage of a one-option request on the built-in set — body validation, resolving the book,
valuation, response building, rendering — is timed two ways in the same run: inside a loop of
whole requests with a new strike each (what a server sees: every stage runs after the others
have evicted it from the CPU caches), and alone in a hot loop of one request (the reference,
warm caches).

    python bench/bench_request_stages.py [requests]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

import orjson

from service.routes.price import value
from service.schemas.price import PriceRequest, price_response, to_job
from service.settings import Settings
from service.warmup import warm_up

STAGES = ("validate", "resolve book", "valuation", "response", "render")


def body(strike: float) -> bytes:
    request = {
        "scenario_set_id": "us-japan-tariff-2025-07-09",
        "instruments": [{"kind": "call", "strike": strike, "tenor": "3M"}],
    }
    return json.dumps(request).encode()


def interleaved(bodies: list[bytes], settings: Settings) -> dict[str, float]:
    totals = dict.fromkeys(STAGES, 0.0)
    for raw in bodies:
        t0 = time.perf_counter()
        request = PriceRequest.model_validate_json(raw)
        t1 = time.perf_counter()
        job = to_job(request, settings.max_instruments, settings)
        t2 = time.perf_counter()
        valuation = value(job)
        t3 = time.perf_counter()
        content = price_response(job, valuation)
        t4 = time.perf_counter()
        orjson.dumps(content)
        t5 = time.perf_counter()
        spans = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
        for stage, seconds in zip(STAGES, spans, strict=True):
            totals[stage] += seconds
    return {stage: totals[stage] / len(bodies) * 1e6 for stage in STAGES}


def alone(raw: bytes, settings: Settings, repeat: int) -> dict[str, float]:
    request = PriceRequest.model_validate_json(raw)
    job = to_job(request, settings.max_instruments, settings)
    valuation = value(job)
    content = price_response(job, valuation)
    calls: dict[str, Callable[[], object]] = {
        "validate": lambda: PriceRequest.model_validate_json(raw),
        "resolve book": lambda: to_job(request, settings.max_instruments, settings),
        "valuation": lambda: value(job),
        "response": lambda: price_response(job, valuation),
        "render": lambda: orjson.dumps(content),
    }
    out = {}
    for stage, call in calls.items():
        for _ in range(200):
            call()
        start = time.perf_counter()
        for _ in range(repeat):
            call()
        out[stage] = (time.perf_counter() - start) / repeat * 1e6
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    warm_up()
    settings = Settings()
    bodies = [body(140.0 + 1e-5 * i) for i in range(n)]
    interleaved(bodies[:500], settings)
    real = interleaved(bodies, settings)
    hot = alone(bodies[0], settings, 3000)
    print(f"one-option POST /v1/price, stages in process (µs per request, {n:,} requests)")
    print(f"  {'stage':14s} {'in a request loop':>18s} {'alone, hot loop':>16s}")
    for stage in STAGES:
        print(f"  {stage:14s} {real[stage]:18.1f} {hot[stage]:16.1f}")
    print(f"  {'total':14s} {sum(real.values()):18.1f} {sum(hot.values()):16.1f}")


if __name__ == "__main__":
    main()
