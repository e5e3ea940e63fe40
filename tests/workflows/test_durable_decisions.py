"""Nothing outside the workflow sees a decision before Temporal has recorded its Update.

The read model's bookkeeping runs as local activities, which run before their workflow task
completes. Were one to write a decision in the task that accepts it, a worker killed and a
server restarted before the task completed would lose the Update (its sender is told it failed)
but keep its effects in the read model: the decision shown as taken and the case moved on, while
the workflow still waits for it, and no one shown it pending any more (tests/stack/test_faults.py
found it so). v4 and v5 applied a decision only after a timer, in a second task. From v6
(workflows/journey.py, V6) a decision takes effect, and its Update completes, in the task that
accepts it, and no local activity with an effect outside the workflow runs in that task: the
service writes the decision and the state after it once the Update has returned, and the
workflow writes them again in its next task. Here, read from the history and the database."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select, update
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from contracts.decisions import FlightChoice, IdentityAttestation, NationalityDecision
from contracts.messages import DecisionReceipt
from contracts.state import CaseState, DecisionKind
from database.models import Case, DecisionRow
from repatriation.service import Rejected, Target
from tests.conftest import CASEWORKER, LIAISON, Harness
from tests.journeys import approve_funding, open_case, through_embassy, through_identity
from workflows.journey import ACCEPTANCE
from workflows.repatriation import RepatriationWorkflow

ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
COMPLETED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
TASK_STARTED = EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
# The local activities whose effects are seen outside the workflow.
SEEN_OUTSIDE = {"sync_read_model", "record_decision", "join_embassy_request"}


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


def update_name(event: HistoryEvent) -> str:
    """The Update an acceptance is of (``attest_identity``, ...)."""
    return str(event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name)


def activities(events: list[HistoryEvent]) -> dict[int, str]:
    """The activity type of each activity scheduled, by its scheduled event's id."""
    return {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }


def first_write_woken_by(events: list[HistoryEvent], index: int) -> list[tuple[str, int]]:
    """The activities (type, scheduled event id) whose completion woke the workflow task in which
    the case first wrote its read model after the event at ``index``."""
    first_write = next(i for i in range(index, len(events)) if local_activity(events[i]) == "sync_read_model")
    task = max(i for i in range(first_write) if events[i].event_type == TASK_STARTED)
    task_before = max(i for i in range(task) if events[i].event_type == TASK_COMPLETED)
    kinds = activities(events)
    ids = [
        e.activity_task_completed_event_attributes.scheduled_event_id
        for e in events[task_before:task]
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    ]
    return [(kinds[i], i) for i in ids]


def acceptance_timer(event: HistoryEvent) -> bool:
    if event.event_type != EventType.EVENT_TYPE_TIMER_STARTED:
        return False
    return event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == ACCEPTANCE


def decided(h: Harness, case_id: str) -> list[str]:
    with h.db.session() as s:
        return list(s.scalars(select(DecisionRow.kind).where(DecisionRow.case_id == case_id)))


