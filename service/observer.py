"""The outermost layer: every HTTP request's id, metrics and access-log line.

:class:`RequestObserver` is plain ASGI middleware in front of everything, the price lane
included (first in the ``entry`` chain of :class:`service.pricing_service.PricingService`), so
the requests the lane answers are counted, timed, logged and given an id like any other. Per
request it gives the request its id (:mod:`service.request_context`) and adds the
``X-Request-ID`` response header, then, once the response is sent, counts and times it
(:class:`service.metrics.RequestMetrics`) and writes the access line (:mod:`service.logs`). It
reads neither body, so its cost stays a few microseconds (``bench/bench_metrics.py``)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from functools import partial
from time import perf_counter
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logs import ACCESS_LOGGER
from service.metrics import RequestMetrics, publish
from service.request_context import HEADER, accepted_request_id, new_request_id, set_request_id
from service.routes import metrics as metrics_route
from service.settings import Settings

if TYPE_CHECKING:
    from service.pricing_service import PricingService

_ACCESS = "%s %s %d"  # method, path, status


class RequestObserver:
    """Request id, metrics (unless ``metrics`` is None) and access line around ``app``."""

    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics | None) -> None:
        self.app = app
        self.metrics = metrics
        self._access = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self.metrics is not None:
                send = _publishing_at_shutdown(send)
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                request_id = accepted_request_id(value)
                break
        request_id = request_id or new_request_id()
        # Left set when the request is done: the server logs an exception escaping the app
        # after this returns, in the same task, and that line should carry the id too. Each
        # request runs in a task of its own, with a copy of the context, so it goes no further.
        set_request_id(request_id)
        echo = (HEADER, request_id.encode("ascii"))
        status = 500  # if the app fails before it answers (the server then sends a 500)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # a new list: the lane's cached responses share theirs
                message["headers"] = [*message.get("headers", ()), echo]
            await send(message)

        metrics = self.metrics
        if metrics is not None:
            metrics.started()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = perf_counter() - start
            if metrics is not None:
                metrics.finished(scope, status, seconds)
            if self._access.isEnabledFor(logging.INFO):
                self._log_access(scope, status, seconds)

    def _log_access(self, scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
        """The access line. Built with ``makeRecord`` rather than ``info()``: that skips the
        caller lookup (a walk up the stack, ~5 µs) whose file and line no JSON line shows."""
        method, path = scope["method"], scope["path"]
        extra = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1e3, 3),
        }
        log = self._access
        args = (method, path, status)
        record = log.makeRecord(log.name, logging.INFO, "", 0, _ACCESS, args, None, None, extra)
        log.handle(record)


def _publishing_at_shutdown(send: Send) -> Send:
    """The lifespan's ``send``, publishing the metrics tally as shutdown completes."""

    async def send_publishing(message: Message) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            publish()
        await send(message)

    return send_publishing


def install(app: PricingService, settings: Settings) -> None:
    """Put :class:`RequestObserver` in front of ``app``, around its other ASGI layers (the
    price lane among them: call this after they are in place), and serve
    ``GET /metrics`` — unless ``settings.metrics`` is false (``FXSCEN_METRICS=false``), when
    requests get their id and access line but are not counted."""
    metrics = None
    if settings.metrics:
        metrics = RequestMetrics(app.router.routes, getattr(app.state, "price_lane", None))
        app.include_router(metrics_route.router)
    inner = app.entry if app.entry is not None else partial(FastAPI.__call__, app)
    app.entry = RequestObserver(inner, metrics=metrics)
