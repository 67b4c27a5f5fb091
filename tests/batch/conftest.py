"""Fixtures of the batch tests: a real two-worker Dask cluster, started once, if asked for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.batch.dask_cluster import dask_cluster


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """Address of a scheduler with two one-thread workers on loopback (tests/batch/dask_cluster.py)."""
    with dask_cluster(workers=2) as address:
        yield address
