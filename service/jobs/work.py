"""One job, run to its end in a process of its own: ``python -m service.jobs.work JOB RUNNER``.

Reads the job's parameters and book from the store, runs :func:`service.batch.run.run_batch`
in a temporary directory (on the Dask scheduler ``FXSCEN_DASK_SCHEDULER`` names, if any),
writes progress to the job's row after every chunk — where it reads back a cancel, which it
honours between chunks — and a heartbeat every few seconds, then stores the results, errors,
totals and cube files and the job's end state in one transaction. The process dies with the
server that started it (Linux ``PR_SET_PDEATHSIG``): a job cut off that way is found and
marked ``interrupted`` (:mod:`service.jobs.runner`).
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

HEARTBEAT_SECONDS = 5.0
MEDIA = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
    "json": "application/json",
}


def run_job(job_id: str, runner: str) -> int:
    """Run job ``job_id`` held by ``runner``; 0 when its end was recorded."""
    from scenarios.errors import DomainError
    from service.batch.executors import executor_for
    from service.batch.run import Progress, run_batch
    from service.batch.spec import RunSpec
    from service.problems import domain_problem
    from service.settings import get_settings
    from service.versioned import store_at
    from store.jobs import CANCELLED, CANCELLING, DONE, FAILED, JobFile, JobStore

    settings = get_settings()
    jobs = JobStore(store_at(settings.database_url))
    job = jobs.get(job_id)
    params: dict[str, Any] = json.loads(job.params)
    book = jobs.book(job.book_id)
    state = {"value": job.state}
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            jobs.heartbeat(job_id, runner)

    def on_progress(p: Progress) -> None:
        state["value"] = jobs.progress(
            job_id, runner, lines_done=p.lines_done, lines_total=p.lines_total,
            errors=p.errors, lines_per_second=p.lines_per_second, eta_seconds=p.eta_seconds,
        )  # fmt: skip

    threading.Thread(target=beat, daemon=True, name="fxscen-job-heartbeat").start()
    try:
        with tempfile.TemporaryDirectory(prefix="fxscen-job-") as tmp:
            work = Path(tmp)
            book_path = work / f"book.{book.format}"
            book_path.write_bytes(jobs.book_content(book.id))
            out = work / "results.parquet"
            spec = RunSpec(**{**params, "sweep": tuple(params.get("sweep") or ())})
            try:
                with executor_for(settings.dask_scheduler) as executor:
                    summary = run_batch(
                        spec, book_path, out, book_format=book.format, executor=executor,
                        on_progress=on_progress, settings=settings,
                        cancelled=lambda: state["value"] == CANCELLING,
                    )  # fmt: skip
            except DomainError as exc:
                jobs.finish(job_id, runner, FAILED, message=json.dumps(domain_problem(exc)))
                return 0
            files = [
                JobFile(name, MEDIA[path.suffix.lstrip(".")], path.read_bytes())
                for name, path in summary.outputs.items()
            ]
            end = CANCELLED if summary.cancelled else DONE
            message = (
                "stopped at the first refused line (strict)"
                if summary.stopped
                else ("cancelled between chunks" if summary.cancelled else None)
            )
            jobs.finish(
                job_id, runner, end, message=message, files=files,
                summary=json.dumps(summary.totals), lines_done=summary.lines,
                errors=summary.errors,
            )  # fmt: skip
            return 0
    except Exception:  # a failure of ours: recorded on the job, never a job left running
        jobs.finish(job_id, runner, FAILED, message=traceback.format_exc(limit=8)[-4000:])
        return 1
    finally:
        stop.set()


def _die_with_parent() -> None:
    """Ask Linux for SIGKILL when the server that started this process goes."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    _die_with_parent()
    raise SystemExit(run_job(sys.argv[1], sys.argv[2]))
