"""Prometheus metrics of the service, served by ``GET /metrics``.

=========================================  ===========================  ======================
metric                                     labels                       counts
=========================================  ===========================  ======================
``fxscen_http_requests_total``             ``route, method, status``    requests answered
``fxscen_http_request_duration_seconds``   ``route, method, status``    seconds, histogram
``fxscen_http_requests_in_flight``         —                            requests being served
``fxscen_work_units_total``                ``route``                    work units priced
``fxscen_budget_rejections_total``         ``route, field``             refused by the budget
``fxscen_price_lane_requests_total``       ``outcome``                  ``POST /v1/price`` by
                                                                        lane outcome
=========================================  ===========================  ======================

``route`` is the route's template (``/v1/scenario-sets/{scenario_set_id}``), never the raw
path, and ``unmatched`` for a path no route serves, so a client cannot grow the label set;
``method`` is one of the HTTP methods or ``other``. The duration runs from the request's
arrival at the outermost layer (:mod:`service.observer`) to its last response byte handed to
the server. Lane outcomes (:class:`LaneStats`): ``cached`` (a response-
cache hit), ``valued`` (valued by the lane), ``passed`` (to the route, which values or
refuses it).

Counts are tallied in plain Python on the request path and *published* to prometheus_client's
metrics in batches: before every scrape of this process, at most :data:`PUBLISH_SECONDS`
after any request starts or ends, and at shutdown. A prometheus_client update costs ~1 µs
in memory and ~2 µs in multiprocess mode (a write to a memory-mapped file), four or more per
request; the tally costs a fraction of one. With one worker a scrape is exact.

Several workers: with ``PROMETHEUS_MULTIPROC_DIR`` set (:mod:`service.metrics_dir`) each
worker publishes to files there and a scrape adds up every worker's (another worker's last
second may not be in yet); the in-flight gauge sums the live workers. The process and
garbage-collector metrics of prometheus_client's default registry are then not exported (the
library cannot add them up). ``_created`` series are never exported.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from bisect import bisect_left
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import iter_route_contexts
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.routing import BaseRoute

from service.metrics_dir import MULTIPROC_ENV

PUBLISH_SECONDS = 1.0
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# a lane-answered price takes ~0.1 ms, a big book or a Monte Carlo run seconds
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_ROUTE_LABELS = ("route", "method", "status")

# a second series per child that Prometheus's text format never needs (untyped in the library)
disable_created_metrics()  # type: ignore[no-untyped-call]
REQUESTS = Counter("fxscen_http_requests_total", "HTTP requests answered.", _ROUTE_LABELS)
DURATION = Histogram(
    "fxscen_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte, in seconds.",
    _ROUTE_LABELS,
    buckets=_BUCKETS,
)
IN_FLIGHT = Gauge(
    "fxscen_http_requests_in_flight",
    "HTTP requests being served.",
    multiprocess_mode="livesum",  # the sum over the workers alive now
)
WORK = Counter(
    "fxscen_work_units_total",
    "Work units priced (the cost budget's unit, about 1 µs), by where they ran: on the event "
    "loop (cheap requests) or on a worker thread.",
    ("route", "where"),
)
REJECTIONS = Counter(
    "fxscen_budget_rejections_total",
    "Requests refused by the cost budget, by the field that exceeded it.",
    ("route", "field"),
)
LANE = Counter(
    "fxscen_price_lane_requests_total",
    "POST /v1/price requests by price-lane outcome: cached (a response-cache hit), valued "
    "(valued by the lane), passed (to the route).",
    ("outcome",),
)
_LANE_OUTCOMES = (LANE.labels("cached"), LANE.labels("valued"), LANE.labels("passed"))

# (route, method, status) → [count, seconds, one count per bucket of _BUCKETS, then +Inf]
Row = list[float]


@dataclass
class LaneStats:
    """Requests the lane answered from the cache, valued itself, or passed to the route."""

    cached: int = 0
    valued: int = 0
    passed: int = 0


class _Tally:
    """What this process counted since the last publication (module docstring).

    Requests are tallied by :class:`service.observer.RequestObserver` on the server's event
    loop thread, so those counts take no lock; work units and rejections may come from any
    thread and take one.
    """

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, int], Row] = {}
        self.in_flight = 0
        self.work: dict[tuple[str, str], float] = {}
        self.rejections: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()
        self.lanes: list[tuple[weakref.ref[LaneStats], list[int]]] = []
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def publish_soon(self) -> None:
        """Publish within :data:`PUBLISH_SECONDS` (one timer at a time per event loop)."""
        loop = asyncio.get_running_loop()
        if self._timer_loop is not loop:  # none pending, or pending on a loop now gone
            self._timer_loop = loop
            loop.call_later(PUBLISH_SECONDS, self._publish_by_timer)

    def _publish_by_timer(self) -> None:
        self._timer_loop = None
        self.publish()

    def publish(self) -> None:
        """Add everything tallied since the last call to the prometheus_client metrics."""
        rows, self.rows = self.rows, {}
        for (route, method, status), row in rows.items():
            labels = (route, method, str(status))
            REQUESTS.labels(*labels).inc(row[0])
            histogram = DURATION.labels(*labels)
            # many observations at once: prometheus_client has no public call for that, so
            # its child's own values (prometheus-client 0.26; tests count every bucket)
            histogram._sum.inc(row[1])
            for bucket, count in zip(histogram._buckets, row[2:], strict=True):
                if count:
                    bucket.inc(count)
        IN_FLIGHT.set(self.in_flight)
        with self.lock:
            work, self.work = self.work, {}
            rejections, self.rejections = self.rejections, {}
        for (route, where), units in work.items():
            WORK.labels(route, where).inc(units)
        for (route, field), count in rejections.items():
            REJECTIONS.labels(route, field).inc(count)
        live = []
        for ref, seen in self.lanes:
            stats = ref()
            if stats is None:
                continue
            live.append((ref, seen))
            for i, (child, count) in enumerate(
                zip(_LANE_OUTCOMES, (stats.cached, stats.valued, stats.passed), strict=True)
            ):
                if count != seen[i]:
                    child.inc(count - seen[i])
                    seen[i] = count
        self.lanes = live


_TALLY = _Tally()


def record_work(route: str, units: float, where: str = "thread") -> None:
    """Count ``units`` work units priced by ``route`` (its template, e.g. ``/v1/price``),
    ``where`` they ran: ``loop`` or ``thread``.

    Cheap (a dictionary update under a lock) and safe from any thread."""
    if not units > 0:  # an estimate of a request that validation then refuses may be ≤ 0
        return
    key = (route, where)
    with _TALLY.lock:
        _TALLY.work[key] = _TALLY.work.get(key, 0.0) + units


def record_rejection(route: str, field: str) -> None:
    """Count one request to ``route`` refused by the cost budget because of ``field`` (the
    field path of the problem response, e.g. ``instruments``). Safe from any thread."""
    key = (route, field)
    with _TALLY.lock:
        _TALLY.rejections[key] = _TALLY.rejections.get(key, 0) + 1


def publish() -> None:
    """Publish this process's tally now (a scrape does; so does the app at shutdown).

    Call it from the server's event loop thread, where requests are tallied."""
    _TALLY.publish()


