"""ChunkExecutor: results in the order of the items, a bound on the tasks in flight, errors
and early stops, in this process and on a real cluster (``dask scheduler`` and two ``dask
worker`` processes on loopback, tests/batch/dask_cluster.py).

Witness of the cluster's results: the same functions run by LocalExecutor, byte for byte.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from distributed import Client

from service.batch.executors import ChunkExecutor, DaskExecutor, LocalExecutor, executor_for
from tests.batch import tasks


class Book:
    """Items 0 … n−1 handed out one at a time, counting how many were taken."""

    def __init__(self, n: int) -> None:
        self.n, self.pulled = n, 0

    def __iter__(self) -> Iterator[int]:
        for i in range(self.n):
            self.pulled += 1
            yield i


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; whether it held."""
    deadline, tick = time.monotonic() + timeout, threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        tick.wait(0.02)
    return True


def scheduler_tasks(address: str) -> int:
    with Client(address, set_as_default=False) as client:
        return int(client.run_on_scheduler(tasks.scheduler_tasks))


@pytest.fixture
def dask_executor(dask_scheduler: str) -> Iterator[DaskExecutor]:
    with DaskExecutor(dask_scheduler) as executor:
        yield executor


def test_executor_for_no_address_is_local() -> None:
    assert isinstance(executor_for(None), LocalExecutor)
    assert isinstance(executor_for(""), LocalExecutor)


def test_executor_for_an_address_connects_to_its_scheduler(dask_scheduler: str) -> None:
    with executor_for(dask_scheduler) as executor:
        assert isinstance(executor, DaskExecutor)
        assert executor.address == dask_scheduler
        assert executor.in_flight == 4  # two per worker thread: two workers of one thread


def test_local_executor_runs_inline_one_item_per_result() -> None:
    book = Book(5)
    taken = []
    with LocalExecutor() as executor:
        results = executor.map_ordered(tasks.slow_square, book, max_in_flight=3)
        assert book.pulled == 0  # nothing runs before the first result is asked for
        for k, (square, pid) in enumerate(results):
            taken.append(square)
            assert (book.pulled, pid) == (k + 1, os.getpid())
    assert taken == [i * i for i in range(5)]


def test_max_in_flight_below_one_is_refused(dask_executor: DaskExecutor) -> None:
    executors: tuple[ChunkExecutor, ...] = (LocalExecutor(), dask_executor)
    for executor in executors:
        with pytest.raises(ValueError, match=r"max_in_flight must be at least 1, got 0"):
            executor.map_ordered(tasks.slow_square, range(3), max_in_flight=0)


def test_results_keep_the_items_order_when_tasks_finish_out_of_order(
    dask_executor: DaskExecutor,
) -> None:
    tag = f"second-first-{uuid.uuid4().hex}"
    items = [(tag, i) for i in range(8)]
    results = list(dask_executor.map_ordered(tasks.second_first, items, max_in_flight=4))
    # item 0 returned only after item 1 had finished, and is still yielded first
    assert results == [(0, True), *((i, True) for i in range(1, 8))]


def test_at_most_max_in_flight_items_are_pulled_ahead_of_the_results(
    dask_executor: DaskExecutor,
) -> None:
    book = Book(30)
    results = dask_executor.map_ordered(tasks.slow_square, book, max_in_flight=3)
    assert book.pulled == 0  # lazy: nothing submitted before the first result is asked for
    for k, (square, _) in enumerate(results):
        assert square == k * k
        # at the k-th result, items k … k+2 at most have been submitted and not yielded
        assert book.pulled <= k + 3
        if k == 0:
            assert book.pulled == 3
    assert book.pulled == 30


def test_the_cluster_gives_the_local_results_byte_for_byte_from_both_workers(
    dask_executor: DaskExecutor,
) -> None:
    seeds = range(24)
    local = list(LocalExecutor().map_ordered(tasks.numpy_work, seeds))
    spread = list(dask_executor.map_ordered(tasks.numpy_work, seeds, max_in_flight=6))
    assert [a.tobytes() for a, _ in spread] == [a.tobytes() for a, _ in local]
    assert [a.dtype for a, _ in spread] == [a.dtype for a, _ in local]
    pids = {pid for _, pid in spread}
    assert len(pids) == 2 and os.getpid() not in pids  # both workers, neither this process


def test_an_error_in_a_task_reaches_the_caller_as_itself(
    dask_executor: DaskExecutor, capfd: pytest.CaptureFixture[str]
) -> None:
    results = dask_executor.map_ordered(tasks.fail_on_three, range(10), max_in_flight=2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(tasks.TaskRefused, match=r"^item 3 is refused$"):
        next(results)
    # the items after it were cancelled; the worker's log of the failure stayed on the worker
    assert wait_until(lambda: scheduler_tasks(dask_executor.address) == 0)
    assert "Compute Failed" not in capfd.readouterr().err


def test_a_consumer_that_stops_early_cancels_the_rest(dask_executor: DaskExecutor) -> None:
    book = Book(1000)
    results = dask_executor.map_ordered(tasks.slow_square, book, max_in_flight=4)
    for k, _ in enumerate(results):
        if k == 2:
            break
    results.close()  # what a for loop's owner (run_batch) does on a break
    assert book.pulled <= 2 + 4
    assert wait_until(lambda: scheduler_tasks(dask_executor.address) == 0)
    # the executor is still usable after
    assert list(dask_executor.map_ordered(tasks.fail_on_three, range(3), max_in_flight=2)) == [
        0,
        1,
        2,
    ]


def test_closing_the_executor_cancels_the_open_maps(dask_scheduler: str) -> None:
    executor = DaskExecutor(dask_scheduler)
    results = executor.map_ordered(tasks.slow_square, range(1000), max_in_flight=4)
    next(results)
    executor.close()
    assert wait_until(lambda: scheduler_tasks(dask_scheduler) == 0)
    results.close()  # after the close: nothing left to cancel, and no error


def test_a_chunk_above_dasks_large_graph_size_is_sent_whole_without_a_warning(
    dask_executor: DaskExecutor,
) -> None:
    """filterwarnings = error: dask's "Sending large graph" warning would fail this test."""
    payloads = [os.urandom(12_000_000), b"small"]
    expected = [tasks.digest(p) for p in payloads]
    assert list(dask_executor.map_ordered(tasks.digest, payloads, max_in_flight=2)) == expected
