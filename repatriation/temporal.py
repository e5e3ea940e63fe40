"""The Temporal client and worker, always with the pydantic data converter."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client, TLSConfig
from temporalio.runtime import Runtime
from temporalio.worker import Interceptor, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.deps import Deps, available_cores
from activities.outbox import seal_plain_mails
from activities.registry import build_activities
from activities.stuck import StuckInterceptor
from database.engine import Database
from repatriation.codec import data_converter
from repatriation.logs import get_logger
from repatriation.settings import Settings
from workflows.embassy_lists import EmbassyListsWorkflow
from workflows.embassy_requests import EmbassyRequestsWorkflow
from workflows.repatriation import RepatriationWorkflow

WORKFLOWS = [RepatriationWorkflow, EmbassyRequestsWorkflow, EmbassyListsWorkflow]


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client with the encrypting pydantic converter; TLS and an API key when configured
    (an existing cluster or Temporal Cloud)."""
    tls: TLSConfig | bool = False
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    elif settings.temporal_api_key:
        tls = True
    extra: dict[str, object] = {}
    if runtime is not None:
        extra["runtime"] = runtime
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        tls=tls,
        api_key=settings.temporal_api_key,
        **extra,  # type: ignore[arg-type]
    )


class TemporalUnreachable(RuntimeError):
    """Temporal did not answer a service starting beside it within its patience
    (``Settings.temporal_connect_seconds``): said in one line, exit status 6."""


