"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/v1/health")
async def health() -> dict[str, str]:
    """Liveness: 200 with ``{"status": "ok"}`` while the process serves requests."""
    return {"status": "ok"}
