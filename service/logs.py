"""Logs as JSON, one object per line on stderr, for the service and uvicorn alike.

Every line: ``timestamp`` (ISO 8601, UTC, milliseconds), ``level``, ``logger``, ``message``
and ``request_id`` (the id of the request it was written for, ``null`` outside one). The
access log (logger ``service.access``, one line per HTTP request, written by
:mod:`service.observer`) adds ``method``, ``path``, ``status`` and ``duration_ms``; a record
with an exception adds ``exception`` (the traceback), and fields passed as ``extra=`` are
kept under their own names. The access log replaces uvicorn's, which knows neither the
request id nor the duration.

:func:`log_config` is the ``logging.config.dictConfig`` dictionary; ``fxscen serve`` passes it
to ``uvicorn.run(log_config=...)``, which applies it in every worker.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import orjson

from service.request_context import current_request_id

ACCESS_LOGGER = "service.access"
_LEVELS = {"critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10, "trace": 5}
# LogRecord attributes that are not ``extra=`` fields (taskName: Python 3.12+), and uvicorn's
# ``color_message`` (the message again, with terminal colours)
_NOT_EXTRA = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
    "request_id",
}


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON (fields in the module docstring)."""

    _second = -1
    _stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # one strftime a second, not one a line
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        entry: dict[str, Any] = {
            "timestamp": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        fields = record.__dict__
        for key in fields.keys() - _NOT_EXTRA:
            entry[key] = fields[key]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # what orjson refuses (an int past 64 bits): the slower, general one
            return json.dumps(entry, default=str)


def log_config(level: str = "info", *, access_log: bool = True) -> dict[str, Any]:
    """The ``dictConfig`` of the whole process: every logger's records as JSON on stderr.

    ``level`` is uvicorn's ``--log-level`` (``critical`` … ``debug``, ``trace``);
    ``access_log=False`` silences the access log (``fxscen serve --no-access-log``).
    uvicorn's own access log is always off: ``service.access`` replaces it.
    """
    threshold = _LEVELS[level.lower()]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": threshold},
        "loggers": {
            # uvicorn's loggers reach the root's handler, not handlers of their own
            "uvicorn": {"handlers": [], "level": threshold, "propagate": True},
            "uvicorn.error": {"level": threshold},
            "uvicorn.access": {"handlers": [], "level": logging.WARNING, "propagate": False},
            # it writes at INFO only: WARNING turns it off
            ACCESS_LOGGER: {"level": threshold if access_log else logging.WARNING},
        },
    }
