"""A bounded cache of ``POST /v1/price`` responses, keyed by the exact request.

A price is a pure function of the request: the built-in scenario sets and markets are
immutable while the process runs, an inline set or market is part of the body, Monte Carlo
lines are seeded, and the response carries no timestamps or request ids. So a request priced
once can be answered again with the bytes it got the first time. Desks re-send the same book
(a screen refreshing, several users on the standard strikes); a repeated request then costs
reading its body and a dictionary look-up instead of validation and a valuation (figures in
the README's performance table, from ``bench/bench_http.py``).

Keys (:mod:`service.price_lane`) are the query string, the ``Content-Type`` header and the
body, byte for byte: the same book serialised differently is a miss, never a wrong hit. Only
``200`` responses are stored, so a bad request is validated, and refused, every time. Memory
is bounded by the sum of key and body sizes (``FXSCEN_RESPONSE_CACHE_BYTES``; 0 turns the
cache off), least recently used out first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


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
