"""Metrics in Prometheus format: the app's own and the Temporal SDK's.

The app's metrics (one registry, :data:`REGISTRY`):

- ``repatriation_cases{stage}``: cases per stage (closed cases under ``stage="closed"``);
- ``repatriation_closed_cases{outcome}``: closed cases per outcome;
- ``repatriation_stuck_cases{reason}``: open cases that cannot move on by themselves, per reason;
- ``repatriation_stuck_oldest_seconds{reason}``: how long the longest-waiting of them has waited;
- ``repatriation_overdue_cases``: open cases with a decision past its deadline;
- ``repatriation_database_up``: 1 when the last refresh of the gauges above could read the database;
- ``repatriation_decisions_total{role,kind}``: decisions recorded by this process;
- ``repatriation_document_render_seconds{doc_type}``: time to render one document (histogram).

The gauges are counts in the app database, refreshed by :func:`refresh_gauges` when ``/metrics``
is read; every API replica reports the same values (aggregate them with ``max``, not ``sum``).

The Temporal SDK's metrics (``temporal_*``: task slots, poll and schedule-to-start latencies,
workflow and activity outcomes, sticky cache, ...) come from its own Prometheus exporter, bound to
a loopback port by :func:`temporal_runtime`; :func:`exposition` appends them, so that a worker has
one scrape target: :func:`start_worker_metrics` serves both at ``REPATRIATION_METRICS_ADDRESS``.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import func, select

from contracts.state import DECISION_ROLE, Outcome, Stage
from database.models import Case, StuckFlag
from repatriation.ports import free_port

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.responses import Response
    from temporalio.runtime import Runtime

    from database.engine import Database

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

CASES = Gauge(
    "repatriation_cases",
    "Cases per stage; closed cases are under stage=closed.",
    ["stage"],
    registry=REGISTRY,
)
CLOSED_CASES = Gauge("repatriation_closed_cases", "Closed cases per outcome.", ["outcome"], registry=REGISTRY)
STUCK_CASES = Gauge(
    "repatriation_stuck_cases",
    "Open cases that cannot move on by themselves, per reason (a case may have several).",
    ["reason"],
    registry=REGISTRY,
)
STUCK_OLDEST = Gauge(
    "repatriation_stuck_oldest_seconds",
    "Seconds since the longest-stuck open case was flagged, per reason.",
    ["reason"],
    registry=REGISTRY,
)
OVERDUE_CASES = Gauge(
    "repatriation_overdue_cases", "Open cases with a decision past its deadline.", registry=REGISTRY
)
DATABASE_UP = Gauge(
    "repatriation_database_up",
    "1 when the last refresh of the case gauges could read the app database, else 0.",
    registry=REGISTRY,
)
DECISIONS = Counter(
    "repatriation_decisions",
    "Decisions recorded through this process, per role and kind.",
    ["role", "kind"],
    registry=REGISTRY,
)
RENDER_SECONDS = Histogram(
    "repatriation_document_render_seconds",
    "Time to render one document to PDF, per document type.",
    ["doc_type"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
    registry=REGISTRY,
)

# Every (role, kind) a decision can have starts at 0, so rate() sees the first decision.
for _kind, _role in DECISION_ROLE.items():
    DECISIONS.labels(role=str(_role), kind=str(_kind))


# -- recording ------------------------------------------------------------------------------
def decision_made(role: str, kind: str) -> None:
    """Count one decision (after the workflow accepted it)."""
    DECISIONS.labels(role=str(role), kind=str(kind)).inc()


def render_time(doc_type: str, seconds: float) -> None:
    """Record how long rendering one document took."""
    RENDER_SECONDS.labels(doc_type=str(doc_type)).observe(seconds)


@contextlib.contextmanager
def timed_render(doc_type: str) -> Iterator[None]:
    """``with timed_render(doc_type): pdf = renderer.render(...)`` records the render time."""
    started = time.perf_counter()
    try:
        yield
    finally:
        render_time(doc_type, time.perf_counter() - started)


# -- gauges from the database ---------------------------------------------------------------
_refresh_lock = threading.Lock()
_last_refresh = 0.0


def _set_all(gauge: Gauge, label: str, values: dict[str, float]) -> None:
    """Set every label value in ``values`` and drop the ones that are gone (no stale series)."""
    for labels in list(gauge._metrics):  # noqa: SLF001 - prometheus_client has no public listing
        if labels[0] not in values:
            gauge.remove(*labels)
    for value, count in values.items():
        gauge.labels(**{label: value}).set(count)


def refresh_gauges(db: Database, max_age: float = 0.0) -> bool:
    """Read the case counts from the database into the gauges; skipped when they were read less
    than ``max_age`` seconds ago. Returns False (and sets ``repatriation_database_up`` to 0) when
    the database cannot be read; the gauges then keep their last values."""
    global _last_refresh
    with _refresh_lock:
        if max_age and time.monotonic() - _last_refresh < max_age:
            return True
        try:
            with db.session() as session:
                by_stage = dict(session.execute(select(Case.stage, func.count()).group_by(Case.stage)).all())
                by_outcome = dict(
                    session.execute(
                        select(Case.outcome, func.count())
                        .where(Case.outcome.is_not(None))
                        .group_by(Case.outcome)
                    ).all()
                )
                stuck = session.execute(
                    select(
                        StuckFlag.reason,
                        func.count(func.distinct(StuckFlag.case_id)),
                        func.min(StuckFlag.since),
                    )
                    .join(Case, Case.id == StuckFlag.case_id)
                    .where(Case.outcome.is_(None))
                    .group_by(StuckFlag.reason)
                ).all()
                overdue = session.scalar(
                    select(func.count())
                    .select_from(Case)
                    .where(Case.overdue.is_(True), Case.outcome.is_(None))
                )
        except Exception:  # noqa: BLE001 - a scrape must still answer
            DATABASE_UP.set(0)
            return False
        now = datetime.now(UTC)
        _set_all(CASES, "stage", {**{str(s): 0 for s in Stage}, **by_stage})
        _set_all(CLOSED_CASES, "outcome", {**{str(o): 0 for o in Outcome}, **by_outcome})
        _set_all(STUCK_CASES, "reason", {reason: count for reason, count, _ in stuck})
        _set_all(STUCK_OLDEST, "reason", {reason: _age(now, since) for reason, _, since in stuck})
        OVERDUE_CASES.set(overdue or 0)
        DATABASE_UP.set(1)
        _last_refresh = time.monotonic()
        return True


def _age(now: datetime, since: datetime | None) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return max(0.0, (now - since).total_seconds())


# -- the Temporal SDK's metrics ---------------------------------------------------------------
_runtime: Runtime | None = None
_sdk_url: str | None = None
_runtime_lock = threading.Lock()


def temporal_runtime(bind_address: str | None = None) -> Runtime:
    """The process's Temporal runtime with the SDK's Prometheus exporter (created once; pass it as
    ``Client.connect(..., runtime=...)``). The exporter binds ``bind_address``, by default a free
    loopback port, and :func:`exposition` appends what it serves."""
    global _runtime, _sdk_url
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    with _runtime_lock:
        if _runtime is not None:
            return _runtime
        for attempt in range(5):
            address = bind_address or f"127.0.0.1:{free_port()}"
            try:
                _runtime = Runtime(
                    telemetry=TelemetryConfig(
                        metrics=PrometheusConfig(bind_address=address, durations_as_seconds=True)
                    )
                )
            except ValueError:  # the port was taken in between: try another
                if bind_address or attempt == 4:
                    raise
                continue
            host, _, port = address.rpartition(":")
            host = "127.0.0.1" if host in ("", "0.0.0.0", "[::]") else host
            _sdk_url = f"http://{host}:{port}/metrics"
            return _runtime
    raise RuntimeError("unreachable")


def sdk_metrics() -> bytes:
    """What the Temporal SDK's exporter serves now (empty before a runtime exists)."""
    if _sdk_url is None:
        return b""
    try:
        with urllib.request.urlopen(_sdk_url, timeout=3) as response:  # noqa: S310 - our loopback URL
            return response.read()
    except OSError as err:
        return f"# the Temporal SDK's metrics did not answer: {type(err).__name__}\n".encode()


