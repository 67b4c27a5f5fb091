"""The store's upgrade path and its backups, on SQLite and on a real PostgreSQL server.

Upgrade: a database made and filled under the oldest schema (revision 0001: versioned
documents and keys, written by the store's own calls as that release wrote them) is migrated
to the newest, and every version reads back field for field as it was written.

Backup: ``fxscen db backup`` → a new, empty store → ``fxscen db restore`` gives the same rows
byte for byte (every version's document and digest, every key, every book and job file), a
second backup of the restored store is the same file but for its header's time, and SQLite
and PostgreSQL restore each other's backups. A restore refuses a store that holds rows, a
backup cut short or altered, and a revision this release does not know — and then writes
nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from store.backup import BackupError, backup, restore
from store.documents import canonical_json, digest
from store.jobs import DONE, JobFile, JobStore
from store.keys import new_token, token_hash
from store.repository import NewVersion, Store, VersionRecord
from tests.pg_cluster import create_database

FXSCEN = Path(sys.executable).with_name("fxscen")
OLDEST = "0001"


def _document(i: int, p: float) -> tuple[str, str]:
    text = canonical_json({"id": f"set-{i}", "name": f"desk view {i}", "probability": p,
                           "note": "über 25% — ¥"})  # fmt: skip
    return text, digest(text)


def _fill_documents(store: Store) -> None:
    """Two sets with three versions each (one retired), a market, two keys (one revoked)."""
    for i in range(2):
        for v, p in enumerate((0.25, 0.3, 0.35)):
            text, dig = _document(i, p)
            new = NewVersion(text, dig, f"desk view {i}", "2025-07-09", "alice", f"v{v + 1}",
                             ("probability",) if v else ())  # fmt: skip
            if v == 0:
                store.create("scenario_set", f"set-{i}", new)
            else:
                store.append("scenario_set", f"set-{i}", new, expected=v)
    store.retire("scenario_set", "set-1", "bob", expected=3)
    text, dig = _document(9, 1.0)
    store.create(
        "market", "usdjpy-desk", NewVersion(text, dig, "desk market", "2025-06-13", "carol")
    )
    for name in ("writer-1", "admin-1"):
        key_id, token = new_token()
        store.add_key(
            name, "writer" if name.startswith("w") else "admin", key_id, token_hash(token)
        )
    store.revoke_key("writer-1")


def _fill_jobs(store: Store) -> None:
    """A book (binary content) and a finished job with its files."""
    jobs = JobStore(store)
    book = jobs.add_book("b" * 32, "parquet", bytes(range(256)) * 40, 7, "alice")
    job = jobs.create("j" * 32, json.dumps({"chunk_lines": 3}), book.id, "alice", 7)
    assert jobs.take(job.id, "host:1:boot")
    files = [JobFile("results", "application/vnd.apache.parquet", b"PAR1\x00\xff" * 100),
             JobFile("totals", "application/json", b'{"value": 1.5}')]  # fmt: skip
    assert jobs.finish(job.id, "host:1:boot", DONE, summary='{"value": 1.5}', files=files,
                       lines_done=7, errors=0)  # fmt: skip


def _versions(store: Store) -> dict[tuple[str, str], list[VersionRecord]]:
    return {
        (kind, rid): store.history(kind, rid)
        for kind, rid in [
            ("scenario_set", "set-0"),
            ("scenario_set", "set-1"),
            ("market", "usdjpy-desk"),
        ]
    }


def test_a_store_filled_under_the_oldest_schema_reads_back_after_the_upgrade(url: str) -> None:
    store = Store(url)
    try:
        store.upgrade(OLDEST)
        assert store.revision() == OLDEST
        _fill_documents(store)
        before, keys_before = _versions(store), store.keys()
        assert store.upgrade() != OLDEST  # the newest revision
        assert _versions(store) == before  # every field of every version
        assert store.keys() == keys_before
        for (kind, rid), history in before.items():
            for record in history:
                assert store.get(kind, rid, record.version).document == record.document
                assert digest(record.document) == record.digest
        _fill_jobs(store)  # and the newest schema's tables work on the upgraded store
    finally:
        store.dispose()


def _backup_text(store: Store) -> str:
    import io

    out = io.StringIO()
    backup(store, out)
    return out.getvalue()


def _rows(text: str) -> list[str]:
    """A backup's lines but its header (which carries the time it was made)."""
    return text.splitlines()[1:]


