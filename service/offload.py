"""Work off the event loop: priced on worker threads, bounded by a deadline, cancelled when
the client goes.

Two mechanisms keep the event loop free for every other request (``/v1/health`` included):

* :func:`run_priced` — a route's valuation, once its cost is estimated (:mod:`service.cost`),
  runs on a worker thread inside a :func:`pricing.cancellation.cancel_scope`: the request's
  deadline (``FXSCEN_REQUEST_DEADLINE_SECONDS`` from when it arrived) and a watcher that
  abandons the work when the client disconnects. Long loops (Monte Carlo blocks) check the
  token between blocks and stop. Heavy work (estimate at or above
  ``FXSCEN_HEAVY_WORK_UNITS``) takes one of ``FXSCEN_HEAVY_WORKERS`` slots, so a queue of
  large requests cannot hold every thread while small ones wait behind it.
* :class:`LargeBodies` — a request whose body is larger than ``FXSCEN_OFFLOAD_BODY_BYTES``
  (a big book: parsing and validating 100,000 lines takes ~1 s) is served whole — parsing,
  validation, resolution, valuation, rendering — by the application on a worker thread with
  its own event loop; messages cross between the two loops, so the client sees no
  difference.

:class:`~pricing.cancellation.Cancelled` leaves as a ``503`` problem (``deadline-exceeded``)
when the deadline passed; when the client has gone there is no one to answer.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response

from pricing.cancellation import Cancelled, CancelReason, CancelToken, cancel_scope
from service.asgi import App, Message, Receive, Scope, Send, replay
from service.metrics import record_work
from service.problems import PROBLEM_JSON, problem_body
from service.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("service.offload")
ARRIVED = "fxscen.arrived"  # scope key: time.monotonic() when the request arrived


def request_token(request: Request, deadline_seconds: float) -> CancelToken:
    """A token whose deadline counts from the request's arrival (queueing included)."""
    arrived = request.scope.get(ARRIVED)
    token = CancelToken(budget_seconds=deadline_seconds)
    if isinstance(arrived, float) and token.deadline is not None:
        token.deadline = arrived + deadline_seconds
    return token


class HeavyLimiter:
    """At most ``slots`` heavy valuations at once, per process (an anyio limiter per loop)."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._limiters: dict[int, anyio.CapacityLimiter] = {}
        self._lock = threading.Lock()

    def for_current_loop(self) -> anyio.CapacityLimiter:
        key = id(asyncio.get_running_loop())
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = self._limiters[key] = anyio.CapacityLimiter(self.slots)
            return limiter


async def run_priced(
    request: Request,
    work: Callable[[], T],
    *,
    deadline_seconds: float,
    heavy: HeavyLimiter | None = None,
) -> T:
    """``work()`` on a worker thread under the request's cancel token (module docstring).

    ``heavy`` (a :class:`HeavyLimiter`) bounds how many such calls run at once. Raises
    :class:`~pricing.cancellation.Cancelled` if the deadline passes or the client goes
    while the work runs (the work itself stops at its next check).
    """
    token = request_token(request, deadline_seconds)

    def scoped() -> T:
        with cancel_scope(token):
            token.check()  # the deadline may have passed while the request queued
            log.info("%s %s: started on a worker thread", request.method, request.url.path)
            return work()

    limiter = heavy.for_current_loop() if heavy is not None else None
    result: list[T] = []
    failure: list[BaseException] = []
    async with anyio.create_task_group() as group:

        async def watch_disconnect() -> None:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    token.abandon()
                    return

        async def compute() -> None:
            try:
                result.append(await anyio.to_thread.run_sync(scoped, limiter=limiter))
            except Exception as exc:  # re-raised below as itself, not in an ExceptionGroup
                failure.append(exc)
            finally:
                group.cancel_scope.cancel()

        group.start_soon(watch_disconnect)
        group.start_soon(compute)
    if failure:
        raise failure[0]
    return result[0]


async def _awaited(awaitable: Awaitable[T]) -> T:
    """``awaitable`` as a coroutine (what a task or another loop's future needs: ASGI's
    ``app``, ``receive`` and ``send`` are typed as returning any awaitable)."""
    return await awaitable


class _LoopThread:
    """A daemon thread running an event loop forever."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def submit(self, coroutine: Awaitable[None], context: contextvars.Context) -> Future[None]:
        future: Future[None] = Future()

        def start() -> None:
            task = self.loop.create_task(_awaited(coroutine), context=context)

            def done(finished: asyncio.Task[None]) -> None:
                if finished.cancelled():
                    future.cancel()
                elif (error := finished.exception()) is not None:
                    future.set_exception(error)
                else:
                    future.set_result(None)

            task.add_done_callback(done)

        self.loop.call_soon_threadsafe(start)
        return future


