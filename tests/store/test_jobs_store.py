"""Jobs in the store, on SQLite and a real PostgreSQL server: the state machine's rules.

Witnesses: the rules :mod:`store.jobs` promises — a queued job is claimed by one runner of
many racing, a cancel and a finish race to one end, a job no longer a runner's cannot be
finished by it, a dead runner's jobs are interrupted, files come back byte for byte —
read back through a second ``Store`` on the same database (as another process would).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.jobs.runner import interrupt_dead, runner_name
from store.jobs import (
    CANCELLED,
    CANCELLING,
    DONE,
    INTERRUPTED,
    QUEUED,
    RUNNING,
    JobFile,
    JobStore,
    seconds_ago,
)
from store.repository import NotFound, Store


@pytest.fixture
def stores(url: str) -> Iterator[tuple[JobStore, JobStore]]:
    a, b = Store(url), Store(url)
    a.upgrade()
    yield JobStore(a), JobStore(b)
    a.dispose()
    b.dispose()


def queued(jobs: JobStore, n: int = 1) -> list[str]:
    book = jobs.add_book(f"book-{os.urandom(4).hex()}", "csv", b"kind\ncall\n", 1, "t")
    return [jobs.create(f"job-{os.urandom(6).hex()}", "{}", book.id, "t", 1).id for _ in range(n)]


def test_one_of_many_racing_runners_claims_a_job(stores: tuple[JobStore, JobStore]) -> None:
    a, b = stores
    (job,) = queued(a)
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda i: (a if i % 2 else b).claim(f"r{i}"), range(8)))
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and won[0].id == job and won[0].state == RUNNING
    assert b.get(job).runner == won[0].runner
    assert a.claim("late") is None
    assert not b.take(job, "late")  # the compare-and-set: taken already, not taken again
    assert a.get(job).runner == won[0].runner


def test_progress_finish_and_files_read_back(stores: tuple[JobStore, JobStore]) -> None:
    a, b = stores
    queued(a)
    job = a.claim("r")
    assert job is not None
    state = a.progress(job.id, "r", lines_done=5, lines_total=10, errors=1,
                       lines_per_second=100.0, eta_seconds=0.05)  # fmt: skip
    assert state == RUNNING and b.get(job.id).lines_done == 5
    files = [JobFile("results", "application/vnd.apache.parquet", bytes(range(256)) * 3)]
    assert not a.finish(job.id, "someone-else", DONE, files=files)  # not its job
    assert a.finish(job.id, "r", DONE, files=files, summary="{}", lines_done=10, errors=1)
    done = b.get(job.id)
    assert (done.state, done.lines_done, done.errors) == (DONE, 10, 1)
    assert b.file(job.id, "results").content == bytes(range(256)) * 3
    assert b.file_names(job.id) == ["results"]
    with pytest.raises(NotFound, match=r"has no cube file"):
        b.file(job.id, "cube")


def test_cancel_queued_at_once_running_between_chunks(stores: tuple[JobStore, JobStore]) -> None:
    a, b = stores
    first, second = queued(a, 2)
    assert b.cancel(second).state == CANCELLED  # queued: at once, never claimed after
    job = a.claim("r")
    assert job is not None and job.id == first
    assert a.claim("r2") is None
    assert b.cancel(first).state == CANCELLING
    assert a.progress(first, "r", lines_done=1, lines_total=2, errors=0,
                      lines_per_second=None, eta_seconds=None) == CANCELLING  # fmt: skip
    assert a.finish(first, "r", CANCELLED)
    assert b.cancel(first).state == CANCELLED  # a finished job stays as it ended


def test_a_finish_racing_a_cancel_ends_the_job_once(stores: tuple[JobStore, JobStore]) -> None:
    a, b = stores
    queued(a)
    job = a.claim("r")
    assert job is not None
    with ThreadPoolExecutor(2) as pool:
        cancel = pool.submit(b.cancel, job.id)
        finish = pool.submit(a.finish, job.id, "r", DONE)
    assert finish.result() is True  # the runner still held it: finishing wins
    assert cancel.result().state in (RUNNING, CANCELLING, DONE)
    assert b.get(job.id).state == DONE


def test_a_dead_runners_jobs_and_stale_ones_are_interrupted(
    stores: tuple[JobStore, JobStore],
) -> None:
    a, b = stores
    one, two, three = queued(a, 3)
    dead_pid = 2**22 + 12345  # above Linux's default pid_max: no such process
    host = runner_name().split(":")[0]
    assert a.claim(f"{host}:{dead_pid}:boot") is not None
    assert a.claim(f"{host}:{os.getpid()}:alive") is not None
    assert a.claim("elsewhere:1:boot") is not None
    assert interrupt_dead(b, "me") == 1  # only the dead process's, on this host
    assert b.get(one).state == INTERRUPTED and b.get(two).state == RUNNING
    assert b.interrupt(stale_before=seconds_ago(-1.0)) == 2  # heartbeats older than now + 1 s
    assert {b.get(j).state for j in (two, three)} == {INTERRUPTED}
    assert not a.finish(two, f"{host}:{os.getpid()}:alive", DONE)  # no longer its job
    assert b.get(two).state == INTERRUPTED
    assert QUEUED not in {b.get(j).state for j in (one, two, three)}
