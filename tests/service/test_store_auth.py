"""Keys and roles: who may write, who may read, and that a token is never written down.

Witnesses: RFC 6750 / RFC 9110 (401 with ``WWW-Authenticate: Bearer`` when no valid key is
sent, 403 when the key's role does not allow the request); the key rows themselves (only a
SHA-256 is stored); the service's own log records (no token in any of them).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import AuthMode, Settings
from service.versioned import store_at
from store import keys

SET = "us-japan-tariff-2025-07-09"
CALL = [{"kind": "call", "strike": 150.0, "tenor": "3M"}]


def make_key(url: str, role: str) -> tuple[str, str]:
    """(name, token) of a new key in the store at ``url``."""
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    key_id, token = keys.new_token()
    store_at(url).add_key(name, role, key_id, keys.token_hash(token))
    return name, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('auth')}/store.sqlite"


@pytest.fixture(scope="module")
def writes(url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=url, auth=AuthMode.WRITES))) as client:
        yield client


@pytest.fixture(scope="module")
def everything(url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=url, auth=AuthMode.ALL))) as client:
        yield client


def document(client: TestClient, headers: dict[str, str] | None = None) -> dict[str, object]:
    body: dict[str, object] = client.get(f"/v1/scenario-sets/{SET}", headers=headers).json()[
        "document"
    ]
    return body | {"id": f"a-{uuid.uuid4().hex[:10]}"}


def test_writes_need_a_writer_key_and_record_its_name(writes: TestClient, url: str) -> None:
    body = document(writes)
    anonymous = writes.post("/v1/scenario-sets", json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.json()["errors"][0]["field"] == "Authorization"
    _, reader = make_key(url, "reader")
    assert writes.post("/v1/scenario-sets", json=body, headers=bearer(reader)).status_code == 403
    writer_name, writer = make_key(url, "writer")
    created = writes.post("/v1/scenario-sets", json=body, headers=bearer(writer))
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == writer_name
    # reads and computations stay open under the default mode
    assert writes.get(f"/v1/scenario-sets/{body['id']}").status_code == 200
    assert (
        writes.post(
            "/v1/price", json={"scenario_set_id": body["id"], "instruments": CALL}
        ).status_code
        == 200
    )
    # retiring needs an admin
    assert (
        writes.delete(f"/v1/scenario-sets/{body['id']}", headers=bearer(writer)).status_code == 403
    )
    admin_name, admin = make_key(url, "admin")
    retired = writes.delete(f"/v1/scenario-sets/{body['id']}", headers=bearer(admin))
    assert retired.status_code == 204
    assert writes.get(f"/v1/scenario-sets/{body['id']}").json()["retired_by"] == admin_name


def test_a_bad_or_revoked_token_is_refused_even_where_none_is_needed(
    writes: TestClient, url: str
) -> None:
    for header in (
        "Bearer fxs_000000000000_" + "a" * 43,
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
    ):
        response = writes.get("/v1/scenario-sets", headers={"Authorization": header})
        assert response.status_code == 401, header
    name, token = make_key(url, "writer")
    assert writes.get("/v1/scenario-sets", headers=bearer(token)).status_code == 200
    forged = token[:-4] + (
        "AAAA" if not token.endswith("AAAA") else "BBBB"
    )  # right key id, wrong secret
    assert writes.get("/v1/scenario-sets", headers=bearer(forged)).status_code == 401
    store_at(url).revoke_key(name)
    revoked = writes.post("/v1/scenario-sets", json=document(writes), headers=bearer(token))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["errors"][0]["reason"]


def test_auth_all_keys_every_v1_request_but_health_and_readiness(
    everything: TestClient, url: str
) -> None:
    assert everything.get("/v1/health").status_code == 200
    assert everything.get("/v1/ready").status_code == 200
    assert everything.get("/v1/scenario-sets").status_code == 401
    # the price lane answers POST /v1/price ahead of the framework: it is keyed too
    assert (
        everything.post("/v1/price", json={"scenario_set_id": SET, "instruments": CALL}).status_code
        == 401
    )
    _, reader = make_key(url, "reader")
    ok = everything.post(
        "/v1/price", json={"scenario_set_id": SET, "instruments": CALL}, headers=bearer(reader)
    )
    assert ok.status_code == 200
    body = document(everything, bearer(reader))
    assert (
        everything.post("/v1/scenario-sets", json=body, headers=bearer(reader)).status_code == 403
    )


def test_saving_a_calibration_needs_a_writer_key(writes: TestClient, url: str) -> None:
    refused = writes.post(
        "/v1/calibrate",
        json={"scenario_set_id": SET, "save": {"scenario_set_id": f"c-{uuid.uuid4().hex[:8]}"}},
    )
    assert refused.status_code == 401 and refused.json()["errors"][0]["field"] == "Authorization"
    _, reader = make_key(url, "reader")
    body = {"scenario_set_id": SET, "save": {"scenario_set_id": f"c-{uuid.uuid4().hex[:8]}"}}
    assert writes.post("/v1/calibrate", json=body, headers=bearer(reader)).status_code == 403
    name, writer = make_key(url, "writer")
    saved = writes.post("/v1/calibrate", json=body, headers=bearer(writer))
    assert saved.status_code == 200, saved.text
    stored = writes.get(saved.json()["saved"]["location"]).json()
    assert stored["created_by"] == name


def test_no_token_is_ever_logged_or_stored(
    writes: TestClient, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _, token = make_key(url, "writer")
    with caplog.at_level(logging.DEBUG):
        writes.post("/v1/scenario-sets", json=document(writes), headers=bearer(token))
        writes.get("/v1/scenario-sets", headers=bearer(token + "x"))
    assert caplog.records  # the access log did write
    assert all(
        token not in record.getMessage() and token not in str(record.__dict__)
        for record in caplog.records
    )
    database = Path(url.removeprefix("sqlite:///"))
    for path in (database, database.with_name(database.name + "-wal")):
        if path.exists():
            assert token.encode() not in path.read_bytes()
