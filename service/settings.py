"""Runtime settings, from environment variables prefixed ``FXSCEN_`` (e.g. ``FXSCEN_WORKERS``)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.engine import default_url


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
    auth: AuthMode = AuthMode.WRITES
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
