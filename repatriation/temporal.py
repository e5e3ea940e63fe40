"""The Temporal client and worker, always with the pydantic data converter."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.deps import Deps
from activities.registry import build_activities
from activities.stuck import StuckInterceptor
from repatriation.codec import data_converter
from repatriation.settings import Settings
from workflows.repatriation import RepatriationWorkflow

WORKFLOWS = [RepatriationWorkflow]


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
    )


def build_worker(client: Client, deps: Deps, executor: ThreadPoolExecutor) -> Worker:
    """A worker for every workflow and activity. ``executor`` runs the blocking activities."""
    return Worker(
        client,
        task_queue=deps.settings.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(deps),
        activity_executor=executor,
        max_concurrent_activities=deps.settings.activity_threads,
        max_cached_workflows=2000,
        interceptors=[StuckInterceptor(deps.db, deps.settings.stuck_after_attempts)],
    )


async def run_worker(settings: Settings) -> None:
    client = await connect(settings)
    deps = Deps.from_settings(settings)
    with ThreadPoolExecutor(max_workers=settings.activity_threads) as executor:
        await build_worker(client, deps, executor).run()
