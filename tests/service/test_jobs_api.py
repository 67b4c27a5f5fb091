"""Jobs over HTTP, in process: upload, submit, progress, results by Accept, cancel, errors.

Witnesses: ``POST /v1/price`` on the same lines (every result's figures), the book (counts),
and the formats against each other (the same table as Parquet, CSV, JSON and JSON lines).
The runner is the real one (a child process per job on the test's SQLite store).
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.schemas.results import BUILTIN_SET
from service.settings import Settings
from tests.batch.test_batch_books import LINES, PATHS, write_csv, write_parquet

FINISHED = {"done", "failed", "cancelled", "interrupted"}


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path_factory.mktemp('jobs')}/jobs.sqlite"
    with TestClient(create_app(Settings(database_url=url, auth="off"))) as c:
        yield c


def wait_until_finished(
    client: TestClient, location: str, timeout: float = 120.0
) -> dict[str, Any]:
    """Poll the job until it has finished (a condition with a bound, not a sleep)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        job = client.get(location).json()
        if job["state"] in FINISHED or time.monotonic() > deadline:
            return job
        pause.wait(0.05)


def submit(client: TestClient, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "queued"
    return response.headers["location"], response.json()


def test_an_inline_job_gives_the_apis_figures_in_every_format(
    jobs: TestClient, client: TestClient
) -> None:
    location, _ = submit(jobs, {"scenario_set_id": BUILTIN_SET, "instruments": LINES,
                                "paths": PATHS, "chunk_lines": 4})  # fmt: skip
    job = wait_until_finished(jobs, location)
    assert job["state"] == "done", job["message"]
    assert job["progress"]["lines_done"] == job["progress"]["lines_total"] == len(LINES)
    assert set(job["files"]) == {"results", "errors", "totals"}
    api = client.post("/v1/price", json={"scenario_set_id": BUILTIN_SET, "instruments": LINES,
                                         "paths": PATHS}).json()  # fmt: skip
    as_json = jobs.get(f"{location}/result", headers={"accept": "application/json"}).json()
    assert [r["value"] for r in as_json["lines"]] == [r["value"] for r in api["results"]]
    assert [r["price"] for r in as_json["lines"]] == [r["price"] for r in api["results"]]
    assert as_json["totals"]["totals"]["value"] == pytest.approx(api["totals"]["value"], rel=1e-13)
    parquet = jobs.get(f"{location}/result", headers={"accept": "application/vnd.apache.parquet"})
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(parquet.content)).to_pylist()
    ndjson = jobs.get(f"{location}/result", headers={"accept": "application/x-ndjson"}).text
    rows = [json.loads(line) for line in ndjson.splitlines()]
    text = jobs.get(f"{location}/result", headers={"accept": "text/csv"}).text
    as_csv = list(csv.DictReader(io.StringIO(text)))
    assert (
        [r["value"] for r in table]
        == [r["value"] for r in rows]
        == [r["value"] for r in as_json["lines"]]
    )
    assert [float(r["value"]) for r in as_csv] == [r["value"] for r in table]
    totals = jobs.get(f"{location}/totals").json()
    assert totals == as_json["totals"]
    assert jobs.get(f"{location}/errors").text.strip() == '"row","point","field","reason"'


def test_an_uploaded_book_with_bad_lines_names_them(jobs: TestClient, tmp_path: Path) -> None:
    lines = [LINES[0], {"kind": "put", "strike": -1.0, "tenor": "1M"}, LINES[4]]
    book = write_csv(tmp_path / "b.csv", lines)
    upload = jobs.post("/v1/books", content=book.read_bytes(), headers={"content-type": "text/csv"})
    assert upload.status_code == 201, upload.text
    assert upload.json()["lines"] == 3 and upload.headers["location"].endswith(upload.json()["id"])
    assert jobs.get(upload.headers["location"]).json()["sha256"] == upload.json()["sha256"]
    location, _ = submit(jobs, {"scenario_set_id": BUILTIN_SET, "book_id": upload.json()["id"]})
    job = wait_until_finished(jobs, location)
    assert (job["state"], job["progress"]["errors"]) == ("done", 1)
    errors = list(csv.DictReader(io.StringIO(jobs.get(f"{location}/errors").text)))
    assert [(e["row"], e["field"]) for e in errors] == [("1", "strike")]


def test_a_sweep_job_keeps_its_cube(jobs: TestClient, client: TestClient) -> None:
    location, _ = submit(jobs, {"scenario_set_id": BUILTIN_SET, "instruments": LINES[:5],
                                "sweep": [{"axis": "probability", "scenario": "no_deal",
                                           "values": [0.1, 0.4]}]})  # fmt: skip
    job = wait_until_finished(jobs, location)
    assert job["state"] == "done" and job["links"]["cube"] == f"{location}/cube"
    cube = jobs.get(f"{location}/cube", headers={"accept": "application/json"}).json()["rows"]
    api = client.post("/v1/price", json={"scenario_set_id": BUILTIN_SET, "instruments": LINES[:5],
                                         "overrides": {"probabilities": {"no_deal": 0.4}}}).json()  # fmt: skip
    point = [r for r in cube if r["point"] == 1]
    assert point[0]["value"] == pytest.approx(api["totals"]["value"], rel=1e-12)