class LargeBodies:
    """Serve requests with a body over ``threshold`` bytes on worker-thread event loops.

    ``threads`` loops serve such requests at once; more wait for a free one. Requests with
    no body, or a small one, pass straight to ``app`` on the server's loop, with the part
    of the body already read replayed. Every request's arrival time is noted in its scope
    (:data:`ARRIVED`) for the deadline.
    """

    def __init__(self, app: App, *, threshold: int, threads: int) -> None:
        self.app = app
        self.threshold = threshold
        self.threads = threads
        self._loops: list[_LoopThread] = []
        self._free: asyncio.Queue[_LoopThread] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[ARRIVED] = time.monotonic()
        if scope["method"] not in ("POST", "PUT", "PATCH") or not self._may_be_large(scope):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        size, more = 0, True
        while more and size <= self.threshold:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        replayed = replay(received, receive)
        if size <= self.threshold:
            await self.app(scope, replayed, send)
        else:
            await self._on_thread(scope, replayed, send)

    def _may_be_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value) > self.threshold
                except ValueError:
                    return True
        return True  # chunked: read to find out

    async def _on_thread(self, scope: Scope, receive: Receive, send: Send) -> None:
        main = asyncio.get_running_loop()
        if self._free is None:
            self._free = asyncio.Queue()
        if not self._loops or (self._free.empty() and len(self._loops) < self.threads):
            loop_thread = _LoopThread(f"fxscen-large-{len(self._loops)}")
            self._loops.append(loop_thread)
        else:
            loop_thread = await self._free.get()

        async def receive_across() -> Message:
            return await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(_awaited(receive()), main)
            )

        async def send_across(message: Message) -> None:
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(_awaited(send(message)), main)
            )

        try:
            future = loop_thread.submit(
                self.app(scope, receive_across, send_across), contextvars.copy_context()
            )
            await asyncio.wrap_future(future)
        finally:
            self._free.put_nowait(loop_thread)


async def off_loop(
    request: Request, work: Callable[[], T], *, units: float, settings: Settings, route: str
) -> T:
    """``work()`` off the event loop under the request's deadline; in a heavy slot (the
    app's ``state.heavy_limiter``) when ``units`` reach ``settings.heavy_work_units``. The
    units are counted in ``/metrics`` under ``route``."""
    record_work(route, units, "thread")
    heavy = None
    if units >= settings.heavy_work_units:
        heavy = getattr(request.app.state, "heavy_limiter", None)
    return await run_priced(
        request, work, deadline_seconds=settings.request_deadline_seconds, heavy=heavy
    )


async def on_cancelled(request: Request, exc: Exception) -> Response:
    """:class:`~pricing.cancellation.Cancelled` as a ``503`` problem: the deadline passed
    (or the client went, and no one reads the answer)."""
    assert isinstance(exc, Cancelled)
    log.warning("%s %s stopped: %s at check %d", request.method, request.url.path, exc, exc.checks)
    if exc.reason == CancelReason.DEADLINE:
        reason = (
            f"the request {exc}: its estimate was too low for this machine's load; "
            "retry later, or split it"
        )
    else:
        reason = "the client disconnected before the answer was ready"
    body = problem_body(
        503, "deadline-exceeded", "Deadline exceeded", [{"field": "body", "reason": reason}]
    )
    return Response(
        orjson.dumps(body), status_code=503, media_type=PROBLEM_JSON, headers={"Retry-After": "1"}
    )
