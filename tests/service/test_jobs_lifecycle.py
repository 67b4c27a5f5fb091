"""Jobs on a real ``fxscen serve``: a running job cancelled, and one cut off by ``kill -9``.

Witnesses: the job's own counts (lines done against the book's), the state after a restart
on the same store, and a finished job's result read back byte for byte after it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from service.schemas.results import BUILTIN_SET
from tests.service.served import served

FINISHED = {"done", "failed", "cancelled", "interrupted"}


def big_book(path: Path, n: int) -> bytes:
    rng = np.random.default_rng(3)
    table = pa.table({
        "kind": np.array(["call", "put", "forward"])[rng.integers(0, 3, n)],
        "strike": np.round(rng.uniform(130.0, 160.0, n), 2),
        "tenor": np.array(["1M", "3M", "6M"])[rng.integers(0, 3, n)],
    })  # fmt: skip
    pacsv.write_csv(table, path)
    return path.read_bytes()


def wait_for(http: httpx.Client, location: str, ok: Any, timeout: float = 120.0) -> dict[str, Any]:
    """Poll the job until ``ok(job)`` holds (bounded; a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        job = http.get(location).json()
        if ok(job):
            return job
        assert time.monotonic() < deadline, job
        pause.wait(0.02)


def start(http: httpx.Client, book: bytes, chunk_lines: int) -> str:
    upload = http.post("/v1/books", content=book, headers={"content-type": "text/csv"})
    assert upload.status_code == 201, upload.text
    job = http.post("/v1/jobs", json={"scenario_set_id": BUILTIN_SET, "book_id": upload.json()["id"],
                                      "chunk_lines": chunk_lines})  # fmt: skip
    assert job.status_code == 202, job.text
    return str(job.headers["location"])


def test_a_running_job_is_cancelled_between_chunks(tmp_path: Path) -> None:
    env = {"FXSCEN_DATABASE_URL": f"sqlite:///{tmp_path}/s.sqlite", "FXSCEN_AUTH": "off"}
    book = big_book(tmp_path / "big.csv", 300_000)
    with served(env=env) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        location = start(http, book, 2_000)
        wait_for(http, location, lambda j: j["progress"]["lines_done"] > 0)
        assert http.delete(location).status_code == 202
        job = wait_for(http, location, lambda j: j["state"] in FINISHED)
        assert job["state"] == "cancelled", job
        assert 0 < job["progress"]["lines_done"] < 300_000
        # a cancelled run keeps what it priced: the lines before the cancel, in book order
        partial = http.get(f"{location}/result", headers={"accept": "application/x-ndjson"})
        assert len(partial.text.splitlines()) == job["progress"]["lines_done"]


def test_a_job_cut_off_by_kill_9_is_interrupted_after_a_restart(tmp_path: Path) -> None:
    env = {"FXSCEN_DATABASE_URL": f"sqlite:///{tmp_path}/s.sqlite", "FXSCEN_AUTH": "off"}
    small = big_book(tmp_path / "small.csv", 50)
    book = big_book(tmp_path / "big.csv", 300_000)
    with served(env=env) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        finished = start(http, small, 10)
        wait_for(http, finished, lambda j: j["state"] == "done")
        kept = http.get(f"{finished}/result", headers={"accept": "application/vnd.apache.parquet"})
        location = start(http, book, 2_000)
        wait_for(http, location, lambda j: j["progress"]["lines_done"] > 0)
        server.process.kill()  # kill -9: no shutdown, the job's process dies with it
        server.process.wait(timeout=30)
    with served(env=env) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        job = http.get(location).json()
        assert job["state"] == "interrupted", job
        assert "stopped" in job["message"]
        again = http.get(f"{finished}/result", headers={"accept": "application/vnd.apache.parquet"})
        assert again.content == kept.content and again.status_code == 200
