"""Schemathesis over every operation of the app, in process: what the OpenAPI document
allows is generated, and every answer is checked against the document.

Checks: no 5xx (``not_a_server_error``), every status declared for its operation
(``status_code_conformance``), every content type declared for its status
(``content_type_conformance``), every body valid against its declared schema
(``response_schema_conformance``). Examples per operation are bounded (``EXAMPLES``), and
the service runs with small Monte Carlo limits, so the run takes well under a minute; the
seed is fixed (the suite's hypothesis profile derandomizes), so a failure comes back.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.settings import Settings

EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# limits small enough that no generated request runs for long; every rule is still applied
APP = create_app(
    Settings(
        response_cache_bytes=0,
        max_instruments=50,
        max_paths=20_000,  # the examples' 20,000 paths
        max_steps=400,
        max_sample_paths=20,
        max_path_steps=3_000_000,
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schemathesis.serializer("application/vnd.apache.parquet")
def _parquet(ctx: Any, value: Any) -> bytes:
    """A book upload's body: the generated value's bytes as they come (any bytes a client
    may send; the service must refuse what is not a Parquet book with a declared 4xx)."""
    if isinstance(value, bytes):
        return value
    return str(value).encode()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_answer_conforms_to_the_document(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)
