"""``POST /v1/price`` on a stored scenario set (pinned, latest) against the built-in set, and
the store's write latency, on real servers.

Starts two ``fxscen serve`` processes (1 worker each, free loopback ports, ``FXSCEN_AUTH=off``)
on one fresh SQLite file in a temp dir: one with the response cache off
(``FXSCEN_RESPONSE_CACHE_BYTES=0``: every request is valued, so the comparison is of what
resolving the set costs), one with it on. A copy of the built-in set
``us-japan-tariff-2025-07-09`` (its document, another id) is created with ``POST
/v1/scenario-sets``. One 3M 150 call is then priced on (a) the built-in set, the reference: no
store read; (b) the copy pinned by ``scenario_set_version``; (c) the copy by its latest version
(never cached: ``Cache-Control: no-store``). Valued, (b) and (c) each read the store once. A
small asyncio HTTP/1.1 client (8 keep-alive connections, uvloop when installed) sends a fixed
number of requests per case after a warm-up; the cases are interleaved in rounds (a, b, c on
the cache-off server, then on the cache-on one, each round) so that machine noise hits all
alike. Printed: each case's median over rounds of req/s, p50 and p99, the ratios b/a and c/a of
the median req/s (and their range within rounds) against the targets b ≥ 0.9×a, c ≥ 0.7×a.
With the cache on (a) and (b) are cache hits and (c) is valued: its c/a is the price of not
caching "latest", not a resolution cost.

Then the latency (p50, p99 in ms) of writes on the cache-off server, one connection,
sequential, 300 of each after 20 warm-up: ``PUT`` of the next version (each with the ``ETag``
the previous one returned) and ``POST`` of a new set. With ``--postgres URL``
(``postgresql+psycopg://user:password@host/db``) a third server on that database measures the
same writes there (its ids carry a run tag: the database is not emptied).

    python bench/bench_store.py [--requests 3000] [--warmup 300] [--rounds 3]
                                [--connections 8] [--writes 300] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUILTIN = "us-japan-tariff-2025-07-09"
COPY = "bench-store-copy"
INSTRUMENTS = [{"kind": "call", "strike": 150.0, "tenor": "3M"}]
CASES = {
    "a": ("built-in", {"scenario_set_id": BUILTIN, "instruments": INSTRUMENTS}),
    "b": (
        "stored, pinned v1",
        {"scenario_set_id": COPY, "scenario_set_version": 1, "instruments": INSTRUMENTS},
    ),
    "c": ("stored, latest", {"scenario_set_id": COPY, "instruments": INSTRUMENTS}),
}
TARGETS = {"b": 0.9, "c": 0.7}


# --- a small HTTP/1.1 keep-alive client ------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> bytes:
    """The bytes of one request (``body`` is sent as JSON)."""
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class Connection(asyncio.Protocol):
    """One keep-alive connection, one request in flight at a time (Content-Length replies)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Reply] | None = None

    @classmethod
    async def open(cls, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, "127.0.0.1", port)
        sock = protocol.transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None:
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            self.waiter.set_exception(RuntimeError(f"no Content-Length in {head}"))
            return
        size = end + 4 + int(headers["content-length"])
        if len(self.buffer) < size:
            return
        reply = Reply(int(head[0].split()[1]), headers, bytes(self.buffer[end + 4 : size]))
        del self.buffer[:size]
        self.waiter.set_result(reply)
        self.waiter = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"server closed the connection: {exc}"))

    async def send(self, raw: bytes) -> Reply:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


async def drive(connections: list[Connection], raw: bytes, n: int) -> tuple[float, float, float]:
    """``n`` requests of ``raw`` over ``connections`` at once: (req/s, p50 ms, p99 ms)."""
    latencies: list[float] = []
    remaining = n

    async def worker(conn: Connection) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            reply = await conn.send(raw)
            latencies.append(time.perf_counter() - t0)
            if reply.status != 200:
                raise SystemExit(f"HTTP {reply.status}: {reply.body[:500]!r}")

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return n / elapsed, percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3


