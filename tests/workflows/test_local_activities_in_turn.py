"""A case runs one local activity at a time (journey.V11).

The SDK hands a workflow its local activities' results in the order they completed when it runs
them, and in the order they were scheduled when it rebuilds the case from its history
(temporalio/sdk-python#1578). Two steps of a case whose local activities overlapped (the read
model's writer beside the identity checks, the cost estimate or the embassy request) could then
resume in another order on replay, schedule their next commands in another order, and fail every
workflow task of the case from then on: it happened once in CI, in
tests/workflows/test_replay_every_task.py. Here the read model's write is slowed, as a busy
database slows it, so that whatever the case asks for while it runs would overlap it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor, Replayer

from contracts.state import Outcome
from tests.conftest import harness_for
from tests.journeys import open_case, walk_to_closure
from tests.workflows.test_replay_every_task import failed_tasks
from workflows.embassy_requests import EmbassyRequestsWorkflow
from workflows.repatriation import RepatriationWorkflow

SLOW_WRITE = 0.4  # seconds; a local activity the case asks for meanwhile runs in a few milliseconds


@dataclass(frozen=True)
class Run:
    workflow_id: str
    activity_type: str
    seq: str  # the local activity's sequence number in its case (its activity id)
    began: float
    ended: float


class SlowReadModel(Interceptor):
    """Delays each write of the read model, and notes when every local activity ran."""

    def __init__(self) -> None:
        self.runs: list[Run] = []

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Timed(next, self)


class _Timed(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: SlowReadModel) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if not info.is_local:
            return await super().execute_activity(input)
        began = time.monotonic()
        try:
            if info.activity_type == "sync_read_model":
                await asyncio.sleep(SLOW_WRITE)
            return await super().execute_activity(input)
        finally:
            run = Run(info.workflow_id, info.activity_type, info.activity_id, began, time.monotonic())
            self.owner.runs.append(run)


def overlapping(runs: list[Run]) -> list[tuple[str, str]]:
    """Pairs of a case's local activities that ran at the same time."""
    ordered = sorted(runs, key=lambda r: r.began)
    return [
        (a.activity_type, b.activity_type)
        for i, a in enumerate(ordered)
        for b in ordered[i + 1 :]
        if b.began < a.ended and b.seq != a.seq
    ]


def test_overlapping_finds_runs_at_the_same_time() -> None:
    runs = [Run("w", "sync_read_model", "3", 0.0, 0.4), Run("w", "join_embassy_request", "4", 0.1, 0.2)]
    assert overlapping(runs) == [("sync_read_model", "join_embassy_request")]
    assert overlapping([runs[0], Run("w", "estimate_costs", "5", 0.4, 0.5)]) == []


async def test_a_case_runs_one_local_activity_at_a_time(local_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    timed = SlowReadModel()
    async with harness_for(local_env, tmp_path, interceptors=[timed]) as h:
        case_id = await open_case(h, 1)
        await walk_to_closure(h, case_id)
        handle = h.handle(case_id)
        assert (await handle.result()).outcome == Outcome.repatriated
        history = await handle.fetch_history()
        assert await failed_tasks(h, case_id) == []

    runs = [r for r in timed.runs if r.workflow_id == handle.id]
    kinds = {r.activity_type for r in runs}
    assert {"run_identity_checks", "estimate_costs", "join_embassy_request", "sync_read_model"} <= kinds
    assert overlapping(runs) == []
    replayer = Replayer(
        workflows=[RepatriationWorkflow, EmbassyRequestsWorkflow], data_converter=pydantic_data_converter
    )
    assert (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure is None
