"""API keys on requests: who is asking, and whether their role allows it.

:class:`AuthGate` is plain ASGI middleware in front of the body guard and the price lane, so
no request body is read before its key is checked. ``FXSCEN_AUTH`` chooses which requests
need a key (``Authorization: Bearer <token>``):

* ``writes`` (default): writes to ``/v1/scenario-sets`` and ``/v1/markets`` — ``POST``,
  ``PUT``, ``PATCH`` need a ``writer`` key, ``DELETE`` (retire) an ``admin`` one; jobs and
  books — ``POST`` (submit, upload) and ``DELETE`` (cancel) — a ``writer`` key; reads and
  computations are open;
* ``all``: as ``writes``, and every other ``/v1`` request needs a ``reader`` key
  (``/v1/health`` and ``/v1/ready`` stay open for orchestrators, as do ``/metrics`` and the
  documentation);
* ``off``: no key is asked for or checked (a laptop); writes are recorded as ``anonymous``.

A token that is sent is always checked, whatever the mode: a wrong or revoked one is a
``401``, never silently ignored. A key whose role is too low gets ``403``. Tokens are compared
in constant time (:mod:`store.keys`) and never logged: the access log records the key's name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson

from service.asgi import App, Receive, Scope, Send
from service.problems import PROBLEM_JSON, problem_body
from service.settings import AuthMode, Settings
from service.versioned import store_at
from store.keys import Role, key_id_of, matches, token_hash
from store.repository import Store

_log = logging.getLogger("service.auth")
ANONYMOUS = "anonymous"
_WRITE_PREFIXES = ("/v1/scenario-sets", "/v1/markets")
_JOB_PREFIXES = ("/v1/jobs", "/v1/books")
_OPEN_PATHS = frozenset({"/v1/health", "/v1/ready"})
SCOPE_KEY = "fxscen.principal"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request: the key's name and role (``anonymous`` when none was sent)."""

    name: str
    role: Role | None  # None: no key


def principal_of(scope: Scope) -> Principal:
    """The principal :class:`AuthGate` found for this request (anonymous outside one)."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, Principal) else Principal(ANONYMOUS, None)


def needed_role(method: str, path: str, mode: AuthMode) -> Role | None:
    """The least role a request needs under ``mode`` (None: open)."""
    if mode is AuthMode.OFF:
        return None
    if path.startswith(_WRITE_PREFIXES):
        if method == "DELETE":
            return Role.ADMIN
        if method in ("POST", "PUT", "PATCH"):
            return Role.WRITER
    if path.startswith(_JOB_PREFIXES) and method in ("POST", "DELETE"):
        return Role.WRITER  # submitting, uploading and cancelling
    if mode is AuthMode.ALL and path.startswith("/v1/") and path not in _OPEN_PATHS:
        return Role.READER
    return None


class AuthGate:
    """Checks the request's key against the store before anything else reads the request."""

    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.mode = AuthMode(settings.auth)
        self.url = settings.database_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.mode is AuthMode.OFF:
            scope[SCOPE_KEY] = Principal(ANONYMOUS, Role.ADMIN)
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        needed = needed_role(scope["method"], scope["path"], self.mode)
        if header is None:
            if needed is None:
                await self.app(scope, receive, send)
                return
            await _refuse(send, 401, "a key is required: send Authorization: Bearer <token>")
            return
        principal, reason = self._principal(header)
        if principal is None:
            await _refuse(send, 401, reason)
            return
        if needed is not None and not (principal.role and principal.role.allows(needed)):
            await _refuse(
                send,
                403,
                f"the key {principal.name!r} has role {principal.role}; "
                f"{scope['method']} {scope['path']} needs {needed} or above",
            )
            return
        scope[SCOPE_KEY] = principal
        await self.app(scope, receive, send)

    def _principal(self, header: str) -> tuple[Principal | None, str]:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None, "must be 'Bearer <token>'"
        key_id = key_id_of(token)
        record = store_at(self.url).key_by_id(key_id) if key_id is not None else None
        if record is None or not matches(token, record.token_hash):
            return None, "is not a valid key"
        if record.revoked_at is not None:
            return None, f"the key {record.name!r} was revoked at {record.revoked_at}"
        return Principal(record.name, Role(record.role)), ""


async def _refuse(send: Send, status: int, reason: str) -> None:
    kind, title = ("unauthorized", "Unauthorized") if status == 401 else ("forbidden", "Forbidden")
    body = orjson.dumps(
        problem_body(status, kind, title, [{"field": "Authorization", "reason": reason}])
    )
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", b"%d" % len(body)),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="fxscen"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def first_admin_key(store: Store, settings: Settings) -> bool:
    """The first admin key from ``FXSCEN_ADMIN_TOKEN`` (or its ``_FILE``): made, under
    ``FXSCEN_ADMIN_KEY_NAME``, when the store has never had a key of that name. Whether this
    process made it. The token itself is never logged, only its key id."""
    if settings.admin_token is None:
        return False
    token = settings.admin_token.get_secret_value()
    key_id = key_id_of(token)
    assert key_id is not None  # Settings refuses a token of any other form
    made = store.ensure_key(settings.admin_key_name, Role.ADMIN.value, key_id, token_hash(token))
    if made:
        _log.info(
            "created the first admin key %r (key id %s) from FXSCEN_ADMIN_TOKEN",
            settings.admin_key_name,
            key_id,
        )
    return made
