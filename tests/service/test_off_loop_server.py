"""Heavy work off the event loop, on a real server: a client that goes stops its work, and
health answers while the heaviest allowed requests run.

Witnesses: the server's own log (the simulation stopped with ``cancelled (abandoned)``: had
it run on, it would have finished and logged nothing of the kind), and the work-unit
counters of ``/metrics`` split by where the work ran (event loop or worker thread).
"""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx

from tests.service.served import heavy_requests, served

SET = "us-japan-tariff-2025-07-09"


def _raw_post(port: int, path: str, body: dict[str, Any]) -> socket.socket:
    payload = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(payload), payload)
    )
    return sock


def test_a_client_that_disconnects_stops_its_simulation() -> None:
    with served("--workers", "1") as server:
        # 10⁶ paths over 1Y: seconds of simulation, checked for cancellation every block
        sock = _raw_post(
            server.port, "/v1/paths", {"scenario_set_id": SET, "tenor": "1Y", "n_paths": 1_000_000}
        )
        server.wait_for_log("POST /v1/paths: started on a worker thread")
        sock.close()  # the client goes before any answer (after its work began)
        log = server.wait_for_log("stopped: cancelled (abandoned) at check", timeout=120)
        line = next(x for x in log.splitlines() if "stopped: cancelled (abandoned)" in x)
        message = json.loads(line)["message"]  # the server logs JSON lines
        assert message.startswith("POST /v1/paths stopped")
        # the first check passed (the work began); a later one, between blocks, stopped it
        checks = int(message.rsplit("at check ", 1)[1])
        assert checks >= 2, message
        assert httpx.get(server.url + "/v1/health", timeout=30).status_code == 200


def _counter(metrics: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_health_answers_while_the_heaviest_requests_run_off_the_loop() -> None:
    with (
        served("--workers", "1") as server,
        httpx.Client(base_url=server.url, timeout=300) as client,
    ):
        before = client.get("/metrics").text
        # 16 touch lines at 2·10⁵ paths over 6M: the full 10⁶ × 1Y is the bench's
        heavy = heavy_requests(n_paths=200_000, tenor="6M", fan_chart=False)
        with ThreadPoolExecutor(max_workers=len(heavy)) as pool:
            futures = [pool.submit(client.post, route, json=body) for route, body in heavy]
            health = []
            while not all(f.done() for f in futures):
                health.append(client.get("/v1/health").status_code)
            statuses = [f.result().status_code for f in futures]
        after = client.get("/metrics").text
    assert statuses == [200, 200, 200]
    assert health and set(health) == {200}
    # every heavy request's work ran on worker threads: none of it on the event loop
    name = "fxscen_work_units_total"
    on_loop = _counter(after, name, where="loop") - _counter(before, name, where="loop")
    on_threads = _counter(after, name, where="thread") - _counter(before, name, where="thread")
    assert on_threads > 1e6
    assert on_loop == 0
