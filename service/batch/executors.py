"""Where a batch run's chunks are priced: in this process, or on a ``dask.distributed`` cluster.

:meth:`ChunkExecutor.map_ordered` yields ``fn(item)`` for each item in the order of the
items, pulling items lazily and keeping at most ``max_in_flight`` submitted and not yet
yielded — so a book read chunk by chunk stays in bounded memory whatever its size. A task
is a pure function of its argument (:func:`service.batch.chunk.price_chunk`), so a cluster's
results are bit for bit those of a local run.

A cluster is started as the README says: ``dask scheduler`` on one machine, ``dask worker
tcp://HOST:8786`` on each of the others, every worker with this project installed (the same
version: ``pip install -c constraints.txt .`` from the same checkout) so that it can import
``service.batch.chunk``. Closing a :class:`DaskExecutor` (or leaving its ``with`` block, or
a consumer stopping early) cancels the tasks not yet collected.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class ChunkExecutor(Protocol):
    """Runs a batch run's chunk tasks (see the module's docstring)."""

    in_flight: int

    def map_ordered(
        self, fn: Callable[[T], R], items: Iterable[T], *, max_in_flight: int
    ) -> Iterator[R]: ...

    def close(self) -> None: ...

    def __enter__(self) -> ChunkExecutor: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class LocalExecutor:
    """Each task in this process, one after the other, when its result is asked for (the
    compiled kernel spreads a chunk over the machine's cores itself)."""

    in_flight = 1

    def map_ordered(
        self, fn: Callable[[T], R], items: Iterable[T], *, max_in_flight: int = 1
    ) -> Iterator[R]:
        for item in items:
            yield fn(item)

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

    ``in_flight`` defaults to two tasks per worker thread the scheduler knows of when the
    executor connects (at least 2): every worker has its next chunk while it works.
    """

    def __init__(self, address: str, *, timeout: float = 30.0) -> None:
        from distributed import Client

        self.address = address
        self.client = Client(address, timeout=timeout, set_as_default=False)
        threads = sum(self.client.nthreads().values())
        self.in_flight = max(2, 2 * threads)

    def map_ordered(
        self, fn: Callable[[T], R], items: Iterable[T], *, max_in_flight: int | None = None
    ) -> Iterator[R]:
        limit = max(1, max_in_flight or self.in_flight)
        pending: deque[Any] = deque()
        source = iter(items)
        try:
            for item in source:
                pending.append(self.client.submit(fn, item, pure=False))
                if len(pending) >= limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def executor_for(address: str | None, timeout: float = 30.0) -> LocalExecutor | DaskExecutor:
    """A :class:`DaskExecutor` on ``address``, or a :class:`LocalExecutor` without one; a
    scheduler that does not answer within ``timeout`` seconds is the run's error, naming
    ``scheduler``."""
    if not address:
        return LocalExecutor()
    try:
        return DaskExecutor(address, timeout=timeout)
    except OSError as exc:
        from scenarios.errors import DomainError

        raise DomainError.field(
            "scheduler", f"no dask scheduler answers at {address}: {exc}"
        ) from None
