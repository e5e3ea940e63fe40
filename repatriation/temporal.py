"""The Temporal client and worker, always with the pydantic data converter."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client, TLSConfig
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.deps import Deps
from activities.registry import build_activities
from activities.stuck import StuckInterceptor
from repatriation.codec import data_converter
from repatriation.settings import Settings
from workflows.repatriation import RepatriationWorkflow

WORKFLOWS = [RepatriationWorkflow]


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


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run a worker until ``stop`` is set; then it finishes the activities in hand (graceful)."""
    from repatriation import metrics

    runtime = metrics.start_worker_metrics(settings.metrics_address) if settings.metrics_address else None
    client = await connect(settings, runtime)
    deps = Deps.from_settings(settings)
    with ThreadPoolExecutor(max_workers=settings.activity_threads) as executor:
        worker = build_worker(client, deps, executor)
        if stop is None:
            await worker.run()
            return
        async with worker:
            await stop.wait()
