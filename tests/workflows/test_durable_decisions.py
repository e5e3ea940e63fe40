"""A decision takes effect only once Temporal has recorded the Update as accepted.

The read model's bookkeeping runs as local activities inside the workflow task that runs an
Update's handler, before that task completes. Were the decision applied and recorded there, a
worker killed and a server restarted before the task completed would lose the Update (its
sender is told it failed) but keep its effects in the read model: the decision shown as taken
and the case moved on, while the workflow still waits for it, and no one is shown it pending
any more (tests/stack/test_faults.py found it so). Here, read from the history: every Update is
accepted in a workflow task that changes nothing and records nothing; the decision is applied,
and recorded in the database, in a later one."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select, update
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from contracts.messages import DecisionReceipt
from contracts.state import CaseState, DecisionKind
from database.models import Case, DecisionRow
from repatriation.service import Rejected
from tests.conftest import CASEWORKER, Harness
from tests.journeys import approve_funding, open_case, through_identity

ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
TASK_STARTED = EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED


def local_activity(event: HistoryEvent) -> str | None:
    """The activity type a local activity's marker records, or None for another event."""
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    attributes = event.marker_recorded_event_attributes
    if attributes.marker_name != "core_local_activity":
        return None
    data = json.loads(attributes.details["data"].payloads[0].data)
    return str(data["activity_type"])


def after_acceptance(events: list[HistoryEvent], index: int) -> tuple[list[HistoryEvent], list[HistoryEvent]]:
    """The events the accepting workflow task recorded with the acceptance, and those after."""
    end = next(
        (i for i in range(index + 1, len(events)) if events[i].event_type == TASK_STARTED), len(events)
    )
    return events[index + 1 : end], events[end:]


async def test_every_decision_is_applied_after_its_acceptance_is_recorded(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await h.wait_pending(case_id, DecisionKind.nationality)

    events = list((await h.handle(case_id).fetch_history()).events)
    accepted = [i for i, e in enumerate(events) if e.event_type == ACCEPTED]
    assert len(accepted) == 2  # identity attestation, funding approval
    for index in accepted:
        with_it, later = after_acceptance(events, index)
        # The accepting task starts the acceptance timer and records no decision.
        assert EventType.EVENT_TYPE_TIMER_STARTED in {e.event_type for e in with_it}
        assert "record_decision" not in {local_activity(e) for e in with_it}
        # The decision is recorded (with the state after it) in a later workflow task.
        assert "record_decision" in {local_activity(e) for e in later}


async def test_two_decisions_at_once_one_taken_one_refused(harness: Harness) -> None:
    """Between its acceptance and its effect a decision is held as being applied: the same
    decision sent twice at once (two caseworkers, a double click) is taken once."""
    h = harness
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    attest = [
        h.service.decide(case_id, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER)
        for _ in range(2)
    ]
    results = await asyncio.gather(*attest, return_exceptions=True)
    taken = [r for r in results if isinstance(r, CaseState)]
    refused = [r for r in results if isinstance(r, Rejected)]
    assert len(taken) == 1 and len(refused) == 1, results
    with h.db.session() as s:
        kinds = list(s.scalars(select(DecisionRow.kind).where(DecisionRow.case_id == case_id)))
    assert kinds == [DecisionKind.identity_attestation]


async def test_a_decision_s_update_returns_a_receipt_and_the_service_the_state_carrying_it(
    harness: Harness,
) -> None:
    """The Update's result is kept in the history: a receipt naming the read model's write that
    carries the decision, not the whole state; the person is shown the state from the read model."""
    h = harness
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    state = await h.service.decide(case_id, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER)
    assert state.identity_verified is True and state.pending_of(DecisionKind.identity_attestation) is None

    events = list((await h.handle(case_id).fetch_history()).events)
    completed = [
        e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
    ]
    assert len(completed) == 1
    outcome = completed[0].workflow_execution_update_completed_event_attributes.outcome.success.payloads
    (receipt,) = await h.env.client.data_converter.decode(outcome, [DecisionReceipt])
    assert isinstance(receipt, DecisionReceipt) and receipt.kind == DecisionKind.identity_attestation
    with h.db.session() as s:
        row = s.execute(select(Case.state_seq).where(Case.id == case_id)).one()
        decision_ids = list(s.scalars(select(DecisionRow.id).where(DecisionRow.case_id == case_id)))
    assert receipt.decision_id in decision_ids and 0 < receipt.seq <= row.state_seq

    # A read model behind the receipt (restored from a backup) is not shown: the workflow is asked.
    with h.db.session() as s:
        s.execute(
            update(Case).where(Case.id == case_id).values(state_seq=receipt.seq - 1, state={"stale": True})
        )
    target = h.service.target(CASEWORKER, case_id)
    live = await h.service.state_after(target, receipt)
    assert live.case_id == case_id and live.identity_verified is True
