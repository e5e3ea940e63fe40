"""Bare Temporal: the journey's shape with nothing in it, the orchestration limit of the machine.

:class:`BareJourney` runs as many activities, local activities, Updates, signals and human-wait
timers as a real case did, but every activity does nothing and carries a number instead of a
case. Its worker is a process
of its own with the same options as the real one (``repatriation.temporal.worker_options``), the
same data converter (encrypted payloads) and the same activity threads.

``python -m bench.bare_temporal [--cache N] [--workflow-tasks N] [--full-sandbox]`` runs that
worker (settings from REPATRIATION_*) on the task queue ``bench-bare``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

BARE_QUEUE = "bench-bare"
TIMEOUT = timedelta(seconds=30)
DEADLINE = timedelta(days=7)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))


class Shape(BaseModel):
    """What one real case did: activities and local activities run, Updates accepted (each
    Update's handler ran ``per_update`` of the local activities, as the real one records the
    decision and syncs the read model), signals received (the embassy request's answer)."""

    activities: int
    updates: int
    local_activities: int = 0
    signals: int = 0
    per_update: int = 2


@activity.defn(name="bare_nothing")
def nothing(step: int) -> int:
    return step


@workflow.defn(name="BareJourney")
class BareJourney:
    @workflow.init
    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.received = 0
        self.signals = 0
        self.step = 0

    async def _activity(self) -> None:
        self.step += 1
        await workflow.execute_activity(
            nothing, self.step, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
        )

    async def _local(self) -> None:
        self.step += 1
        await workflow.execute_local_activity(
            nothing, self.step, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
        )

    def _updates_use_locals(self) -> bool:
        return self.shape.per_update * self.shape.updates <= self.shape.local_activities

    @workflow.signal
    def answer(self) -> None:
        self.signals += 1

    @workflow.run
    async def run(self, shape: Shape) -> int:
        in_updates = shape.per_update * shape.updates
        locals_ = shape.local_activities - (in_updates if self._updates_use_locals() else 0)
        remote = shape.activities - (
            0 if self._updates_use_locals() or in_updates > shape.activities else in_updates
        )
        segments = shape.updates + 1
        for segment in range(segments):
            # Each decision awaited has its deadline timer, cancelled by the decision, as in the
            # real journey. There a decision always comes after its wait began (a person acts on
            # what the read model shows); here the driver sends the Updates at once, so the timer
            # starts with the segment, before the segment's activities: had it started only once
            # the decision was in, it would start and stop in one workflow task and never reach
            # the server.
            deadline = asyncio.ensure_future(workflow.sleep(DEADLINE)) if segment < shape.updates else None
            for _ in range(remote // segments + (1 if segment < remote % segments else 0)):
                await self._activity()
            for _ in range(locals_ // segments + (1 if segment < locals_ % segments else 0)):
                await self._local()
            if deadline is not None:
                await workflow.wait_condition(
                    lambda: self.received > segment or deadline.done()  # noqa: B023
                )
                deadline.cancel()
        await workflow.wait_condition(lambda: self.signals >= shape.signals)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.step

    @workflow.update
    async def decide(self, number: int) -> int:
        self.received += 1
        if self._updates_use_locals():
            for _ in range(self.shape.per_update):
                await self._local()
        elif self.shape.per_update * self.shape.updates <= self.shape.activities:
            for _ in range(self.shape.per_update):
                await self._activity()
        return number


async def drive(
    client: Client,
    shapes: list[Shape],
    prefix: str,
    concurrency: int = 32,
    start_concurrency: int = 50,
    task_queue: str = BARE_QUEUE,
) -> dict[str, float]:
    """Start every bare journey at once, send its Updates as soon as possible, wait for all."""
    start_limit = asyncio.Semaphore(start_concurrency)
    update_limit = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    durations: list[float] = []

    async def one(index: int, shape: Shape) -> None:
        t0 = time.perf_counter()
        async with start_limit:
            handle = await client.start_workflow(
                BareJourney.run, shape, id=f"{prefix}-{index}", task_queue=task_queue
            )
            for _ in range(shape.signals):
                await handle.signal(BareJourney.answer)
        for number in range(shape.updates):
            async with update_limit:
                await handle.execute_update(BareJourney.decide, number)
        await handle.result()
        durations.append(time.perf_counter() - t0)

    await asyncio.gather(*(one(i, s) for i, s in enumerate(shapes)))
    total = time.perf_counter() - started
    return {"seconds": total, "workflows": len(shapes), "per_second": len(shapes) / total if total else 0.0}


def main(argv: list[str] | None = None) -> None:
    from bench.worker import tuning_from
    from repatriation.logs import configure_logging
    from repatriation.ops import load_settings
    from repatriation.temporal import connect, worker_options

    parser = argparse.ArgumentParser(prog="python -m bench.bare_temporal")
    parser.add_argument("--cache", type=int, default=None)
    parser.add_argument("--workflow-tasks", type=int, default=None)
    parser.add_argument("--full-sandbox", action="store_true")
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.environment, settings.log_level)
    tuning = tuning_from(args)
    options = worker_options(settings, tuning)
    if tuning.shared_workflow_modules:  # as the real worker shares its workflows package
        restrictions = SandboxRestrictions.default.with_passthrough_modules("workflows", "bench")
        options["workflow_runner"] = SandboxedWorkflowRunner(restrictions=restrictions)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        client = await connect(settings)
        with ThreadPoolExecutor(max_workers=settings.activity_threads) as executor:
            worker = Worker(
                client,
                task_queue=BARE_QUEUE,
                workflows=[BareJourney],
                activities=[nothing],
                activity_executor=executor,
                **options,
            )
            async with worker:
                await stop.wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
