"""What request metrics (and the JSON access log) cost a valued one-option ``POST /v1/price``.

In process first: the app called directly as ASGI (no server, no network, response cache
off so every request is valued by the price lane), metrics off and on taking turns request
by request; the median µs per request of each, and the difference.

Then over HTTP: four servers side by side (1 uvicorn worker each, stderr to a file, JSON logs
as :func:`service.logs.log_config` sets them up): metrics off (``FXSCEN_METRICS=false``),
metrics on, metrics on with the JSON access log, and — for comparison — metrics on with
uvicorn's own text logs and access log instead. Each is driven by ``wrk`` (Debian package
``wrk``) at 16 connections, 2 threads, a new strike in every request (each one valued by the
price lane, never answered from the cache), in turn for several rounds, the order rotated
each round so drift spreads evenly. Prints each round, the median req/s and p99 per server
with the loss against metrics off, and the loss within each round.

    python bench/bench_metrics.py [seconds per run] [rounds]
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

BODY = {
    "scenario_set_id": "us-japan-tariff-2025-07-09",
    "instruments": [{"kind": "call", "strike": 150.0, "tenor": "3M"}],
}
# strike = base + 25·thread + 1e-6·request: runs use bases 2 apart, so no strike repeats on
# one server across rounds (a run sends well under 2·10⁶ requests per thread)
LUA = """local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local counter = 0
request = function()
  counter = counter + 1
  local strike = %(base)f + 25 * id + 1e-6 * counter
  local body = string.format([[%(template)s]], strike)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("P50 %%.3f\\nP99 %%.3f\\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""
# argv: port, then the access log: "off", "on" (ours, JSON) or "uvicorn" (uvicorn's own log
# config and access log, as `fxscen serve` ran before the JSON logs)
SERVE = (
    "import sys, uvicorn\n"
    "from service.logs import log_config\n"
    "kind = sys.argv[2]\n"
    "logs = {} if kind == 'uvicorn' else {'log_config': log_config('info', access_log=kind == 'on')}\n"
    "uvicorn.run('service.app:create_app', factory=True, host='127.0.0.1', port=int(sys.argv[1]),"
    " workers=1, access_log=kind == 'uvicorn', **logs)\n"
)
SERVERS = (  # label, FXSCEN_METRICS, access log
    ("metrics off", "false", "off"),
    ("metrics on", "true", "off"),
    ("metrics on + access log", "true", "on"),
    ("metrics on + uvicorn's", "true", "uvicorn"),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, server: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Poll ``GET /v1/ready`` until it answers 200 (start-up, warm-up included, is done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)  # a bench, not a test: polling a starting server
    raise SystemExit(f"server on port {port} not ready after {timeout} s")


def run_wrk(url: str, script: str, seconds: int) -> tuple[float, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        result = subprocess.run(
            ["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", f.name, url],
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(f.name)
    out = result.stdout
    if result.returncode != 0:
        raise SystemExit(f"wrk failed: {out}{result.stderr}")
    if "Non-2xx" in out:
        raise SystemExit("non-2xx responses:\n" + out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"P50 ([\d.]+)", out)
    p99 = re.search(r"P99 ([\d.]+)", out)
    assert rps and p50 and p99, out
    return float(rps.group(1)), float(p50.group(1)), float(p99.group(1))


def in_process(requests: int = 20_000) -> None:
    """µs per lane-valued request of the ASGI app called in this process, metrics off / on.

    The two apps take turns request by request, each request timed alone; medians, so a
    request that another process preempted does not move the figure.
    """
    from service.app import create_app
    from service.settings import Settings

    apps = {
        label: create_app(Settings(metrics=metrics == "true", response_cache_bytes=0))
        for label, metrics, _ in SERVERS[:2]
    }
    template = json.dumps(BODY).replace("150.0", "%.6f")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/price",
        "raw_path": b"/v1/price",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    statuses: set[int] = set()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    async def one(app: Any, body: bytes) -> float:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        start = time.perf_counter()
        await app(dict(scope), receive, send)
        return time.perf_counter() - start

    async def run() -> dict[str, list[float]]:
        times: dict[str, list[float]] = {label: [] for label in apps}
        for app in apps.values():  # compile and warm, untimed
            await one(app, (template % 150.0).encode())
        for i in range(requests):
            for j, (label, app) in enumerate(apps.items()):
                body = (template % (100 + j + 1e-6 * i)).encode()  # a new strike each time
                times[label].append(await one(app, body))
        return times

    times = asyncio.run(run())
    assert statuses == {200}, statuses
    off, on = (statistics.median(times[label]) * 1e6 for label in ("metrics off", "metrics on"))
    print(
        f"In process, POST /v1/price valued by the lane (cache off), median of {requests} "
        f"each: metrics off {off:.1f} µs, on {on:.1f} µs per request: "
        f"+{on - off:.1f} µs ({100 * (on - off) / off:+.1f}%)"
    )


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    in_process()
    template = json.dumps(BODY).replace("150.0", "%.6f")
    logs = tempfile.TemporaryDirectory(prefix="bench-metrics-")
    servers: list[tuple[str, int, subprocess.Popen[bytes]]] = []
    try:
        for label, metrics, access in SERVERS:
            port = free_port()
            env = {**os.environ, "FXSCEN_METRICS": metrics}
            with open(os.path.join(logs.name, f"{port}.log"), "wb") as stderr:
                server = subprocess.Popen(
                    [sys.executable, "-c", SERVE, str(port), access],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            servers.append((label, port, server))
        for _, port, server in servers:
            wait_ready(port, server)
        results: dict[str, list[tuple[float, float, float]]] = {s[0]: [] for s in SERVERS}
        run = 0
        for round_ in range(rounds):
            order = servers[round_ % len(servers) :] + servers[: round_ % len(servers)]
            for label, port, _ in order:
                script = LUA % {"base": 100 + 2 * run, "template": template}
                run += 1
                rps, p50, p99 = run_wrk(f"http://127.0.0.1:{port}/v1/price", script, seconds)
                results[label].append((rps, p50, p99))
                print(f"  round {round_ + 1}  {label:24s} {rps:8.0f} req/s  p99 {p99:6.2f} ms")
    finally:
        for _, _, server in servers:
            server.terminate()
        for _, _, server in servers:
            server.wait(timeout=30)
        logs.cleanup()
    print(
        f"POST /v1/price, 1 option, a new strike each request; 1 uvicorn worker per server, "
        f"wrk 2 threads x 16 connections, {seconds} s x {rounds} rounds (medians)"
    )
    base_rps = statistics.median(r[0] for r in results["metrics off"])
    base_p99 = statistics.median(r[2] for r in results["metrics off"])
    for label, _, _ in SERVERS:
        rps = statistics.median(r[0] for r in results[label])
        p99 = statistics.median(r[2] for r in results[label])
        print(
            f"  {label:24s} {rps:8.0f} req/s ({100 * (base_rps - rps) / base_rps:+5.1f}% loss)  "
            f"p99 {p99:6.2f} ms ({100 * (p99 - base_p99) / base_p99:+5.1f}%)"
        )
    # each round's servers ran one after the other: the loss within a round, less exposed
    # to the machine's load drifting between rounds
    for label, _, _ in SERVERS[1:]:
        losses = sorted(
            100 * (1 - on[0] / off[0])
            for on, off in zip(results[label], results["metrics off"], strict=True)
        )
        print(
            f"  {label:24s} loss within each round: median {statistics.median(losses):+.1f}%, "
            f"range {losses[0]:+.1f}% to {losses[-1]:+.1f}%"
        )


if __name__ == "__main__":
    main()
