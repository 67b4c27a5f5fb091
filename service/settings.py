"""Runtime settings, from environment variables prefixed ``FXSCEN_`` (e.g. ``FXSCEN_WORKERS``)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from store.engine import default_url
from store.keys import key_id_of


class AuthMode(StrEnum):
    """Which requests need an API key (``Authorization: Bearer …``): ``writes`` (default) the
    writes to stored sets and markets; ``all`` every ``/v1`` request but health and readiness;
    ``off`` none (a laptop)."""

    WRITES = "writes"
    ALL = "all"
    OFF = "off"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FXSCEN_")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # on SIGTERM/SIGINT, seconds that requests in flight may run on before they are cut off
    # (service.lifecycle)
    shutdown_timeout: int = Field(default=30, ge=0)
    # largest book one POST /v1/price accepts (the batch path for larger runs is /v1/jobs)
    max_instruments: int = 100_000
    # the cost model (service.cost): a work unit is about 1 µs of one core. Over the budget a
    # request is refused (422 naming its driver); from the inline threshold it is valued on a
    # worker thread, from the heavy threshold in one of heavy_workers slots
    max_work_units: float = Field(default=3e7, gt=0)
    inline_work_units: float = Field(default=2_000.0, ge=0)
    heavy_work_units: float = Field(default=2e5, ge=0)
    heavy_workers: int = Field(default=2, ge=1)
    # every valuation stops (503 deadline-exceeded) this long after its request arrived
    request_deadline_seconds: float = Field(default=60.0, gt=0)
    # requests with larger bodies are parsed, validated and answered on their own thread
    offload_body_bytes: int = Field(default=64 * 1024, ge=0)
    large_body_threads: int = Field(default=2, ge=1)
    # Monte Carlo paths (POST /v1/paths, path-dependent pricing): limits per request
    max_paths: int = 1_000_000
    max_steps: int = 3_000  # a 10Y daily (weekday) grid has ~2,610
    max_sample_paths: int = 200
    max_path_steps: int = 300_000_000  # n_paths × steps: bounds one request's work (~3 s)
    # threads simulating one request's paths (the numbers do not depend on it)
    path_workers: int = 2
    # POST /v1/price answers a body it has priced before from this many bytes of responses
    # (service.response_cache); 0 turns the cache off
    response_cache_bytes: int = Field(default=64 * 2**20, ge=0)
    # request bodies (service.request_guard): larger ones get a 413 before they are read in
    # full; the largest book (FXSCEN_MAX_INSTRUMENTS lines of ~100 bytes, ~10 MB) fits 3×
    max_body_bytes: int = Field(default=32 * 2**20, ge=0)
    # JSON nesting (arrays and objects) a body may have; the deepest request schema needs 7
    max_json_depth: int = Field(default=32, ge=1)
    # GET /metrics and the per-request counts and timings behind it (service.metrics);
    # false turns both off (request ids and the access log stay)
    metrics: bool = True
    # the build being run, shown by GET /v1/health and /v1/ready: the image sets a git sha
    build: str = "dev"
    # the store of versioned scenario sets, markets and keys (store.engine): SQLite file by
    # default, postgresql+psycopg://user:password@host/db for a shared deployment
    database_url: str = Field(default_factory=default_url)
    # the database password, put into database_url (so the URL itself can stay free of it):
    # FXSCEN_DATABASE_PASSWORD, or FXSCEN_DATABASE_PASSWORD_FILE naming a file that holds it
    # (a container secret such as /run/secrets/db_password); at most one of the two
    database_password: SecretStr | None = None
    database_password_file: Path | None = None
    auth: AuthMode = AuthMode.WRITES
    # the first admin key (a token of `fxscen keys token`'s form): at start, when the store
    # has no key named FXSCEN_ADMIN_KEY_NAME, one is made with this token's hash, role admin.
    # FXSCEN_ADMIN_TOKEN, or FXSCEN_ADMIN_TOKEN_FILE naming a file that holds it
    admin_token: SecretStr | None = None
    admin_token_file: Path | None = None
    admin_key_name: str = Field(default="admin", min_length=1, max_length=100)
    # largest scenario-set or market document a write accepts (413 beyond)
    max_document_bytes: int = Field(default=1 * 2**20, ge=1024)
    # batch runs (service.batch): lines per chunk (the unit of work, of progress and of
    # memory), the largest book file POST /v1/books takes, and the dask.distributed
    # scheduler the job runner sends chunks to (none: the service's own process)
    batch_chunk_lines: int = Field(default=100_000, ge=1, le=10_000_000)
    max_book_bytes: int = Field(default=512 * 2**20, ge=1024)
    dask_scheduler: str | None = None
    # whether this process runs queued jobs (false: an API-only replica)
    job_runner: bool = True

    @model_validator(mode="after")
    def _secrets_read(self) -> Self:
        """The ``*_FILE`` secrets read, the password put into the database URL."""
        self.database_password = _secret(
            self.database_password, self.database_password_file, "database_password"
        )
        self.admin_token = _secret(self.admin_token, self.admin_token_file, "admin_token")
        if self.admin_token is not None and key_id_of(self.admin_token.get_secret_value()) is None:
            raise ValueError(
                "FXSCEN_ADMIN_TOKEN must be a token as `fxscen keys token` prints it "
                "(fxs_<12 hex digits>_<43 characters>)"
            )
        if self.database_password is not None:
            try:
                url = make_url(self.database_url)
            except ArgumentError as exc:
                raise ValueError(f"FXSCEN_DATABASE_URL: {exc}") from None
            if url.drivername.startswith("sqlite"):
                raise ValueError("FXSCEN_DATABASE_PASSWORD is for PostgreSQL: SQLite has none")
            password = self.database_password.get_secret_value()
            self.database_url = url.set(password=password).render_as_string(hide_password=False)
        return self


def _secret(value: SecretStr | None, file: Path | None, name: str) -> SecretStr | None:
    """``value``, or the first line of ``file`` (a trailing newline is not the secret's)."""
    if file is None:
        return value
    variable = f"FXSCEN_{name.upper()}"
    if value is not None:
        raise ValueError(f"give at most one of {variable} and {variable}_FILE")
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{variable}_FILE: cannot read {file}: {exc}") from None
    secret = text.rstrip("\r\n")
    if not secret or "\n" in secret:
        raise ValueError(f"{variable}_FILE: {file} must hold the secret on one line")
    return SecretStr(secret)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
