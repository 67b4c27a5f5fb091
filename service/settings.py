"""Runtime settings, from environment variables prefixed ``FXSCEN_`` (e.g. ``FXSCEN_WORKERS``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FXSCEN_")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # largest book one POST /v1/price accepts (the batch path for larger runs is /v1/jobs)
    max_instruments: int = 100_000
    # books at least this large are priced on a worker thread so the event loop stays free
    offload_threshold: int = 256
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
