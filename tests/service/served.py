"""A real ``fxscen serve`` process on a free loopback port, for tests that need one.

Waits on events, never on the clock: the server's own log line saying it is up, read from
its stderr by a thread, with a bounded timeout.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
UP = "Application startup complete"  # a worker's warm-up done
LISTENING = "Uvicorn running on"  # the socket bound (before the workers, or after the one)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A started server: its process, port and everything it has logged so far.

    A reader thread drains its stderr as it comes (a full pipe would block the server's
    logging, and so the server), waking :meth:`wait_for_log` at every line.
    """

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.log = ""
        self._changed = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for raw in iter(self.process.stderr.readline, b""):
            with self._changed:
                self.log += raw.decode("utf-8", "replace")
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for_log(self, text: str, timeout: float = 60.0) -> str:
        """Wait until ``text`` appears in the log (or fail after ``timeout`` s); the log."""
        with self._changed:
            found = self._changed.wait_for(lambda: text in self.log or self._ended, timeout)
            assert found and text in self.log, (
                f"no {text!r} within {timeout} s; log:\n{self.log[-3000:]}"
            )
            return self.log


@contextmanager
def served(*args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``fxscen serve`` with ``args`` on a free port; stopped (SIGTERM, then SIGKILL) after."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = Server(process, port)
    try:
        server.wait_for_log(UP)
        server.wait_for_log(LISTENING)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        server._reader.join(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


SET = "us-japan-tariff-2025-07-09"


def heavy_requests(
    *, n_paths: int, tenor: str, fan_chart: bool
) -> list[tuple[str, dict[str, Any]]]:
    """The heaviest requests the default limits allow, as (route, body): a 100,000-line book
    (FXSCEN_MAX_INSTRUMENTS), 16 one-touch lines at ``n_paths`` to ``tenor``, a 401-strike
    vol surface and, with ``fan_chart``, a fan chart of ``n_paths`` to ``tenor``."""
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
                "tenor": tenor,
            }
            for i in range(16)
        ],
        "paths": {"n_paths": n_paths, "seed": 3},
    }
    surface = {"scenario_set_id": SET, "strikes": [110.0 + 0.2 * i for i in range(401)]}
    requests = [("/v1/price", book), ("/v1/price", touches), ("/v1/vol-surface", surface)]
    if fan_chart:
        requests.append(("/v1/paths", {"scenario_set_id": SET, "tenor": tenor, "n_paths": n_paths}))
    return requests
