"""The README's curl example shows what the service answers today.

Witness: the service itself, on the README's own request body; the README's output block is
"real output (abridged)", so every figure it shows must be in the live answer (to 1e-12
relative: the last digits may move with the platform's libm).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> tuple[dict[str, Any], dict[str, Any]]:
    text = README.read_text()
    request = re.search(r"curl -s -X POST localhost:8000/v1/price .*?-d '(\{.*?\})'", text, re.S)
    shown = re.search(r"```json\n(\{.*?\})\n```", text, re.S)
    assert request and shown, "the README's curl example or its output block is missing"
    return json.loads(request.group(1)), json.loads(shown.group(1))


def _same(shown: Any, live: Any, path: str) -> None:
    if isinstance(shown, dict):
        for key, value in shown.items():
            assert key in live, f"{path}.{key} is in the README but not in the answer"
            _same(value, live[key], f"{path}.{key}")
    elif isinstance(shown, list):
        assert len(shown) == len(live), path
        for i, (a, b) in enumerate(zip(shown, live, strict=True)):
            _same(a, b, f"{path}[{i}]")
    elif isinstance(shown, float) and not isinstance(shown, bool):
        assert math.isclose(shown, live, rel_tol=1e-12, abs_tol=1e-15), (path, shown, live)
    else:
        assert shown == live, (path, shown, live)


def test_readme_curl_output_is_what_the_service_answers(client: TestClient) -> None:
    request, shown = _example()
    response = client.post("/v1/price", json=request)
    assert response.status_code == 200, response.text
    _same(shown, response.json(), "$")
