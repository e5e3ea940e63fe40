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


# What made the server schedule a workflow task: the first event of these kinds since the previous
# task was scheduled (an Update is seen after the task that accepted it). A task with none of them
# ("nothing new") was asked for by no event of the history: a query that came while the case had
# a task in flight (the server then schedules one more task to answer it), or the SDK's own
# (a local activity outlasting the task's heartbeat).
CAUSES = {
    "workflow_execution_started": "start",
    "activity_task_completed": "activity",
    "activity_task_failed": "activity",
    "activity_task_timed_out": "activity",
    "activity_task_canceled": "activity",
    "timer_fired": "timer",
    "workflow_execution_signaled": "signal",
    "workflow_execution_update_admitted": "update",
    "workflow_execution_update_accepted": "update",
    "workflow_task_failed": "retry",
    "workflow_task_timed_out": "retry",
}
NOTHING_NEW = "nothing new"


def task_causes(history: WorkflowHistory) -> Counter[str]:
    """The workflow tasks of one history, counted by what made the server schedule each."""
    causes: Counter[str] = Counter()
    trigger: str | None = None  # since the last task was scheduled
    current: str | None = None  # the cause of the last task scheduled, once known
    scheduled = False
    for event in history.events:
        name = (event.WhichOneof("attributes") or "").removesuffix("_event_attributes")
        if name == "workflow_task_scheduled":
            if scheduled:
                causes[current or NOTHING_NEW] += 1
            current, trigger, scheduled = trigger, None, True
            continue
        cause = CAUSES.get(name)
        if cause == "update" and current is None and trigger is None:
            current = "update"  # accepted by the task scheduled last, which it caused
        elif cause is not None and trigger is None:
            trigger = cause
    if scheduled:
        causes[current or NOTHING_NEW] += 1
    return causes


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
    causes: Counter[str] = Counter()
    for history in histories:
        causes.update(task_causes(history))
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
        "task_causes": {cause: count / n for cause, count in causes.most_common()},
        "by_kind": {
            k: {"events": events[k] / n, "kb": size[k] / n / 1024} for k in order if events[k] or size[k]
        },
    }
