"""A run's sweep: every point is what ``POST /v1/price`` gives with that point's override.

Witness: the API called once per point (``overrides.probabilities``, ``spot_bump``,
``vol_bump``, ``event_delay_days``, another set), itself checked against QuantLib and
closed forms elsewhere. A probability ladder runs the kernel once (the cube is recombined
from the scenario totals), so matching the API at each point to 1e-12 shows the price is
linear in q with the measure re-solved as the API solves it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from scenarios.errors import DomainError
from service.batch.run import run_batch
from service.batch.spec import RunSpec
from service.batch.sweeps import parse_sweep_text
from service.schemas.results import BUILTIN_SET
from tests.batch.test_batch_books import LINES, write_parquet

CONSISTENT = "us-japan-tariff-2025-07-09-consistent"
TREE = "us-japan-tariff-2025-tree"
# FX European lines and a CDS line (the CDS mixture value is Σ q × scenario value too)
BOOK = [*LINES[:7], LINES[9], LINES[10]]


def api(client: TestClient, overrides: dict[str, Any] | None = None, **sources: Any) -> Any:
    body: dict[str, Any] = {"scenario_set_id": BUILTIN_SET, "instruments": BOOK, **sources}
    if overrides:
        body["overrides"] = overrides
    response = client.post("/v1/price", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def sweep_run(tmp_path: Path, *axes: dict[str, Any], lines: bool = True, **kw: Any) -> Any:
    book = write_parquet(tmp_path / "b.parquet", BOOK)
    spec = RunSpec(sources={"scenario_set_id": BUILTIN_SET}, sweep=axes, sweep_lines=lines,
                   chunk_lines=4, **kw)  # fmt: skip
    summary = run_batch(spec, book, tmp_path / "r.parquet")
    cube = pq.read_table(tmp_path / "r.cube.parquet").to_pylist()
    per_line = pq.read_table(tmp_path / "r.cube_lines.parquet").to_pylist() if lines else []
    return summary, cube, per_line


def check_point(cube: list[dict[str, Any]], per_line: list[dict[str, Any]], point: int,
                body: dict[str, Any]) -> None:  # fmt: skip
    rows = [r for r in cube if r["point"] == point]
    totals = body["totals"]
    assert [r["scenario"] for r in rows] == list(totals["scenario_values"])
    for r in rows:
        assert r["value"] == pytest.approx(totals["value"], rel=1e-12)
        assert r["scenario_value"] == pytest.approx(
            totals["scenario_values"][r["scenario"]], rel=1e-12
        )
        assert r["scenario_pnl"] == pytest.approx(totals["scenario_pnl"][r["scenario"]], rel=1e-11)
        assert r["q"] == pytest.approx(body["measure"]["weights"][r["scenario"]], rel=1e-13)
        assert r["p"] == pytest.approx(body["measure"]["probabilities"][r["scenario"]], rel=1e-13)
        assert r["lines"] == len(BOOK)
    for line, result in zip(per_line, body["results"], strict=True):
        assert line[f"point.{point}"] == pytest.approx(result["value"], rel=1e-12, abs=1e-9)


def test_a_probability_ladder_is_the_api_at_each_point(tmp_path: Path, client: TestClient) -> None:
    values = [0.05, 0.2, 0.25, 0.4, 0.55]
    summary, cube, per_line = sweep_run(
        tmp_path, {"axis": "probability", "scenario": "no_deal", "values": values}
    )
    assert summary.totals["sweep"]["kernel_points"] == 1  # the kernel ran once
    for k, v in enumerate(values):
        check_point(cube, per_line, k, api(client, {"probabilities": {"no_deal": v}}))
        assert {r["probability.no_deal"] for r in cube if r["point"] == k} == {v}


def test_a_ladder_from_to_points_and_a_spot_axis_make_a_product(
    tmp_path: Path, client: TestClient
) -> None:
    summary, cube, per_line = sweep_run(
        tmp_path,
        {"axis": "spot", "values": [-0.02, 0.0, 0.03]},
        {"axis": "probability", "scenario": "escalation", "from": 0.1, "to": 0.3, "points": 3},
    )
    assert summary.totals["sweep"]["points"] == 9
    assert summary.totals["sweep"]["kernel_points"] == 3  # the zero shift is the run's own
    for point, (bump, p) in enumerate((b, q) for b in (-0.02, 0.0, 0.03) for q in (0.1, 0.2, 0.3)):
        overrides: dict[str, Any] = {"probabilities": {"escalation": p}}
        if bump:
            overrides["spot_bump"] = bump
        check_point(cube, per_line, point, api(client, overrides))


@pytest.mark.parametrize(
    ("axis", "values", "override"),
    [
        ("vol", [-0.01, 0.02], "vol_bump"),
        ("level", [0.01], "level_bump"),
        ("event_date", [7, -5], "event_delay_days"),
    ],
)
def test_shift_axes_are_the_api_with_that_override(
    tmp_path: Path, client: TestClient, axis: str, values: list[float], override: str
) -> None:
    _, cube, per_line = sweep_run(tmp_path, {"axis": axis, "values": values})
    for k, v in enumerate(values):
        check_point(cube, per_line, k, api(client, {override: v}))


def test_a_sets_axis_is_the_api_on_each_set(tmp_path: Path, client: TestClient) -> None:
    _, cube, per_line = sweep_run(
        tmp_path, {"axis": "scenario_set", "values": [f"{BUILTIN_SET}@1", CONSISTENT]}
    )
    check_point(cube, per_line, 0, api(client))
    check_point(cube, per_line, 1, api(client, scenario_set_id=CONSISTENT))


def test_under_scale_a_ladder_is_priced_point_by_point(tmp_path: Path, client: TestClient) -> None:
    values = [0.1, 0.4]
    summary, cube, per_line = sweep_run(
        tmp_path, {"axis": "probability", "scenario": "no_deal", "values": values}, measure="scale"
    )
    assert summary.totals["sweep"]["kernel_points"] == 3
    for k, v in enumerate(values):
        check_point(
            cube, per_line, k, api(client, {"probabilities": {"no_deal": v}}, measure="scale")
        )


@pytest.mark.parametrize(
    ("axes", "field", "reason"),
    [
        ([{"axis": "probability", "scenario": "nope", "values": [0.1]}], "sweep[0].scenario",
         "no scenario 'nope'; known: comprehensive_deal"),
        ([{"axis": "probability", "scenario": "no_deal", "values": [1.5]}], "sweep[0].values[0]",
         "less than or equal to 1, got 1.5"),
        ([{"axis": "probability", "scenario": "no_deal"}], "sweep[0]",
         "give values, or from, to and points"),
        ([{"axis": "wind", "values": [1]}], "sweep[0]", "Input tag 'wind'"),
        ([{"axis": "spot", "values": [0.1]}] * 9, "sweep", "at most 8 items"),
        ([{"axis": "event_date", "values": [1.5]}], "sweep[0].values", "must be whole days"),
        ([{"axis": "vol", "values": [0.01] * 40}, {"axis": "spot", "values": [0.0] * 30}], "sweep",
         "needs 1,200 kernel points: at most 1,001 per run"),
        ([{"axis": "scenario_set", "values": [TREE]}], "sweep",
         "every point must have the run's scenarios"),
    ],
)  # fmt: skip
def test_a_sweep_that_cannot_run_is_refused_naming_the_field(
    tmp_path: Path, axes: list[dict[str, Any]], field: str, reason: str
) -> None:
    with pytest.raises(DomainError) as caught:
        sweep_run(tmp_path, *axes)
    assert reason in caught.value.errors[0].reason, caught.value.errors
    assert caught.value.errors[0].field == field, caught.value.errors
    assert not (tmp_path / "r.parquet").exists()


def test_a_tree_takes_no_probability_ladder(tmp_path: Path) -> None:
    book = write_parquet(tmp_path / "b.parquet", BOOK[:2])
    spec = RunSpec(sources={"scenario_set_id": TREE},
                   sweep=({"axis": "probability", "scenario": "no_deal", "values": [0.2]},))  # fmt: skip
    with pytest.raises(DomainError, match=r"a tree's leaves follow from its branches") as caught:
        run_batch(spec, book, tmp_path / "r.parquet")
    assert caught.value.errors[0].field == "sweep[0]"


@pytest.mark.parametrize(
    ("text", "axis"),
    [
        ("probability:no_deal=0.1:0.9:101",
         {"axis": "probability", "scenario": "no_deal", "from": 0.1, "to": 0.9, "points": 101}),
        ("probability:no_deal=0.1,0.5", {"axis": "probability", "scenario": "no_deal", "values": [0.1, 0.5]}),
        ("spot=-0.05,0,0.05", {"axis": "spot", "values": [-0.05, 0.0, 0.05]}),
        ("spot_jpy=-2,2", {"axis": "spot_jpy", "values": [-2.0, 2.0]}),
        ("vol=0.01", {"axis": "vol", "values": [0.01]}),
        ("event_date=0,7,+30d", {"axis": "event_date", "values": [0.0, 7.0, 30.0]}),
        ("scenario_set=a@1,b", {"axis": "scenario_set", "values": ["a@1", "b"]}),
    ],
)  # fmt: skip
def test_the_command_lines_sweep_forms(text: str, axis: dict[str, Any]) -> None:
    assert parse_sweep_text(text) == axis


@pytest.mark.parametrize("text", ["spot", "wind=1", "probability=0.1", "vol=x", "@/no/such.json"])
def test_a_sweep_text_that_cannot_be_read_names_the_option(text: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_sweep_text(text)
    assert caught.value.errors[0].field == "--sweep"


@pytest.mark.parametrize(("content", "read"), [("3", False), ('"spot"', False), ("[]", True)])
def test_a_sweep_file_must_hold_axis_objects(tmp_path: Path, content: str, read: bool) -> None:
    path = tmp_path / "sweep.json"
    path.write_text(content)
    if read:
        assert parse_sweep_text(f"@{path}") == json.loads(content)
        return
    with pytest.raises(DomainError) as caught:
        parse_sweep_text(f"@{path}")
    assert caught.value.errors[0].field == "--sweep"
    assert caught.value.errors[0].reason.endswith(f"got JSON {json.loads(content)!r}")
