"""A human wait reminds half-way and is flagged overdue at its deadline (time-skipping server)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from activities.outbox import open_mail, outbox_mails
from contracts.state import DecisionKind
from database.models import Case, NoticeRow
from tests.conftest import Harness
from tests.journeys import open_case


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
