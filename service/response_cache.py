"""A bounded cache of ``POST /v1/price`` responses, keyed by the exact request.

A price is a pure function of the request: the built-in scenario sets and markets are
immutable while the process runs, an inline set or market is part of the body, Monte Carlo
lines are seeded, and the response carries no timestamps or request ids. So a request priced
once can be answered again with the bytes it got the first time. Desks re-send the same book
(a screen refreshing, several users on the standard strikes); a repeated request then costs
reading its body and a dictionary look-up instead of validation and a valuation (figures in
the README's performance table, from ``bench/bench_http.py``).

:class:`ResponseCacheMiddleware` sits in front of the routes (plain ASGI): it reads the body of
a ``POST`` to the cached path, answers a known request from the cache, and otherwise passes
the request on with its body replayed, keeping the response if it is a ``200``. Errors are
never stored, so a bad request is validated, and refused, every time. The key is the query
string, the ``Content-Type`` header and the body, byte for byte: the same book serialised
differently is a miss, never a wrong hit. Memory is bounded by the sum of key and body sizes
(``FXSCEN_RESPONSE_CACHE_BYTES``; 0 turns the cache off), least recently used out first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

_MAX_KEY_BYTES = 64 * 1024  # larger bodies (big books) are not looked up: rarely repeated


class ResponseCache:
    """Least-recently-used map of request key → (response headers, body), bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, tuple[list[tuple[bytes, bytes]], bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        """Bytes held: keys plus bodies."""
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """The response stored for ``key`` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """Store a response under ``key``; one larger than a quarter of the bound is not kept
        (a huge book must not flush every small one)."""
        cost = len(key) + len(body)
        if cost > self.max_bytes // 4:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(key) + len(old[1])
            self._entries[key] = (headers, body)
            self._size += cost
            while self._size > self.max_bytes:
                evicted_key, (_, evicted) = self._entries.popitem(last=False)
                self._size -= len(evicted_key) + len(evicted)


class ResponseCacheMiddleware:
    """Answer repeated ``POST {path}`` requests from ``cache``; see the module docstring."""

    def __init__(self, app: App, *, cache: ResponseCache, path: str) -> None:
        self.app = app
        self.cache = cache
        self.path = path

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self.path
            or not self.cache.max_bytes
        ):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        size = 0
        more = True
        while more and size <= _MAX_KEY_BYTES:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":  # client gone: let the app see it
                await self.app(scope, _replay(received, receive), send)
                return
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        if more:  # too large to be a key: pass it on, what was read and then the rest
            await self.app(scope, _replay(received, receive), send)
            return
        key = _key(scope, b"".join(m.get("body", b"") for m in received))
        entry = self.cache.get(key)
        if entry is not None:
            headers, body = entry
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, _replay(received, receive), self._keeper(key, send))

    def _keeper(self, key: bytes, send: Send) -> Send:
        """``send`` that also stores a complete ``200`` response under ``key``."""
        state: dict[str, Any] = {"ok": False, "headers": [], "parts": []}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["ok"] = message["status"] == 200
                state["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body" and state["ok"]:
                state["parts"].append(message.get("body", b""))
                if not message.get("more_body", False):
                    self.cache.put(key, state["headers"], b"".join(state["parts"]))
            await send(message)

        return keep


def _key(scope: MutableMapping[str, Any], body: bytes) -> bytes:
    """Query string, ``Content-Type`` and body, separated so no two requests share a key."""
    content_type = b""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            content_type = value
            break
    query = scope.get("query_string", b"")
    return b"%d:%s%d:%s\0\0%s" % (len(query), query, len(content_type), content_type, body)


def _replay(received: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives back the messages already read, then reads on."""
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
