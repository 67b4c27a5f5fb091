"""A real ``dask.distributed`` cluster on loopback, started as a user starts one.

``dask scheduler`` (port 0, its address read from ``--scheduler-file``), then ``dask
worker`` processes (one process, one thread each, with their nanny), all from this
virtualenv's ``dask`` command, with the checkout as working directory and first on their
``PYTHONPATH`` so they import ``service.batch.chunk`` and ``tests.batch.tasks`` by name; no
dashboards, scratch space and logs in a temporary directory. Every wait is a poll of a
condition with a deadline; a process that dies while starting fails the start at once,
quoting the logs. Workers are stopped before the scheduler (a worker whose scheduler has gone
first retries it for a while), each terminated and killed if it is not gone after a grace.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import IO, TypeVar

ROOT = Path(__file__).resolve().parents[2]
DASK = Path(sys.executable).with_name("dask")
MEMORY_LIMIT = "2GiB"  # per worker: a 100,000-line chunk and the compiled kernels fit well
GRACE = 10.0  # seconds between terminate and kill

T = TypeVar("T")


@contextmanager
def dask_cluster(workers: int = 2, timeout: float = 120.0) -> Iterator[str]:
    """The scheduler's address (``tcp://127.0.0.1:PORT``) while ``workers`` workers are
    connected to it; ``timeout`` seconds to start."""
    from distributed import Client

    with tempfile.TemporaryDirectory(prefix="fxscen-dask-", ignore_cleanup_errors=True) as name:
        tmp = Path(name)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",  # the logs quoted on a failed start are complete
        }
        procs: dict[str, subprocess.Popen[bytes]] = {}  # by role, the scheduler first
        with ExitStack() as stack:
            stack.callback(_stop, procs)

            def start(role: str, *args: str) -> None:
                out: IO[bytes] = stack.enter_context((tmp / f"{role}.log").open("wb"))
                procs[role] = subprocess.Popen(
                    [str(DASK), *args], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip

            def poll(condition: Callable[[], T | None], what: str) -> T:
                deadline = time.monotonic() + timeout
                while (value := condition()) is None:
                    if dead := [role for role, p in procs.items() if p.poll() is not None]:
                        raise _failed(tmp, procs, f"{what}: {', '.join(dead)} exited")
                    if time.monotonic() > deadline:
                        raise _failed(tmp, procs, f"{what}: not within {timeout} s")
                    with suppress(subprocess.TimeoutExpired):  # the poll's interval: a wait
                        next(reversed(procs.values())).wait(timeout=0.02)  # on the newest's exit
                return value

            scheduler_file = tmp / "scheduler.json"
            start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
                  "--no-dashboard", "--scheduler-file", str(scheduler_file))  # fmt: skip
            address = poll(lambda: _answering(scheduler_file), "the scheduler listening")
            for i in range(workers):
                start(f"worker-{i}", "worker", address, "--name", f"worker-{i}",
                      "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                      "--host", "127.0.0.1", "--memory-limit", MEMORY_LIMIT,
                      "--local-directory", str(tmp / f"worker-{i}"))  # fmt: skip
            with Client(address, timeout=timeout, set_as_default=False) as client:

                def connected() -> bool | None:
                    try:
                        client.wait_for_workers(workers, timeout=0.2)
                    except TimeoutError:
                        return None
                    return True

                poll(connected, f"{workers} workers connected")
            yield address


def _answering(scheduler_file: Path) -> str | None:
    """The scheduler's address once its file is whole and its port takes a connection."""
    try:
        address: str = json.loads(scheduler_file.read_text())["address"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):  # not yet, or half written
        return None
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1.0).close()
    except OSError:
        return None
    return address


def _failed(tmp: Path, procs: dict[str, subprocess.Popen[bytes]], what: str) -> RuntimeError:
    logs = "\n".join(
        f"--- {role}.log\n{(tmp / f'{role}.log').read_text(errors='replace')[-4000:]}"
        for role in procs
    )
    return RuntimeError(f"the dask cluster did not start, waiting for {what}\n{logs}")


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Workers first, then the scheduler: terminate, and kill after ``GRACE`` seconds."""
    everyone = list(procs.values())
    for group in (everyone[1:], everyone[:1]):
        for p in group:
            p.terminate()
        for p in group:
            try:
                p.wait(timeout=GRACE)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