def test_a_parquet_upload_and_the_media_types_refused(jobs: TestClient, tmp_path: Path) -> None:
    book = write_parquet(tmp_path / "b.parquet", LINES[:3])
    ok = jobs.post("/v1/books", content=book.read_bytes(),
                   headers={"content-type": "application/vnd.apache.parquet"})  # fmt: skip
    assert ok.status_code == 201 and ok.json()["format"] == "parquet"
    sniffed = jobs.post("/v1/books", content=book.read_bytes(),
                        headers={"content-type": "application/octet-stream"})  # fmt: skip
    assert sniffed.status_code == 201 and sniffed.json()["format"] == "parquet"
    assert sniffed.json()["sha256"] == ok.json()["sha256"]
    as_bytes = jobs.post("/v1/books", content=b"kind,strike,tenor\ncall,150,3M\n",
                         headers={"content-type": "application/octet-stream"})  # fmt: skip
    assert as_bytes.status_code == 201 and as_bytes.json()["format"] == "csv"
    refused = jobs.post("/v1/books", content=b"x", headers={"content-type": "image/png"})
    assert refused.status_code == 415 and refused.json()["errors"][0]["field"] == "content-type"
    misspelt = jobs.post("/v1/books", content=b"kind,stike\ncall,150\n",
                         headers={"content-type": "text/csv"})  # fmt: skip
    assert misspelt.status_code == 422 and misspelt.json()["errors"][0]["field"] == "book.stike"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"scenario_set_id": "no-such-set", "instruments": LINES[:1]}, 404, "scenario_set_id"),
        ({"scenario_set_id": BUILTIN_SET}, 422, "book_id"),
        ({"scenario_set_id": BUILTIN_SET, "book_id": "nope", "instruments": LINES[:1]}, 422, "book_id"),
        ({"scenario_set_id": BUILTIN_SET, "book_id": "nope"}, 404, "book_id"),
        ({"scenario_set_id": BUILTIN_SET, "instruments": LINES[:1],
          "sweep": [{"axis": "probability", "scenario": "nope", "values": [0.1]}]}, 422, "sweep[0].scenario"),
        ({"scenario_set_id": BUILTIN_SET, "instruments": [{"kind": "call"}]}, 422, "instruments[0].strike"),
        ({"scenario_set_id": BUILTIN_SET, "instruments": LINES[:1], "measure": "x"}, 422, "measure"),
    ],
)  # fmt: skip
def test_a_job_that_cannot_run_is_refused_before_it_is_queued(
    jobs: TestClient, body: dict[str, Any], status: int, field: str
) -> None:
    before = len(jobs.get("/v1/jobs").json()["jobs"])
    response = jobs.post("/v1/jobs", json=body)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field
    assert len(jobs.get("/v1/jobs").json()["jobs"]) == before


def test_a_queued_job_is_cancelled_at_once_and_has_no_result(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/q.sqlite"
    with TestClient(create_app(Settings(database_url=url, auth="off", job_runner=False))) as c:
        location, _ = submit(c, {"scenario_set_id": BUILTIN_SET, "instruments": LINES[:2]})
        early = c.get(f"{location}/result")
        assert early.status_code == 409 and "queued" in early.json()["detail"]
        cancelled = c.delete(location)
        assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
        again = c.delete(location)
        assert again.status_code == 409
        assert c.get("/v1/jobs/unknown").status_code == 404
        assert c.get(f"{location}/result", headers={"accept": "image/png"}).status_code == 406


def test_jobs_need_a_writer_key_to_submit_and_cancel(client: TestClient) -> None:
    """The session's app runs FXSCEN_AUTH=writes: reads open, writes keyed."""
    response = client.post(
        "/v1/jobs", json={"scenario_set_id": BUILTIN_SET, "instruments": LINES[:1]}
    )
    assert response.status_code == 401
    assert (
        client.post(
            "/v1/books", content=b"kind\ncall\n", headers={"content-type": "text/csv"}
        ).status_code
        == 401
    )
    assert client.delete("/v1/jobs/x").status_code == 401
    assert client.get("/v1/jobs").status_code == 200


def test_extreme_numbers_in_a_job_get_a_named_4xx_or_a_queued_job(tmp_path: Path) -> None:
    """Every number of the OpenAPI example replaced by zero, negatives, extreme doubles and
    wrong types: a 4xx naming a field, or 202 (on an app that runs no job)."""
    from tests.service.json_checks import numeric_leaves
    from tests.service.test_no_server_errors import EXTREMES

    url = f"sqlite:///{tmp_path}/x.sqlite"
    with TestClient(create_app(Settings(database_url=url, auth="off", job_runner=False))) as c:
        spec = c.get("/openapi.json").json()
        example = spec["components"]["schemas"]["JobIn"]["examples"][0]
        assert submit(c, example)[1]["state"] == "queued"  # the example runs as pasted
        sent = 0
        for path in numeric_leaves(example):
            for value in EXTREMES:
                body = json.loads(json.dumps(example))
                target = body
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
                response = c.post("/v1/jobs", json=body)
                where = f"{path} = {value!r}: {response.status_code} {response.text[:200]}"
                assert response.status_code in (202, 404, 413, 422), where
                if response.status_code != 202:
                    assert response.json()["errors"][0]["field"], where
                sent += 1
        assert sent > 0
