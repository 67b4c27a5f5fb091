"""Every SQL statement of the service: versioned documents and API keys.

:class:`Store` is the one object the service holds. Writes are compare-and-set on
``resources.latest_version`` inside one transaction with the new version's row, so two
writers that read the same version cannot both append: the second finds the number moved and
gets :class:`Stale` (the service's 412). A version row is never updated or deleted; retiring
a resource marks ``resources.retired_at`` and stops new versions.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Row, and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from store.engine import WRITE, make_engine
from store.tables import api_keys, resource_versions, resources

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MAX_VERSION = 2**31 - 1  # the version column's range (a 32-bit integer on both back ends)
_PG_MIGRATION_LOCK = 0x66787363  # pg_advisory_xact_lock key of a migration run ("fxsc")


class StoreError(Exception):
    """A store operation that cannot be done; ``kind``/``id`` name the resource."""

    def __init__(self, kind: str, id: str, message: str) -> None:
        self.kind, self.id = kind, id
        super().__init__(message)


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class Retired(StoreError):
    def __init__(self, kind: str, id: str, retired_at: str) -> None:
        self.retired_at = retired_at
        super().__init__(kind, id, f"{kind} {id!r} was retired at {retired_at}")


class Stale(StoreError):
    """The write was based on ``expected`` but the latest version is ``latest``."""

    def __init__(self, kind: str, id: str, expected: int, latest: int) -> None:
        self.expected, self.latest = expected, latest
        super().__init__(kind, id, f"based on version {expected}; the latest is {latest}")


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One immutable version; ``document`` is its canonical JSON text. ``latest_version`` and
    ``retired_at`` are the resource's state when it was read."""

    kind: str
    id: str
    version: int
    document: str
    digest: str
    name: str
    as_of: str | None
    created_at: str
    created_by: str
    change_note: str
    changes: tuple[str, ...]
    latest_version: int
    retired_at: str | None
    retired_by: str | None = None


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What a write brings: the canonical document, its digest, the name and date it is
    listed by, who writes it, why, and which paths changed."""

    document: str
    digest: str
    name: str
    as_of: str | None
    author: str
    note: str = ""
    changes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    name: str
    key_id: str
    role: str
    token_hash: str
    created_at: str
    revoked_at: str | None


def utc_now() -> str:
    """Now, ISO 8601 UTC to the microsecond (``2026-12-03T08:30:00.123456Z``)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_VERSION_COLUMNS = (
    resource_versions.c.kind,
    resource_versions.c.id,
    resource_versions.c.version,
    resource_versions.c.document,
    resource_versions.c.digest,
    resource_versions.c.name,
    resource_versions.c.as_of,
    resource_versions.c.created_at,
    resource_versions.c.created_by,
    resource_versions.c.change_note,
    resource_versions.c.changes,
    resources.c.latest_version,
    resources.c.retired_at,
    resources.c.retired_by,
)
_JOINED = resource_versions.join(
    resources,
    and_(resources.c.kind == resource_versions.c.kind, resources.c.id == resource_versions.c.id),
)

# the hot reads, built once (building a statement per call cost ~100 µs of a ~150 µs read)
_HEAD = select(resources.c.latest_version, resources.c.retired_at).where(
    resources.c.kind == bindparam("kind"), resources.c.id == bindparam("id")
)
_VERSION = (
    select(*_VERSION_COLUMNS)
    .select_from(_JOINED)
    .where(
        resource_versions.c.kind == bindparam("kind"),
        resource_versions.c.id == bindparam("id"),
        resource_versions.c.version == bindparam("version"),
    )
)
_LATEST = (
    select(*_VERSION_COLUMNS)
    .select_from(_JOINED)
    .where(
        resource_versions.c.kind == bindparam("kind"),
        resource_versions.c.id == bindparam("id"),
        resource_versions.c.version == resources.c.latest_version,
    )
)


