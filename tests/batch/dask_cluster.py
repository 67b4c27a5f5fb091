"""A real ``dask.distributed`` cluster on loopback, started as a user starts one.

``dask scheduler`` (port 0, its address read from ``--scheduler-file``) and two ``dask
worker`` processes (one thread each), from this virtualenv's ``dask`` command, with the
checkout on their ``PYTHONPATH`` so they import ``service.batch.chunk``; no dashboards. The
fixture waits until the scheduler reports both workers, and stops every process after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASK = Path(sys.executable).with_name("dask")


@contextmanager
def dask_cluster(workers: int = 2, timeout: float = 120.0) -> Iterator[str]:
    """The scheduler's address while ``workers`` workers are connected to it."""
    from distributed import Client

    with tempfile.TemporaryDirectory(prefix="fxscen-dask-") as tmp:
        scheduler_file = Path(tmp) / "scheduler.json"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        logs = [open(Path(tmp) / f"{i}.log", "wb") for i in range(workers + 1)]  # noqa: SIM115
        procs = [
            subprocess.Popen(
                [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                 "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                env=env, cwd=ROOT, stdout=logs[0], stderr=subprocess.STDOUT,
            )
        ]  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while not scheduler_file.exists():  # written once the scheduler listens
                if procs[0].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((Path(tmp) / "0.log").read_text())
                time.sleep(0.05)
            address = json.loads(scheduler_file.read_text())["address"]
            for i in range(workers):
                procs.append(
                    subprocess.Popen(
                        [str(DASK), "worker", address, "--nthreads", "1", "--nworkers", "1",
                         "--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "4GiB"],
                        env=env, cwd=ROOT, stdout=logs[i + 1], stderr=subprocess.STDOUT,
                    )
                )  # fmt: skip
            with Client(address, timeout=timeout, set_as_default=False) as client:
                client.wait_for_workers(workers, timeout=timeout)
            yield address
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for log in logs:
                log.close()
