"""The store tests' back ends: each test that asks for ``url`` runs on a new SQLite file and
on a new database of the session's real PostgreSQL server."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store')}/store.sqlite"
    return str(request.getfixturevalue("fresh_postgres_url"))
