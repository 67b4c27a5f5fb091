"""JSON logs (:mod:`service.logs`): every line one object, carrying its request's id.

Witnesses: ``json.loads`` on every line written; the ids the test sends with its requests;
a real uvicorn server configured with :func:`service.logs.log_config`, as ``fxscen serve``
runs it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.logs import JsonFormatter, log_config


def lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as JSON (fails on any line that is not one object)."""
    parsed = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(entry, dict) for entry in parsed)
    return parsed


@pytest.fixture
def json_logging() -> Iterator[io.StringIO]:
    """The root logger writing :class:`JsonFormatter` lines to a buffer, as
    :func:`log_config` sets it up (applying that dictionary here would close pytest's own
    log handlers: ``dictConfig`` closes every existing handler), undone afterwards."""
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_record_is_one_json_object_with_the_fields() -> None:
    record = logging.LogRecord("service.x", logging.WARNING, __file__, 1, "a %s b", ("1",), None)
    record.created = dt.datetime(2025, 7, 9, 12, 30, 1, 250_000, tzinfo=dt.UTC).timestamp()
    record.msecs = 250.0
    record.strike = 150.0  # as ``extra=`` sets it
    entry = json.loads(JsonFormatter().format(record))
    assert entry == {
        "timestamp": "2025-07-09T12:30:01.250Z",
        "level": "WARNING",
        "logger": "service.x",
        "message": "a 1 b",
        "request_id": None,
        "strike": 150.0,
    }
    assert dt.datetime.fromisoformat(entry["timestamp"]).utcoffset() == dt.timedelta(0)


def test_an_exception_is_kept_in_the_line() -> None:
    try:
        raise ValueError("strike (-1) must be positive")
    except ValueError:
        record = logging.LogRecord("s", logging.ERROR, __file__, 1, "m", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: strike (-1) must be positive" in entry["exception"]


def test_every_line_carries_the_id_of_its_request(
    json_logging: io.StringIO,
) -> None:
    app = create_app()

    @app.get("/v1/test-boom")
    async def boom() -> None:
        logging.getLogger("service.test").info("about to fail")
        raise RuntimeError("planted")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/v1/health", headers={"X-Request-ID": "h-1"}).status_code == 200
        failed = client.get("/v1/test-boom", headers={"X-Request-ID": "b-2"})
        body = {"scenario_set_id": "us-japan-tariff-2025-07-09",
                "instruments": [{"kind": "call", "strike": 150.5, "tenor": "3M"}]}  # fmt: skip
        priced = client.post("/v1/price", json=body, headers={"X-Request-ID": "p-3"})
    assert failed.status_code == 500 and priced.status_code == 200
    entries = lines(json_logging.getvalue())
    access = [e for e in entries if e["logger"] == "service.access"]
    assert [(e["request_id"], e["method"], e["path"], e["status"]) for e in access] == [
        ("h-1", "GET", "/v1/health", 200),
        ("b-2", "GET", "/v1/test-boom", 500),
        ("p-3", "POST", "/v1/price", 200),  # answered by the lane, logged all the same
    ]
    assert all(e["duration_ms"] > 0 and e["level"] == "INFO" for e in access)
    in_request = [e for e in entries if e["logger"] in ("service.test", "service")]
    assert [e["request_id"] for e in in_request] == ["b-2", "b-2"]
    assert "RuntimeError: planted" in in_request[1]["exception"]


def test_the_access_log_can_be_turned_off() -> None:
    config = log_config("info", access_log=False)
    assert config["loggers"]["service.access"]["level"] > logging.INFO
    assert log_config("warning")["loggers"]["service.access"]["level"] > logging.INFO
    assert log_config("info")["loggers"]["uvicorn.access"]["propagate"] is False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVE = """
import sys, uvicorn
from service.logs import log_config
uvicorn.run("service.app:create_app", factory=True, host="127.0.0.1", port=int(sys.argv[1]),
            log_config=log_config("info"), access_log=False)
"""


def test_uvicorn_writes_json_lines_with_request_ids() -> None:
    """A real server, configured as ``fxscen serve`` configures it."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)], stderr=subprocess.PIPE, text=True
    )
    seen: list[str] = []
    try:
        assert server.stderr is not None
        for line in server.stderr:  # blocks until the server says it is listening
            seen.append(line)
            if "Uvicorn running on" in line:
                break
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.get("/v1/ready", headers={"X-Request-ID": "u-1"}).status_code == 200
            assert http.get("/v1/nope", headers={"X-Request-ID": "u-2"}).status_code == 404
    finally:
        server.terminate()
        _, rest = server.communicate(timeout=60)
    entries = lines("".join(seen) + rest)
    started = [e for e in entries if e["logger"] == "uvicorn.error"]
    assert any("Uvicorn running on" in e["message"] for e in started)
    assert all(e["request_id"] is None for e in started)  # outside any request
    access = [(e["request_id"], e["path"], e["status"]) for e in entries if "status" in e]
    assert access == [("u-1", "/v1/ready", 200), ("u-2", "/v1/nope", 404)]
    assert not [e for e in entries if e["logger"] == "uvicorn.access"]  # replaced, not doubled
