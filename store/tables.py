"""The store's tables (SQLAlchemy Core). :mod:`store.migrations` creates them; a test holds
the two to the same columns.

``resources`` has one row per (kind, id): its latest version number, the compare-and-set
target of every write, and when it was retired. ``resource_versions`` has one immutable row
per version: the document's canonical JSON and digest, who wrote it, when, the change note
and the paths that changed; ``books``, ``jobs`` and ``job_files`` hold batch jobs
(:mod:`store.jobs`). Times are ISO 8601 UTC strings (``2025-06-13T09:30:00.123456Z``)
so that both back ends read them back as the same text.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

resources = Table(
    "resources",
    metadata,
    Column("kind", String(32), nullable=False),
    Column("id", String(100), nullable=False),
    Column("latest_version", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("retired_at", String(32), nullable=True),
    Column("retired_by", String(100), nullable=True),
    PrimaryKeyConstraint("kind", "id", name="pk_resources"),
)

resource_versions = Table(
    "resource_versions",
    metadata,
    Column("kind", String(32), nullable=False),
    Column("id", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("as_of", String(10), nullable=True),  # a set's event date, a market's valuation date
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("change_note", Text, nullable=False),
    Column("changes", Text, nullable=False),  # JSON list of field paths
    PrimaryKeyConstraint("kind", "id", "version", name="pk_resource_versions"),
    ForeignKeyConstraint(
        ["kind", "id"], ["resources.kind", "resources.id"], name="fk_versions_resource"
    ),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("name", String(100), nullable=False),
    Column("key_id", String(12), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32), nullable=True),
    PrimaryKeyConstraint("name", name="pk_api_keys"),
    UniqueConstraint("key_id", name="uq_api_keys_key_id"),
)

books = Table(
    "books",
    metadata,
    Column("id", String(40), nullable=False),
    Column("format", String(16), nullable=False),  # csv, parquet, json
    Column("size", BigInteger, nullable=False),  # bytes
    Column("sha256", String(64), nullable=False),
    Column("lines", BigInteger, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("content", LargeBinary, nullable=False),
    PrimaryKeyConstraint("id", name="pk_books"),
)
"""Book files uploaded for jobs (``POST /v1/books``), kept as sent."""

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(40), nullable=False),
    Column("state", String(16), nullable=False),
    Column("params", Text, nullable=False),  # the run's parameters, JSON
    Column("book_id", String(40), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("started_at", String(32), nullable=True),
    Column("finished_at", String(32), nullable=True),
    Column("heartbeat_at", String(32), nullable=True),
    Column("runner", String(200), nullable=True),  # host:pid:boot of the process running it
    Column("lines_total", BigInteger, nullable=True),
    Column("lines_done", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("lines_per_second", Float, nullable=True),
    Column("eta_seconds", Float, nullable=True),
    Column("message", Text, nullable=True),
    Column("summary", Text, nullable=True),  # the totals file's JSON, when done
    PrimaryKeyConstraint("id", name="pk_jobs"),
    ForeignKeyConstraint(["book_id"], ["books.id"], name="fk_jobs_book"),
)
"""One row per job: its state machine (``store.jobs``) and progress."""

job_files = Table(
    "job_files",
    metadata,
    Column("job_id", String(40), nullable=False),
    Column("name", String(32), nullable=False),  # results, errors, totals, cube, cube_lines
    Column("media_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
    PrimaryKeyConstraint("job_id", "name", name="pk_job_files"),
    ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_files_job"),
)
"""A finished job's files, written in the transaction that marks it done."""
