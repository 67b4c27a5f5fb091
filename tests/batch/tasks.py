"""Tasks for the executor tests, importable by the cluster's workers (``tests.batch.tasks``),
so that dask pickles them by reference, as it does :func:`service.batch.chunk.price_chunk`."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np


class TaskRefused(ValueError):
    """Raised by :func:`fail_on_three`: a type of ours, to see it come back as itself."""


def slow_square(i: int) -> tuple[int, int]:
    """``i²`` and the pid of the process that computed it, after work that varies with ``i``
    (so tasks finish out of order)."""
    n = 200_000 * (1 + (7 * i) % 5)
    np.sort(np.random.default_rng(i).random(n))
    return i * i, os.getpid()


def fail_on_three(i: int) -> int:
    if i == 3:
        raise TaskRefused(f"item {i} is refused")
    return i


def numpy_work(seed: int) -> tuple[np.ndarray, int]:
    """A deterministic mix of numpy kernels (BLAS products, transcendental ufuncs, a sort, a
    cumulative sum) of a size that varies with ``seed``; and the computing process's pid."""
    rng = np.random.default_rng(seed)
    rows = 200 * (1 + seed % 7)
    a = rng.standard_normal((rows, 64))
    b = rng.standard_normal((64, 32))
    mixed = np.exp(np.sin(a @ b)) @ rng.standard_normal(32)
    return np.cumsum(np.sort(mixed) * np.log1p(np.abs(mixed))), os.getpid()


def second_first(item: tuple[str, int]) -> tuple[int, bool]:
    """Item 1 sets the cluster-wide event ``tag``; item 0 finishes only once it is set — so
    on two workers item 1 finishes first, always. Returns the index, and for item 0 whether
    the event was seen (False: gave up after a minute)."""
    from distributed import Event

    tag, index = item
    if index == 1:
        Event(tag).set()
    if index == 0:
        return index, Event(tag).wait(timeout=60)
    return index, True


def digest(payload: bytes) -> tuple[int, str]:
    """Length and SHA-256 of ``payload``."""
    return len(payload), hashlib.sha256(payload).hexdigest()


def scheduler_tasks(dask_scheduler: Any) -> int:
    """Tasks the scheduler knows of (run there by ``Client.run_on_scheduler``)."""
    return len(dask_scheduler.tasks)
