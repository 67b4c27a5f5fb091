"""The job runner of a server process: claims queued jobs and runs them one at a time.

Each server process (each uvicorn worker, each replica) has one :class:`JobRunner` thread.
It claims the oldest queued job by compare-and-set (:meth:`store.jobs.JobStore.claim`:
among processes sharing a database, one gets it), runs it in a child process
(:mod:`service.jobs.work`: the kernel would otherwise hold this process's event loop for the
length of the run) and waits for it; a job submitted to this process wakes it at once, one
submitted elsewhere is seen within :data:`POLL_SECONDS`.

Crashes. The runner's name is ``host:pid:boot``. When a runner starts it marks
``interrupted`` every job still active under a runner of this host whose process is gone
(the server was killed: its job's child died with it); every poll marks ``interrupted`` any
active job whose heartbeat is older than :data:`STALE_SECONDS` (a replica on another host
that died). A child that exits without recording its job's end has the job marked
``failed``.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from store.jobs import ACTIVE, FAILED, JobStore, seconds_ago
from store.repository import Store

logger = logging.getLogger("fxscen.jobs")

POLL_SECONDS = 2.0
STALE_SECONDS = 60.0
ROOT = Path(__file__).resolve().parents[2]


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def interrupt_dead(jobs: JobStore, me: str) -> int:
    """Mark ``interrupted`` the active jobs of this host's runners whose process is gone,
    and every job whose heartbeat is stale; how many."""
    host = socket.gethostname()
    dead = []
    for runner in jobs.active_runners():
        name, _, rest = runner.partition(":")
        pid = rest.partition(":")[0]
        if runner != me and name == host and pid.isdigit() and not _alive(int(pid)):
            dead.append(runner)
    return jobs.interrupt(runners=dead, stale_before=seconds_ago(STALE_SECONDS))


class JobRunner:
    """The background thread that runs this process's jobs (start, wake, stop)."""

    def __init__(self, store: Store, dask_scheduler: str | None = None) -> None:
        self.jobs = JobStore(store)
        self.url = store.url
        self.dask_scheduler = dask_scheduler
        self.name = runner_name()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        interrupted = interrupt_dead(self.jobs, self.name)
        if interrupted:
            logger.warning("marked %d job(s) cut off by a stopped process interrupted", interrupted)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fxscen-jobs")
        self._thread.start()

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                interrupt_dead(self.jobs, self.name)
                job = self.jobs.claim(self.name)
            except Exception:  # the store is down: try again at the next poll
                logger.exception("the job runner could not reach the store")
                job = None
            if job is None:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()
                continue
            self._run(job.id)

    def _run(self, job_id: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
               os.environ.get("PYTHONPATH")]))}  # fmt: skip
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the child serves no metrics
        env["FXSCEN_DATABASE_URL"] = self.url  # this process's store and cluster, whatever
        if self.dask_scheduler:  # the environment said
            env["FXSCEN_DASK_SCHEDULER"] = self.dask_scheduler
        else:
            env.pop("FXSCEN_DASK_SCHEDULER", None)
        self._child = subprocess.Popen(
            [sys.executable, "-m", "service.jobs.work", job_id, self.name],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, err = self._child.communicate()
        status = self._child.returncode
        self._child = None
        if self.jobs.get(job_id).state in ACTIVE:  # the child ended without recording it
            tail = err.decode("utf-8", "replace")[-4000:]
            message = f"the job's process exited with status {status}: {tail}"
            self.jobs.finish(job_id, self.name, FAILED, message=message)
