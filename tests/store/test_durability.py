"""What the store keeps when the service process dies, and what a pinned price reproduces.

Each test runs the real console-script server on a store (a SQLite file, or a new database on
the session's throw-away PostgreSQL server), kills or stops it, starts it again on the same
store and reads back over HTTP. No sleeps: servers are up when their log says so
(:mod:`tests.store.servers`), and the request in flight at the kill is known to be sent.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from store.documents import canonical_json, digest
from tests.service.served import Server
from tests.store.servers import (
    BACKENDS,
    BUILTIN_MARKET,
    SETS,
    TIMEOUT,
    Document,
    client,
    create_set,
    fxscen,
    history,
    put_set,
    raw_put,
    sqlite_path,
    store_url,
)

ACKNOWLEDGED = 30  # writes answered 200 before the kill
BOOK = [
    {"kind": "call", "strike": 150.0, "tenor": "3M"},
    {"kind": "put", "strike": 140.0, "tenor": "1M"},
    {"kind": "call", "strike": 155.0, "tenor": "6M"},
]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store: ``sqlite`` a file in the test's directory, ``postgresql`` a new
    database on the session's server."""
    return store_url(request.param, request, tmp_path)


class InFlight:
    """A ``PUT`` sent whole on its own connection by a thread, its answer read after."""

    def __init__(self, port: int, document: Document, etag: str) -> None:
        self.port, self.document, self.etag = port, document, etag
        self.sent = threading.Event()
        self.status: int | None = None  # None: no (complete) answer came
        self.body: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        assert self.sent.wait(TIMEOUT), f"the in-flight PUT was not sent: {self.error!r}"
        assert self.error is None, f"the in-flight PUT could not be sent: {self.error!r}"

    def join(self) -> None:
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "no end to the in-flight PUT's connection"

    def _run(self) -> None:
        try:
            conn = raw_put(self.port, self.document, self.etag, "in flight")
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.sent.set()
        with contextlib.closing(conn):
            response = http.client.HTTPResponse(conn)
            try:
                response.begin()
                body = response.read()
            except (OSError, http.client.HTTPException):
                return  # cut off by the kill: not acknowledged
            finally:
                response.close()
            self.status = response.status
            self.body = json.loads(body) if body else None


def kill_9(server: Server) -> None:
    """SIGKILL the server process (no shutdown of any kind) and reap it."""
    os.kill(server.process.pid, signal.SIGKILL)
    assert server.process.wait(timeout=TIMEOUT) == -signal.SIGKILL


