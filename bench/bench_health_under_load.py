"""``GET /v1/health`` latency while the heaviest allowed requests run, against an idle server.

Starts ``fxscen serve`` (1 worker) on a free port, times sequential health checks on the idle
server (the reference), then again while a 100,000-line book, a 16-line touch book at
10⁶ paths over 1Y, a 401-strike vol surface and a 10⁶-path fan chart are in flight, and
prints p50/p99/max of each. Run: ``PYTHONPATH=. .venv/bin/python bench/bench_health_under_load.py``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx
import numpy as np

from tests.service.served import served

SET = "us-japan-tariff-2025-07-09"


def heavy() -> list[tuple[str, dict[str, Any]]]:
    book = {
        "scenario_set_id": SET,
        "instruments": [
            {"kind": "call" if i % 2 else "put", "strike": 120.0 + (i % 500) * 0.1, "tenor": "3M"}
            for i in range(100_000)
        ],
    }
    touches = {
        "scenario_set_id": SET,
        "instruments": [
            {
                "kind": "one_touch",
                "direction": "up",
                "barrier": 150.0 + i,
                "cash": 1.0,
                "tenor": "1Y",
            }
            for i in range(16)
        ],
        "paths": {"n_paths": 1_000_000, "seed": 3},
    }
    surface = {"scenario_set_id": SET, "strikes": [110.0 + 0.2 * i for i in range(401)]}
    fan = {"scenario_set_id": SET, "tenor": "1Y", "n_paths": 1_000_000}
    return [
        ("/v1/price", book),
        ("/v1/price", touches),
        ("/v1/vol-surface", surface),
        ("/v1/paths", fan),
    ]


def health_times(client: httpx.Client, until: Any, least: int) -> np.ndarray:
    times = []
    while len(times) < least or not until():
        start = time.perf_counter()
        assert client.get("/v1/health").status_code == 200
        times.append(time.perf_counter() - start)
    return np.array(times) * 1e3


def show(name: str, ms: np.ndarray) -> None:
    p50, p99 = np.percentile(ms, [50, 99])
    print(
        f"{name:34s} n={ms.size:5d}  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {ms.max():7.2f} ms"
    )


def main() -> None:
    with (
        served("--workers", "1", "--no-access-log") as server,
        httpx.Client(base_url=server.url, timeout=600) as client,
    ):
        show("health, idle server (reference)", health_times(client, lambda: True, 500))
        jobs = heavy()
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = [pool.submit(client.post, route, json=body) for route, body in jobs]
            loaded = health_times(client, lambda: all(f.done() for f in futures), 50)
            statuses = [f.result().status_code for f in futures]
        elapsed = time.perf_counter() - start
        show("health, heavy requests in flight", loaded)
        print(f"heavy requests: {statuses} in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
