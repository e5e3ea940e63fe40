"""A workflow that cannot make progress at all (its task keeps failing, as after a bad deploy)
is found by the sweep and listed as stuck; it leaves the list when it recovers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from temporalio import workflow
from temporalio.worker import Worker

from access.actor import operator
from activities.stuck import sweep_workflow_tasks
from contracts.state import DecisionKind, Role
from database.models import Case, DecisionRow
from repatriation.service import NotReady, case_reference
from tests.conftest import ORG, Harness, harness_for

BROKEN = {"on": True}


@workflow.defn(sandboxed=False)
class BrokenDeploy:
    @workflow.run
    async def run(self) -> str:
        if BROKEN["on"]:
            raise RuntimeError("a bug shipped in the new worker")  # fails the workflow task, not the run
        return "recovered"


async def test_sweep_lists_a_workflow_whose_task_keeps_failing(local_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with harness_for(local_env, tmp_path) as h:
        await _stalled_then_recovered(h)


async def _stalled_then_recovered(h: Harness) -> None:
    case_id = str(uuid.uuid4())
    workflow_id = f"broken-{case_id}"
    now = datetime.now(UTC)
    with h.db.session() as s:
        s.add(
            Case(
                id=case_id,
                reference=case_reference(case_id),
                organisation=ORG,
                caseworker="x",
                workflow_id=workflow_id,
                nationality="IDN",
                profile={},
                date_of_birth=now.date(),
                name_key="x",
                stage="identity",
                opened_at=now,
                updated_at=now,
                state={},
            )
        )
    queue = f"broken-{uuid.uuid4()}"
    BROKEN["on"] = True
    async with Worker(h.env.client, task_queue=queue, workflows=[BrokenDeploy]):
        # A failing workflow task's later attempts are paced by the workflow's task timeout: with
        # the default 10 s the fix was picked up 14 s after it was deployed, with 2 s in 0.5 s.
        handle = await h.env.client.start_workflow(
            BrokenDeploy.run, id=workflow_id, task_queue=queue, task_timeout=timedelta(seconds=2)
        )
        boss = operator("sup", Role.supervisor, ORG, "test")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not h.service.stuck_for(boss, reason="workflow_task_failing"):
            assert loop.time() < deadline, "the stalled workflow was never listed"
            await sweep_workflow_tasks(h.env.client, h.db)
            await asyncio.sleep(0.2)
        item = h.service.stuck_for(boss)[0]
        assert item.case_id == case_id and item.attempts >= 2 and item.stage == "identity"

        # A caseworker's decision meanwhile is not taken, and she is told so truly: the case is
        # open, its workflow not ready, nothing recorded, to be sent again (not "closed").
        caseworker = operator("cw", Role.caseworker, ORG, "test")
        with pytest.raises(NotReady) as refused:
            await h.service.decide(case_id, DecisionKind.identity_attestation, {"verified": True}, caseworker)
        message = str(refused.value)
        assert refused.value.status == 503
        assert "not ready" in message and "nothing was recorded" in message and "closed" not in message
        with h.db.reading() as s:
            assert s.scalar(select(func.count()).select_from(DecisionRow)) == 0

        BROKEN["on"] = False  # the fix is deployed
        assert await handle.result() == "recovered"
        await sweep_workflow_tasks(h.env.client, h.db)
        assert h.service.stuck_for(boss) == []