def _key(row: Row[*tuple[Any, ...]]) -> KeyRecord:
    m = row._mapping
    return KeyRecord(
        name=m["name"],
        key_id=m["key_id"],
        role=m["role"],
        token_hash=m["token_hash"],
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


def _record(row: Row[*tuple[Any, ...]]) -> VersionRecord:
    m = row._mapping
    return VersionRecord(
        kind=m["kind"],
        id=m["id"],
        version=m["version"],
        document=m["document"],
        digest=m["digest"],
        name=m["name"],
        as_of=m["as_of"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        change_note=m["change_note"],
        changes=tuple(json.loads(m["changes"])),
        latest_version=m["latest_version"],
        retired_at=m["retired_at"],
        retired_by=m["retired_by"],
    )


class Store:
    """The store at ``url`` (:func:`store.engine.make_engine`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.backend = self.engine.dialect.name  # "sqlite" or "postgresql"
        # the latest-number read of every unpinned pricing request, compiled once for the
        # driver and run on a pooled DB-API connection: 16 µs where Core's execution took 77
        compiled = _HEAD.compile(dialect=self.engine.dialect)
        self._head_sql = str(compiled)
        self._head_order = tuple(compiled.positiontup or ()) if compiled.positional else None
        self._dbapi_error = self.engine.dialect.loaded_dbapi.Error

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            yield conn

    # --- schema ---------------------------------------------------------------------------

    def upgrade(self, revision: str = "head") -> str:
        """Run every migration not yet applied, up to ``revision`` (default: the newest;
        idempotent; concurrent callers take turns: SQLite's write lock, PostgreSQL's
        advisory lock). Returns the schema revision."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._write() as conn:
            if self.backend == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            return MigrationContext.configure(conn).get_current_revision() or ""

    def revision(self) -> str | None:
        """The schema revision applied (None for an empty database)."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    # --- versioned documents ----------------------------------------------------------------

    def create(self, kind: str, id: str, new: NewVersion) -> VersionRecord:
        """Version 1 of a new resource; :class:`Conflict` when ``id`` is taken (retired
        included: an id names one history for good)."""
        now = utc_now()
        try:
            with self._write() as conn:
                conn.execute(
                    insert(resources).values(kind=kind, id=id, latest_version=1, created_at=now)
                )
                self._insert_version(conn, kind, id, 1, new, now)
        except IntegrityError as exc:
            raise Conflict(kind, id, f"{kind} {id!r} exists already") from exc
        return self.get(kind, id, 1)

    def append(self, kind: str, id: str, new: NewVersion, expected: int | None) -> VersionRecord:
        """The next version of ``id``, if its latest is still ``expected`` (None: whatever it
        is). :class:`NotFound`, :class:`Retired` or :class:`Stale` otherwise."""
        now = utc_now()
        try:
            with self._write() as conn:
                head = self._head(conn, kind, id)
                latest, retired_at = head
                if retired_at is not None:
                    raise Retired(kind, id, retired_at)
                if expected is not None and latest != expected:
                    raise Stale(kind, id, expected, latest)
                moved = conn.execute(
                    update(resources)
                    .where(
                        resources.c.kind == kind,
                        resources.c.id == id,
                        resources.c.latest_version == latest,
                        resources.c.retired_at.is_(None),
                    )
                    .values(latest_version=latest + 1)
                )
                if moved.rowcount != 1:  # another writer got there first
                    raise Stale(kind, id, latest, latest + 1)
                self._insert_version(conn, kind, id, latest + 1, new, now)
        except IntegrityError as exc:  # the same version number inserted by a racing writer
            raise Stale(kind, id, expected or 0, -1) from exc
        return self.get(kind, id, latest + 1)

    def retire(self, kind: str, id: str, author: str, expected: int | None) -> VersionRecord:
        """Mark ``id`` retired (no more versions; old ones stay readable). Retiring a retired
        resource is :class:`Retired`."""
        with self._write() as conn:
            latest, retired_at = self._head(conn, kind, id)
            if retired_at is not None:
                raise Retired(kind, id, retired_at)
            if expected is not None and latest != expected:
                raise Stale(kind, id, expected, latest)
            conn.execute(
                update(resources)
                .where(resources.c.kind == kind, resources.c.id == id)
                .values(retired_at=utc_now(), retired_by=author)
            )
        return self.get(kind, id, latest)

    def head(self, kind: str, id: str) -> tuple[int, str | None] | None:
        """(latest version, retired at) of ``id``, or None: one primary-key read."""
        values = {"kind": kind, "id": id}
        params: Any = values if self._head_order is None else [values[k] for k in self._head_order]
        try:
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute(self._head_sql, params)
                row = cursor.fetchone()
                cursor.close()
            finally:
                raw.close()  # back to the pool, which rolls back: no transaction left open
        except self._dbapi_error as exc:  # as Core would raise it (the service's 503)
            raise OperationalError(self._head_sql, params, exc) from exc
        return None if row is None else (row[0], row[1])

    def get(self, kind: str, id: str, version: int | None = None) -> VersionRecord:
        """Version ``version`` of ``id`` (None: the latest); :class:`NotFound` otherwise."""
        if version is not None and not 1 <= version <= _MAX_VERSION:
            raise NotFound(kind, id, f"no version {version} of {kind} {id!r}")
        params: dict[str, object] = {"kind": kind, "id": id, "version": version}
        with self.engine.connect() as conn:
            row = conn.execute(_LATEST if version is None else _VERSION, params).first()
        if row is None:
            what = f"{kind} {id!r}" if version is None else f"version {version} of {kind} {id!r}"
            raise NotFound(kind, id, f"no {what}")
        return _record(row)

    def history(self, kind: str, id: str) -> list[VersionRecord]:
        """Every version of ``id``, oldest first; :class:`NotFound` for an unknown id."""
        query = (
            select(*_VERSION_COLUMNS)
            .select_from(_JOINED)
            .where(resource_versions.c.kind == kind, resource_versions.c.id == id)
            .order_by(resource_versions.c.version)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            raise NotFound(kind, id, f"no {kind} {id!r}")
        return [_record(r) for r in rows]

    def latest_of_each(
        self,
        kind: str,
        *,
        name_contains: str | None = None,
        as_of: str | None = None,
        include_retired: bool = False,
    ) -> list[VersionRecord]:
        """The latest version of every resource of ``kind``, by id; filtered by a
        case-insensitive part of the name and by the listed date."""
        query = (
            select(*_VERSION_COLUMNS)
            .select_from(_JOINED)
            .where(
                resource_versions.c.kind == kind,
                resource_versions.c.version == resources.c.latest_version,
            )
            .order_by(resource_versions.c.id)
        )
        if not include_retired:
            query = query.where(resources.c.retired_at.is_(None))
        if name_contains:
            pattern = "%" + name_contains.lower().replace("%", r"\%").replace("_", r"\_") + "%"
            query = query.where(func.lower(resource_versions.c.name).like(pattern, escape="\\"))
        if as_of is not None:
            query = query.where(resource_versions.c.as_of == as_of)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).all()]

    def _head(self, conn: Connection, kind: str, id: str) -> tuple[int, str | None]:
        row = conn.execute(_HEAD, {"kind": kind, "id": id}).first()
        if row is None:
            raise NotFound(kind, id, f"no {kind} {id!r}")
        return row[0], row[1]

    @staticmethod
    def _insert_version(
        conn: Connection, kind: str, id: str, version: int, new: NewVersion, now: str
    ) -> None:
        conn.execute(
            insert(resource_versions).values(
                kind=kind,
                id=id,
                version=version,
                document=new.document,
                digest=new.digest,
                name=new.name,
                as_of=new.as_of,
                created_at=now,
                created_by=new.author,
                change_note=new.note,
                changes=json.dumps(list(new.changes)),
            )
        )

    # --- API keys ---------------------------------------------------------------------------

    def add_key(self, name: str, role: str, key_id: str, token_hash: str) -> KeyRecord:
        """A new key; :class:`Conflict` when ``name`` was ever used."""
        now = utc_now()
        try:
            with self._write() as conn:
                conn.execute(
                    insert(api_keys).values(
                        name=name, key_id=key_id, role=role, token_hash=token_hash, created_at=now
                    )
                )
        except IntegrityError as exc:
            raise Conflict("key", name, f"a key named {name!r} exists already") from exc
        return KeyRecord(name, key_id, role, token_hash, now, None)

    def ensure_key(self, name: str, role: str, key_id: str, token_hash: str) -> bool:
        """The key ``name`` made unless a key of that name was ever made (revoked included:
        a revoked first admin key is not brought back). Whether this call made it; of
        processes starting together, one does."""
        with self.engine.connect() as conn:
            taken = conn.execute(select(api_keys.c.name).where(api_keys.c.name == name)).first()
        if taken is not None:
            return False
        try:
            self.add_key(name, role, key_id, token_hash)
        except Conflict:
            return False
        return True

    def key_by_id(self, key_id: str) -> KeyRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        return None if row is None else _key(row)

    def keys(self) -> list[KeyRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(api_keys).order_by(api_keys.c.created_at, api_keys.c.name)
            ).all()
        return [_key(row) for row in rows]

    def revoke_key(self, name: str) -> KeyRecord:
        """Revoke ``name`` (its token stops working at once); :class:`NotFound` otherwise."""
        with self._write() as conn:
            moved = conn.execute(
                update(api_keys)
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
            row = conn.execute(select(api_keys).where(api_keys.c.name == name)).first()
        if row is None:
            raise NotFound("key", name, f"no key named {name!r}")
        if moved.rowcount == 0:
            raise Conflict("key", name, f"the key {name!r} is revoked already")
        return KeyRecord(*row)
