"""A human wait reminds half-way and is flagged overdue at its deadline (time-skipping server)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.outbox import open_mail, outbox_mails
from contracts.state import DecisionKind, Outcome, Stage, StageStatus
from database.models import Case, NoticeRow
from repatriation.ports import free_port
from tests.conftest import CASEWORKER, Harness, binary, harness_for
from tests.journeys import open_case
from tests.stack.conftest import reserved_port
from workflows.repatriation import RepatriationWorkflow


async def test_identity_attestation_reminder_then_overdue(isolated_harness: Harness) -> None:
    h = isolated_harness
    case_id = await open_case(h, 0)
    state = await h.wait_pending(case_id, DecisionKind.identity_attestation)
    pending = state.pending_of(DecisionKind.identity_attestation)
    assert pending is not None and pending.deadline - pending.since == timedelta(days=7)

    await h.env.sleep(timedelta(days=3, hours=13))  # past half of the 7 days
    state = await h.wait_for(case_id, lambda s: any(e.event == "reminder" for e in s.history), "reminder")
    pending = state.pending_of(DecisionKind.identity_attestation)
    assert pending is not None and pending.reminders_sent == 1 and not pending.overdue
    mails = [open_mail(h.deps.sealer, p) for p in outbox_mails(h.settings.outbox_dir)]
    assert [m["To"] for m in mails] == ["caseworkers@shelter.example"]
    assert "Reminder" in mails[0]["Subject"] and state.reference in mails[0]["Subject"]

    await h.env.sleep(timedelta(days=3, hours=12))  # past the deadline
    state = await h.wait_for(case_id, lambda s: any(e.event == "overdue" for e in s.history), "overdue")
    with h.db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.overdue is True
        kinds = sorted(n.kind for n in s.scalars(select(NoticeRow).where(NoticeRow.case_id == case_id)))
    assert kinds == ["overdue", "reminder"]
    # The case still waits for the decision: a late attestation carries it on.
    assert state.pending_of(DecisionKind.identity_attestation) is not None


async def test_a_decision_in_a_mail_outage_takes_effect_and_its_reminder_is_dropped(tmp_path: Path) -> None:
    """The reminders went out while the mail server refused them (journey v9: mailed beside the
    wait): an attestation taken meanwhile moves the case on, a withdrawal closes its case, and
    the reminder about the decision already taken is cancelled rather than mailed later."""
    held = reserved_port()  # the mail server: refusing
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        port=free_port(),
    )
    try:
        refusing = f"smtp://127.0.0.1:{held.getsockname()[1]}"
        async with harness_for(env, tmp_path, smtp_url=refusing) as h:
            decide = h.service.decide
            attested, withdrawn = await open_case(h, 0), await open_case(h, 1)
            for case_id in (attested, withdrawn):
                await h.wait_pending(case_id, DecisionKind.identity_attestation)
            await h.env.sleep(timedelta(days=3, hours=13))  # past half of the 7 days
            for case_id in (attested, withdrawn):
                await h.wait_for(case_id, lambda s: any(e.event == "reminder" for e in s.history), "reminder")

            await decide(attested, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER)
            await h.wait_for(attested, lambda s: s.stages[Stage.identity] == StageStatus.done, "identity")
            await decide(withdrawn, DecisionKind.consent_withdrawal, {"reason": "stays"}, CASEWORKER)
            state = await h.wait_for(withdrawn, lambda s: s.outcome is not None, "the case closed")
            assert state.outcome == Outcome.withdrawn

            history = await h.handle(attested).fetch_history()
            cancelled = [e for e in history.events if e.event_type == CANCEL_REQUESTED]
            assert len(cancelled) == 1
            replayer = Replayer(workflows=[RepatriationWorkflow], data_converter=pydantic_data_converter)
            assert (await replayer.replay_workflow(history)).replay_failure is None  # deterministic
            with h.db.session() as s:
                assert s.scalars(select(NoticeRow).where(NoticeRow.kind == "reminder")).all() == []
    finally:
        held.close()
        await env.shutdown()


CANCEL_REQUESTED = EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED
