"""Writers racing on one version, and two service processes sharing one store.

Two real servers are started at the same time on one new, empty store per back end (a SQLite
file, or a new PostgreSQL database), so their start-ups, migrations included, race too; the
tests of a back end share them, each on its own set. Writers are threads, each with its own
connection opened before a barrier lets them all go at once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import pytest

from tests.service.served import Server
from tests.store.servers import (
    BACKENDS,
    SETS,
    TIMEOUT,
    Document,
    client,
    create_set,
    fxscen_many,
    history,
    put_set,
    store_url,
)

WRITERS = 20
ROUNDS = 5  # races per test: each a new chance for two writes to get through


@pytest.fixture(scope="module", params=BACKENDS)
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    """Two ``fxscen serve`` processes on one new store of the back end, started together."""
    url = store_url(request.param, request, tmp_path_factory.mktemp(request.param))
    with fxscen_many(url, 2) as started:
        yield started


def race(targets: list[Server], document: Document, etag: str) -> list[httpx.Response]:
    """:data:`WRITERS` ``PUT``s of ``document``, all based on ``etag``, each with its own
    description, spread evenly over ``targets`` and released together; their answers."""
    barrier = threading.Barrier(WRITERS)

    def write(i: int) -> httpx.Response:
        with client(targets[i % len(targets)]) as http:
            try:
                assert http.get("/v1/health").status_code == 200  # the connection is open
                barrier.wait(TIMEOUT)
            except BaseException:
                barrier.abort()  # the others stop waiting at once
                raise
            return put_set(http, {**document, "description": f"racer {i}"}, etag, f"racer {i}")

    with ThreadPoolExecutor(WRITERS) as pool:
        return list(pool.map(write, range(WRITERS)))


def check_one_wins(
    http: httpx.Client, set_id: str, answers: list[httpx.Response], before: int
) -> tuple[Document, str]:
    """Exactly one 200 and 412 for all the others, and exactly one new version: the winner's.
    The latest (document, ETag) after."""
    statuses = Counter(a.status_code for a in answers)
    odd = [f"{a.status_code} {a.text}" for a in answers if a.status_code not in (200, 412)]
    assert statuses == {200: 1, 412: WRITERS - 1}, (statuses, odd)
    (winner,) = (a for a in answers if a.status_code == 200)
    for loser in answers:
        if loser.status_code == 412:
            assert loser.json()["status"] == 412, loser.text
    versions = history(http, set_id)
    assert [v["version"] for v in versions] == list(range(1, before + 2))
    latest = versions[-1]
    assert latest["document"] == winner.json()["document"]
    assert latest["document"]["description"].startswith("racer ")
    assert latest["etag"] == winner.headers["ETag"]
    head = http.get(f"{SETS}/{set_id}")
    assert head.status_code == 200, head.text
    assert head.headers["ETag"] == winner.headers["ETag"]
    return latest["document"], winner.headers["ETag"]


def run_races(targets: list[Server], set_id: str) -> None:
    with client(targets[0]) as http:
        document, etag = create_set(http, set_id)
        for round_ in range(ROUNDS):
            head = http.get(f"{SETS}/{set_id}")  # the latest ETag, as a writer would read it
            assert head.status_code == 200, head.text
            assert head.headers["ETag"] == etag
            answers = race(targets, document, head.headers["ETag"])
            document, etag = check_one_wins(http, set_id, answers, before=round_ + 1)


def test_racing_writers_on_one_server(servers: list[Server]) -> None:
    """20 ``PUT``s with the same ``If-Match``, released together on one server: one 200, 19
    412s, one new version (the winner's, with the winner's ETag), five races in a row.

    Fails when two writes based on the same version both get through (a lost update: a
    check-then-write outside one transaction, or If-Match compared with a stale read), when a
    loser gets something other than 412 (a 500 from a constraint violation or a lock
    timeout, a 409), or when a race leaves a gap or a duplicate in the history.
    """
    run_races(servers[:1], "race-one-server")


def test_racing_writers_on_two_servers(servers: list[Server]) -> None:
    """The same race, 10 writers on each of two server processes on one store: still one
    200 and 19 412s per race. Here the compare-and-set is all that stands between two
    processes (nothing in one process's memory can serialise them).

    Fails as above, for a store whose compare-and-set does not hold across connections
    (e.g. PostgreSQL's READ COMMITTED without the conditional ``UPDATE``, SQLite without the
    write lock taken at ``BEGIN``).
    """
    run_races(servers, "race-two-servers")


def test_two_servers_see_each_others_writes_at_once(servers: list[Server]) -> None:
    """Server A and server B on one store: what one writes, the other serves on its next
    request, with no delay and no restart.

    A set ``POST``ed on A is on B (200, the same ETag and document) right after A's 201; a
    version ``PUT`` on B is what A prices an unpinned request on at once
    (``sources.scenario_set.version`` 2, after the same request priced version 1 there just
    before); the history read from A and from B is the same JSON.

    Fails when a process caches what it read from the store (a latest version, an unpinned
    price, a list of versions) past another process's write, or reads through a snapshot
    held open from before it.
    """
    a, b = servers
    set_id = "seen-by-both"
    book = [{"kind": "call", "strike": 150.0, "tenor": "3M"}]
    unpinned = {"scenario_set_id": set_id, "instruments": book}
    with client(a) as on_a, client(b) as on_b:
        document, etag = create_set(on_a, set_id)
        seen = on_b.get(f"{SETS}/{set_id}")
        assert seen.status_code == 200, seen.text
        assert seen.headers["ETag"] == etag
        assert seen.json()["document"] == document
        before = on_a.post("/v1/price", json=unpinned)
        assert before.status_code == 200, before.text
        assert before.json()["sources"]["scenario_set"]["version"] == 1
        written = put_set(on_b, {**document, "description": "from B"}, etag, "from B")
        assert written.status_code == 200, written.text
        assert written.json()["version"] == 2
        after = on_a.post("/v1/price", json=unpinned)
        assert after.status_code == 200, after.text
        assert after.json()["sources"]["scenario_set"]["version"] == 2
        assert after.json()["sources"]["scenario_set"]["digest"] == written.json()["digest"]
        head = on_a.get(f"{SETS}/{set_id}")
        assert head.status_code == 200, head.text
        assert head.headers["ETag"] == written.headers["ETag"]
        from_a, from_b = history(on_a, set_id), history(on_b, set_id)
        assert [v["version"] for v in from_a] == [1, 2]
        assert from_a == from_b