def integrity(path: Path) -> list[tuple[Any, ...]]:
    """``PRAGMA integrity_check`` of the SQLite file as it is (read-only: no recovery is
    written, no checkpoint made)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def test_acknowledged_writes_survive_kill_9(database_url: str) -> None:
    """Every write the service answered 200 is in the store after ``kill -9``, exactly.

    Creates a set, then streams 30 sequential ``PUT``s (each based on the ETag the previous
    one returned, each changing ``description`` to ``write {i}``) and records what each
    200 acknowledged: version, ETag, document. A 31st ``PUT`` is then sent whole on its own
    connection by a thread and the server is killed with SIGKILL without waiting for its
    answer. On a restarted server on the same store: the history is 1..latest without a gap;
    every acknowledged version reads back with its ETag and exactly its document; latest is
    at least the last acknowledged version and at most one beyond it, and that one (the
    in-flight write, when it committed) is whole: its document is the one sent, its digest
    is that document's, and it prices. SQLite's file passes ``PRAGMA integrity_check`` as the
    kill left it. The store still takes a write after the restart.

    Fails on a commit acknowledged before it is durable (a lost or different version, e.g.
    ``synchronous=OFF``, or a reply sent before the transaction commits), on a torn or
    half-written version, on a version number skipped or reused, and on a file the kill
    leaves corrupt.
    """
    set_id = "durable"
    acknowledged: dict[int, tuple[str, Document]] = {}  # version → (ETag, document)
    with fxscen(database_url) as first, client(first) as http:
        document, etag = create_set(http, set_id)
        acknowledged[1] = (etag, document)
        for i in range(1, ACKNOWLEDGED + 1):
            reply = put_set(http, {**document, "description": f"write {i}"}, etag, f"write {i}")
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["version"] == i + 1, body
            assert body["document"]["description"] == f"write {i}", body
            document, etag = body["document"], reply.headers["ETag"]
            acknowledged[body["version"]] = (etag, document)
        in_flight_document = {**document, "description": f"write {ACKNOWLEDGED + 1}"}
        in_flight = InFlight(first.port, in_flight_document, etag)
        in_flight.start()  # the request is all sent; its answer is not waited for
        kill_9(first)
        in_flight.join()
    if in_flight.status is not None:  # the answer made it out before the kill
        assert in_flight.status == 200, in_flight.body
        acknowledged[in_flight.body["version"]] = (
            in_flight.body["etag"],
            in_flight.body["document"],
        )
    path = sqlite_path(database_url)
    if path is not None:
        assert integrity(path) == [("ok",)]

    last = max(acknowledged)
    with fxscen(database_url) as second, client(second) as http:
        versions = history(http, set_id)
        numbers = [v["version"] for v in versions]
        latest = numbers[-1]
        print(
            f"in-flight PUT: answer {in_flight.status}; last acknowledged {last}, latest {latest}"
        )
        assert numbers == list(range(1, latest + 1)), numbers
        assert last <= latest <= last + 1, (last, latest)
        head = http.get(f"{SETS}/{set_id}")
        assert head.status_code == 200, head.text
        assert head.json()["version"] == latest
        for version, (etag, document) in acknowledged.items():
            reply = http.get(f"{SETS}/{set_id}/versions/{version}")
            assert reply.status_code == 200, reply.text
            assert reply.headers["ETag"] == etag, version
            assert reply.json()["document"] == document, version
            assert versions[version - 1]["document"] == document, version
        if latest == last + 1:  # the in-flight write committed, unanswered
            reply = http.get(f"{SETS}/{set_id}/versions/{latest}")
            assert reply.status_code == 200, reply.text
            stored = reply.json()
            assert stored["document"] == in_flight_document
            assert stored["digest"] == digest(canonical_json(stored["document"]))
            assert stored["change_note"] == "in flight"
            priced = price(http, {"scenario_set_id": set_id, "scenario_set_version": latest})
            assert json.loads(priced)["sources"]["scenario_set"]["version"] == latest
        after = put_set(http, {**document, "description": "after"}, head.headers["ETag"], "after")
        assert after.status_code == 200, after.text
        assert after.json()["version"] == latest + 1


def price(http: httpx.Client, body: dict[str, Any], *, reserialised: bool = False) -> bytes:
    """The bytes of a 200 ``POST /v1/price`` of ``body`` (a book from :data:`BOOK` unless it
    has one). ``reserialised`` sends the same JSON written differently, which the response
    cache (keyed on the body's bytes) cannot have seen: the price is computed afresh."""
    body = {"instruments": BOOK, **body}
    if reserialised:
        content = json.dumps(body, indent=2, sort_keys=True).encode()
        reply = http.post(
            "/v1/price", content=content, headers={"Content-Type": "application/json"}
        )
    else:
        reply = http.post("/v1/price", json=body)
    assert reply.status_code == 200, reply.text
    return reply.content


def prices(response: dict[str, Any]) -> list[float]:
    return [line["price"] for line in response["results"]]


def shifted(document: Document, source: int, target: int, amount: float) -> Document:
    """``document`` with ``amount`` of probability moved from scenario ``source`` to
    ``target`` (the sum stays 1)."""
    scenarios = [dict(s) for s in document["scenarios"]]
    scenarios[source]["probability"] = round(scenarios[source]["probability"] - amount, 9)
    scenarios[target]["probability"] = round(scenarios[target]["probability"] + amount, 9)
    return {**document, "scenarios": scenarios}


def test_pinned_price_reproduces_across_versions_retire_and_restart(database_url: str) -> None:
    """A price pinned to (set, version 1, market, version 1) is the same bytes after the set
    gets new versions, after it is retired, and after the server restarts.

    Prices the pinned request (bytes B1), writes versions 2 and 3 (0.05 of probability moved
    between scenarios each time) and checks version 3 prices differently (so sameness below
    is not for want of change), retires the set (204), then prices the pinned request again:
    both as the same bytes and written differently (so the response cache cannot answer
    it), and on a restarted server both ways again. Each must be B1 exactly. The unpinned
    request on the retired set is 410, before and after the restart.

    Fails when a pinned price reads the latest version instead of the pinned one, when a
    retire makes old versions unreadable or changes them, when a restart loses or alters
    them, when anything in the response varies from run to run (timestamps, ordering,
    floating-point paths) and when a retired set still prices unpinned.
    """
    set_id = "pinned"
    pinned = {
        "scenario_set_id": set_id,
        "scenario_set_version": 1,
        "market_id": BUILTIN_MARKET,
        "market_version": 1,
    }
    unpinned = {"scenario_set_id": set_id}
    with fxscen(database_url) as first, client(first) as http:
        document, etag = create_set(http, set_id)
        b1 = price(http, pinned)
        sources = json.loads(b1)["sources"]
        assert sources["scenario_set"]["version"] == 1, sources
        assert sources["market"]["id"] == BUILTIN_MARKET, sources
        for version, (source, target) in ((2, (0, 1)), (3, (3, 4))):
            document = shifted(document, source, target, 0.05)
            reply = put_set(http, document, etag, f"version {version}")
            assert reply.status_code == 200, reply.text
            assert reply.json()["version"] == version
            document, etag = reply.json()["document"], reply.headers["ETag"]
        v3 = json.loads(price(http, {**pinned, "scenario_set_version": 3}))
        assert v3["sources"]["scenario_set"]["version"] == 3
        assert prices(v3) != prices(json.loads(b1))
        retired = http.delete(f"{SETS}/{set_id}")
        assert retired.status_code == 204, retired.text
        assert price(http, pinned) == b1
        assert price(http, pinned, reserialised=True) == b1
        gone = http.post("/v1/price", json={"instruments": BOOK, **unpinned})
        assert gone.status_code == 410, gone.text
    with fxscen(database_url) as second, client(second) as http:
        assert price(http, pinned) == b1
        assert price(http, pinned, reserialised=True) == b1
        gone = http.post("/v1/price", json={"instruments": BOOK, **unpinned})
        assert gone.status_code == 410, gone.text
        head = http.get(f"{SETS}/{set_id}")
        assert head.status_code == 200, head.text
        assert head.json()["version"] == 3
        assert head.json()["retired_at"] is not None