# --- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(database_url: str, cache_bytes: int | None) -> Iterator[int]:
    """``fxscen serve`` (1 worker) on a free port, on ``database_url``; yields the port."""
    port = free_port()
    env = {**os.environ, "FXSCEN_DATABASE_URL": database_url, "FXSCEN_AUTH": "off"}
    if cache_bytes is not None:
        env["FXSCEN_RESPONSE_CACHE_BYTES"] = str(cache_bytes)
    fxscen = Path(sys.executable).parent / "fxscen"
    process = subprocess.Popen(
        [str(fxscen), "serve", "--port", str(port), "--workers", "1", "--no-access-log"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        log = []
        for line in process.stderr:  # block on the server's log until start-up completes
            log.append(line)
            if "Uvicorn running on" in line:  # logged once the socket is bound
                break
        else:
            raise SystemExit("the server did not start:\n" + "".join(log[-20:]))
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- the runs --------------------------------------------------------------------------------


async def create_copy(port: int) -> dict[str, Any]:
    """The built-in set's document, and a copy of it stored as ``COPY`` (version 1)."""
    conn = await Connection.open(port)
    try:
        reply = await conn.send(http_request("GET", f"/v1/scenario-sets/{BUILTIN}"))
        assert reply.status == 200, reply.body
        document = reply.json()["document"]
        copy = {**document, "id": COPY, "change_note": "bench: a copy of the built-in set"}
        reply = await conn.send(http_request("POST", "/v1/scenario-sets", copy))
        assert reply.status == 201, reply.body
        return document
    finally:
        conn.close()


async def check_cases(port: int, cache_on: bool) -> None:
    """Each case answers 200, on what it names, no-store for latest only; with the cache on,
    the second request of a pinned case is a hit (the lane's counter moves)."""
    conn = await Connection.open(port)
    try:
        for key, (_, body) in CASES.items():
            raw = http_request("POST", "/v1/price", body)
            before = await lane_cached(conn)
            for _ in range(2):
                reply = await conn.send(raw)
                assert reply.status == 200, reply.body
            source = reply.json()["sources"]["scenario_set"]
            assert source["id"] == body["scenario_set_id"], source
            no_store = "no-store" in reply.headers.get("cache-control", "")
            assert no_store == (key == "c"), (key, reply.headers)
            hits = await lane_cached(conn) - before
            assert hits == (1 if cache_on and key != "c" else 0), (key, cache_on, hits)
    finally:
        conn.close()


async def lane_cached(conn: Connection) -> float:
    reply = await conn.send(http_request("GET", "/metrics"))
    for line in reply.body.decode().splitlines():
        if line.startswith('fxscen_price_lane_requests_total{outcome="cached"}'):
            return float(line.split()[-1])
    return 0.0


async def reads(
    ports: dict[str, int], requests: int, warmup: int, rounds: int, connections: int
) -> dict[tuple[str, str], list[tuple[float, float, float]]]:
    """(mode, case) → (req/s, p50, p99) of each round; the cases interleaved in rounds. Each
    case opens its connections afresh (uvicorn closes one idle for 5 s) and warms them up."""
    raws = {key: http_request("POST", "/v1/price", body) for key, (_, body) in CASES.items()}
    out: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for _ in range(rounds):
        for mode, port in ports.items():
            for key, raw in raws.items():
                pool = [await Connection.open(port) for _ in range(connections)]
                try:
                    await drive(pool, raw, warmup)
                    out.setdefault((mode, key), []).append(await drive(pool, raw, requests))
                finally:
                    for conn in pool:
                        conn.close()
    return out


async def writes(
    port: int, document: dict[str, Any], count: int, warmup: int, tag: str
) -> dict[str, tuple[float, float]]:
    """``count`` sequential ``PUT`` of the next version (each on the ETag the previous one
    returned, a new name each) and ``POST`` of a new set, after ``warmup`` of each, on one
    connection: verb → (p50, p99) in ms."""
    conn = await Connection.open(port)
    base = document["name"]
    try:
        target = f"bench-store-writes-{tag}"
        reply = await conn.send(
            http_request("POST", "/v1/scenario-sets", {**document, "id": target})
        )
        assert reply.status == 201, reply.body
        tag_header = reply.headers["etag"]
        put_ms: list[float] = []
        for i in range(warmup + count):
            note = f"bench: revision {i + 2}"
            body = {**document, "id": target, "name": f"{base} (rev {i + 2})", "change_note": note}
            raw = http_request("PUT", f"/v1/scenario-sets/{target}", body, {"If-Match": tag_header})
            t0 = time.perf_counter()
            reply = await conn.send(raw)
            elapsed = time.perf_counter() - t0
            assert reply.status == 200, reply.body
            tag_header = reply.headers["etag"]
            assert tag_header.startswith(f'"{i + 2}.'), tag_header
            if i >= warmup:
                put_ms.append(elapsed * 1e3)
        post_ms: list[float] = []
        for i in range(warmup + count):
            body = {**document, "id": f"bench-store-new-{tag}-{i:04d}", "change_note": "bench"}
            raw = http_request("POST", "/v1/scenario-sets", body)
            t0 = time.perf_counter()
            reply = await conn.send(raw)
            elapsed = time.perf_counter() - t0
            assert reply.status == 201, reply.body
            if i >= warmup:
                post_ms.append(elapsed * 1e3)
    finally:
        conn.close()
    put_ms.sort()
    post_ms.sort()
    return {
        "PUT": (percentile(put_ms, 0.5), percentile(put_ms, 0.99)),
        "POST": (percentile(post_ms, 0.5), percentile(post_ms, 0.99)),
    }


def redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def run(args: argparse.Namespace, tmp: Path) -> None:
    sqlite_url = f"sqlite:///{tmp / 'fxscen.sqlite'}"
    started = time.perf_counter()
    with server(sqlite_url, 0) as off_port, server(sqlite_url, None) as on_port:
        document = await create_copy(off_port)
        await check_cases(off_port, cache_on=False)
        await check_cases(on_port, cache_on=True)
        ports = {"cache off": off_port, "cache on": on_port}
        results = await reads(ports, args.requests, args.warmup, args.rounds, args.connections)
        write_results = {"SQLite": await writes(off_port, document, args.writes, 20, "sqlite")}
    if args.postgres:
        with server(args.postgres, 0) as pg_port:
            tag = f"pg-{os.getpid()}-{int(time.time())}"
            write_results["PostgreSQL"] = await writes(pg_port, document, args.writes, 20, tag)
    seconds = time.perf_counter() - started

    print(
        f"POST /v1/price, one 3M 150 call, 1 uvicorn worker, {args.connections} connections, "
        f"{args.requests:,} requests per case after {args.warmup:,} warm-up, "
        f"{args.rounds} rounds interleaved (medians over rounds)"
    )
    summary = []
    for mode in ports:
        reference = statistics.median(r[0] for r in results[(mode, "a")])
        print(f"  {mode}:")
        for key, (label, _) in CASES.items():
            rounds = results[(mode, key)]
            rps = statistics.median(r[0] for r in rounds)
            p50 = statistics.median(r[1] for r in rounds)
            p99 = statistics.median(r[2] for r in rounds)
            line = f"    ({key}) {label:18s} {rps:8.0f} req/s  p50 {p50:5.2f} ms  p99 {p99:5.2f} ms"
            if key in TARGETS:
                ratio = rps / reference
                within = [r[0] / a[0] for r, a in zip(rounds, results[(mode, "a")], strict=True)]
                met = ratio >= TARGETS[key]
                note = " (valued vs cache hits)" if mode == "cache on" and key == "c" else ""
                line += (
                    f"  {key}/a {ratio:4.2f} (rounds {min(within):4.2f}–{max(within):4.2f}), "
                    f"target ≥ {TARGETS[key]:.1f}: {'met' if met else 'NOT met'}{note}"
                )
                verdict = " (valued vs hits)" if note else ("" if met else " (not met)")
                summary.append(f"{mode} {key}/a {ratio:.2f}{verdict}")
            print(line)
    print(f"writes, sequential, 1 connection, {args.writes} each after 20 warm-up (ms)")
    for backend, figures in write_results.items():
        where = redact(args.postgres) if backend == "PostgreSQL" else "fresh file"
        cells = "  ".join(
            f"{verb:4s} p50 {p50:6.2f}  p99 {p99:6.2f}" for verb, (p50, p99) in figures.items()
        )
        print(f"  {backend:10s} {cells}   ({where})")
        summary.append(
            f"{backend} PUT p50 {figures['PUT'][0]:.1f} ms, POST p50 {figures['POST'][0]:.1f} ms"
        )
    print(f"summary ({seconds:.0f} s): " + "; ".join(summary))


def main() -> None:
    parser = argparse.ArgumentParser(
        description="POST /v1/price on stored sets against the built-in one; store writes"
    )
    parser.add_argument("--requests", type=int, default=3000, help="per case and round")
    parser.add_argument("--warmup", type=int, default=300, help="per case and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--writes", type=int, default=300, help="PUTs, and POSTs, measured")
    parser.add_argument("--postgres", metavar="URL", help="also the writes on this database")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        runner(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
