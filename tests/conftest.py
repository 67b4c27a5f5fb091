"""Shared fixtures: the app under test, a deterministic hypothesis profile, and PostgreSQL.

`postgres_url` starts one throw-away PostgreSQL server for the session, the first time a test
asks for it (tests/pg_cluster.py); `fresh_postgres_url` gives each test a new empty database on it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings

# the store of every app the tests make: a throw-away SQLite file, never the checkout's ./data
_DATA = tempfile.mkdtemp(prefix="fxscen-tests-")
atexit.register(shutil.rmtree, _DATA, True)
os.environ["FXSCEN_DATABASE_URL"] = f"sqlite:///{_DATA}/fxscen.sqlite"

from service.app import create_app  # noqa: E402  (after the store's URL is set)
from tests.pg_cluster import create_database, postgres_server  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=200)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of the `fxscen` database on a throw-away server, stopped after the session."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """SQLAlchemy URL of a new, empty, uniquely named database on the session's server."""
    return create_database(postgres_url, f"test_{uuid.uuid4().hex}")


@pytest.fixture(autouse=True)
def _environment_kept() -> Iterator[None]:
    """No test leaves the metrics directory variable behind: every server a later test
    starts would inherit it and share (and empty) one directory with the others."""
    before = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    yield
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") == before, "PROMETHEUS_MULTIPROC_DIR leaked"
