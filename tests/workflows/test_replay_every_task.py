"""Every workflow task of a journey replayed from the start: with no workflow cache, the worker
rebuilds each case from its history before each task, so a command that depends on anything but
the history (how the worker happened to see the case last time) fails that task. The fault test
(tests/stack/test_faults.py) meets the same at random, when it kills the worker; here it is met
at every task of a whole journey, and of a withdrawal."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import EventType

from contracts.state import DecisionKind, Outcome
from repatriation.temporal import WorkerTuning
from tests.conftest import CASEWORKER, Harness, harness_for
from tests.journeys import approve_funding, open_case, through_identity, walk_to_closure


async def failed_tasks(h: Harness, case_id: str) -> list[str]:
    """Why its workflow tasks failed (a task timed out on a busy machine is not one of them)."""
    events = (await h.handle(case_id).fetch_history()).events
    return [
        e.workflow_task_failed_event_attributes.failure.message
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


async def test_a_journey_replayed_at_every_task(local_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with harness_for(local_env, tmp_path, tuning=WorkerTuning(max_cached_workflows=0)) as h:
        happy = await open_case(h, 1)
        await walk_to_closure(h, happy)
        assert (await h.handle(happy).result()).outcome == Outcome.repatriated

        withdrawn = await open_case(h, 0)
        await through_identity(h, withdrawn)
        await approve_funding(h, withdrawn)
        await h.wait_pending(withdrawn, DecisionKind.nationality)
        await h.service.decide(withdrawn, DecisionKind.consent_withdrawal, {"reason": "x"}, CASEWORKER)
        assert (await h.handle(withdrawn).result()).outcome == Outcome.withdrawn

        for case_id in (happy, withdrawn):
            assert await failed_tasks(h, case_id) == [], case_id
