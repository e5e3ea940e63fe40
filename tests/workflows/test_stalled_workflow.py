"""A workflow that cannot make progress at all (its task keeps failing, as after a bad deploy)
is found by the sweep and listed as stuck; it leaves the list when it recovers. The sweep finds
it both ways: from the server's own flag (``TemporalReportedProblems``, as the embedded stack and
the compose stack configure it) and, on a server without one, by asking about every open case."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from temporalio import workflow
from temporalio.worker import Worker

from access.actor import operator
from activities.stuck import cases_to_sweep, server_reports_problems, sweep_workflow_tasks
from contracts.state import DecisionKind, Role
from database.models import Case, DecisionRow, StuckFlag
from repatriation.service import NotReady
from tests.conftest import ORG, Harness, harness_for
from tests.db_fixtures import make_case

BROKEN = {"on": True}


@workflow.defn(sandboxed=False)
class BrokenDeploy:
    @workflow.run
    async def run(self) -> str:
        if BROKEN["on"]:
            raise RuntimeError("a bug shipped in the new worker")  # fails the workflow task, not the run
        return "recovered"


@pytest.mark.parametrize("reported", [None, False], ids=["server-reported", "every-open-case"])
async def test_sweep_lists_a_workflow_whose_task_keeps_failing(local_env, tmp_path, reported) -> None:  # type: ignore[no-untyped-def]
    async with harness_for(local_env, tmp_path) as h:
        assert await server_reports_problems(h.env.client)
        await _stalled_then_recovered(h, reported)


async def test_a_server_reported_sweep_looks_only_at_cases_in_trouble(local_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With the server's flag a round looks at the workflows it lists and at the cases flagged
    before (to clear those that recovered), not at every open case."""
    async with harness_for(local_env, tmp_path) as h:
        troubled, flagged, healthy, closed = (_add_case(h, f"wf-{n}") for n in range(4))
        with h.db.session() as s:
            s.get(Case, closed).outcome = "repatriated"  # type: ignore[union-attr]
            since = datetime.now(UTC)
            s.add(StuckFlag(case_id=flagged, reason="workflow_task_failing", stage="identity", since=since))
        looked_at = {case_id for case_id, _, _ in cases_to_sweep(h.db, ["wf-0", "wf-3", "not-a-case"])}
        assert looked_at == {troubled, flagged}
        assert {case_id for case_id, _, _ in cases_to_sweep(h.db, None)} == {troubled, flagged, healthy}


def _add_case(h: Harness, workflow_id: str) -> str:
    return make_case(h.db, workflow_id=workflow_id, stage="identity")


async def _stalled_then_recovered(h: Harness, reported: bool | None) -> None:
    workflow_id = f"broken-{uuid.uuid4()}"
    case_id = _add_case(h, workflow_id)
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
            await sweep_workflow_tasks(h.env.client, h.db, reported=reported)
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
        await sweep_workflow_tasks(h.env.client, h.db, reported=reported)
        assert h.service.stuck_for(boss) == []
