"""Limits on a request body, applied while it streams in and before anything parses it.

:class:`RequestGuard` is plain ASGI middleware in front of the price lane and the framework.
For a ``POST``, ``PUT`` or ``PATCH`` that carries a body (every such route of the service
takes JSON) it answers, in this order and as ``application/problem+json``:

* ``413`` (field ``body``) when ``Content-Length`` exceeds ``FXSCEN_MAX_BODY_BYTES`` — at
  once, nothing read — or when a body without one (chunked) passes the limit while it is
  read: the rest is never read, and the connection is closed after the answer;
* ``415`` (field ``content-type``) unless ``Content-Type`` is ``application/json`` or
  ``application/<anything>+json``, with no charset or ``charset=utf-8`` (RFC 8259: JSON is
  UTF-8); also at once, nothing read;
* ``422`` (field ``body``) for a body that is not JSON — the reason gives the line and
  column — or whose arrays and objects nest deeper than ``FXSCEN_MAX_JSON_DEPTH``; ``422``
  naming the key's path (``instruments[0].strike``) for an object that repeats a key, which
  a JSON parser would otherwise resolve silently (the last one wins).

Malformed JSON is a ``422`` like every other broken rule of the body (FastAPI's own choice,
kept): a client reads one status for "the body is wrong", and ``400`` is never sent.

What passes reaches the next layer with the body replayed as one message. A body checked
once is remembered (bodies up to 64 KiB, 8 MiB of them, by their bytes): the same body sent
again — a response-cache hit in the lane — is not parsed again. Bodies over 64 KiB (large
books) are checked on a worker thread so the event loop keeps serving. The parse is not
handed on: the route parses the body again, after this one is freed, so a large book is
never held twice (~0.1 s more for a 10 MB book, on a worker thread).
"""

from __future__ import annotations

import functools
import json
import re
import sys
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool

from service.asgi import App, Message, Receive, Scope, Send, replay
from service.problems import PROBLEM_JSON, problem_body

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_MEMO_BODY_BYTES = 64 * 1024  # as the lane's cache keys: larger bodies are rarely repeated
_MEMO_BYTES = 8 * 2**20
_THREAD_BYTES = 64 * 1024  # larger bodies are checked off the event loop
_NOT_BRACKET = bytes(set(range(256)) - set(b'"[]{}'))
_NOT_COLON = bytes(set(range(256)) - set(b'":'))
_EMPTY_CONTAINER = re.compile(rb"\[\]|\{\}")


class BodyRefused(Exception):
    """A body the guard refuses: HTTP ``status``, the ``field`` and ``reason`` it names."""

    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.status = status
        self.field = field
        self.reason = reason


class RequestGuard:
    """Size, media type and JSON well-formedness of request bodies (module docstring)."""

    def __init__(self, app: App, *, max_body_bytes: int, max_depth: int) -> None:
        if max_body_bytes < 0 or max_depth < 1:
            raise ValueError(
                f"max_body_bytes must be >= 0 and max_depth >= 1, got {max_body_bytes} "
                f"and {max_depth}"
            )
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_depth = max_depth
        self._limit_digits = len(str(max_body_bytes))  # a shorter Content-Length is within
        self._checked: dict[bytes, None] = {}  # bodies that passed, insertion order
        self._checked_bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type")
        json_type = content_type == b"application/json"  # the common case, at no cost
        length = headers.get(b"content-length")
        if (
            length is not None
            and len(length) >= self._limit_digits
            and length.isdigit()
            and int(length) > self.max_body_bytes
        ):
            await _refuse(send, self._too_large(f"{int(length)} (its Content-Length)"), close=True)
            return
        declared = (length is not None and length != b"0") or b"transfer-encoding" in headers
        if declared and not json_type and (refused := _media_type_refusal(content_type)):
            await _refuse(send, refused, close=True)
            return
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            body = message.get("body", b"")  # the whole body in one message: the common case
            if len(body) > self.max_body_bytes:
                await _refuse(send, self._too_large(str(len(body))), close=True)
                return
            forward = replay([message], receive)
        else:
            received = await self._read_on(scope, message, receive, send)
            if received is None:  # refused, or the client went (the app has seen it)
                return
            body = b"".join(m.get("body", b"") for m in received)
            forward = replay([{"type": "http.request", "body": body}], receive)
        if body and body not in self._checked:
            refused = None if json_type else _media_type_refusal(content_type)
            if refused is None:
                refused = await self._check(body)
            if refused is not None:
                await _refuse(send, refused, close=False)
                return
        await self.app(scope, forward, send)

    async def _read_on(
        self, scope: Scope, message: Message, receive: Receive, send: Send
    ) -> list[Message] | None:
        """The rest of a body sent in several messages (``message`` is the first); None when
        it passed the limit (refused here) or the client went (passed to the app)."""
        received = [message]
        size = 0
        while True:
            if message["type"] != "http.request":
                await self.app(scope, replay(received, receive), send)
                return None
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                refused = self._too_large("more (the rest was not read)")
                await _refuse(send, refused, close=True)
                return None
            if not message.get("more_body", False):
                return received
            message = await receive()
            received.append(message)

    async def _check(self, body: bytes) -> BodyRefused | None:
        """The refusal of ``body`` as JSON, or None (and ``body`` remembered as good)."""
        try:
            if len(body) > _THREAD_BYTES:
                await run_in_threadpool(check_json, body, max_depth=self.max_depth)
            else:
                check_json(body, max_depth=self.max_depth)
        except BodyRefused as exc:
            return exc
        self._remember(body)
        return None

    def _too_large(self, got: str) -> BodyRefused:
        return BodyRefused(413, "body", f"must be at most {self.max_body_bytes} bytes, got {got}")

    def _remember(self, body: bytes) -> None:
        if len(body) > _MEMO_BODY_BYTES:
            return
        if self._checked_bytes + len(body) > _MEMO_BYTES:  # start again: cheaper than an LRU
            self._checked.clear()
            self._checked_bytes = 0
        self._checked[body] = None
        self._checked_bytes += len(body)


