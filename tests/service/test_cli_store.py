"""The store's commands of ``fxscen``, run as a user runs them: the real CLI in a subprocess on
a SQLite file of its own (no mocks), the store then read directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from service import versioned
from service.cli_store import KINDS, export_text, render_url
from store import keys
from store.repository import Store

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_SET = "us-japan-tariff-2025-07-09"
BUILTIN_MARKET = "usdjpy-2025-06-13"


def fxscen(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FXSCEN_DATABASE_URL": f"sqlite:///{tmp_path}/s.sqlite"}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def url_of(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/s.sqlite"


def write_json(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=2), "utf-8")
    return path


def test_help_lists_the_store_commands(tmp_path: Path) -> None:
    run = fxscen(tmp_path, "--help")
    assert run.returncode == 0, run.stderr
    for command in ("serve", "price", "db", "keys", "sets", "markets"):
        assert command in run.stdout


def test_urls_are_rendered_without_their_password() -> None:
    shown = render_url("postgresql+psycopg://u:secret@127.0.0.1/db")
    assert "secret" not in shown
    assert shown == "postgresql+psycopg://u:***@127.0.0.1/db"
    assert "secret" not in render_url("not a url: u:secret@host")


def test_the_kinds_the_parser_names_are_the_service_kinds() -> None:
    for attribute, label, path in KINDS.values():
        kind = getattr(versioned, attribute)
        assert (kind.label, kind.path) == (label, path)


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    first, second = fxscen(tmp_path, "db", "upgrade"), fxscen(tmp_path, "db", "upgrade")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    revision = Store(url_of(tmp_path)).revision()
    assert revision
    expected = f"store at {url_of(tmp_path)} is at revision {revision}\n"
    assert first.stdout == expected


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    created = fxscen(tmp_path, "keys", "create", "--name", "ci", "--role", "writer")
    assert created.returncode == 0, created.stderr
    token = created.stdout.removesuffix("\n")
    assert created.stdout == token + "\n" and "\n" not in token  # TOKEN=$(fxscen keys create)
    key_id = keys.key_id_of(token)
    assert key_id is not None
    record = Store(url_of(tmp_path)).key_by_id(key_id)
    assert record is not None and record.name == "ci" and record.role == "writer"
    assert keys.matches(token, record.token_hash) and record.revoked_at is None

    taken = fxscen(tmp_path, "keys", "create", "--name", "ci", "--role", "reader")
    assert taken.returncode == 1 and taken.stdout == ""
    assert "'ci'" in taken.stderr

    revoked = fxscen(tmp_path, "keys", "revoke", "ci")
    assert revoked.returncode == 0, revoked.stderr
    again = fxscen(tmp_path, "keys", "revoke", "ci")
    assert again.returncode == 1 and "revoked already" in again.stderr

    listed = fxscen(tmp_path, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["name", "role", "key_id", "created_at", "revoked_at"]
    now = Store(url_of(tmp_path)).key_by_id(key_id)
    assert now is not None and now.revoked_at is not None
    assert row.split() == ["ci", "writer", key_id, now.created_at, now.revoked_at]
    for output in (created.stderr, taken.stderr, revoked.stdout, listed.stdout):
        assert token not in output and now.token_hash not in output
    for file in tmp_path.glob("s.sqlite*"):  # the database and its write-ahead log
        assert token.encode() not in file.read_bytes()


def test_sets_export_import(tmp_path: Path) -> None:
    builtin = tmp_path / "builtin.json"
    exported = fxscen(tmp_path, "sets", "export", BUILTIN_SET, "--out", str(builtin))
    assert exported.returncode == 0, exported.stderr
    text = builtin.read_text("utf-8")
    document = json.loads(text)
    assert document["id"] == BUILTIN_SET
    assert text == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    copy = tmp_path / "copy.json"
    copy.write_text(text.replace(f'"id": "{BUILTIN_SET}"', '"id": "desk-view"'), "utf-8")
    created = fxscen(tmp_path, "sets", "import", str(copy))
    assert (created.returncode, created.stdout) == (0, "created desk-view version 1\n")
    store = Store(url_of(tmp_path))
    first = store.get("scenario_set", "desk-view")
    assert first.created_by.startswith("cli:")
    # exported again: the file's bytes, the id apart
    assert export_text(first) == copy.read_text("utf-8")

    same = fxscen(tmp_path, "sets", "import", str(copy))
    assert (same.returncode, same.stdout) == (0, "desk-view unchanged at version 1\n")

    edited = json.loads(copy.read_text("utf-8"))
    p0, p1 = (s["probability"] for s in edited["scenarios"][:2])
    assert p0 != p1
    edited["scenarios"][0]["probability"], edited["scenarios"][1]["probability"] = p1, p0
    path = write_json(tmp_path / "edited.json", edited)
    second = fxscen(tmp_path, "sets", "import", str(path), "--note", "swap", "--author", "ann")
    assert (second.returncode, second.stdout) == (0, "desk-view version 2\n"), second.stderr
    latest = store.get("scenario_set", "desk-view")
    assert (latest.version, latest.change_note, latest.created_by) == (2, "swap", "ann")
    assert latest.changes == ("scenarios[0].probability", "scenarios[1].probability")

    edited["scenarios"][0]["probability"] = 1.5
    bad = fxscen(tmp_path, "sets", "import", str(write_json(tmp_path / "bad.json", edited)))
    assert bad.returncode == 2 and bad.stdout == ""
    problem = json.loads(bad.stderr)
    assert problem["status"] == 422
    assert "scenarios[0].probability" in [e["field"] for e in problem["errors"]]
    assert store.get("scenario_set", "desk-view").version == 2


def test_markets_export_import_round_trip(tmp_path: Path) -> None:
    exported = fxscen(tmp_path, "markets", "export", BUILTIN_MARKET)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["id"] == BUILTIN_MARKET
    text = exported.stdout.replace(f'"id": "{BUILTIN_MARKET}"', '"id": "desk-market"')
    path = tmp_path / "market.json"
    path.write_text(text, "utf-8")
    created = fxscen(tmp_path, "markets", "import", str(path))
    assert (created.returncode, created.stdout) == (0, "created desk-market version 1\n")
    again = fxscen(tmp_path, "markets", "export", "desk-market", "--version", "1")
    assert again.returncode == 0, again.stderr
    assert again.stdout == text
