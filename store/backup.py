"""Backup and restore of the whole store, as JSON lines that either back end reads.

A backup is a header, one line per row of every table, and a trailer::

    {"fxscen_store_backup": 1, "revision": "0002", "backend": "sqlite", "created_at": "…"}
    {"table": "resources", "row": {"kind": "scenario_set", "id": "desk-view", …}}
    …
    {"end": true, "rows": 1234}

Rows are read in one transaction (a consistent snapshot: SQLite's read transaction,
PostgreSQL's ``REPEATABLE READ``), table by table in foreign-key order, each in its primary
key's order, so the same store always gives the same lines. Binary columns (book files, job
results) are base64 under ``{"$bytes": …}``; text, integers, floats and nulls are JSON's own
(a float is written as its shortest repr, which reads back to the same double).

A restore goes into an empty store only (never a merge): the schema is migrated to the
backup's revision, every row inserted in one transaction (all or nothing), then the
remaining migrations run, so a backup taken under an older release restores into a newer one.
A backup without its trailer (cut short) is refused before anything is written. SQLite and
PostgreSQL read each other's backups: this is also how a store moves from one to the other.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, Table, func, insert, select

from store.repository import _PG_MIGRATION_LOCK, MIGRATIONS, Store

FORMAT = 1
_BATCH = 500  # rows a restore inserts per statement


class BackupError(Exception):
    """A backup that cannot be read, or a store it cannot be restored into."""


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """What a backup or restore moved: the schema revision and the rows of each table."""

    revision: str
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def backup(store: Store, out: IO[str]) -> BackupSummary:
    """Write every row of ``store`` to ``out`` as the JSON lines above."""
    with store.engine.connect() as conn:
        if store.backend == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            revision = MigrationContext.configure(conn).get_current_revision()
            if revision is None:
                raise BackupError("the store has no schema yet: nothing to back up")
            header = {
                "fxscen_store_backup": FORMAT,
                "revision": revision,
                "backend": store.backend,
                "created_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
            out.write(json.dumps(header) + "\n")
            counts: dict[str, int] = {}
            for table in _tables(conn):
                counts[table.name] = 0
                order = [table.c[c.name] for c in table.primary_key.columns]
                rows = conn.execution_options(yield_per=_BATCH).execute(
                    select(table).order_by(*order)
                )
                for row in rows:
                    cells = {k: _encoded(v) for k, v in row._mapping.items()}
                    out.write(json.dumps({"table": table.name, "row": cells}) + "\n")
                    counts[table.name] += 1
            out.write(json.dumps({"end": True, "rows": sum(counts.values())}) + "\n")
    return BackupSummary(revision, counts)


def restore(store: Store, lines: Iterable[str]) -> BackupSummary:
    """Restore a backup's lines into ``store``, which must be empty (no schema yet, or no
    row in any table); the store is left at the newest schema. :class:`BackupError` names
    what is wrong — a bad header, an unknown revision, a cut-short or altered file, a store
    that holds rows — and then nothing is written (one transaction)."""
    records = _records(lines)
    header = next(records, None)
    if header is None or header.get("fxscen_store_backup") != FORMAT:
        raise BackupError(f"not an fxscen store backup (format {FORMAT}): no header line")
    revision = header.get("revision")
    if not isinstance(revision, str) or revision not in _revisions():
        raise BackupError(f"backup at revision {revision!r}, which this release does not know")
    counts: dict[str, int] = {}
    with store._write() as conn:
        if store.backend == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None:
            nonempty = [t.name for t in _tables(conn) if _count(conn, t)]
            if nonempty:
                raise BackupError(f"restore needs an empty store: {', '.join(nonempty)} hold rows")
        config = _config()
        config.attributes["connection"] = conn
        if current is not None and current != revision:
            command.downgrade(config, "base")  # empty tables: dropping them loses nothing
        command.upgrade(config, revision)
        tables = {t.name: t for t in _tables(conn)}
        batch: list[dict[str, Any]] = []
        current_table: Table | None = None
        end: dict[str, Any] | None = None
        for n, record in enumerate(records, start=2):
            if end is not None:
                raise BackupError(f"line {n} follows the end line")
            if "end" in record:
                end = record
                continue
            name, row = record.get("table"), record.get("row")
            if not isinstance(name, str) or name not in tables or not isinstance(row, dict):
                raise BackupError(
                    f"line {n} is not a row of a table of revision {revision}: {str(record)[:80]}"
                )
            table = tables[name]
            if batch and (table is not current_table or len(batch) >= _BATCH):
                assert current_table is not None
                conn.execute(insert(current_table), batch)
                batch = []
            current_table = table
            batch.append({k: _decoded(v) for k, v in row.items()})
            counts[name] = counts.get(name, 0) + 1
        if end is None or end.get("end") is not True:
            raise BackupError("the backup has no end line: it was cut short")
        if end.get("rows") != sum(counts.values()):
            raise BackupError(
                f"the end line counts {end.get('rows')} rows, the backup holds "
                f"{sum(counts.values())}"
            )
        if batch:
            assert current_table is not None
            conn.execute(insert(current_table), batch)
    store.upgrade()
    return BackupSummary(revision, counts)


def _records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The backup's JSON objects, blank lines skipped; :class:`BackupError` on any other."""
    for n, line in enumerate((line for line in lines if line.strip()), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BackupError(f"line {n} is not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise BackupError(f"line {n} is not a JSON object")
        yield record


def _tables(conn: Connection) -> list[Table]:
    """The database's own tables (as its revision has them), parents before children."""
    reflected = MetaData()
    reflected.reflect(conn)
    return [t for t in reflected.sorted_tables if t.name != "alembic_version"]


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _revisions() -> set[str]:
    """Every schema revision this release's migrations know."""
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}


def _encoded(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def _decoded(value: object) -> object:
    if isinstance(value, dict):
        if set(value) != {"$bytes"}:
            raise BackupError(f"a cell holds an object that is not {{'$bytes': …}}: {value}")
        return base64.b64decode(value["$bytes"], validate=True)
    return value