async def connect_patiently(
    settings: Settings, runtime: Runtime | None = None, patience: timedelta | None = None
) -> Client:
    """:func:`connect`, tried again while the server does not answer, for ``patience`` at most
    (default: ``settings.temporal_connect_seconds``).

    A service that runs beside Temporal (a worker, `repatriation serve`) waits so as it starts: a
    compose stack or a machine boots them side by side, and the server may still be opening its
    database. One-off commands do not wait: they say in one line that it is down."""
    if patience is None:
        patience = timedelta(seconds=settings.temporal_connect_seconds)
    loop = asyncio.get_running_loop()
    gives_up = loop.time() + patience.total_seconds()
    pause = 0.2
    while True:
        try:
            return await connect(settings, runtime)
        except RuntimeError as err:  # the SDK's "Failed client connect: ..."
            if loop.time() + pause > gives_up:
                raise TemporalUnreachable(
                    f"Temporal did not answer at {settings.temporal_address} within "
                    f"{patience.total_seconds():g} s ({err}); is it running, and is "
                    "REPATRIATION_TEMPORAL_ADDRESS right?"
                ) from err
            get_logger(component="temporal").info(
                "waiting for Temporal", address=settings.temporal_address, error=type(err).__name__
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


async def connect_unless_stopped(
    settings: Settings, stop: asyncio.Event, runtime: Runtime | None = None
) -> Client | None:
    """:func:`connect_patiently`, given up at once (None) when ``stop`` is set meanwhile: a
    service told to stop (SIGTERM from compose or systemd) while it waits for Temporal stops."""
    connecting = asyncio.ensure_future(connect_patiently(settings, runtime))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # stopped, or the caller cancelled: nothing left running behind
        stopping.cancel()
        if not connecting.done():
            connecting.cancel()
            await asyncio.wait({connecting})
    return None if connecting.cancelled() else connecting.result()


# How much lower the deployed worker's render processes' CPU priority is than its own: in a mass
# release the orchestration that leads to each case's next document goes first, and the paperwork
# takes the rest of the cores. Measured over three 1,000-case journeys against three plain ones
# (BENCHMARKS.md, 2026-12-02): the median embassy request mailed a fifth sooner, the people's
# decisions answered in ~12 s instead of ~50 s at the median, the whole journey unchanged within
# the noise.
RENDER_NICE = 5


@dataclass(frozen=True)
class WorkerTuning:
    """How much a worker holds and does at once (measured by ``repatriation bench``; the figures
    are in BENCHMARKS.md).

    - ``max_cached_workflows``: workflows kept in memory between their tasks; beyond it the least
      recently used is evicted and replays its history at its next task. 1,500 holds a release of
      1,000 cases in flight without replays, and bounds the memory of cases waiting on people.
    - ``max_concurrent_workflow_tasks``: workflow tasks taken at once (None: the
      ``workflow_tasks`` setting, else eight per core: :func:`workflow_tasks`).
    - ``render_processes``: kept-warm render processes (0: render in the activity threads; None:
      one per core), stopped after ``render_idle_seconds`` without a document, ``render_nice``
      lower in CPU priority than the worker (``nice(1)``), so that orchestration goes first.
    - ``shared_workflow_modules``: load the ``workflows`` package once for every workflow instead
      of once per workflow in the sandbox (about 200 KB less per cached workflow and a cheaper
      start). Those modules are then not checked by the sandbox's restrictions, so the tests run
      with it off and catch a non-deterministic call there.
    """

    max_cached_workflows: int = 1500
    max_concurrent_workflow_tasks: int | None = None
    render_processes: int | None = 0
    render_idle_seconds: float = 60.0
    render_nice: int = 0
    shared_workflow_modules: bool = False

    @classmethod
    def deployed(cls) -> WorkerTuning:
        """A worker process of its own (``python worker.py``)."""
        return cls(render_processes=None, render_nice=RENDER_NICE, shared_workflow_modules=True)

    def processes(self) -> int:
        return available_cores() if self.render_processes is None else self.render_processes


def local_activity_slots(settings: Settings) -> int:
    """The read model's writes in flight at once: they wait for one another's commits (group
    commit), so more of them make bigger groups, not more load."""
    return 4 * settings.activity_threads


WORKFLOW_TASKS_PER_CORE = 8
SDK_WORKFLOW_TASKS = 100


def workflow_tasks(settings: Settings, asked: int | None = None) -> int:
    """Workflow tasks a worker takes at once: ``asked`` (the benchmark's tuning), else the
    ``workflow_tasks`` setting, else eight per core (16 on two), at most the SDK's 100. A Python
    worker runs its workflow code one activation at a time, so a task taken early only waits
    inside the worker, where its 10 s start-to-close timeout runs, instead of on the server, where
    waiting costs nothing; a mass release on two busy cores timed out its first tasks with 100 and
    none with 16 (BENCHMARKS.md, 2026-12-02)."""
    per_core = min(SDK_WORKFLOW_TASKS, WORKFLOW_TASKS_PER_CORE * available_cores())
    return asked or settings.workflow_tasks or per_core


def worker_options(settings: Settings, tuning: WorkerTuning | None = None) -> dict[str, Any]:
    """The Worker's concurrency, cache and sandbox options (shared with the benchmark's bare
    worker)."""
    tuning = tuning or WorkerTuning()
    options: dict[str, Any] = {
        "max_concurrent_activities": settings.activity_threads,
        "max_concurrent_local_activities": local_activity_slots(settings),
        "max_cached_workflows": tuning.max_cached_workflows,
    }
    options["max_concurrent_workflow_tasks"] = workflow_tasks(settings, tuning.max_concurrent_workflow_tasks)
    if tuning.shared_workflow_modules:
        restrictions = SandboxRestrictions.default.with_passthrough_modules("workflows")
        options["workflow_runner"] = SandboxedWorkflowRunner(restrictions=restrictions)
    return options


def paperwork_slots(deps: Deps) -> int:
    """Documents a worker renders at once: two per render process (one rendering while the
    other's row and file are written), or two in the activity threads."""
    if deps.settings.paperwork_threads:
        return deps.settings.paperwork_threads
    return 2 * (deps.render_pool.size if deps.render_pool is not None else 1)


@contextlib.asynccontextmanager
async def running_workers(
    client: Client, deps: Deps, tuning: WorkerTuning | None = None, interceptors: Sequence[Interceptor] = ()
) -> AsyncIterator[list[Worker]]:
    """Run the two workers of one process until the block ends, then stop them gracefully
    (the activities in hand finish first).

    - the workflows' task queue: every workflow and the quick activities (database, mail, the
      booking provider), in ``activity_threads`` threads, the read model's local activities
      beside them;
    - the paperwork queue: the documents, as many at once as :func:`paperwork_slots`, so that
      the rest of a mass release's paperwork waits in Temporal, ordered by priority.

    Mail that a worker from before the outbox was sealed left in clear is sealed first.
    ``interceptors`` go after the stuck view's own (tests: a slow step).
    """
    settings = deps.settings
    sealed = await asyncio.to_thread(seal_plain_mails, settings.outbox_dir, deps.sealer)
    if sealed:
        get_logger().info("outbox: plain mails sealed", count=sealed)
    activities = build_activities(deps)
    interceptors = [StuckInterceptor(deps.db, settings.stuck_after_attempts), *interceptors]
    slots = paperwork_slots(deps)
    with (
        ThreadPoolExecutor(
            settings.activity_threads + local_activity_slots(settings), thread_name_prefix="activity"
        ) as executor,
        ThreadPoolExecutor(slots, thread_name_prefix="paperwork") as paperwork_executor,
    ):
        main = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=WORKFLOWS,
            activities=activities.main,
            activity_executor=executor,
            interceptors=interceptors,
            **worker_options(settings, tuning),
        )
        paperwork = Worker(
            client,
            task_queue=settings.paperwork_queue,
            activities=activities.paperwork,
            activity_executor=paperwork_executor,
            interceptors=interceptors,
            max_concurrent_activities=slots,
        )
        async with main, paperwork:
            yield [main, paperwork]


