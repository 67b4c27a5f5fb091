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

from tests.service.served import heavy_requests, served


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
        jobs = heavy_requests(n_paths=1_000_000, tenor="1Y", fan_chart=True)
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