def check_json(body: bytes, *, max_depth: int) -> None:
    """Refuse what a JSON parser would accept silently, or not at all, as :class:`BodyRefused`
    (422): malformed JSON or text that is not UTF-8 (the reason gives line and column),
    arrays and objects nested deeper than ``max_depth`` (the top level is depth 1), an object
    that repeats a key (naming its path).

    The common case costs one orjson parse and two counts (~3 µs for one option, where
    ``json.loads`` with a hook takes ~7): the pairs in the text (colons outside strings)
    against the keys of the parsed objects — fewer keys mean a repeated one. Anything orjson
    refuses, a repeat, or an integer too long for ``int()`` (which orjson reads as a float)
    is parsed again with :mod:`json`, whose rules (``NaN`` is read, then refused by the
    schema naming its field) and messages (line and column) are the ones the route applies.
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        _parse_exactly(body, max_depth)  # refuses it, or reads what orjson does not (NaN)
    else:
        digits = sys.get_int_max_str_digits()
        if _pairs_in_text(body) != _keys_in_values(parsed) or (
            digits and len(body) > digits and _digit_run(digits).search(body)
        ):
            _parse_exactly(body, max_depth)  # refuses the repeat by its path, or the integer
    # a body with few brackets cannot nest deep: the scan is for large bodies only
    if body.count(b"[") + body.count(b"{") > max_depth:
        depth = nesting_depth(body)
        if depth > max_depth:
            raise BodyRefused(422, "body", _too_deep(max_depth, f"{depth} deep"))


def _parse_exactly(body: bytes, max_depth: int) -> Any:
    """``body`` as :func:`json.loads` reads it, any refusal as :class:`BodyRefused`."""
    try:
        return _STRICT.decode(body.decode("utf-8-sig"))  # RFC 8259: UTF-8 (a BOM ignored)
    except _RepeatedKey:
        marked = json.loads(body, object_pairs_hook=_Repeated.mark)
        field, key = _first_repeat(marked, "") or ("", "")
        field = field or "body"  # an empty key at the top level has no path of its own
        reason = f"must appear once in its object, got the key {key!r} twice or more"
        raise BodyRefused(422, field, reason) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise BodyRefused(422, "body", f"must be JSON: {exc.msg} at {where}") from None
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        reason = f"must be UTF-8 encoded JSON, got the byte {byte:#04x} at offset {exc.start}"
        raise BodyRefused(422, "body", reason) from None
    except RecursionError:
        raise BodyRefused(422, "body", _too_deep(max_depth, "far deeper")) from None
    except ValueError as exc:  # an integer past Python's 4300-digit conversion limit
        reason = f"must be JSON the service can read: {str(exc).split(';')[0]}"
        raise BodyRefused(422, "body", reason) from None


@functools.cache
def _digit_run(digits: int) -> re.Pattern[bytes]:
    return re.compile(rb"\d{%d}" % (digits + 1))


def _pairs_in_text(text: bytes) -> int:
    """Key–value pairs in valid JSON ``text``: its colons outside strings."""
    return len(_outside_strings(text, _NOT_COLON))


def _keys_in_values(value: Any) -> int:
    """Keys of every object in a parsed JSON ``value``."""
    keys = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            keys += len(item)
            pending.extend(item.values())
        elif type(item) is list:
            pending.extend(item)
    return keys


class _RepeatedKey(Exception):
    """An object repeats a key: the parse stops, a second one finds where."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _RepeatedKey
    return obj


