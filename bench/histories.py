"""What the Temporal server keeps of a workflow: the events of its history and their bytes, by
kind. The server writes every event once, hands it to the worker in a workflow task and replays
it to a worker that lost the workflow from its cache, so a case's events and bytes are a measure
of the server's work for it beside bare Temporal's (BENCHMARKS.md)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, WorkflowHistory

# The kinds of event named in the report, in this order (the others are summed as "other").
KINDS = {
    "workflow_task": "workflow tasks (scheduled, started, completed)",
    "activity_task": "activities (scheduled, started, completed)",
    "marker_recorded": "local activities (markers)",
    "workflow_execution_update": "Updates (accepted, completed)",
    "timer": "timers",
    "upsert_workflow_search_attributes": "search attributes upserted",
    "workflow_execution_signaled": "signals",
    "workflow_execution": "start and completion",
}


def _kind(event_name: str) -> str:
    for prefix in KINDS:
        if event_name.startswith(prefix):
            return prefix
    return "other"


async def fetch(client: Client, workflow_ids: Sequence[str], concurrency: int = 16) -> list[WorkflowHistory]:
    limit = asyncio.Semaphore(concurrency)

    async def one(workflow_id: str) -> WorkflowHistory:
        async with limit:
            return await client.get_workflow_handle(workflow_id).fetch_history()

    return list(await asyncio.gather(*(one(w) for w in workflow_ids)))


def profile(histories: Sequence[WorkflowHistory]) -> dict[str, Any]:
    """Per workflow on average: events, kilobytes (the events as stored, payloads included),
    workflow tasks completed, and events and kilobytes by kind."""
    if not histories:
        return {}
    events: Counter[str] = Counter()
    size: Counter[str] = Counter()
    tasks = 0
    for history in histories:
        for event in history.events:
            name = event.WhichOneof("attributes") or "other"
            kind = _kind(name)
            events[kind] += 1
            size[kind] += event.ByteSize()
            if name == "workflow_task_completed_event_attributes":
                tasks += 1
    n = len(histories)
    order = [*KINDS, "other"]
    return {
        "workflows": n,
        "events": sum(events.values()) / n,
        "kb": sum(size.values()) / n / 1024,
        "workflow_tasks": tasks / n,
        "by_kind": {
            k: {"events": events[k] / n, "kb": size[k] / n / 1024} for k in order if events[k] or size[k]
        },
    }
