"""The one door to QuantLib's process-global state.

QuantLib keeps its evaluation date in a process-wide singleton and its objects are not
thread-safe, while the service answers requests on several threads. Every QuantLib
calculation therefore runs inside :func:`quantlib_session`, which holds one re-entrant lock,
sets the evaluation date for the duration of the block and restores the previous one after,
so a request never sees another request's date.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import QuantLib as ql

_LOCK = threading.RLock()


def to_ql_date(value: dt.date) -> ql.Date:
    """Convert a ``datetime.date`` to a ``QuantLib.Date`` (no lock needed: pure value)."""
    return ql.Date(value.day, value.month, value.year)


def from_ql_date(value: ql.Date) -> dt.date:
    """Convert a ``QuantLib.Date`` to a ``datetime.date``."""
    return dt.date(value.year(), value.month(), value.dayOfMonth())


@contextmanager
def quantlib_session(evaluation_date: dt.date | None = None) -> Iterator[None]:
    """Hold the QuantLib lock and, if given, the evaluation date, for the ``with`` block.

    The previous evaluation date is restored on exit, also when the block raises. Blocks
    nest on the same thread (the lock is re-entrant).
    """
    with _LOCK:
        settings = ql.Settings.instance()
        previous = settings.evaluationDate
        try:
            if evaluation_date is not None:
                settings.evaluationDate = to_ql_date(evaluation_date)
            yield
        finally:
            settings.evaluationDate = previous
