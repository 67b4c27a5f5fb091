"""The store tests' throw-away PostgreSQL server: real, durable, isolated per database, and gone after."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import Connection, create_engine, make_url, text

from tests.pg_cluster import create_database, postgres_server


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def public_tables(conn: Connection) -> list[str]:
    rows = conn.execute(
        text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    )
    return sorted(rows.scalars())


def test_server_is_a_real_durable_postgresql_on_loopback(postgres_url: str) -> None:
    url = make_url(postgres_url)
    assert (url.drivername, url.username, url.host, url.database) == (
        "postgresql+psycopg",
        "fxscen",
        "127.0.0.1",
        "fxscen",
    )
    with connect(postgres_url) as conn:
        assert conn.execute(text("SELECT version()")).scalar_one().startswith("PostgreSQL ")
        assert conn.execute(text("SHOW fsync")).scalar_one() == "on"
        assert conn.execute(text("SHOW synchronous_commit")).scalar_one() == "on"
        assert conn.execute(text("SHOW server_encoding")).scalar_one() == "UTF8"
        assert conn.execute(text("SELECT current_database(), current_user")).one() == (
            "fxscen",
            "fxscen",
        )
        assert str(conn.execute(text("SELECT inet_server_addr()")).scalar_one()) == "127.0.0.1"
        assert conn.execute(text("SELECT inet_server_port()")).scalar_one() == url.port


def test_create_database_gives_an_empty_separate_database(postgres_url: str) -> None:
    with connect(postgres_url) as conn:
        conn.execute(text("CREATE TABLE only_in_main (id integer PRIMARY KEY)"))
        conn.execute(text("INSERT INTO only_in_main VALUES (1)"))
        conn.commit()
    try:
        other_url = create_database(postgres_url, "pg_cluster_other")
        other = make_url(other_url)
        assert other.database == "pg_cluster_other"
        assert (other.host, other.port) == (
            make_url(postgres_url).host,
            make_url(postgres_url).port,
        )
        with connect(other_url) as conn:
            assert (
                conn.execute(text("SELECT current_database()")).scalar_one() == "pg_cluster_other"
            )
            assert public_tables(conn) == []
            conn.execute(text("CREATE TABLE only_in_other (id integer PRIMARY KEY)"))
            conn.commit()
        with connect(postgres_url) as conn:
            assert public_tables(conn) == ["only_in_main"]
        with pytest.raises(psycopg.errors.DuplicateDatabase):
            create_database(postgres_url, "pg_cluster_other")
    finally:
        with connect(postgres_url) as conn:
            conn.execute(text("DROP TABLE only_in_main"))
            conn.commit()


def test_fresh_postgres_url_is_a_new_empty_database(
    postgres_url: str, fresh_postgres_url: str
) -> None:
    fresh = make_url(fresh_postgres_url)
    assert fresh.database != make_url(postgres_url).database
    assert fresh.port == make_url(postgres_url).port
    with connect(fresh_postgres_url) as conn:
        assert conn.execute(text("SELECT current_database()")).scalar_one() == fresh.database
        assert public_tables(conn) == []


def test_server_is_stopped_and_removed_on_exit_even_after_an_error() -> None:
    before = set(glob.glob("/tmp/fxscen-pg-*"))
    with pytest.raises(RuntimeError, match="a failing test"), postgres_server() as url:
        (created,) = set(glob.glob("/tmp/fxscen-pg-*")) - before
        with connect(url) as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        raise RuntimeError("a failing test")
    assert set(glob.glob("/tmp/fxscen-pg-*")) - before == set()
    assert created not in glob.glob("/tmp/fxscen-pg-*")
    parsed = make_url(url)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, dbname="postgres"
        ).close()
