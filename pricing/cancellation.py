"""Cooperative cancellation of long computations: a deadline passed, or a caller gone.

A caller that may abandon a computation (the service, when a client disconnects or a
request's deadline passes) runs it inside :func:`cancel_scope` with a :class:`CancelToken`;
long loops call :func:`check_cancelled` between blocks of work (a Monte Carlo block, a
calibration iteration), which raises :class:`Cancelled` once the token is cancelled or its
deadline is past. Outside any scope the check costs one context-variable read and never
raises, so pure callers (tests, the CLI, benches) see no difference.

The token lives in a :class:`contextvars.ContextVar`: it follows the computation into
threads started with a copied context (``contextvars.copy_context().run``, or anyio's
``to_thread.run_sync``); a pool that does not copy the context must pass
:func:`current_token` along itself (:func:`pricing.paths.simulation.fold_path_blocks` does).

Times are :func:`time.monotonic` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum


class CancelReason(StrEnum):
    DEADLINE = "deadline"  # the computation ran past its deadline
    ABANDONED = "abandoned"  # whoever asked for it has gone (a client disconnected)


class Cancelled(Exception):
    """Raised by :func:`check_cancelled` in a cancelled scope; ``reason`` says why."""

    def __init__(
        self, reason: CancelReason, budget_seconds: float | None = None, checks: int = 0
    ) -> None:
        self.reason = reason
        self.budget_seconds = budget_seconds
        self.checks = checks  # how many checks the computation made, this one included
        text = (
            f"ran past its deadline of {budget_seconds:g} s"
            if reason == CancelReason.DEADLINE and budget_seconds is not None
            else f"cancelled ({reason})"
        )
        super().__init__(text)


class CancelToken:
    """A deadline (monotonic seconds, or None) and an abandon flag any thread may set."""

    __slots__ = ("_abandoned", "budget_seconds", "checks", "deadline")

    def __init__(self, *, budget_seconds: float | None = None) -> None:
        self.budget_seconds = budget_seconds
        self.deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        self._abandoned = threading.Event()
        self.checks = 0  # how many times the computation looked (tests read it)

    def abandon(self) -> None:
        """Mark the computation as no longer wanted (thread-safe)."""
        self._abandoned.set()

    @property
    def abandoned(self) -> bool:
        return self._abandoned.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if abandoned or past the deadline."""
        self.checks += 1
        if self._abandoned.is_set():
            raise Cancelled(CancelReason.ABANDONED, checks=self.checks)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise Cancelled(CancelReason.DEADLINE, self.budget_seconds, self.checks)


_current: ContextVar[CancelToken | None] = ContextVar("fxscen_cancel_token", default=None)


def current_token() -> CancelToken | None:
    """The token of the innermost :func:`cancel_scope`, or None outside any."""
    return _current.get()


def check_cancelled() -> None:
    """Raise :class:`Cancelled` if the current scope's token is cancelled; else nothing."""
    token = _current.get()
    if token is not None:
        token.check()


@contextmanager
def cancel_scope(token: CancelToken | None) -> Iterator[CancelToken | None]:
    """Run the body with ``token`` as the current token (None: no cancellation)."""
    reset = _current.set(token)
    try:
        yield token
    finally:
        _current.reset(reset)