def test_backup_wipe_restore_gives_the_same_rows_byte_for_byte(
    url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = Store(url)
    store.upgrade()
    _fill_documents(store)
    _fill_jobs(store)
    versions, keys = _versions(store), store.keys()
    path = tmp_path / "store.backup.jsonl"
    env = {"FXSCEN_DATABASE_URL": url, "PATH": str(FXSCEN.parent)}
    made = subprocess.run([str(FXSCEN), "db", "backup", str(path)], env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    first = path.read_text()
    store.dispose()
    # wipe: a new, empty store on the same back end
    fresh = _fresh(url, request, tmp_path)
    env["FXSCEN_DATABASE_URL"] = fresh
    restored = subprocess.run([str(FXSCEN), "db", "restore", str(path)], env=env,
                              capture_output=True, text=True)  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    again = Store(fresh)
    try:
        assert _versions(again) == versions
        assert again.keys() == keys
        jobs = JobStore(again)
        assert jobs.book_content("b" * 32) == bytes(range(256)) * 40
        assert jobs.file("j" * 32, "results").content == b"PAR1\x00\xff" * 100
        assert _rows(_backup_text(again)) == _rows(first)
    finally:
        again.dispose()


def _fresh(url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored.sqlite'}"
    server: str = request.getfixturevalue("postgres_url")
    return create_database(server, f"restored_{uuid.uuid4().hex}")  # a second new database


def test_sqlite_and_postgresql_restore_each_others_backups(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    sqlite = Store(f"sqlite:///{tmp_path / 'a.sqlite'}")
    sqlite.upgrade()
    _fill_documents(sqlite)
    _fill_jobs(sqlite)
    text = _backup_text(sqlite)
    postgres = Store(fresh_postgres_url)
    try:
        restore(postgres, text.splitlines())
        assert _versions(postgres) == _versions(sqlite)
        assert _rows(_backup_text(postgres)) == _rows(text)
        back = Store(f"sqlite:///{tmp_path / 'b.sqlite'}")
        restore(back, _backup_text(postgres).splitlines())
        assert _rows(_backup_text(back)) == _rows(text)
        back.dispose()
    finally:
        sqlite.dispose()
        postgres.dispose()


def test_a_backup_of_the_oldest_schema_restores_into_the_newest(url: str, tmp_path: Path) -> None:
    old = Store(f"sqlite:///{tmp_path / 'old.sqlite'}")
    old.upgrade(OLDEST)
    _fill_documents(old)
    text = _backup_text(old)
    assert json.loads(text.splitlines()[0])["revision"] == OLDEST
    target = Store(url)
    try:
        target.upgrade()  # a store the new release has already started on: empty, newest schema
        summary = restore(target, text.splitlines())
        assert summary.revision == OLDEST
        assert target.revision() != OLDEST
        assert _versions(target) == _versions(old)
    finally:
        old.dispose()
        target.dispose()


@pytest.mark.parametrize(
    ("alter", "reason"),
    [
        (lambda lines: lines[:-1], "cut short"),
        (lambda lines: lines[:3] + lines[4:], "the end line counts"),
        (lambda lines: ['{"something": "else"}', *lines[1:]], "not an fxscen store backup"),
        (lambda lines: [lines[0].replace('"revision": "', '"revision": "9'), *lines[1:]],
         "does not know"),
        (lambda lines: [*lines[:2], "{not json", *lines[2:]], "is not JSON"),
        (lambda lines: [*lines[:2], '{"table": "nope", "row": {}}', *lines[2:]], "not a row of"),
    ],
)  # fmt: skip
def test_a_bad_backup_is_refused_and_writes_nothing(
    tmp_path: Path, alter: object, reason: str
) -> None:
    source = Store(f"sqlite:///{tmp_path / 'a.sqlite'}")
    source.upgrade()
    _fill_documents(source)
    lines = _backup_text(source).splitlines()
    source.dispose()
    target = Store(f"sqlite:///{tmp_path / 'b.sqlite'}")
    try:
        with pytest.raises(BackupError, match=reason):
            restore(target, alter(lines))  # type: ignore[operator]
        assert target.revision() is None  # nothing written, not even the schema
    finally:
        target.dispose()


def test_a_restore_into_a_store_that_holds_rows_is_refused(url: str) -> None:
    store = Store(url)
    try:
        store.upgrade()
        _fill_documents(store)
        text = _backup_text(store)
        with pytest.raises(BackupError, match=r"needs an empty store: .*api_keys"):
            restore(store, text.splitlines())
        assert _rows(_backup_text(store)) == _rows(text)  # unchanged
    finally:
        store.dispose()


def test_the_backup_command_writes_the_whole_file_or_none(tmp_path: Path) -> None:
    env = {"FXSCEN_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite'}"}
    out = tmp_path / "b.jsonl"
    failed = subprocess.run([str(FXSCEN), "db", "backup", str(out)], env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert failed.returncode == 1 and "no schema yet" in failed.stderr
    assert not out.exists() and not (tmp_path / "b.jsonl.partial").exists()
    refused = subprocess.run([str(FXSCEN), "db", "restore", str(tmp_path / "missing.jsonl")],
                             env=env, capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 1 and "missing.jsonl" in refused.stderr
