"""Histories recorded from earlier versions replay against the current workflow code, so a
change that breaks determinism for cases in flight fails the build. v1 was recorded before the
closure notice (guarded by workflow.patched) was added; v2 after; v3 after the journey was made
for mass releases (workflows/journey.py, V3: local bookkeeping, the paperwork queue, records
beside the journey, consolidated embassy requests); v4 once decisions took effect only after
their Update's acceptance was recorded (workflows/repatriation.py, DURABLE_DECISIONS); v5 once a
case was marked once for all of them and kept no NextDeadline search attribute (journey.V5); v6
once a decision took effect in the workflow task that accepted it (journey.V6); v7 once the case
wrote its decisions within a backstop's timer (journey.V7); v8 once the case counted the tasks
that took decisions itself instead of reading the history's length (journey.V8); v9 once a
reminder or an overdue notice was mailed beside the wait for the decision (journey.V9); v10 once
a funding approval was settled by the commitment of its funds (journey.V10); v11 once a case ran
one local activity at a time (journey.V11); v12 once a decision that asks for a document was
settled by that document (journey.V12).
v7-second-flight-choice was recorded before a second flight choice during a booking was refused:
it took one, and replays so (workflows/repatriation.py, ONE_FLIGHT_CHOICE)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from workflows.embassy_requests import EmbassyRequestsWorkflow
from workflows.repatriation import RepatriationWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_from_before_and_after_the_patch() -> None:
    names = {p.stem.split("-")[0] for p in HISTORIES}
    assert {"v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12"} <= names
    assert any(p.stem == "v3-embassy-requests" for p in HISTORIES)  # the embassy's batcher too


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    workflow_id = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"].get(
        "workflowId", path.stem
    )
    history = WorkflowHistory.from_json(workflow_id, text)
    replayer = Replayer(
        workflows=[RepatriationWorkflow, EmbassyRequestsWorkflow], data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


async def test_replay_catches_a_nondeterministic_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard works: removing a step that v1 histories contain makes replay fail."""
    from workflows import intake

    async def without_intake_document(j):  # type: ignore[no-untyped-def]
        from contracts.state import Stage

        j.begin(Stage.intake)
        j.finish(Stage.intake)
        await j.sync()

    monkeypatch.setattr(intake, "run", without_intake_document)
    history = WorkflowHistory.from_json("x", HISTORIES[0].read_text(encoding="utf-8"))
    replayer = Replayer(
        workflows=[RepatriationWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),  # so that the monkeypatch is seen
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
