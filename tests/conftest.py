"""Shared fixtures: the app under test and a deterministic hypothesis profile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings

from service.app import create_app

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=200)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client