def exposition(accept: str | None) -> tuple[bytes, str]:
    """Every published metric, in the format the scraper's ``Accept`` asks for (Prometheus
    text by default, or OpenMetrics) with its content type; across workers in multiprocess
    mode. Safe from any thread."""
    registry: CollectorRegistry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


class RequestMetrics:
    """Tallies the requests of one app; :class:`service.observer.RequestObserver` calls
    :meth:`started` and :meth:`finished` around each HTTP request, on the event loop."""

    def __init__(self, routes: Sequence[BaseRoute], lane: LaneStats | None) -> None:
        self._routes = routes  # indexed on first use, so routes added after this count too
        self._templates: dict[int, str] = {}  # id of a route → its template, prefix included
        self._static: dict[str, str] | None = None  # a template without parameters → itself
        if lane is not None:  # read at each publication: the lane itself is not touched
            _TALLY.lanes.append((weakref.ref(lane), [lane.cached, lane.valued, lane.passed]))

    def started(self) -> None:
        _TALLY.in_flight += 1
        _TALLY.publish_soon()

    def finished(self, scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
        """Tally one request answered with ``status`` after ``seconds``."""
        tally = _TALLY
        tally.in_flight -= 1
        method = scope["method"]
        key = (self._template(scope), method if method in _METHODS else "other", status)
        row = tally.rows.get(key)
        if row is None:
            row = tally.rows[key] = [0.0] * (3 + len(_BUCKETS))
        row[0] += 1
        row[1] += seconds
        row[2 + bisect_left(_BUCKETS, seconds)] += 1  # the first bucket with seconds <= le
        tally.publish_soon()

    def _template(self, scope: MutableMapping[str, Any]) -> str:
        """The template of the route that served the request (the router puts the route in
        the scope); for a request answered before the router (by the price lane), the route
        whose template is the path itself; else ``unmatched``."""
        if self._static is None:
            self._static = {}
            for context in iter_route_contexts(self._routes):
                template = context.path_format
                if template is not None:
                    self._templates[id(context.original_route)] = template
                    if "{" not in template:
                        self._static[template] = template
        route = scope.get("route")
        if route is None:
            return self._static.get(scope["path"], UNMATCHED)
        template = self._templates.get(id(route))
        return template if template is not None else str(getattr(route, "path_format", UNMATCHED))
