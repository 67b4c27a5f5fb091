"""Where a batch run's chunks are priced: in this process, or on a ``dask.distributed`` cluster.

:meth:`ChunkExecutor.map_ordered` yields ``fn(item)`` for each item in the order of the
items, pulling items lazily and keeping at most ``max_in_flight`` submitted and not yet
yielded — so a book read chunk by chunk stays in bounded memory whatever its size. A task
is a pure function of its argument (:func:`service.batch.chunk.price_chunk`), so a cluster's
results are bit for bit those of a local run.

A cluster is started as the README says: ``dask scheduler`` on one machine, ``dask worker
tcp://HOST:8786`` on each of the others, every worker with this project installed (the same
version: ``pip install -c constraints.txt .`` from the same checkout) so that it can import
``service.batch.chunk``; a task's function and argument are pickled, the function by
reference to its module. Workers compile the numba kernels on their first chunk, or load
them from the disk cache beside the installed package. Worker logs stay on the workers.

An exception raised by a task reaches the caller with its own type and message (dask
pickles it back). Closing a :class:`DaskExecutor` (or leaving its ``with`` block), an
error, or a consumer that stops early (closing the generator) cancels the tasks not yet
collected.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from distributed import Future

T = TypeVar("T")
R = TypeVar("R")

# A chunk of 100,000 lines pickles to ~10 MB, dask's "large graph" warning level. That
# warning is about data repeated across a graph's tasks; here each chunk is sent once, and
# the scheduler holds at most `max_in_flight` of them. Kept in the graph rather than
# scattered so that the scheduler can rerun a chunk elsewhere if its worker dies.
_LARGE_GRAPH = "distributed.admin.large-graph-warning-threshold"
_SUBMITTING = threading.Lock()  # the threshold is process-wide: raised and restored in turn


class ChunkExecutor(Protocol):
    """Runs a batch run's chunk tasks (see the module's docstring).

    ``in_flight`` is the executor's own suggestion for ``max_in_flight``.
    """

    in_flight: int

    def map_ordered(
        self, fn: Callable[[T], R], items: Iterable[T], *, max_in_flight: int
    ) -> Iterator[R]: ...

    def close(self) -> None: ...

    def __enter__(self) -> ChunkExecutor: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def _checked(max_in_flight: int) -> int:
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
    return max_in_flight


class LocalExecutor:
    """Each task in this process and thread, one after the other, when its result is asked
    for: one item pulled per result, whatever ``max_in_flight`` (the compiled kernel spreads
    a chunk over the machine's cores itself)."""

    in_flight = 1

    def map_ordered(
        self, fn: Callable[[T], R], items: Iterable[T], *, max_in_flight: int = 1
    ) -> Iterator[R]:
        _checked(max_in_flight)
        return (fn(item) for item in items)

    def close(self) -> None:
        return None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class DaskExecutor:
    """Tasks on the ``dask.distributed`` scheduler at ``address`` (``tcp://host:8786``).

    Connecting waits at most ``timeout`` seconds (``OSError`` after). ``in_flight`` is two
    tasks per worker thread the scheduler knows of when the executor connects (at least 2):
    every worker has its next chunk while it works on one.
    """

    def __init__(self, address: str, *, timeout: float = 30.0) -> None:
        from distributed import Client

        self.address = address
        self.client = Client(address, timeout=timeout, set_as_default=False)
        threads = sum(self.client.nthreads().values())
        self.in_flight = max(2, 2 * threads)
        self._open: dict[int, deque[Future[Any]]] = {}  # each open map's pending futures

    def map_ordered(
        self, fn: Callable[[T], R], items: Iterable[T], *, max_in_flight: int | None = None
    ) -> Iterator[R]:
        """``fn(item)`` for each item, in order; ``max_in_flight`` defaults to ``in_flight``."""
        limit = _checked(self.in_flight if max_in_flight is None else max_in_flight)
        return self._ordered(fn, items, limit)

    def _ordered(self, fn: Callable[[T], R], items: Iterable[T], limit: int) -> Iterator[R]:
        import dask

        pending: deque[Future[Any]] = deque()
        self._open[id(pending)] = pending
        try:
            for item in items:
                with _SUBMITTING, dask.config.set({_LARGE_GRAPH: "1TiB"}):
                    pending.append(self.client.submit(fn, item, pure=False))
                if len(pending) >= limit:
                    yield _result(pending.popleft())
            while pending:
                yield _result(pending.popleft())
        finally:
            self._cancel(pending)
            del self._open[id(pending)]

    def _cancel(self, pending: deque[Future[Any]]) -> None:
        if pending and self.client.status not in ("closing", "closed"):
            self.client.cancel(list(pending))
        pending.clear()

    def close(self) -> None:
        """Cancel the tasks not yet collected and disconnect (the cluster keeps running)."""
        for pending in list(self._open.values()):
            self._cancel(pending)
        self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _result(future: Future[R]) -> R:
    try:
        return future.result()
    except BaseException:
        future.release()  # the exception's traceback holds the future: the cluster need not
        raise


def executor_for(address: str | None, timeout: float = 30.0) -> LocalExecutor | DaskExecutor:
    """A :class:`DaskExecutor` on ``address``, or a :class:`LocalExecutor` without one
    (None or empty); a scheduler that does not answer within ``timeout`` seconds is the
    run's error, naming ``scheduler``."""
    if not address:
        return LocalExecutor()
    try:
        return DaskExecutor(address, timeout=timeout)
    except OSError as exc:
        from scenarios.errors import DomainError

        raise DomainError.field(
            "scheduler", f"no dask scheduler answers at {address}: {exc}"
        ) from None
