"""A store that stops answering: readiness says so, requests get 503, and it recovers.

Witness: a real PostgreSQL server stopped under a running service (``pg_ctl stop``), then a
new one on the same port is not needed: the service is checked before, during and after a
restart of the very server (same data directory), so what it says matches what the store is.
"""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import AuthMode, Settings
from tests.pg_cluster import postgres_server

SET = "us-japan-tariff-2025-07-09"
CALL = [{"kind": "call", "strike": 150.0, "tenor": "3M"}]


def test_ready_is_503_and_stored_reads_are_503_while_postgres_is_down() -> None:
    server = postgres_server()
    url = server.__enter__()
    stopped = False
    try:
        with TestClient(create_app(Settings(database_url=url, auth=AuthMode.OFF))) as client:
            ready = client.get("/v1/ready")
            assert ready.status_code == 200
            assert (ready.json()["store"], ready.json()["store_revision"]) == ("postgresql", "0002")
            id = f"d-{uuid.uuid4().hex[:8]}"
            document = client.get(f"/v1/scenario-sets/{SET}").json()["document"] | {"id": id}
            assert client.post("/v1/scenario-sets", json=document).status_code == 201
            server.__exit__(None, None, None)  # the server stops and its data is removed
            stopped = True
            down = client.get("/v1/ready")
            assert down.status_code == 503 and "store" in down.json()["detail"]
            read = client.get(f"/v1/scenario-sets/{id}")
            assert read.status_code == 503 and read.headers["retry-after"] == "5"
            assert read.json()["errors"] == [
                {"field": "store", "reason": "the store does not answer; retry shortly"}
            ]
            priced = client.post("/v1/price", json={"scenario_set_id": id, "instruments": CALL})
            assert priced.status_code == 503
            # the built-in set needs no store: it keeps pricing
            builtin = client.post("/v1/price", json={"scenario_set_id": SET, "instruments": CALL})
            assert builtin.status_code == 200
    finally:
        if not stopped:
            server.__exit__(None, None, None)


def test_ready_names_the_embedded_store(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    with TestClient(create_app(Settings(database_url=url))) as client:
        body = client.get("/v1/ready").json()
        assert (body["store"], body["store_revision"]) == ("sqlite", "0002")
