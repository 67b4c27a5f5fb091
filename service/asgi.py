"""The plain-ASGI vocabulary the layers in front of the framework share.

:class:`~service.observer.RequestObserver`, :class:`~service.request_guard.RequestGuard`,
:class:`~service.offload.LargeBodies` and :class:`~service.price_lane.PriceLane` each read
some of a request's body before deciding what to do; :func:`replay` hands what was read on
to the next layer, followed by whatever is still to come.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def replay(received: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives back the messages already read, in order, then reads on."""
    pending = list(received)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
