"""ARCHITECTURE.md stays a true map: every path it names in backticks exists, and every
package folder and top-level folder of the tree is named in it (a new capability folder, or a
renamed one, fails here until the map says where it is)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "ARCHITECTURE.md"
PACKAGES = ("pricing", "scenarios", "service", "store")
TOP_LEVEL = ("tests", "bench", "scripts", "examples", "docs", "deploy")
# folders that are a package's data, not a capability: named through their parent
NOT_CAPABILITIES = {"store/migrations/versions"}


def named_paths(text: str) -> set[str]:
    """Every backticked token that looks like a project path: ``pricing/fx/``, ``a/b.py``."""
    tokens = re.findall(r"`([^`\s]+)`", text)
    return {t for t in tokens if "/" in t and re.fullmatch(r"\w[\w./-]*", t)}


def tree_folders(root: Path = ROOT) -> set[str]:
    """The packages' folders (those holding Python modules, or the page's assets) and the
    top-level folders, as ``name/``."""
    found = {f"{p}/" for p in PACKAGES} | {f"{t}/" for t in TOP_LEVEL}
    for pkg in PACKAGES:
        for d in (root / pkg).rglob("*"):
            rel = d.relative_to(root).as_posix()
            if d.is_dir() and "__pycache__" not in d.parts and rel not in NOT_CAPABILITIES:
                found.add(f"{rel}/")
    return found


def test_every_path_the_map_names_exists() -> None:
    missing = sorted(p for p in named_paths(MAP.read_text()) if not (ROOT / p).exists())
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_every_package_and_capability_folder_is_on_the_map() -> None:
    named = named_paths(MAP.read_text())
    unnamed = sorted(tree_folders() - named)
    assert not unnamed, f"folders ARCHITECTURE.md does not name: {unnamed}"


def test_a_new_folder_or_a_stale_name_is_caught(tmp_path: Path) -> None:
    for pkg in PACKAGES:
        (tmp_path / pkg / "fx").mkdir(parents=True)
    (tmp_path / "pricing" / "trees").mkdir()
    text = "`pricing/` `pricing/fx/` `pricing/gone.py` `scenarios/fx/`"
    assert "pricing/trees/" in tree_folders(tmp_path) - named_paths(text)
    assert "pricing/gone.py" in {p for p in named_paths(text) if not (tmp_path / p).exists()}


def test_the_readme_points_to_the_map() -> None:
    assert "ARCHITECTURE.md" in (ROOT / "README.md").read_text()
