"""A deadline a supervisor extends is escalated again when the new one passes: the supervisors
are mailed a second overdue notice, once (time-skipping server)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from activities.notices import NoticeActivities
from activities.outbox import open_mail, outbox_mails
from contracts.messages import Notice
from contracts.state import DecisionKind, PendingDecision, Role
from database.models import AuditEntry, NoticeRow
from repatriation.service import Invalid
from tests.conftest import SUPERVISOR, Harness
from tests.journeys import open_case


def overdue_mails(h: Harness) -> list[str]:
    mails = [open_mail(h.deps.sealer, p) for p in outbox_mails(h.settings.outbox_dir)]
    return sorted(str(m["Subject"]) for m in mails if str(m["Subject"]).startswith("Overdue"))


def overdue_notices(h: Harness, case_id: str) -> list[NoticeRow]:
    with h.db.session() as s:
        rows = s.scalars(select(NoticeRow).where(NoticeRow.case_id == case_id, NoticeRow.kind == "overdue"))
        return sorted(rows, key=lambda n: n.sent_at)


async def test_the_extended_deadline_is_escalated_again(isolated_harness: Harness) -> None:
    h = isolated_harness
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)

    await h.env.sleep(timedelta(days=7, hours=1))  # past the first deadline
    await h.wait_for(case_id, lambda s: sum(e.event == "overdue" for e in s.history) == 1, "overdue")
    await h.wait_for(case_id, lambda s: len(overdue_notices(h, case_id)) == 1, "the first overdue notice")
    assert len(overdue_mails(h)) == 1

    state = await h.service.intervene(
        case_id,
        {
            "action": "extend_deadline",
            "kind": "identity_attestation",
            "days": 2,
            "justification": "the caseworker was ill, two more days",
        },
        SUPERVISOR,
    )
    pending = state.pending_of(DecisionKind.identity_attestation)
    assert pending is not None and not pending.overdue

    await h.env.sleep(timedelta(days=2, hours=2))  # past the extended deadline
    state = await h.wait_for(
        case_id, lambda s: sum(e.event == "overdue" for e in s.history) == 2, "the second overdue"
    )
    await h.wait_for(case_id, lambda s: len(overdue_notices(h, case_id)) == 2, "the second overdue notice")
    first, second = overdue_notices(h, case_id)
    assert first.id != second.id and first.to_address == second.to_address == h.settings.supervisors_email
    mails = overdue_mails(h)
    assert len(mails) == 2 and all(state.reference in m for m in mails)

    # A retry of the second escalation (the same notice, as Temporal would retry the activity)
    # mails nothing more.
    pending = state.pending_of(DecisionKind.identity_attestation)
    assert pending is not None and pending.overdue
    NoticeActivities(h.deps).send_notice(
        Notice(
            case_id=case_id,
            notice_id=second.id,
            kind="overdue",
            to_role=Role.supervisor,
            subject=second.subject,
            body="a retry",
        )
    )
    assert len(overdue_mails(h)) == 2 and len(overdue_notices(h, case_id)) == 2


async def test_the_same_intervention_sent_twice_is_applied_once(harness: Harness) -> None:
    """A double click, or a client's retry after a timeout, sends the same intervention again:
    with the form's request id (the API's Idempotency-Key) it is applied and audited once, and
    answered as the first was; another request extends again."""
    h = harness
    case_id, before = await _awaiting_attestation(h)

    first, again = await asyncio.gather(
        h.service.intervene(case_id, EXTEND, SUPERVISOR, "form-0a1b2c3d"),
        h.service.intervene(case_id, EXTEND, SUPERVISOR, "form-0a1b2c3d"),
    )
    at_once = audited(h, case_id)
    assert at_once in (1, 2)  # two sent at the very same moment may both be audited; applied once
    later = await h.service.intervene(case_id, EXTEND, SUPERVISOR, "form-0a1b2c3d")
    assert audited(h, case_id) == at_once  # a second click after the first was answered: not audited again
    for state in (first, again, later):
        pending = state.pending_of(DecisionKind.identity_attestation)
        assert pending is not None and pending.deadline == before.deadline + timedelta(days=3)
    assert (await h.service.intervene(case_id, EXTEND, SUPERVISOR, "form-4e5f6a7b")).pending_of(
        DecisionKind.identity_attestation
    ).deadline == before.deadline + timedelta(days=6)  # type: ignore[union-attr]
    with pytest.raises(Invalid, match="request_id"):
        await h.service.intervene(case_id, EXTEND, SUPERVISOR, "x")


async def test_an_intervention_taken_but_not_audited_is_audited_when_sent_again(harness: Harness) -> None:
    """The first answer never came back (here: its audit entry could not be written); the same
    request sent again is answered as taken and its entry written then, once. A request changed
    under the same id (7 days, not 3) is another intervention."""
    h = harness
    case_id, before = await _awaiting_attestation(h)

    with h.db.session() as s:
        s.execute(text("CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'x'); END"))
    await h.service.intervene(case_id, EXTEND, SUPERVISOR, "form-99aa88bb")
    with h.db.session() as s:
        s.execute(text("DROP TRIGGER no_audit"))
    assert audited(h, case_id) == 0
    for _ in range(2):
        state = await h.service.intervene(case_id, EXTEND, SUPERVISOR, "form-99aa88bb")
        assert audited(h, case_id) == 1
    pending = state.pending_of(DecisionKind.identity_attestation)
    assert pending is not None and pending.deadline == before.deadline + timedelta(days=3)

    changed = await h.service.intervene(case_id, {**EXTEND, "days": 7}, SUPERVISOR, "form-99aa88bb")
    pending = changed.pending_of(DecisionKind.identity_attestation)
    assert pending is not None and pending.deadline == before.deadline + timedelta(days=10)
    assert audited(h, case_id) == 2


EXTEND = {
    "action": "extend_deadline",
    "kind": "identity_attestation",
    "days": 3,
    "justification": "the survivor is in hospital until Friday",
}


async def _awaiting_attestation(h: Harness) -> tuple[str, PendingDecision]:
    """A new case and its pending identity attestation."""
    case_id = await open_case(h, 0)
    before = (await h.wait_pending(case_id, DecisionKind.identity_attestation)).pending_of(
        DecisionKind.identity_attestation
    )
    assert before is not None
    return case_id, before


def audited(h: Harness, case_id: str) -> int:
    """The case's audit entries of deadline extensions."""
    with h.db.session() as s:
        action = AuditEntry.action == "intervention.extend_deadline"
        return len(s.scalars(select(AuditEntry).where(action, AuditEntry.case_id == case_id)).all())
