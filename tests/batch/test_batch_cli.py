"""``fxscen batch`` from the command line: files, progress, summary and exit statuses.

Witnesses: ``POST /v1/price`` on the same lines (the figures), the book itself (counts).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from scenarios.errors import DomainError
from service.batch.spec import reference
from service.cli import main
from service.cli_batch import progress_line
from service.schemas.results import BUILTIN_SET
from tests.batch.test_batch_books import LINES, write_csv

ROOT = Path(__file__).resolve().parents[2]


def test_batch_writes_results_errors_and_totals_and_exits_0(
    tmp_path: Path, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    fx = LINES[:5]
    book = write_csv(tmp_path / "book.csv", fx * 3)
    out = tmp_path / "results.parquet"
    status = main(["batch", str(book), "--scenario-set", f"{BUILTIN_SET}@1", "--out", str(out),
                   "--chunk-lines", "4"])  # fmt: skip
    assert status == 0
    err = capsys.readouterr().err
    # not a terminal: plain progress lines, then the summary
    assert "lines 15/15 (100.0%), 0 refused" in err and "lines/s" in err
    assert "priced 15 of 15 lines" in err
    api = client.post("/v1/price", json={"scenario_set_id": BUILTIN_SET, "instruments": fx * 3})
    rows = pq.read_table(out).to_pylist()
    assert [r["value"] for r in rows] == [r["value"] for r in api.json()["results"]]
    totals = json.loads((tmp_path / "results.totals.json").read_text())
    assert totals["sources"]["scenario_set"]["version"] == 1
    assert totals["totals"]["value"] == pytest.approx(api.json()["totals"]["value"], rel=1e-13)
    assert (tmp_path / "results.errors.csv").read_text().strip() == '"row","point","field","reason"'


def test_batch_exits_1_when_lines_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = write_csv(
        tmp_path / "book.csv", [LINES[0], {"kind": "put", "strike": 0.0, "tenor": "1M"}]
    )
    status = main(["batch", str(book), "--scenario-set", BUILTIN_SET, "--out",
                   str(tmp_path / "r.csv"), "--quiet"])  # fmt: skip
    assert status == 1
    err = capsys.readouterr().err
    assert "priced 1 of 2 lines" in err and "1 refused" in err and "lines/s" in err


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--scenario-set", "no-such-set"], "scenario_set_id"),
        (["--scenario-set", f"{BUILTIN_SET}@0"], "--scenario-set"),
        (["--scenario-set", BUILTIN_SET, "--market", "m@x"], "--market"),
        (["--scenario-set", BUILTIN_SET, "--paths", "{"], "--paths"),
    ],
)
def test_a_run_that_cannot_start_exits_2_with_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], field: str
) -> None:
    book = write_csv(tmp_path / "book.csv", LINES[:1])
    assert main(["batch", str(book), "--out", str(tmp_path / "r.csv"), *args]) == 2
    problem = json.loads(capsys.readouterr().err)
    assert problem["errors"][0]["field"] == field


def test_the_installed_command_runs_a_book(tmp_path: Path) -> None:
    """As a user runs it: a new process, the output's suffix choosing JSON lines."""
    book = write_csv(tmp_path / "book.csv", LINES[:3])
    out = tmp_path / "r.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "batch", str(book), "--scenario-set", BUILTIN_SET,
         "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 3
    assert "priced 3 of 3 lines" in done.stderr


def test_references_and_the_progress_line() -> None:
    assert reference("desk-view@12", "x") == ("desk-view", 12)
    with pytest.raises(DomainError, match=r"must be ID or ID@VERSION"):
        reference("desk@view", "--scenario-set")
    assert reference("plain", "x") == ("plain", None)

    class P:
        lines_done, lines_total, errors = 250, 1000, 3
        lines_per_second, eta_seconds = 500.0, 1.5

    assert progress_line(P()) == "lines 250/1,000 (25.0%), 3 refused, 500 lines/s, ETA 1.5 s"


def test_on_a_terminal_the_progress_is_a_bar() -> None:
    """A stream that says it is a terminal gets tqdm's bar (lines, rate), not the line."""
    import io

    from service.batch.run import Progress
    from service.cli_batch import ProgressPrinter

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    printer = ProgressPrinter(stream)
    for done in (100_000, 200_000):
        printer(Progress(done, 400_000, 2, done / 1e6, 1e6, (400_000 - done) / 1e6))
    printer.close()
    text = stream.getvalue()
    assert "200k/400k" in text and "lines" in text and "errors=2" in text
    assert "refused" not in text  # not the plain line
