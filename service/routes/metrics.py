"""Prometheus metrics of this service (what they count: :mod:`service.metrics`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.metrics import exposition, publish

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {}, "application/openmetrics-text": {}},
            "description": "Every metric in the Prometheus text format, or OpenMetrics when "
            "the scraper's `Accept` asks for it.",
        }
    },
)
async def metrics(request: Request) -> Response:
    """Request counts and latency histograms per route, method and status; requests in
    flight; work units priced and requests refused by the cost budget; price-lane outcomes
    (response-cache hits among them). With several workers, the sum over all of them.
    """
    publish()  # on the event loop, where this worker's requests are tallied
    body, content_type = await run_in_threadpool(exposition, request.headers.get("accept"))
    return Response(body, media_type=content_type)
