"""How ``fxscen serve`` starts, supervises and stops its processes.

With one worker, the process you start is the server. With ``N > 1`` workers it is a
:class:`Supervisor`: it binds the listening socket, starts ``N`` worker processes (fresh
interpreters, multiprocessing's ``spawn``) that share it, starts a new worker when one
dies or stops answering its health check, and stops them all on SIGTERM or SIGINT.

Every server (the single process, or each worker) is a :class:`GracefulServer`. On SIGTERM
or SIGINT it stops accepting connections, lets requests in flight finish for up to
``shutdown_timeout`` seconds, then cuts off whatever is still running and exits with
status 0. The supervisor forwards the signal to the workers, closes its own copy of the
socket (so a new connection is refused, not left waiting in the backlog), and kills a
worker still alive :data:`KILL_GRACE` seconds past the deadline.

A worker dies with its supervisor: it asks the kernel for SIGTERM when its parent goes
(Linux ``prctl(PR_SET_PDEATHSIG)``), so after ``kill -9`` of the supervisor every worker
drains and exits like on a requested stop, and the port is free for a restart.

Exit statuses: 0 after a stop signal (also when requests had to be cut off: the log says
how many); 3 (uvicorn's ``STARTUP_FAILURE``) when the app or the socket cannot start.
Times are seconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import wait
from types import FrameType

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.server import Server
from uvicorn.supervisors.multiprocess import Process

from service.metrics_dir import mark_worker_dead, prepare_multiprocess_dir

logger = logging.getLogger("uvicorn.error")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# past the shutdown deadline, how long the supervisor waits for a worker before SIGKILL
# (a worker cuts off its own requests at the deadline: this is for one that cannot)
KILL_GRACE = 5.0
HEALTHCHECK_INTERVAL = 1.0  # how often the supervisor pings each worker
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def on_supervisor_start(workers: int) -> None:
    """Called before the app is loaded or any of ``workers`` workers starts: a fresh
    ``PROMETHEUS_MULTIPROC_DIR`` that the workers inherit (:mod:`service.metrics_dir`;
    emptied of an earlier run's files when the operator set it, even for one worker)."""
    prepare_multiprocess_dir(workers)


def on_worker_exit(pid: int) -> None:
    """Called in the supervisor once worker ``pid`` has exited and been reaped, whatever
    the cause (crash, ``kill -9``, failed health check, shutdown): its live gauges stop
    counting in ``/metrics``."""
    mark_worker_dead(pid)


def serve(config: Config) -> int:
    """Serve ``config`` until SIGTERM or SIGINT; return the exit status."""
    on_supervisor_start(config.workers)
    if config.workers <= 1:
        server = GracefulServer(config)
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    return Supervisor(config, [config.bind_socket()]).run()


class GracefulServer(Server):
    """uvicorn's server (``config.timeout_graceful_shutdown`` is the drain deadline), with
    requests that outlive the deadline cut off and status 0 after a stop signal."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn's, less remembering the signal to raise it again once drained (for a
        # program that embeds uvicorn): under the default handler that turns a requested
        # stop into "killed by SIGTERM" (status 143)
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl+C: stop waiting
        else:
            self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        stuck = len(self.server_state.tasks)
        if stuck:
            # cancelled at the deadline, yet running on: a sync handler's thread (a path
            # simulation) cannot be interrupted, and the interpreter would wait for it at
            # exit. Leaving now is what cuts it off.
            logger.error(
                "%d request(s) still running past the %s s shutdown deadline: exiting",
                stuck,
                self.config.timeout_graceful_shutdown,
            )
            logging.shutdown()
            os._exit(0)


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel send this process SIGTERM when its parent ``parent_pid`` dies.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that started this process ends: the
    supervisor starts every worker from its main thread, which lives as long as it does.
    """
    if sys.platform != "linux":
        logger.warning(
            "no PR_SET_PDEATHSIG on %s: workers outlive a killed supervisor", sys.platform
        )
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent_pid:  # gone before the request: no signal will come
        logger.error("Supervisor [%d] exited before worker [%d] started", parent_pid, os.getpid())
        raise SystemExit(0)


class _Worker(Process):
    """uvicorn's worker process (spawn, health-check pipe), running a :class:`GracefulServer`
    that dies with the supervisor."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self.supervisor_pid = os.getpid()
        self.ready = False  # seen serving by a health check (in the supervisor)
        super().__init__(config, sockets)

    def start_failed(self) -> bool:
        """Whether it exited on an error of its own before it served: uvicorn's start-up
        failure, or an exception (status 1, e.g. an import error). A signal (``kill -9``,
        the OOM killer) is no fault of the app, and one that has served may have met a
        rare crash: those are replaced."""
        code = self.exitcode
        return code == STARTUP_FAILURE or (not self.ready and code is not None and code > 0)

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # in the worker
        die_with_parent(self.supervisor_pid)
        super().target(sockets)

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = GracefulServer(config=self.config)
        return self._server


class Supervisor:
    """``config.workers`` workers on the listening ``sockets``, kept running until SIGTERM
    or SIGINT.

    Everything happens on the main thread, workers are started from it (see
    :func:`die_with_parent`), and it waits on events: a worker's exit, a signal, the next
    health check.
    """

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.workers: list[_Worker] = []  # started and not yet reaped
        self.stop_signal: int | None = None
        # a signal interrupts the wait below only to have it resumed (PEP 475): the
        # handler writes to this pipe, which the wait watches
        self._wakeup_read, self._wakeup_write = os.pipe()
        os.set_blocking(self._wakeup_write, False)

    def run(self) -> int:
        """Supervise until a stop signal or a worker that cannot start; the exit status."""
        logger.info("Started supervisor process [%d]", os.getpid())
        previous = {sig: signal.signal(sig, self._on_stop_signal) for sig in STOP_SIGNALS}
        try:
            status = self._supervise()
            self._stop_workers()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self._wakeup_read)
            os.close(self._wakeup_write)
        logger.info("Stopped supervisor process [%d]", os.getpid())
        return status

    def _on_stop_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = sig
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
            os.write(self._wakeup_write, b"\0")

    def _start_worker(self) -> _Worker:
        worker = _Worker(self.config, self.sockets)
        worker.start()
        return worker

    def _supervise(self) -> int:
        self.workers = [self._start_worker() for _ in range(self.config.workers)]
        next_check = time.monotonic() + HEALTHCHECK_INTERVAL
        while self.stop_signal is None:
            sentinels = {worker.process.sentinel: worker for worker in self.workers}
            timeout = max(0.0, next_check - time.monotonic())
            ready = wait([*sentinels, self._wakeup_read], timeout)
            exited = [sentinels[fd] for fd in ready if isinstance(fd, int) and fd in sentinels]
            for worker in exited:
                self._reap(worker)
                if worker.start_failed():
                    # a new one would fail the same way, and again: stop rather than loop
                    logger.error(
                        "Worker [%d] failed to start (exit code %s): stopping",
                        worker.pid,
                        worker.exitcode,
                    )
                    return STARTUP_FAILURE
                if self.stop_signal is None:
                    logger.warning(
                        "Worker [%d] died (exit code %s): starting a new one",
                        worker.pid,
                        worker.exitcode,
                    )
                    self.workers.append(self._start_worker())
            if time.monotonic() >= next_check:
                self._check_health()
                next_check = time.monotonic() + HEALTHCHECK_INTERVAL
        logger.info("Received %s: stopping workers", signal.Signals(self.stop_signal).name)
        return 0

    def _check_health(self) -> None:
        timeout = self.config.timeout_worker_healthcheck
        for worker in self.workers:
            if not worker.process.is_alive():
                continue  # its exit is handled on the next wait
            if not worker.ready and worker.is_ready(timeout):
                worker.ready = True
            elif not worker.ping(timeout):
                logger.error("Worker [%d] did not answer its health check: killing it", worker.pid)
                worker.kill()  # its exit is seen, and it is replaced, on the next wait

    def _reap(self, worker: _Worker) -> None:
        worker.process.join()
        self.workers.remove(worker)
        assert worker.pid is not None  # started
        on_worker_exit(worker.pid)

    def _stop_workers(self) -> None:
        for sock in self.sockets:  # no more workers to hand it to
            sock.close()
        for worker in self.workers:
            worker.terminate()  # SIGTERM: it drains for up to the shutdown timeout
        drain = self.config.timeout_graceful_shutdown
        deadline = None if drain is None else time.monotonic() + drain + KILL_GRACE
        while self.workers:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                break
            sentinels = {worker.process.sentinel: worker for worker in self.workers}
            for fd in wait(list(sentinels), timeout):
                if isinstance(fd, int):
                    self._reap(sentinels[fd])
        for worker in list(self.workers):
            logger.error(
                "Worker [%d] still running past the shutdown deadline: killing it", worker.pid
            )
            worker.kill()
            self._reap(worker)
