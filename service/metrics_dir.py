"""Where the workers' metrics meet: prometheus_client's multiprocess directory.

With several uvicorn workers each process counts its own requests; a scrape of ``GET
/metrics`` reaches one of them. In prometheus_client's multiprocess mode every worker keeps
its values in memory-mapped files in the directory named by ``PROMETHEUS_MULTIPROC_DIR``,
and ``/metrics`` adds up the files of all of them (:mod:`service.metrics`). The library
chooses the mode when it is first imported, from that variable, so the process supervisor
(``fxscen serve``) calls :func:`prepare_multiprocess_dir` before any worker starts — and
before it imports :mod:`service.metrics` or :mod:`service.app` itself — and
:func:`mark_worker_dead` when a worker exits. This module imports no metrics, so the
supervisor can use it without entering the mode itself.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(workers: int) -> None:
    """Before ``workers`` workers start: an empty directory, named in the environment.

    With ``PROMETHEUS_MULTIPROC_DIR`` already set (by the operator), that directory is
    created if missing and emptied of its ``*.db`` files: counts from an earlier run would
    otherwise be added to this one's. Without it, ``workers > 1`` gets a new temporary
    directory (removed when this process exits) and sets the variable, which the workers
    inherit; one worker keeps its metrics in memory, so nothing is done.
    """
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for name in glob.glob(os.path.join(path, "*.db")):
            # another supervisor sharing the directory may have removed it first
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)
    elif workers > 1:
        path = tempfile.mkdtemp(prefix="fxscen-metrics-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        os.environ[MULTIPROC_ENV] = path


def mark_worker_dead(pid: int) -> None:
    """After worker ``pid`` has exited: its live gauges (requests in flight) stop counting.

    Its counters and histograms stay in the totals, as counters must. Nothing to do when
    the workers are not in multiprocess mode.
    """
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return
    # imported here: the supervisor must not enter the mode before the directory is set
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
