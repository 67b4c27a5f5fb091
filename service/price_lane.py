"""``POST /v1/price`` in front of the framework: cached, valued here, or passed to the route.

:class:`PriceLane` is plain ASGI middleware. It reads the body of a ``POST /v1/price``,
answers a request it has answered before from the :class:`~service.response_cache.ResponseCache`,
values a new small FX book itself — with the functions the route calls
(:func:`service.routes.price.value`, :func:`~service.routes.price.render`) — and passes
anything else on to the route with the body replayed: an invalid request, so that the route's
validation writes the problem response, or a book the route values on a worker thread (one
whose estimated cost, :mod:`service.cost`, reaches ``FXSCEN_INLINE_WORK_UNITS``). Responses
of ``200`` are kept in the cache on either path, when they were priced on pinned sources only
(built-in, inline, or stored versions by number): one priced on a stored set's latest version
carries ``Cache-Control: no-store`` and is valued afresh each time. Any error while the lane
values a book (a domain error, or one it did not foresee) passes the request to the route,
which answers as it always does.

:class:`service.pricing_service.PricingService` puts the lane in front of the whole framework
stack, its
error middleware included: skipping the framework's layers, routing, dependency injection and
body handling for the common case saves ~0.2 ms per request (the README's performance table).
The route stays the documented endpoint (``/docs``) and the general path; a test holds the two
to the same bytes.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from service.asgi import App, Message, Receive, Scope, Send, replay
from service.metrics import LaneStats, record_work
from service.response_cache import ResponseCache
from service.routes.price import inline, render, value
from service.schemas.price import PriceRequest, to_job
from service.settings import Settings

_MAX_KEY_BYTES = 64 * 1024  # larger bodies (big books) go to the route: rarely repeated


class PriceLane:
    """``POST {path}``: answered from ``cache``, valued here, or passed on (module docstring)."""

    def __init__(
        self,
        app: App,
        *,
        cache: ResponseCache,
        settings: Settings,
        path: str,
        stats: LaneStats | None = None,
    ) -> None:
        self.app = app
        self.cache = cache
        self.settings = settings
        self.path = path
        self.stats = stats or LaneStats()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        size = 0
        more = True
        while more and size <= _MAX_KEY_BYTES:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":  # client gone: let the app see it
                await self.app(scope, replay(received, receive), send)
                return
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        if more:  # too large to be a key: pass it on, what was read and then the rest
            await self.app(scope, replay(received, receive), send)
            return
        body = b"".join(m.get("body", b"") for m in received)
        key = _key(scope, body)
        entry = self.cache.get(key) if self.cache.max_bytes else None
        if entry is not None:
            self.stats.cached += 1
        elif key.startswith(_JSON_QUERYLESS):
            valued = self._value(body)
            if valued is not None:
                rendered, pinned = valued
                self.stats.valued += 1
                entry = ([(b"content-type", b"application/json"),
                          (b"content-length", b"%d" % len(rendered))], rendered)  # fmt: skip
                if not pinned:  # priced on a latest version: asked again, it may differ
                    entry[0].append((b"cache-control", b"no-store"))
                elif self.cache.max_bytes:
                    self.cache.put(key, *entry)
        if entry is not None:
            headers, body = entry
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        self.stats.passed += 1
        keep = self._keeper(key, send) if self.cache.max_bytes else send
        await self.app(scope, replay(received, receive), keep)

    def _value(self, body: bytes) -> tuple[bytes, bool] | None:
        """The response to a valid book small enough to value inline, and whether it was
        priced on pinned sources only; None otherwise (the route then answers: a problem
        response, or a valuation off the event loop)."""
        try:
            request = PriceRequest.model_validate_json(body)
        except ValidationError:
            return None
        units = inline(request, self.settings)  # decided before any domain work is done
        if units is None:
            return None
        try:
            job = to_job(request, self.settings.max_instruments, self.settings)
            rendered = render(job, value(job))
            record_work(self.path, units, "loop")
            return rendered, job.pinned
        except Exception:  # the route answers it: a problem response, as it always did
            return None

    def _keeper(self, key: bytes, send: Send) -> Send:
        """``send`` that also stores a complete ``200`` response under ``key``."""
        state: dict[str, Any] = {"ok": False, "headers": [], "parts": []}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["headers"] = list(message.get("headers", []))
                state["ok"] = message["status"] == 200 and not any(
                    name == b"cache-control" and b"no-store" in value
                    for name, value in state["headers"]
                )
            elif message["type"] == "http.response.body" and state["ok"]:
                state["parts"].append(message.get("body", b""))
                if not message.get("more_body", False):
                    self.cache.put(key, state["headers"], b"".join(state["parts"]))
            await send(message)

        return keep


_JSON_QUERYLESS = b"0:16:application/json\0\0"  # the key prefix of a plain JSON request


def _key(scope: Scope, body: bytes) -> bytes:
    """Query string, ``Content-Type`` and body, separated so no two requests share a key."""
    content_type = b""
    for name, header in scope.get("headers", ()):
        if name == b"content-type":
            content_type = header
            break
    query = scope.get("query_string", b"")
    return b"%d:%s%d:%s\0\0%s" % (len(query), query, len(content_type), content_type, body)
