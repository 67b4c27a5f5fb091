"""Batch runs on book files: the same figures as ``POST /v1/price`` on the same lines.

Witness: the API itself (``POST /v1/price``, whose figures are checked against QuantLib,
closed forms and parity in tests/service and tests/pricing). A batch run prices clean FX
lines as columns (service/batch/fx_lines.py) and every other line through the API's own
code, so each line's figures must be the API's bit for bit, and the book's totals the
API's to rounding (both are compensated sums; the batch adds chunks exactly).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from scenarios.errors import DomainError
from service.batch.results import flatten_result
from service.batch.run import run_batch
from service.batch.spec import RunSpec
from service.schemas.results import BUILTIN_SET

# a mixed book: every FX European kind, both sides, both digital currencies, dated and
# tenor expiries, a given delivery, a strike in desk terms, a touch, a barrier and a CDS
LINES: list[dict[str, Any]] = [
    {"kind": "call", "strike": 150.0, "tenor": "3M", "notional": 1e6, "label": "c",
     "tags": {"desk": "g10"}},
    {"kind": "put", "strike": 140.0, "expiry": "2025-09-12", "notional": 2e6, "side": "sell",
     "tags": {"desk": "g10"}},
    {"kind": "digital_call", "strike": 155.0, "tenor": "1M", "payout_currency": "JPY",
     "notional": 1e8},
    {"kind": "digital_put", "strike": 138.5, "tenor": "6M", "payout_currency": "USD",
     "side": "sell", "notional": 1e5},
    {"kind": "forward", "strike": 145.0, "tenor": "1Y", "notional": 3e6},
    {"kind": "call", "strike": "25D", "tenor": "3M", "notional": 1e6, "tags": {"desk": "em"}},
    {"kind": "put", "strike": 147.25, "expiry": "2025-07-08", "delivery": "2025-07-15"},
    {"kind": "one_touch", "direction": "up", "barrier": 155.0, "cash": 1.0, "tenor": "3M",
     "notional": 1e6, "pay_at_hit": True},
    {"kind": "barrier", "option_type": "call", "barrier_type": "up_and_out", "strike": 145.0,
     "barrier": 160.0, "tenor": "1M", "notional": 1e6},
    {"kind": "cds", "entity": "nissan", "tenor": "5Y", "notional": 1e7, "side": "sell",
     "tags": {"desk": "credit"}},
    {"kind": "call", "strike": 210.0, "tenor": "2Y", "notional": 5e5},
]  # fmt: skip
PATHS = {"n_paths": 4000, "seed": 11}
COLUMNS = ("kind", "side", "notional", "label", "strike", "expiry", "tenor", "delivery",
           "payout_currency", "option_type", "barrier_type", "barrier", "direction", "cash",
           "pay_at_hit", "entity", "tag.desk")  # fmt: skip


def write_csv(path: Path, lines: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for line in lines:
            cells = {**line, **{f"tag.{k}": v for k, v in line.get("tags", {}).items()}}
            w.writerow([_cell(cells.get(c)) for c in COLUMNS])
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def write_parquet(path: Path, lines: list[dict[str, Any]]) -> Path:
    """Typed columns where a type fits (numbers, booleans), text for the rest."""

    def column(c: str) -> pa.Array:
        if c == "tag.desk":
            return pa.array([line.get("tags", {}).get("desk") for line in lines], pa.string())
        values = [line.get(c) for line in lines]
        if c in ("notional", "barrier", "cash"):
            return pa.array(values, pa.float64())
        if c == "pay_at_hit":
            return pa.array(values, pa.bool_())
        return pa.array([None if v is None else str(v) for v in values], pa.string())

    pq.write_table(pa.table({c: column(c) for c in COLUMNS}), path)
    return path


def api_price(client: TestClient, lines: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post(
        "/v1/price", json={"scenario_set_id": BUILTIN_SET, "instruments": lines, "paths": PATHS}
    )
    assert response.status_code == 200, response.text
    return response.json()


def run(book: Path, out: Path, **kw: Any) -> Any:
    spec = RunSpec(sources={"scenario_set_id": BUILTIN_SET}, paths=PATHS, **kw)
    return run_batch(spec, book, out)


def rows_of(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    with path.open() as f:
        return list(csv.DictReader(f))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


RUN_SETTINGS = {"n_paths", "seed", "sampling", "antithetic", "measure"}


def assert_lines_are_the_apis(rows: list[dict[str, Any]], body: dict[str, Any]) -> None:
    assert [r["row"] for r in rows] == list(range(len(body["results"])))
    for row, result in zip(rows, body["results"], strict=True):
        expected = flatten_result(result, row["row"])
        # a Monte Carlo line's settings are the run's, in the totals file
        missing = set(expected) - set(row) - RUN_SETTINGS
        assert not missing, (row["row"], missing)
        for key, value in expected.items():
            if key in RUN_SETTINGS:
                continue
            got = row[key]
            if key in ("expiry", "delivery", "maturity") and got is not None:
                got = got.isoformat()
            assert same(got, value), (row["row"], key, got, value)


@pytest.fixture(scope="module")
def api_body(client: TestClient) -> dict[str, Any]:
    return api_price(client, LINES)


def test_a_parquet_book_in_chunks_is_priced_as_the_api_prices_it(
    tmp_path: Path, api_body: dict[str, Any]
) -> None:
    summary = run(write_parquet(tmp_path / "b.parquet", LINES), tmp_path / "r.parquet",
                  chunk_lines=3)  # fmt: skip
    assert (summary.lines, summary.priced, summary.errors) == (len(LINES), len(LINES), 0)
    assert_lines_are_the_apis(rows_of(tmp_path / "r.parquet"), api_body)
    for s, v in api_body["totals"]["scenario_values"].items():
        assert summary.totals["totals"]["scenario_values"][s] == pytest.approx(v, rel=1e-13)
    for key in ("value", "lines", "lines_with_greeks"):
        assert summary.totals["totals"][key] == pytest.approx(api_body["totals"][key], rel=1e-13)
    for g, v in api_body["totals"]["greeks"].items():
        assert summary.totals["totals"]["greeks"][g] == pytest.approx(v, rel=1e-12, abs=1e-9)
    # each line's scenario values are its column of the API's scenario matrix
    rows = rows_of(tmp_path / "r.parquet")
    names = api_body["scenario_pnl"]["scenarios"]
    for i, row in enumerate(rows):
        for j, s in enumerate(names):
            assert row[f"scenario_value.{s}"] == api_body["scenario_pnl"]["values"][j][i]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_csv_json_and_parquet_books_give_the_same_results(tmp_path: Path, suffix: str) -> None:
    csv_book = write_csv(tmp_path / "b.csv", LINES)
    json_book = tmp_path / "b.json"
    json_book.write_text(json.dumps({"scenario_set_id": BUILTIN_SET, "instruments": LINES}))
    parquet_book = write_parquet(tmp_path / "b.parquet", LINES)
    outs = []
    for book in (csv_book, json_book, parquet_book):
        out = tmp_path / f"{book.stem}-{book.suffix[1:]}{suffix}"
        run(book, out, chunk_lines=4)
        outs.append(rows_of(out))
    assert outs[0] == outs[1] == outs[2]


def test_bad_lines_go_to_the_errors_file_and_the_rest_is_priced(
    tmp_path: Path, client: TestClient
) -> None:
    bad = [
        {"kind": "call", "strike": 150.0, "tenor": "7Q"},
        {"kind": "put", "strike": -3.0, "tenor": "1M"},
        {"kind": "digital_call", "strike": 150.0, "tenor": "1M"},  # no payout currency
        {"kind": "swaption", "strike": 150.0, "tenor": "1M"},
        {"kind": "call", "strike": 150.0, "expiry": "2024-01-05"},  # before valuation
        {"kind": "cds", "entity": "acme", "tenor": "5Y"},
        {"kind": "call", "strike": 150.0, "expiry": "2025-06-13"},  # the valuation date
    ]
    book_lines = [LINES[0], bad[0], LINES[1], bad[1], bad[2], LINES[4], bad[3], bad[4], bad[5],
                  bad[6]]  # fmt: skip
    book = write_csv(tmp_path / "b.csv", book_lines)
    with book.open("a", newline="") as f:  # a notional that is not a number
        cells = {"kind": "call", "strike": "150", "tenor": "3M", "notional": "lots"}
        csv.writer(f).writerow([cells.get(c, "") for c in COLUMNS])
    summary = run(book, tmp_path / "r.csv", chunk_lines=2)
    assert (summary.lines, summary.priced, summary.errors) == (11, 3, 8)
    errors = rows_of(tmp_path / "r.errors.csv")
    found = {(int(e["row"]), e["field"]) for e in errors}
    assert found == {(1, "tenor"), (3, "strike"), (4, "payout_currency"), (6, "kind"),
                     (7, "expiry"), (8, "entity"), (9, "expiry"), (10, "notional")}  # fmt: skip
    assert all(e["reason"] for e in errors)
    good = api_price(client, [LINES[0], LINES[1], LINES[4]])
    rows = rows_of(tmp_path / "r.csv")
    assert [int(r["row"]) for r in rows] == [0, 2, 5]
    assert [float(r["value"]) for r in rows] == [r["value"] for r in good["results"]]


def test_strict_stops_at_the_first_refused_line(tmp_path: Path) -> None:
    lines = [LINES[0], {"kind": "call", "strike": 150.0, "tenor": "7Q"}, *LINES[:5] * 3]
    summary = run(write_csv(tmp_path / "b.csv", lines), tmp_path / "r.csv", chunk_lines=2,
                  strict=True)  # fmt: skip
    assert summary.stopped and summary.errors == 1 and summary.lines == 2


def test_a_column_that_is_no_books_stops_the_run_before_a_line_is_priced(tmp_path: Path) -> None:
    book = tmp_path / "b.csv"
    book.write_text("kind,stike,tenor\ncall,150,3M\n")
    with pytest.raises(DomainError, match=r"is not a book column") as caught:
        run(book, tmp_path / "r.csv")
    assert caught.value.errors[0].field == "book.stike"
    assert not (tmp_path / "r.csv").exists()


def test_an_unknown_set_stops_the_run_naming_the_field(tmp_path: Path) -> None:
    spec = RunSpec(sources={"scenario_set_id": "no-such-set"})
    with pytest.raises(DomainError, match=r"no scenario set 'no\-such\-set'") as caught:
        run_batch(spec, write_csv(tmp_path / "b.csv", LINES[:1]), tmp_path / "r.csv")
    assert caught.value.errors[0].field == "scenario_set_id"