# one decoder for every body: json.loads(..., object_pairs_hook=...) builds one per call (~2 µs)
_STRICT = json.JSONDecoder(object_pairs_hook=_unique_keys)


def nesting_depth(text: bytes) -> int:
    """How deep the arrays and objects of valid JSON ``text`` nest (``[]`` is 1, ``5`` 0).

    Byte operations only, no parse: the brackets outside strings, ``{[{}{}]}``, lose their
    innermost empty pairs once per level.
    """
    structure = _outside_strings(text, _NOT_BRACKET)
    depth = 0
    while structure:
        depth += 1
        structure = _EMPTY_CONTAINER.sub(b"", structure)
    return depth


def _outside_strings(text: bytes, others: bytes) -> bytes:
    """The bytes of valid JSON ``text`` outside its strings, less ``others`` (which must not
    hold the quote). Escaped backslashes and quotes go first, then ``others``, then strings:
    a pair of adjacent quotes first (a string that held only ``others``: nearly all)."""
    kept = text.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, others)
    kept = kept.replace(b'""', b"")
    if b'"' in kept:
        kept = b"".join(kept.split(b'"')[::2])
    return kept


class _Repeated(dict[str, Any]):
    """An object that repeats a key, marked by the second parse of a refused body."""

    repeated_key = ""

    @classmethod
    def mark(cls, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        marked = cls(obj)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                marked.repeated_key = key
                break
            seen.add(key)
        return marked


def _first_repeat(value: Any, path: str) -> tuple[str, str] | None:
    """(field path of the repeated key, the key) of the first marked object in ``value``."""
    if isinstance(value, _Repeated):
        key = value.repeated_key
        return (f"{path}.{key}" if path else key), key
    if isinstance(value, dict):
        for key, item in value.items():
            if found := _first_repeat(item, f"{path}.{key}" if path else key):
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if found := _first_repeat(item, f"{path}[{i}]"):
                return found
    return None


def _too_deep(max_depth: int, got: str) -> str:
    return f"must nest arrays and objects at most {max_depth} deep, got {got}"


def _media_type_refusal(content_type: bytes | None) -> BodyRefused | None:
    """None for a JSON media type in UTF-8; the 415 to send otherwise."""
    if content_type == b"application/json":  # the common case, at no cost
        return None
    text = (content_type or b"").decode("latin-1")
    media, _, parameters = text.partition(";")
    media = media.strip().lower()
    kind, _, subtype = media.partition("/")
    if kind == "application" and (subtype == "json" or subtype.endswith("+json")):
        charset = "utf-8"
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset":
                charset = value.strip().strip('"').lower()
        if charset in ("utf-8", "utf8"):
            return None
        reason = f"must be JSON in UTF-8 (charset=utf-8 or none), got {text!r}"
    else:
        reason = f"must be application/json, got {text!r}" if text else "must be given"
    return BodyRefused(415, "content-type", reason)


_KIND = {413: "body-too-large", 415: "unsupported-media-type", 422: "invalid"}
_TITLE = {413: "Body too large", 415: "Unsupported media type", 422: "Invalid request"}


async def _refuse(send: Send, exc: BodyRefused, *, close: bool) -> None:
    """The problem response; ``close`` when part of the body is left unread."""
    body = problem_body(
        exc.status,
        _KIND[exc.status],
        _TITLE[exc.status],
        [{"field": exc.field, "reason": exc.reason}],
    )
    content = orjson.dumps(body)
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", b"%d" % len(content))]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


class Uploads:
    """``POST`` to ``path`` (book files: large, not JSON) goes straight to ``upload``, which
    streams the body under its own limit; every other request to ``guarded``."""

    def __init__(self, guarded: App, upload: App, *, path: str) -> None:
        self.guarded, self.upload, self.path = guarded, upload, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            await self.upload(scope, receive, send)
            return
        await self.guarded(scope, receive, send)
