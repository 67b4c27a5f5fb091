"""The CLI prices a file exactly as the API prices the same body, and reports problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.cli import main

BODY = {
    "scenario_set_id": "us-japan-tariff-2025-07-09",
    "instruments": [
        {"kind": "put", "strike": 140.0, "tenor": "3M"},
        {"kind": "digital_call", "strike": 155.0, "tenor": "1M", "payout_currency": "USD"},
    ],
}


def test_cli_price_equals_the_api(
    client: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "book.json"
    path.write_text(json.dumps(BODY))
    assert main(["price", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == client.post("/v1/price", json=BODY).json()


def test_cli_reports_a_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({**BODY, "instruments": [{"kind": "put", "strike": -1, "tenor": "3M"}]})
    )
    assert main(["price", str(path)]) == 2
    problem = json.loads(capsys.readouterr().err)
    assert problem["errors"][0]["field"] == "instruments[0].strike"
