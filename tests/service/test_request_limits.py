"""Limits on request bodies before anything parses them (:mod:`service.request_guard`), and
strict numbers in every request schema (:mod:`service.schemas.common`).

Witnesses: what the app read from the client (a ``receive`` that counts the bytes it handed
over), the status and the field each problem names, and the parser's own count of what it
parsed. Each test is a repro from the issue ("hold up in production").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service import request_guard
from service.app import create_app
from service.request_guard import check_json, nesting_depth
from service.settings import Settings

SET = "us-japan-tariff-2025-07-09"
JSON = {"content-type": "application/json"}
MiB = 2**20


def book(**line: Any) -> dict[str, Any]:
    return {
        "scenario_set_id": SET,
        "instruments": [{"kind": "call", "strike": 150.0, "tenor": "3M", **line}],
    }


@pytest.fixture(scope="module")
def service() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(response_cache_bytes=MiB))) as client:
        yield client


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


class CountingClient:
    """An ASGI client whose body is ``total`` bytes in ``chunk``-byte messages, made as they
    are asked for; ``read`` counts what the app took."""

    def __init__(self, total: int, chunk: int = MiB) -> None:
        self.total = total
        self.chunk = b"x" * chunk
        self.read = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.read >= self.total:  # all sent: what a server gives next is a disconnect
            return {"type": "http.disconnect"}
        part = self.chunk[: self.total - self.read]
        self.read += len(part)
        return {"type": "http.request", "body": part, "more_body": self.read < self.total}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def post(self, app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, Any]]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/price",
            "raw_path": b"/v1/price",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), *headers],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        asyncio.run(app(scope, self.receive, self.send))
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        assert dict(start["headers"])[b"content-type"] == b"application/problem+json"
        return start["status"], json.loads(body)


def test_a_declared_length_over_the_limit_gets_413_before_any_byte_is_read() -> None:
    # Issue repro: a 106 MB body cost +2.2 GB and ~16 s of event loop before its 422
    settings = Settings()
    app = create_app(settings)
    client = CountingClient(settings.max_body_bytes + 2 * MiB)
    length = str(client.total).encode()
    status, problem = client.post(app, [(b"content-type", b"application/json"),
                                        (b"content-length", length)])  # fmt: skip
    assert status == 413 and client.read == 0
    assert problem["errors"][0]["field"] == "body"
    assert str(settings.max_body_bytes) in problem["errors"][0]["reason"]
    start = next(m for m in client.sent if m["type"] == "http.response.start")
    assert (b"connection", b"close") in start["headers"]  # the unread rest is never read


def test_a_chunked_body_gets_413_once_it_passes_the_limit() -> None:
    settings = Settings()
    app = create_app(settings)
    client = CountingClient(settings.max_body_bytes + 2 * MiB)
    status, problem = client.post(
        app, [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    )
    assert status == 413 and problem["errors"][0]["field"] == "body"
    # read up to the first chunk past the limit, never the 2 MiB beyond
    assert settings.max_body_bytes < client.read <= settings.max_body_bytes + MiB


def test_the_largest_allowed_book_fits_the_body_limit() -> None:
    settings = Settings()
    line = {"kind": "digital_call", "strike": 150.125, "tenor": "18M", "payout_currency": "JPY",
            "notional": 1000000.0, "label": "leg 099999"}  # fmt: skip
    size = len(json.dumps({"scenario_set_id": SET, "instruments": [line]}).encode())
    assert size * settings.max_instruments < settings.max_body_bytes


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_gets_415(service: TestClient, content_type: str | None) -> None:
    # Issue repro: text/plain bodies got a 422 (curl -d sends form-urlencoded)
    headers = {"content-type": content_type} if content_type else {}
    response = service.post("/v1/price", content=json.dumps(book()), headers=headers)
    if content_type is None:  # httpx adds none for raw bytes
        assert "content-type" not in response.request.headers
    problem = _problem(response, 415)
    assert problem["errors"][0]["field"] == "content-type"
    assert problem["type"].endswith("unsupported-media-type")


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=UTF-8", "application/problem+json"]
)
def test_json_media_types_are_accepted(service: TestClient, content_type: str) -> None:
    response = service.post(
        "/v1/price", content=json.dumps(book()), headers={"content-type": content_type}
    )
    assert response.status_code == 200, response.text


def test_json_in_another_charset_gets_415(service: TestClient) -> None:
    response = service.post(
        "/v1/price",
        content=json.dumps(book()).encode("utf-16"),
        headers={"content-type": "application/json; charset=utf-16"},
    )
    assert "charset" in _problem(response, 415)["errors"][0]["reason"]


def test_malformed_json_names_line_and_column(service: TestClient) -> None:
    # Issue repro: the reason gave only a character offset
    raw = '{\n  "scenario_set_id": "SET",\n  "instruments": [,]\n}'.replace("SET", SET)
    problem = _problem(service.post("/v1/price", content=raw, headers=JSON), 422)
    error = problem["errors"][0]
    assert error["field"] == "body"
    assert "line 3, column 19" in error["reason"], error


def test_text_that_is_not_utf8_gets_a_422_naming_the_body(service: TestClient) -> None:
    # was a 400 naming `path`: the framework could not decode the body
    raw = json.dumps(book(label="Pr\u00e9vost"), ensure_ascii=False).encode("latin-1")
    problem = _problem(service.post("/v1/price", content=raw, headers=JSON), 422)
    assert problem["errors"][0]["field"] == "body"
    assert "UTF-8" in problem["errors"][0]["reason"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"scenario_set_id": "%s", "instruments": [{"kind": "call", "strike": 150.0, '
         '"tenor": "3M", "strike": 1e9}]}', "instruments[0].strike"),
        ('{"scenario_set_id": "other", "scenario_set_id": "%s", "instruments": []}',
         "scenario_set_id"),
    ],
)  # fmt: skip
def test_a_repeated_key_gets_a_422_naming_its_path(
    service: TestClient, raw: str, field: str
) -> None:
    # Issue repro: the last of the repeated keys won, silently
    raw = raw.replace("%s", SET)
    problem = _problem(service.post("/v1/price", content=raw, headers=JSON), 422)
    assert problem["errors"][0]["field"] == field
    assert "once" in problem["errors"][0]["reason"]


def test_a_large_body_is_checked_as_a_small_one(service: TestClient) -> None:
    """Over 64 KiB the check runs on a worker thread: the same refusals, the same fields."""
    lines = [{"kind": "call", "strike": 120.0 + i * 0.01, "tenor": "3M"} for i in range(2000)]
    raw = json.dumps({"scenario_set_id": SET, "instruments": lines})
    assert len(raw) > 64 * 1024
    repeated = raw.replace('"tenor": "3M"}]', '"tenor": "3M", "tenor": "1M"}]')
    problem = _problem(service.post("/v1/price", content=repeated, headers=JSON), 422)
    assert problem["errors"][0]["field"] == "instruments[1999].tenor"
    long_integer = raw.replace("120.0", "1" * 5000, 1)
    problem = _problem(service.post("/v1/price", content=long_integer, headers=JSON), 422)
    assert problem["errors"][0]["field"] == "body" and "4300 digits" in problem["detail"]


def test_nesting_past_the_depth_limit_gets_a_422(service: TestClient) -> None:
    depth = Settings().max_json_depth
    deep: Any = 1.0
    for _ in range(depth):
        deep = [deep]
    too_deep = book()
    too_deep["instruments"][0]["strike"] = deep  # 2 levels above it: depth + 3 in all
    problem = _problem(service.post("/v1/price", json=too_deep), 422)
    assert problem["errors"][0]["field"] == "body"
    assert f"at most {depth} deep, got {depth + 3}" in problem["errors"][0]["reason"]
    # a very deep one stops json's recursion: refused all the same, not a 500
    raw = "[" * 100_000 + "]" * 100_000
    assert _problem(service.post("/v1/price", content=raw, headers=JSON), 422)


def test_depth_is_counted_outside_strings() -> None:
    assert nesting_depth(b'{"a": [{"b": "]]\\"[[{"}, []], "c": {}}') == 3
    assert nesting_depth(b"5") == 0 and nesting_depth(b"[]") == 1


def test_a_body_checked_once_is_not_parsed_again(
    service: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated body (a response-cache hit) costs no second parse."""
    calls: list[bytes] = []

    def counting(body: bytes, *, max_depth: int) -> None:
        calls.append(body)
        check_json(body, max_depth=max_depth)

    monkeypatch.setattr(request_guard, "check_json", counting)
    raw = json.dumps(book(strike=151.375)).encode()
    first = service.post("/v1/price", content=raw, headers=JSON)
    again = service.post("/v1/price", content=raw, headers=JSON)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content and calls == [raw]


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/v1/price", book(strike="150"), "instruments[0].strike"),
        ("/v1/price", book(notional=True), "instruments[0].notional"),
        ("/v1/calibrate", {"scenario_set_id": SET, "prior_weight": False}, "prior_weight"),
        ("/v1/calibrate", {"scenario_set_id": SET, "refit_levels": 1}, "refit_levels"),
        ("/v1/paths", {"scenario_set_id": SET, "tenor": "3M", "n_paths": "2000"}, "n_paths"),
        ("/v1/paths", {"scenario_set_id": SET, "tenor": "3M", "n_paths": 2000.5}, "n_paths"),
        ("/v1/price", book(expiry=20250912), "instruments[0].expiry"),
        ("/v1/price", book(expiry="20250912"), "instruments[0].expiry"),
    ],
)
def test_strings_and_bools_are_not_numbers(
    service: TestClient, route: str, body: dict[str, Any], field: str
) -> None:
    # Issue repro: "150" was read as a number, false as a float (prior_weight)
    problem = _problem(service.post(route, json=body), 422)
    assert [e["field"] for e in problem["errors"]] == [field], problem


def test_an_integer_is_a_fine_float_and_iso_dates_and_enum_values_are_read(
    service: TestClient,
) -> None:
    response = service.post("/v1/price", json=book(strike=150, tenor=None, expiry="2025-09-12"))
    assert response.status_code == 200, response.text
    line = response.json()["results"][0]
    assert (line["strike"], line["expiry"], line["kind"]) == (150.0, "2025-09-12", "call")


def test_a_date_outside_the_calendar_names_the_field(service: TestClient) -> None:
    problem = _problem(service.post("/v1/price", json=book(expiry="1850-01-01", tenor=None)), 422)
    assert problem["errors"][0]["field"] == "instruments[0].expiry"
    assert "between 1901-01-01 and 2199-12-31" in problem["errors"][0]["reason"]
