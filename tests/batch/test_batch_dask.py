"""A batch run on a real Dask cluster gives the local run's results, byte for byte.

Witness: the local run (itself checked against ``POST /v1/price`` in test_batch_books.py).
The cluster is real: ``dask scheduler`` and two ``dask worker`` processes on loopback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from scenarios.errors import DomainError
from service.batch.executors import DaskExecutor, LocalExecutor, executor_for
from service.batch.run import run_batch
from service.batch.spec import RunSpec
from service.schemas.results import BUILTIN_SET
from tests.batch import tasks
from tests.batch.test_batch_books import LINES, PATHS, write_parquet


def test_a_run_on_two_workers_is_the_local_run_byte_for_byte(
    tmp_path: Path, dask_scheduler: str
) -> None:
    book = write_parquet(tmp_path / "b.parquet", LINES * 7)
    spec = RunSpec(sources={"scenario_set_id": BUILTIN_SET}, paths=PATHS, chunk_lines=5)
    local = run_batch(spec, book, tmp_path / "local.parquet", executor=LocalExecutor())
    with executor_for(dask_scheduler) as executor:
        assert isinstance(executor, DaskExecutor)
        spread = run_batch(spec, book, tmp_path / "dask.parquet", executor=executor)
    assert pq.read_table(tmp_path / "dask.parquet").equals(
        pq.read_table(tmp_path / "local.parquet")
    )
    assert spread.totals["totals"] == local.totals["totals"]
    assert (local.totals["executor"], spread.totals["executor"]) == ("local", dask_scheduler)
    assert (tmp_path / "dask.errors.csv").read_bytes() == (
        tmp_path / "local.errors.csv"
    ).read_bytes()


def test_tasks_run_on_both_workers_in_order_and_bounded(dask_scheduler: str) -> None:
    pulled = []

    def items():
        for i in range(40):
            pulled.append(i)
            yield i

    with DaskExecutor(dask_scheduler) as executor:
        results = executor.map_ordered(tasks.slow_square, items(), max_in_flight=4)
        first = next(results)
        assert len(pulled) <= 4  # no more than the bound submitted before the first result
        rest = list(results)
    values = [first, *rest]
    assert [v for v, _ in values] == [i * i for i in range(40)]
    pids = {pid for _, pid in values}
    assert len(pids) == 2 and os.getpid() not in pids


def test_an_error_in_a_task_reaches_the_caller(dask_scheduler: str) -> None:
    with DaskExecutor(dask_scheduler) as executor, pytest.raises(ValueError, match="item 3"):
        list(executor.map_ordered(tasks.fail_on_three, range(6), max_in_flight=2))


def test_a_scheduler_that_does_not_answer_is_named() -> None:
    with pytest.raises(DomainError, match=r"tcp://127\.0\.0\.1:9") as caught:
        executor_for("tcp://127.0.0.1:9", timeout=2.0)
    assert caught.value.errors[0].field == "scheduler"


def test_the_services_job_runner_sends_chunks_to_the_cluster(
    tmp_path: Path, dask_scheduler: str
) -> None:
    """FXSCEN_DASK_SCHEDULER: a job's chunks run on the workers, the result is the local run's."""
    import threading
    import time

    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.settings import Settings

    book = write_parquet(tmp_path / "b.parquet", LINES * 3)
    spec = RunSpec(sources={"scenario_set_id": BUILTIN_SET}, paths=PATHS, chunk_lines=6)
    run_batch(spec, book, tmp_path / "local.parquet", executor=LocalExecutor())
    settings = Settings(database_url=f"sqlite:///{tmp_path}/j.sqlite", auth="off",
                        dask_scheduler=dask_scheduler)  # fmt: skip
    with TestClient(create_app(settings)) as http:
        upload = http.post("/v1/books", content=book.read_bytes(),
                           headers={"content-type": "application/vnd.apache.parquet"})  # fmt: skip
        job = http.post("/v1/jobs", json={"scenario_set_id": BUILTIN_SET, "paths": PATHS,
                                          "book_id": upload.json()["id"], "chunk_lines": 6})  # fmt: skip
        location = job.headers["location"]
        deadline, pause = time.monotonic() + 120, threading.Event()
        while http.get(location).json()["state"] in ("queued", "running"):
            assert time.monotonic() < deadline
            pause.wait(0.05)
        assert http.get(location).json()["state"] == "done"
        result = http.get(
            f"{location}/result", headers={"accept": "application/vnd.apache.parquet"}
        )
    import io

    assert pq.read_table(io.BytesIO(result.content)).equals(
        pq.read_table(tmp_path / "local.parquet")
    )
