"""The type check ``./scripts/test`` runs (``mypy``, configured by ``[tool.mypy]`` in
pyproject.toml) is strict and covers every package: planted faults of each kind it exists to
catch are reported, so a new one in the tree fails the test command.

The whole tree's check is the test command's own step (``.venv/bin/mypy`` before pytest);
these tests check the configuration it reads, on throw-away modules, with mypy's API (one
run over all of them: each import of the project costs seconds).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"

PLANTED = {
    "wrong_return": ('def f() -> int:\n    return "1"\n', "return-value"),
    "unannotated": ("def f(x):\n    return x\n", "no-untyped-def"),  # strict only
    "any_returned": (
        "from typing import Any\n\n\ndef f(x: Any) -> int:\n    return x\n",
        "no-any-return",  # strict only
    ),
    "kernel_argument": (  # a compiled kernel keeps its signature (pricing.compiled.njit)
        "from pricing.compiled import njit\n\n\n@njit(cache=False)\n"
        "def k(x: float) -> float:\n    return x\n\n\nk('one')\n",
        "arg-type",
    ),
    "schema_field": (  # pydantic's plugin: a schema's fields are checked
        "from service.schemas.price import PriceRequest\n\nPriceRequest(bogus=1)\n",
        "call-arg",
    ),
    "clean": ("def f(x: int) -> int:\n    return x + 1\n", None),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    """mypy, with the project's configuration and its cache (the test command's own check
    filled it), over one module per planted fault."""
    where = tmp_path_factory.mktemp("planted")
    for name, (source, _) in PLANTED.items():
        (where / f"{name}.py").write_text(source)
    out, err, status = api.run(
        ["--config-file", str(CONFIG), "--cache-dir", str(ROOT / ".mypy_cache"), str(where)]
    )
    assert status == 1, out + err
    return out + err


def test_the_configuration_checks_every_package_strictly() -> None:
    config = tomllib.loads(CONFIG.read_text())["tool"]["mypy"]
    assert config["strict"] is True
    packages = {
        p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name != "tests"
    }
    assert set(config["packages"]) == packages == {"pricing", "scenarios", "service", "store"}


def test_the_test_command_runs_the_type_check_before_pytest() -> None:
    lines = (ROOT / "scripts/test").read_text().splitlines()
    steps = [line.split("#")[0].strip() for line in lines]
    assert ".venv/bin/mypy" in steps
    assert steps.index(".venv/bin/mypy") < next(i for i, s in enumerate(steps) if "pytest" in s)


@pytest.mark.parametrize("name", [n for n, (_, code) in PLANTED.items() if code])
def test_a_planted_type_error_is_reported(report: str, name: str) -> None:
    code = PLANTED[name][1]
    assert re.search(rf"{name}\.py:\d+: error: .*\[{code}\]", report), report


def test_a_clean_module_passes(report: str) -> None:
    assert "clean.py" not in report, report
