"""Real ``fxscen serve`` processes: workers die with their supervisor, a dead worker is
replaced, and SIGTERM drains requests in flight up to ``--shutdown-timeout``.

Each test starts the console script on a free loopback port, as a user would, and waits
on events only: a line in the server's log (read by a thread as it comes), a process's
exit (``Popen.wait``, or a pidfd for a worker that is not our child), a socket state in
``/proc/net/tcp`` re-read whenever the log moves or every :data:`POLL` seconds. Every wait
is bounded. The server's ``--log-level trace`` names the client's address on each ASGI
event, so a test knows when *its* request has reached the app.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

import pytest

from service.lifecycle import KILL_GRACE

ROOT = Path(__file__).resolve().parents[2]
FXSCEN = Path(sys.executable).with_name("fxscen")  # the console script of this virtualenv
START = 120.0  # s, bound on a start-up: a cold numba cache compiles the kernels
EXIT = 15.0  # s, bound on an idle server's exit
POLL = 0.05  # s, longest wait on the log before state outside it is looked at again
# ~1.4 s of simulation here (2 cores); the largest request the limits allow takes ~2.2 s
SLOW = {"scenario_set_id": "us-japan-tariff-2025-07-09", "tenor": "1Y", "n_paths": 400_000}
SLOWEST = {**SLOW, "n_paths": 1_000_000}
WORKER = re.compile(r"Started server process \[(\d+)\]")
T = TypeVar("T")


class ServerProcess:
    """One ``fxscen serve`` process tree and its log (stdout and stderr, all processes)."""

    def __init__(self, port: int, *options: str, command: list[str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FXSCEN_")}
        # the session's throw-away store (tests/conftest.py), never the checkout's ./data
        env["FXSCEN_DATABASE_URL"] = os.environ["FXSCEN_DATABASE_URL"]
        if command is None:
            command = [str(FXSCEN), "serve", "--host", "127.0.0.1", "--port", str(port), *options]
        self.port = port
        self.popen = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.pid = self.popen.pid
        self.lines: list[str] = []
        self.closed = False  # every process that held the log's pipe has exited
        self.pidfds: dict[int, int] = {}  # worker pid → pidfd, opened when first seen
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            with self._changed:
                self.lines.append(raw.decode(errors="replace"))
                self._changed.notify_all()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def wait_until(self, what: str, predicate: Callable[[], T], timeout: float = START) -> T:
        """``predicate()`` once it is true, re-evaluated on each log line (or after POLL)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := predicate()):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    why = "the server exited" if self.closed else f"{timeout} s passed"
                    log = "".join(self.lines[-30:])
                    raise AssertionError(f"{why} before {what}; last lines:\n{log}")
                self._changed.wait(min(remaining, POLL))
        return result

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def wait_for_log(self, text: str, count: int = 1, timeout: float = START) -> None:
        self.wait_until(
            f"{count} x {text!r} in the log", lambda: self.count(text) >= count, timeout
        )

    def workers(self, count: int) -> list[int]:
        """The pids of the first ``count`` workers started, in order, once they have."""

        def started() -> list[int]:
            pids = [int(m[1]) for line in self.lines if (m := WORKER.search(line))]
            for pid in pids:
                if pid not in self.pidfds:
                    with suppress(ProcessLookupError):
                        self.pidfds[pid] = os.pidfd_open(pid)
            return pids[:count] if len(pids) >= count else []

        return self.wait_until(f"{count} workers", started)

    def wait_ready(self, workers: int) -> None:
        self.wait_for_log("Application startup complete", workers)
        self.wait_until("the port to listen", lambda: listening(self.port))

    def stop(self) -> None:
        """Kill whatever is left (a failed test must not leave servers behind)."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=EXIT)
        for pidfd in self.pidfds.values():
            with suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        exited(list(self.pidfds.values()), timeout=EXIT)
        for pidfd in self.pidfds.values():
            os.close(pidfd)
        self._reader.join(timeout=EXIT)
        assert self.popen.stdout is not None
        self.popen.stdout.close()


@contextmanager
def serving(port: int, *options: str, command: list[str] | None = None) -> Iterator[ServerProcess]:
    server = ServerProcess(port, *options, command=command)
    try:
        yield server
    finally:
        server.stop()


def exited(pidfds: list[int], timeout: float) -> bool:
    """Whether every process behind ``pidfds`` has exited within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    waiting = set(pidfds)
    while waiting and (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(list(waiting), [], [], remaining)  # readable: exited
        waiting -= set(readable)
    return not waiting


def children(pid: int) -> set[int]:
    tasks = Path(f"/proc/{pid}/task")
    return {
        int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()
    }


def listening(port: int) -> bool:
    """Whether a socket listens on ``port`` (IPv4 or IPv6), from ``/proc/net/tcp*``."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                return True
    return False


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def health(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=10) as reply:
        assert json.loads(reply.read())["status"] == "ok"
        return int(reply.status)


def post_paths(port: int, body: dict[str, object], *, hold_last_byte: bool) -> socket.socket:
    """A connection that has sent ``POST /v1/paths`` (all of it, or but its last byte)."""
    data = json.dumps(body).encode()
    head = (
        f"POST /v1/paths HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    conn = socket.create_connection(("127.0.0.1", port), timeout=60)
    conn.sendall(head + (data[:-1] if hold_last_byte else data))
    return conn


def client(conn: socket.socket) -> str:
    """How the server's trace log names this connection."""
    host, port = conn.getsockname()[:2]
    return f"{host}:{port} - ASGI"


def reply_status(conn: socket.socket) -> int | None:
    """The status of the response on ``conn``, or None if the connection was cut."""
    response = http.client.HTTPResponse(conn)
    try:
        response.begin()
        response.read()
    except (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionResetError):
        return None
    finally:
        conn.close()
    return int(response.status)


@pytest.fixture
def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_killing_the_supervisor_stops_every_worker_and_frees_the_port(port: int) -> None:
    with serving(port, "--workers", "2") as server:
        server.wait_ready(2)
        workers = server.workers(2)
        assert set(workers) <= children(server.pid)
        os.kill(server.pid, signal.SIGKILL)
        assert server.popen.wait(timeout=EXIT) == -signal.SIGKILL
        assert exited([server.pidfds[pid] for pid in workers], timeout=EXIT), (
            f"workers {workers} outlived their supervisor"
        )
    with serving(port, "--workers", "2") as restarted:  # binds the same port
        restarted.wait_ready(2)
        assert health(port) == 200


def test_a_killed_worker_is_replaced_and_the_service_keeps_answering(port: int) -> None:
    with serving(port, "--workers", "2") as server:
        server.wait_ready(2)
        killed, survivor = server.workers(2)
        os.kill(killed, signal.SIGKILL)
        assert exited([server.pidfds[killed]], timeout=EXIT)
        assert health(port) == 200  # the survivor answers meanwhile
        replacement = server.workers(3)[2]
        server.wait_for_log("Application startup complete", 3)
        assert {survivor, replacement} <= children(server.pid)
        assert killed not in children(server.pid)  # reaped, not a zombie
        for _ in range(4):  # both workers share the socket: some of these reach the new one
            assert health(port) == 200
        # started like the first ones, the replacement too dies with its supervisor
        os.kill(server.pid, signal.SIGKILL)
        assert exited([server.pidfds[survivor], server.pidfds[replacement]], timeout=EXIT)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0(
    port: int, workers: int
) -> None:
    timeout = 20
    options = ("--workers", str(workers), "--shutdown-timeout", str(timeout))
    with serving(port, *options, "--log-level", "trace") as server:
        server.wait_ready(workers)
        # in flight from the server's view once the app has it; while we hold its last
        # byte it cannot finish, so what follows is seen during the drain, not after it
        conn = post_paths(port, SLOW, hold_last_byte=True)
        server.wait_for_log(f"{client(conn)} [", 1)  # "… - ASGI [n] Started scope="
        server.popen.send_signal(signal.SIGTERM)
        server.wait_until("the port to stop listening", lambda: not listening(port), EXIT)
        assert refused(port)
        assert server.popen.poll() is None  # still draining
        conn.sendall(json.dumps(SLOW).encode()[-1:])  # the simulation runs now (~1.4 s)
        assert reply_status(conn) == 200
        assert server.popen.wait(timeout=timeout) == 0
        assert refused(port)


@pytest.mark.parametrize("workers", [1, 2])
def test_requests_past_the_shutdown_timeout_are_cut_off_and_the_server_exits(
    port: int, workers: int
) -> None:
    options = ("--workers", str(workers), "--shutdown-timeout", "1")
    with serving(port, *options, "--log-level", "trace") as server:
        server.wait_ready(workers)
        # one request that never gets its body, one simulating on a thread for ~2.2 s
        held = post_paths(port, SLOW, hold_last_byte=True)
        simulating = post_paths(port, SLOWEST, hold_last_byte=False)
        server.wait_for_log(f"{client(held)} [", 1)
        server.wait_for_log(f"{client(simulating)} [", 2)  # started, then its body received
        server.popen.send_signal(signal.SIGTERM)
        assert server.popen.wait(timeout=1 + KILL_GRACE) == 0
        assert reply_status(held) in (None, 500)  # uvicorn answers a cancelled request 500
        assert reply_status(simulating) is None  # its thread cannot be cancelled: cut
        server.wait_until("the log to close", lambda: server.closed, EXIT)
        assert server.count("still running past the 1 s shutdown deadline: exiting") == 1
        assert server.count("killing it") == 0  # no worker needed the supervisor's SIGKILL


def failing_app() -> object:
    """An app factory that raises, as an app does whose import breaks."""
    raise RuntimeError("this app cannot start")


def test_a_worker_that_cannot_start_stops_the_supervisor_rather_than_restarting(
    port: int,
) -> None:
    app = f"{__name__}:failing_app"
    code = (
        "from uvicorn import Config; from service.lifecycle import serve; "
        f"raise SystemExit(serve(Config({app!r}, factory=True, port={port}, workers=2)))"
    )
    with serving(port, command=[sys.executable, "-c", code]) as server:
        assert server.popen.wait(timeout=START) == 3  # STARTUP_FAILURE, not a restart loop
        assert server.count("failed to start (exit code 1): stopping") == 1
