"""Secrets from the environment or from files (``*_FILE``, as container secrets are mounted),
the database password put into the URL, and the first admin key made once from a token.

Witnesses: SQLAlchemy's own URL parser reads the password back; the store's key table; the
CLI's exit status and message for each bad setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import make_url

from service.auth import first_admin_key
from service.settings import Settings
from store.keys import key_id_of, matches, new_token
from store.repository import Store

FXSCEN = Path(sys.executable).with_name("fxscen")
PG = "postgresql+psycopg://fxscen@db.internal:5432/fxscen"


def test_the_password_file_goes_into_the_database_url(tmp_path: Path) -> None:
    secret = tmp_path / "db_password"
    secret.write_text("p@ss:w/rd%\n")  # what a URL must escape; the newline is the file's
    settings = Settings(database_url=PG, database_password_file=secret)
    url = make_url(settings.database_url)
    assert url.password == "p@ss:w/rd%"
    assert (url.host, url.port, url.username, url.database) == (
        "db.internal",
        5432,
        "fxscen",
        "fxscen",
    )
    assert (
        Settings(database_url=PG, database_password=SecretStr("x")).database_url.count(":x@") == 1
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"database_password": "a", "database_password_file": "FILE"}, "at most one of FXSCEN_DATABASE_PASSWORD"),
        ({"database_password_file": "MISSING"}, "FXSCEN_DATABASE_PASSWORD_FILE: cannot read"),
        ({"database_password_file": "EMPTY"}, "must hold the secret on one line"),
        ({"database_password_file": "TWO_LINES"}, "must hold the secret on one line"),
        ({"database_url": "sqlite:///x.sqlite", "database_password": "a"}, "is for PostgreSQL"),
        ({"admin_token": "letmein"}, "FXSCEN_ADMIN_TOKEN must be a token"),
        ({"admin_token_file": "TWO_LINES"}, "FXSCEN_ADMIN_TOKEN_FILE"),
    ],
)  # fmt: skip
def test_a_bad_secret_is_refused_naming_its_variable(
    tmp_path: Path, fields: dict[str, str], message: str
) -> None:
    files = {"FILE": "secret\n", "EMPTY": "\n", "TWO_LINES": "one\ntwo\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    values: dict[str, object] = {"database_url": PG}
    for key, value in fields.items():
        values[key] = tmp_path / value if key.endswith("_file") else value
    with pytest.raises(ValidationError) as caught:
        Settings(**values)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_the_first_admin_key_is_made_once_and_never_brought_back(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.upgrade()
    _, token = new_token()
    settings = Settings(admin_token=SecretStr(token), database_url=store.url)
    try:
        assert first_admin_key(store, settings) is True
        (key,) = store.keys()
        assert (key.name, key.role, key.key_id) == ("admin", "admin", key_id_of(token))
        assert matches(token, key.token_hash) and token not in repr(key)
        assert first_admin_key(store, settings) is False  # a restart makes nothing
        store.revoke_key("admin")
        assert first_admin_key(store, settings) is False  # revoked stays revoked
        keys = store.keys()  # a list of KeyRecord
        assert [k.revoked_at is not None for k in keys] == [True]
        assert first_admin_key(store, Settings(database_url=store.url)) is False  # no token
    finally:
        store.dispose()


def test_keys_token_prints_a_token_the_service_takes() -> None:
    printed = subprocess.run(
        [str(FXSCEN), "keys", "token"], capture_output=True, text=True, check=True
    )
    token = printed.stdout.strip()
    assert key_id_of(token) is not None
    assert Settings(admin_token=SecretStr(token)).admin_token is not None
    again = subprocess.run(
        [str(FXSCEN), "keys", "token"], capture_output=True, text=True, check=True
    )
    assert again.stdout.strip() != token  # random each time


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FXSCEN_WORKERS": "two"}, "FXSCEN_WORKERS: Input should be a valid integer"),
        ({"FXSCEN_ADMIN_TOKEN": "letmein"}, "FXSCEN_ADMIN_TOKEN must be a token"),
    ],
)
def test_fxscen_stops_on_a_bad_setting_naming_it(env: dict[str, str], message: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FXSCEN_")}
    done = subprocess.run([str(FXSCEN), "serve"], env={**clean, **env}, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert f"fxscen: bad setting: {message}" in done.stderr
    assert "Traceback" not in done.stderr