async def until_written(h: Harness, case_id: str, kind: DecisionKind) -> None:
    """Until the decision is in the decisions table (within 30 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while kind not in decided(h, case_id):
        assert loop.time() < deadline, f"the case never wrote the {kind} decision"
        await asyncio.sleep(0.05)


def row_state(h: Harness, case_id: str) -> tuple[CaseState, int]:
    with h.db.session() as s:
        row = s.execute(select(Case.state, Case.state_seq).where(Case.id == case_id)).one()
    return CaseState.model_validate(row.state), row.state_seq


async def test_a_decision_takes_effect_in_the_task_that_accepts_it_and_nothing_outside_sees_it_there(
    harness: Harness,
) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await through_embassy(h, case_id)
    await h.wait_pending(case_id, DecisionKind.flight_choice)

    events = list((await h.handle(case_id).fetch_history()).events)
    accepted = [i for i, e in enumerate(events) if e.event_type == ACCEPTED]
    assert len(accepted) == 4  # identity attestation, funding approval, nationality, ETD
    activity = activities(events)
    completed_at_once = 0
    settling_timers: list[str] = []
    for index in accepted:
        with_it, later = after_acceptance(events, index)
        kinds = {e.event_type for e in with_it}
        # Nothing written outside the workflow in the task that took the decision.
        assert not SEEN_OUTSIDE & {local_activity(e) for e in with_it}
        # The workflow writes what it decided in a later task: v8, that of a timer of a
        # millisecond started once the decision took effect; v12, that of a document the decision
        # asked for, when there is one; v10, the funding approval's, where its funds are committed.
        assert "sync_read_model" in {local_activity(e) for e in later}
        completed_at_once += COMPLETED in kinds
        if any(acceptance_timer(e) for e in with_it):
            settling_timers.append(update_name(events[index]))
    # Every decision completes in its accepting task but the funding approval, which first
    # commits the funds (an activity).
    assert completed_at_once == 3
    # v12: the identity attestation asks for the ETD application (and the identity report), the
    # ETD issued for the exit clearance: each is settled by its document, which an activity
    # renders. Only the nationality, which asks for nothing, takes the millisecond's timer. v10:
    # the funding approval is settled by its commitment. That timer is all the case started.
    assert settling_timers == ["decide_nationality"]
    assert sum(acceptance_timer(e) for e in events) == 1
    attested = accepted[0]
    assert update_name(events[attested]) == "attest_identity"
    # The case's own write after the attestation comes in the task that a document woke: a
    # render scheduled after the acceptance, completed once that task was recorded.
    woke_by = first_write_woken_by(events, attested)
    assert woke_by, "the case wrote before any document came back"
    kind, scheduled = woke_by[0]
    assert kind == "render_document" and scheduled > events[attested].event_id
    committed = next(
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and activity[e.activity_task_completed_event_attributes.scheduled_event_id] == "commit_funds"
    )
    its_task = next(i for i in range(committed, len(events)) if events[i].event_type == TASK_STARTED)
    recorded_there, _ = after_acceptance(events, its_task)
    assert "sync_read_model" in {local_activity(e) for e in recorded_there}
    assert sorted(decided(h, case_id)) == sorted(
        [DecisionKind.identity_attestation, DecisionKind.funding, DecisionKind.nationality, DecisionKind.etd]
    )


async def test_what_a_person_reads_right_after_deciding_shows_the_decision(harness: Harness) -> None:
    """After the nationality is confirmed the case only waits for the ETD: no task of its own
    follows, so the read model is right because the service wrote it before answering."""
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await h.wait_pending(case_id, DecisionKind.nationality)
    answered = await h.service.decide(case_id, DecisionKind.nationality, {"confirmed": True}, LIAISON)

    state, _ = row_state(h, case_id)
    assert [p.kind for p in state.pending] == [DecisionKind.etd] == [p.kind for p in answered.pending]
    assert state.nationality_confirmed is True
    assert DecisionKind.nationality in decided(h, case_id)
    listed = {c.case_id: c for c in h.service.list_for(LIAISON, page_size=500).items}
    assert listed[case_id].waiting_for == [DecisionKind.etd]


async def test_a_decision_the_service_never_wrote_is_written_by_the_workflow(harness: Harness) -> None:
    """Should the service die between the Update and its write, the workflow's next task writes
    the decision; and a person who acts on the list still showing it pending is told it was
    decided, and the list is mended."""
    h = harness
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    # Straight to Temporal, as if the service died once the Update returned.
    await h.handle(case_id).execute_update(
        RepatriationWorkflow.attest_identity, IdentityAttestation(verified=True, decided_by="cw-anna")
    )
    # Its next task (a document rendered) writes the decision and the state after it.
    await until_written(h, case_id, DecisionKind.identity_attestation)

    await approve_funding(h, case_id)
    await h.wait_pending(case_id, DecisionKind.nationality)
    await h.handle(case_id).execute_update(
        RepatriationWorkflow.decide_nationality, NationalityDecision(confirmed=True, decided_by="liaison-any")
    )
    # Nothing follows in the workflow until the embassy decides the ETD: the row is behind.
    state, _ = row_state(h, case_id)
    assert state.pending_of(DecisionKind.nationality) is not None
    with pytest.raises(Rejected, match="nationality was already decided"):
        await h.service.decide(case_id, DecisionKind.nationality, {"confirmed": True}, LIAISON)
    state, _ = row_state(h, case_id)
    assert [p.kind for p in state.pending] == [DecisionKind.etd]
    assert DecisionKind.nationality in decided(h, case_id)


async def test_a_decision_nothing_follows_is_written_by_the_case_at_once(harness: Harness) -> None:
    """After the nationality is confirmed the case only waits for the embassy's ETD decision,
    days away. Should the service's write never come, the case writes the decision itself in the
    task of the timer that settles it (v8), not at the next reminder."""
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await h.wait_pending(case_id, DecisionKind.nationality)
    await h.handle(case_id).execute_update(
        RepatriationWorkflow.decide_nationality, NationalityDecision(confirmed=True, decided_by="liaison-any")
    )
    # The settling timer, started in the task that took the decision, fires and its task writes.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not settled_and_wrote(list((await h.handle(case_id).fetch_history()).events)):
        assert loop.time() < deadline, "the case never wrote the decision"
        await asyncio.sleep(0.05)
    state, _ = row_state(h, case_id)
    assert [p.kind for p in state.pending] == [DecisionKind.etd]
    assert state.nationality_confirmed is True
    assert DecisionKind.nationality in decided(h, case_id)


async def test_a_decision_settled_by_its_booking_is_written_by_the_case_in_the_booking_s_task(
    harness: Harness,
) -> None:
    """v12: the flight choice books the flight, an activity that Temporal hands out only once the
    choice's task is recorded. Should the service's write never come, the case writes the choice
    in the task where the booking came back, and starts no timer of a millisecond for it."""
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await through_embassy(h, case_id)
    state = await h.wait_pending(case_id, DecisionKind.flight_choice)
    option = state.flight_options[0].option_id
    # Straight to Temporal, as if the service died once the Update returned.
    await h.handle(case_id).execute_update(
        RepatriationWorkflow.choose_flight, FlightChoice(option_id=option, decided_by="cw-anna")
    )
    await until_written(h, case_id, DecisionKind.flight_choice)

    events = list((await h.handle(case_id).fetch_history()).events)
    chosen = [i for i, e in enumerate(events) if e.event_type == ACCEPTED][-1]
    assert update_name(events[chosen]) == "choose_flight"
    with_it, _ = after_acceptance(events, chosen)
    assert not SEEN_OUTSIDE & {local_activity(e) for e in with_it}
    assert not any(acceptance_timer(e) for e in with_it)
    woke_by = [kind for kind, _ in first_write_woken_by(events, chosen)]
    assert woke_by == ["book_flight"]
    state, _ = row_state(h, case_id)
    assert state.booking is not None and state.booking.status == "ticketed"


def settled_and_wrote(events: list[HistoryEvent]) -> bool:
    """The last decision's task started the timer that settles it (v8), the timer fired, and the
    case's write followed, with nothing written outside the workflow in the decision's task."""
    accepted = [i for i, e in enumerate(events) if e.event_type == ACCEPTED][-1]
    with_it, _ = after_acceptance(events, accepted)
    assert not SEEN_OUTSIDE & {local_activity(e) for e in with_it}
    (started,) = [e for e in with_it if acceptance_timer(e)]
    timer_id = started.timer_started_event_attributes.timer_id
    fired = [
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED
        and e.timer_fired_event_attributes.timer_id == timer_id
    ]
    return bool(fired) and "sync_read_model" in {local_activity(e) for e in events[fired[0] :]}


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
    # ... and the row is mended from it.
    mended, seq = row_state(h, case_id)
    assert seq >= receipt.seq and mended.identity_verified is True


async def test_a_decision_taken_while_the_workflow_cannot_answer_shows_the_row_as_it_is(
    harness: Harness,
) -> None:
    """The Update returned, so the decision is Temporal's; should the workflow not answer the
    query that brings the read model up to it, the person is shown the row as it is, not an
    error, and the row is left for the workflow's next task."""
    h = harness
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    before, seq = row_state(h, case_id)
    target = h.service.target(CASEWORKER, case_id)
    unanswered = Target(id=target.id, reference=target.reference, workflow_id="no-such-workflow")
    receipt = DecisionReceipt(
        case_id=case_id, decision_id="d-1", kind=DecisionKind.identity_attestation, seq=seq + 1
    )
    shown = await h.service.state_after(unanswered, receipt)
    assert shown == before
    assert row_state(h, case_id) == (before, seq)
