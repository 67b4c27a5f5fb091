"""Request ids (:mod:`service.request_context`): accepted, echoed, generated, in problems.

Witnesses: the id the client sent (echoed in the header and the problem body, on the
framework's path and on the price lane's); the uuid module for the shape of a generated id;
the rule a bad id breaks.
"""

from __future__ import annotations

import uuid
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.app import create_app
from service.problems import problem_body
from service.request_context import accepted_request_id, new_request_id
from service.settings import Settings

SET_ID = "us-japan-tariff-2025-07-09"


def price_body(strike: float) -> dict[str, object]:
    return {
        "scenario_set_id": SET_ID,
        "instruments": [{"kind": "call", "strike": strike, "tenor": "3M"}],
    }


def is_generated(request_id: str) -> bool:
    return len(request_id) == 32 and uuid.UUID(hex=request_id).version == 4


def test_a_problem_body_carries_the_id_the_client_sent(client: TestClient) -> None:
    response = client.get("/v1/scenario-sets/nope", headers={"X-Request-ID": "desk-42.a:b/c"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "desk-42.a:b/c"
    assert response.json()["request_id"] == "desk-42.a:b/c"


def test_a_problem_from_a_request_the_lane_passed_on_carries_the_id(client: TestClient) -> None:
    response = client.post("/v1/price", json=price_body(-1.0), headers={"X-Request-ID": "r-1"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "instruments[0].strike"
    assert response.json()["request_id"] == "r-1"
    assert response.headers["x-request-id"] == "r-1"


def test_lane_answers_echo_each_request_its_own_id() -> None:
    """A cached answer's headers are shared between requests: each gets only its own id."""
    with TestClient(create_app(Settings(response_cache_bytes=2**20))) as client:
        body = price_body(149.876543)
        valued = client.post("/v1/price", json=body, headers={"X-Request-ID": "first"})
        cached = client.post("/v1/price", json=body, headers={"X-Request-ID": "second"})
        again = client.post("/v1/price", json=body)
        assert cast(FastAPI, client.app).state.price_lane.cached >= 2
    assert valued.status_code == cached.status_code == again.status_code == 200
    assert valued.headers.get_list("x-request-id") == ["first"]
    assert cached.headers.get_list("x-request-id") == ["second"]
    assert len(again.headers.get_list("x-request-id")) == 1
    assert is_generated(again.headers["x-request-id"])
    assert cached.content == valued.content


def test_without_an_id_each_response_gets_a_new_uuid4(client: TestClient) -> None:
    ids = [client.get("/v1/health").headers["x-request-id"] for _ in range(3)]
    assert all(is_generated(i) for i in ids)
    assert len(set(ids)) == 3


@pytest.mark.parametrize(
    "sent",
    ["two words", "x" * 129, "tab\there", "bell\x07", "", "caf\xe9"],
    ids=["space", "129-chars", "tab", "control", "empty", "not-ascii"],
)
def test_a_bad_id_is_replaced(client: TestClient, sent: str) -> None:
    response = client.get(
        "/v1/scenario-sets/nope", headers=[(b"x-request-id", sent.encode("latin-1"))]
    )
    echoed = response.headers["x-request-id"]
    assert echoed != sent and is_generated(echoed)
    assert response.json()["request_id"] == echoed


def test_an_id_of_128_printable_characters_is_kept(client: TestClient) -> None:
    sent = "".join(chr(33 + i % 94) for i in range(128))  # every printable, no space
    assert client.get("/v1/health", headers={"X-Request-ID": sent}).headers["x-request-id"] == sent


def test_accepted_request_id_takes_printable_ascii_tokens_only() -> None:
    assert accepted_request_id(b"abc-DEF_123") == "abc-DEF_123"
    assert accepted_request_id(b"~!") == "~!"
    for bad in (b"", b"a b", b"a\x00", b"a\x7f", b"\xff", b"x" * 129):
        assert accepted_request_id(bad) is None, bad


def test_new_request_ids_are_uuid4_hex() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_generated(i) and uuid.UUID(hex=i).variant == uuid.RFC_4122 for i in ids)


def test_a_problem_outside_a_request_has_no_request_id() -> None:
    """The CLI's ``fxscen price`` builds problem bodies outside any request."""
    body = problem_body(422, "invalid", "Invalid request", [{"field": "x", "reason": "bad"}])
    assert "request_id" not in body
