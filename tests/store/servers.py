"""Real ``fxscen serve`` processes on a store, and the few HTTP steps the store tests share.

A server is started by :func:`tests.service.served.served` (a free loopback port; up once its
own log says so, never after a sleep), with ``FXSCEN_AUTH=off`` and ``FXSCEN_DATABASE_URL`` set
to the store under test, and checked ready (``GET /v1/ready`` → 200) before it is handed out.
It is stopped (SIGTERM, then SIGKILL) when the block exits, whatever happened in it.
"""

from __future__ import annotations

import copy
import json
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy.engine import make_url

from tests.pg_cluster import create_database
from tests.service.served import Server, served

SETS = "/v1/scenario-sets"
BUILTIN_SET = "us-japan-tariff-2025-07-09"
BUILTIN_MARKET = "usdjpy-2025-06-13"
TIMEOUT = 60.0  # s, bound on any one request, connection or wait on a thread
BACKENDS = ("sqlite", "postgresql")

Document = dict[str, Any]


@contextmanager
def fxscen(database_url: str, **env: str) -> Iterator[Server]:
    """``fxscen serve`` on ``database_url``, API keys off, ready; stopped after the block."""
    with served(env={"FXSCEN_DATABASE_URL": database_url, "FXSCEN_AUTH": "off", **env}) as server:
        with client(server) as http:
            ready = http.get("/v1/ready")
        assert ready.status_code == 200, ready.text
        yield server


@contextmanager
def fxscen_many(database_url: str, count: int) -> Iterator[list[Server]]:
    """``count`` servers on one store, started at the same time (so their start-ups, the
    store's migrations included, race); all stopped after the block."""
    managers = [fxscen(database_url) for _ in range(count)]
    with ExitStack() as stack:
        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(manager.__enter__) for manager in managers]
        servers: list[Server] = []
        failures: list[BaseException] = []
        for manager, future in zip(managers, futures, strict=True):
            failure = future.exception()
            if failure is None:
                stack.push(manager.__exit__)
                servers.append(future.result())
            else:
                failures.append(failure)  # that server is stopped already
        if failures:
            raise failures[0]
        yield servers


def client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=TIMEOUT)


def store_url(backend: str, request: pytest.FixtureRequest, directory: Path) -> str:
    """A new, empty store for ``backend``: a SQLite file in ``directory``, or a new database
    on the session's PostgreSQL server."""
    if backend == "sqlite":
        return f"sqlite:///{directory / 'fxscen.sqlite'}"
    assert backend == "postgresql", backend
    if request.scope == "function":
        return str(request.getfixturevalue("fresh_postgres_url"))
    # a wider fixture cannot use the per-test one: the same kind of new database, by hand
    return create_database(str(request.getfixturevalue("postgres_url")), f"test_{uuid.uuid4().hex}")


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL (None for another back end)."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() != "sqlite":
        return None
    assert parsed.database, database_url
    return Path(parsed.database)


def builtin_document(http: httpx.Client) -> Document:
    """The built-in example set's document: a valid one to copy under a new id."""
    reply = http.get(f"{SETS}/{BUILTIN_SET}")
    assert reply.status_code == 200, reply.text
    document: Document = reply.json()["document"]
    return document


def create_set(http: httpx.Client, set_id: str) -> tuple[Document, str]:
    """Version 1 of a copy of the built-in set under ``set_id``: (its document, its ETag)."""
    document = copy.deepcopy(builtin_document(http))
    document["id"] = set_id
    reply = http.post(SETS, json={**document, "change_note": "version 1"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["version"] == 1, reply.text
    return reply.json()["document"], reply.headers["ETag"]


def put_set(http: httpx.Client, document: Document, etag: str, note: str) -> httpx.Response:
    """``PUT`` ``document`` as the next version of its set, based on ``etag``."""
    return http.put(
        f"{SETS}/{document['id']}",
        json={**document, "change_note": note},
        headers={"If-Match": etag},
    )


def history(http: httpx.Client, set_id: str) -> list[Document]:
    reply = http.get(f"{SETS}/{set_id}/versions")
    assert reply.status_code == 200, reply.text
    versions: list[Document] = reply.json()
    return versions


def raw_put(port: int, document: Document, etag: str, note: str) -> socket.socket:
    """A connection that has sent (all of) ``PUT`` ``document`` based on ``etag``; its answer
    is left unread on it."""
    body = json.dumps({**document, "change_note": note}).encode()
    head = (
        f"PUT {SETS}/{document['id']} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nIf-Match: {etag}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    conn = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    conn.sendall(head + body)
    return conn
