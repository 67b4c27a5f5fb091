"""``POST /v1/price`` for one option against the bare ``/v1/health`` on the same server.

Starts ``fxscen serve`` (1 worker) on a free loopback port and drives it with ``wrk``
(Debian package ``wrk``) at 16 connections, 2 threads, for each load in turn; prints req/s,
the ratio to the bare endpoint, and latency percentiles (p50/p99). Two loads of
``/v1/price``: the same one-option body every time (after the first request, answered from
the response cache), and a different strike in every request (each one valued: the cache
never hits).

    python bench/bench_http.py [seconds]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

BODY = {
    "scenario_set_id": "us-japan-tariff-2025-07-09",
    "instruments": [{"kind": "call", "strike": 150.0, "tenor": "3M"}],
}
LUA = """wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("P50 %%.3f\\nP99 %%.3f\\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""
DISTINCT_LUA = """local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local counter = 0
request = function()
  counter = counter + 1
  local strike = 140 + 10 * id + 1e-5 * counter
  local body = string.format([[%s]], strike)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("P50 %%.3f\\nP99 %%.3f\\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""
GET_LUA = """done = function(summary, latency, requests)
  io.write(string.format("P50 %.3f\\nP99 %.3f\\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_wrk(url: str, script: str, seconds: int) -> tuple[float, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    result = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", f.name, url],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"wrk failed: {result.stdout}{result.stderr}")
    out = result.stdout
    os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = float(re.search(r"P50 ([\d.]+)", out).group(1))
    p99 = float(re.search(r"P99 ([\d.]+)", out).group(1))
    if "Non-2xx" in out:
        raise SystemExit("non-2xx responses:\n" + out)
    return rps, p50, p99


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    port = free_port()
    fxscen = Path(sys.executable).parent / "fxscen"
    server = subprocess.Popen(
        [str(fxscen), "serve", "--port", str(port), "--workers", "1", "--no-access-log"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        for line in server.stderr:  # block on the server's log until start-up completes
            if "Uvicorn running on" in line:  # logged once the socket is bound
                break
        threading.Thread(target=server.stderr.read, daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        bare = run_wrk(f"{base}/v1/health", GET_LUA, seconds)
        priced = run_wrk(f"{base}/v1/price", LUA % json.dumps(BODY), seconds)
        template = json.dumps(BODY).replace("150.0", "%.5f")
        distinct = run_wrk(f"{base}/v1/price", DISTINCT_LUA % template, seconds)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    print(f"HTTP, 1 uvicorn worker, wrk 2 threads x 16 connections, {seconds} s each")
    rows = (
        ("GET  /v1/health (bare)", bare),
        ("POST /v1/price, 1 option, same body", priced),
        ("POST /v1/price, 1 option, new strike each", distinct),
    )
    for label, (rps, p50, p99) in rows:
        print(
            f"  {label:42s} {rps:8.0f} req/s  {rps / bare[0]:5.2f}x bare  "
            f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
        )


if __name__ == "__main__":
    main()