async def run_worker(
    settings: Settings, stop: asyncio.Event | None = None, tuning: WorkerTuning | None = None
) -> None:
    """Run a worker until ``stop`` is set; then it finishes the activities in hand (graceful).

    Documents render in a pool of kept-warm render processes, one per core (``tuning``)."""
    from repatriation import metrics

    tuning = tuning or WorkerTuning.deployed()
    deps = Deps.from_settings(
        settings,
        render_processes=tuning.processes(),
        render_idle_seconds=tuning.render_idle_seconds,
        render_nice=tuning.render_nice,
    )
    try:
        await asyncio.to_thread(deps.check_renderer)  # a broken template stops the worker here
        runtime = metrics.start_worker_metrics(settings.metrics_address) if settings.metrics_address else None
        stop = stop or asyncio.Event()
        client = await connect_unless_stopped(settings, stop, runtime)
        if client is None:
            return  # told to stop before Temporal answered
        async with running_workers(client, deps, tuning):
            await stop.wait()
    finally:
        deps.close()


@contextlib.asynccontextmanager
async def housekeeping(client: Client, db: Database, settings: Settings) -> AsyncIterator[None]:
    """What a deployment does once, besides its workers: the Schedule that sends the embassies
    their daily lists (created if missing) and, every ``settings.sweep_seconds``, the sweep that
    flags the cases whose workflow task keeps failing (activities/stuck.py). Run by the embedded
    stack and by ``repatriation serve`` (the compose stack's single ``api`` service), not by the
    workers, which may be many. Were two to run it, a flag is set or cleared the same way
    whichever sets it."""
    await ensure_daily_lists_schedule(client, settings)
    sweeper = asyncio.create_task(_sweep_forever(client, db, settings.sweep_seconds))
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper


async def _sweep_forever(client: Client, db: Database, every: float) -> None:
    from activities.stuck import sweep_workflow_tasks

    while True:
        await asyncio.sleep(every)
        try:
            await sweep_workflow_tasks(client, db)
        except Exception as err:  # noqa: BLE001 - the sweep is retried at the next round
            get_logger(component="sweep").warning("stuck sweep failed", error=type(err).__name__)


async def ensure_daily_lists_schedule(client: Client, settings: Settings, cron: str = "0 6 * * *") -> None:
    """The Schedule that sends the embassies their consolidated lists each morning (UTC)."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleSpec,
    )

    from workflows.embassy_lists import SCHEDULE_ID

    try:
        await client.create_schedule(
            SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    EmbassyListsWorkflow.run, id=SCHEDULE_ID, task_queue=settings.task_queue
                ),
                spec=ScheduleSpec(cron_expressions=[cron]),
            ),
        )
    except ScheduleAlreadyRunningError:
        pass