def exposition() -> bytes:
    """The app's metrics followed by the Temporal SDK's, in Prometheus text format."""
    text = generate_latest(REGISTRY)
    sdk = sdk_metrics()
    if sdk and not text.endswith(b"\n"):
        text += b"\n"
    return text + sdk


# -- serving ---------------------------------------------------------------------------------
def endpoint(request: Request) -> Response:
    """``GET /metrics`` of the API: refresh the case gauges (at most every 5 s), then every metric.
    A plain function: Starlette runs it on its thread pool, off the event loop."""
    from starlette.responses import Response

    refresh_gauges(request.app.state.db, max_age=5.0)
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """Add ``GET /metrics`` to the API (it reads ``app.state.db``); not in the OpenAPI schema."""
    app.add_route("/metrics", endpoint, methods=["GET"], include_in_schema=False)


def asgi_app(db: Database) -> Any:
    """A stand-alone ASGI app answering every GET with the metrics (to mount elsewhere)."""
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import Response as StarletteResponse
    from starlette.routing import Route

    def metrics(_: StarletteRequest) -> StarletteResponse:
        refresh_gauges(db, max_age=5.0)
        return StarletteResponse(exposition(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/", metrics), Route("/metrics", metrics)])


class _Handler(BaseHTTPRequestHandler):
    db: Database | None = None

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            body, kind, status = b"ok\n", "text/plain; charset=utf-8", 200
        elif path in ("/", "/metrics"):
            if self.db is not None:
                refresh_gauges(self.db, max_age=5.0)
            body, kind, status = exposition(), CONTENT_TYPE_LATEST, 200
        else:
            body, kind, status = b"not found\n", "text/plain; charset=utf-8", 404
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - scrapes are not logged
        return


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` (``:9464`` or a bare ``9464`` listen on every interface)."""
    host, sep, port = address.rpartition(":")
    if not sep:
        host, port = "", address
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a host:port address: {address!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def serve(address: str, db: Database | None = None) -> ThreadingHTTPServer:
    """Serve ``/metrics`` (and ``/healthz``) at ``address`` from a daemon thread; with ``db``, the
    case gauges are refreshed too (the API does that already: leave it out for workers)."""
    host, port = parse_address(address)
    handler = type("MetricsHandler", (_Handler,), {"db": db})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server


def start_worker_metrics(address: str | None) -> Runtime | None:
    """For ``worker.py``: when ``address`` (``REPATRIATION_METRICS_ADDRESS``) is set, create the
    Temporal runtime with the SDK's exporter and serve it together with the app's metrics at
    ``address``; returns the runtime to connect the client with (None: metrics are off)."""
    if not address:
        return None
    runtime = temporal_runtime()
    serve(address)
    return runtime
