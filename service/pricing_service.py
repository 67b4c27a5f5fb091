"""The service's application class: FastAPI with plain ASGI layers in front of its stack."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send


class PricingService(FastAPI):
    """FastAPI with a chain of plain ASGI layers in front of its whole stack (``entry``).

    From the outside in: :class:`~service.request_guard.RequestGuard` (size, media type and
    well-formed JSON of a body, refused before anything parses it),
    :class:`~service.offload.LargeBodies` (a large body is served on its own thread), then
    :class:`~service.price_lane.PriceLane`, which answers a ``POST /v1/price`` (from the
    cache, or valued) at no framework layer's cost; everything else, and anything the lane
    does not answer, goes through the full stack unchanged.
    """

    entry: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.entry is None:
            await super().__call__(scope, receive, send)
        else:
            await self.entry(scope, receive, send)
