"""Stuck cases: overdue decisions, steps failing again and again, steps failed for good, holds;
and the supervisors' interventions. The stuck list is checked right after every change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus

from access import users
from access.actor import operator
from contracts.messages import CaseStart
from contracts.state import DecisionKind, Outcome, Role
from database.models import AuditEntry, Case
from repatriation.service import Forbidden, Invalid, Rejected, case_reference, name_key
from repatriation.synthetic import open_request
from tests.conftest import CASEWORKER, LIAISON, ORG, SUPERVISOR, Harness
from tests.journeys import (
    approve_funding,
    book_first_flight,
    open_case,
    person,
    through_embassy,
    through_identity,
)
from workflows.repatriation import RepatriationWorkflow, workflow_id_for

BOSS = operator("sup-ben", Role.supervisor, ORG, "test")


def stuck(h: Harness, **filters: str) -> list[tuple[str, str]]:
    return [(i.case_id, i.reason) for i in h.service.stuck_for(BOSS, **filters)]


def set_profile(h: Harness, case_id: str, profile: dict[str, object]) -> None:
    """Write the case's stored profile directly (a faulty import breaking it, a person fixing it)."""
    with h.db.session() as s:
        s.get(Case, case_id).profile = profile  # type: ignore[union-attr]


def broken(profile: dict[str, object]) -> dict[str, object]:
    return {**profile, "date_of_birth": "not a date"}


async def opened_with_its_consent_form(h: Harness, index: int) -> tuple[str, dict[str, object]]:
    """A case waiting for its identity attestation, its consent form made; its profile as stored."""
    request = open_request(person(index), None)
    case_id = (await h.service.open_case(request, CASEWORKER)).case_id
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    await h.wait_document(case_id, "intake_consent")
    return case_id, request.survivor.model_dump(mode="json")


async def test_overdue_decision_is_listed_then_extended(isolated_harness: Harness) -> None:
    h = isolated_harness
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    assert stuck(h) == []
    await h.env.sleep(timedelta(days=7, hours=1))
    await h.wait_for(case_id, lambda s: any(e.event == "overdue" for e in s.history), "overdue")
    items = await h.wait_stuck(BOSS, [(case_id, "overdue")])
    assert [(i.case_id, i.reason, i.stage, i.awaited) for i in items] == [
        (case_id, "overdue", "identity", "caseworker")
    ]
    assert items[0].detail == "identity_attestation awaited from the caseworker"
    assert stuck(h, reason="failing") == [] and stuck(h, nationality="VNM") == [(case_id, "overdue")]

    state = await h.service.intervene(
        case_id,
        {
            "action": "extend_deadline",
            "kind": "identity_attestation",
            "days": 3,
            "justification": "interpreter ill",
        },
        SUPERVISOR,
    )
    pending = state.pending_of(DecisionKind.identity_attestation)
    assert (
        pending is not None
        and not pending.overdue
        and pending.deadline > datetime.now(UTC) + timedelta(days=2)
    )
    assert stuck(h) == []  # right after the change
    await h.env.sleep(timedelta(days=3, hours=1))
    await h.wait_for(case_id, lambda s: sum(e.event == "overdue" for e in s.history) == 2, "overdue again")
    await h.wait_stuck(BOSS, [(case_id, "overdue")])


@pytest.mark.parametrize("harness", [{"booking_failure_rate": 1.0, "stuck_after_attempts": 2}], indirect=True)
async def test_failing_step_is_flagged_and_recovers_by_itself(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await through_embassy(h, case_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not stuck(h, reason="failing"):
        assert loop.time() < deadline, "the failing flight search was never flagged"
        await asyncio.sleep(0.1)
    item = h.service.stuck_for(BOSS)[0]
    assert item.reason == "failing" and item.step == "search_flights" and item.attempts >= 2
    assert "ProviderUnavailable" in (item.last_error or "") and item.stage == "travel"

    h.deps.provider.failure_rate = 0.0  # the provider comes back
    await h.wait_pending(case_id, DecisionKind.flight_choice, timeout=60)
    assert stuck(h) == []


async def test_step_failed_for_good_waits_for_a_person(harness: Harness) -> None:
    """Bad data stored for a case: the paperwork cannot be made; retry after the fix, or cancel."""
    h = harness
    request = open_request(person(0), None)
    opened = await h.service.open_case(request, CASEWORKER)
    await h.wait_pending(opened.case_id, DecisionKind.identity_attestation)
    # A second case whose stored profile is broken (as if written by a faulty import).
    start = h.service._case_start(opened.case_id, "x", request.survivor, datetime.now(UTC).date())
    broken_id = "00000000-0000-4000-8000-0000000b0bad"
    profile = broken(request.survivor.model_dump(mode="json"))
    now = datetime.now(UTC)
    with h.db.session() as s:
        s.add(
            Case(
                id=broken_id,
                reference=case_reference(broken_id),
                organisation=ORG,
                caseworker="x",
                workflow_id=workflow_id_for(broken_id),
                nationality="VNM",
                profile=profile,
                date_of_birth=request.survivor.date_of_birth,
                name_key=name_key(request.survivor),
                opened_at=now,
                updated_at=now,
                state={},
            )
        )
    await h.env.client.start_workflow(
        RepatriationWorkflow.run,
        CaseStart(**{**start.model_dump(), "case_id": broken_id, "reference": case_reference(broken_id)}),
        id=workflow_id_for(broken_id),
        task_queue=h.settings.task_queue,
    )
    state = await h.wait_for(broken_id, lambda s: s.blocked is not None, "a blocked step")
    # The consent form renders beside the identity checks: both need the date of birth, both
    # fail for good; the supervisor sees one at a time.
    assert state.blocked is not None and state.blocked.step in ("render intake_consent", "identity checks")
    assert "survivor.date_of_birth" in state.blocked.error or "date_of_birth" in state.blocked.error
    items = await h.wait_stuck(BOSS, [(broken_id, "failed")])
    assert [(i.case_id, i.reason, i.awaited) for i in items] == [(broken_id, "failed", "supervisor")]

    with h.db.session() as s:  # a person fixes the data
        s.get(Case, broken_id).profile = request.survivor.model_dump(mode="json")
    await h.service.intervene(
        broken_id, {"action": "retry", "justification": "date of birth corrected"}, SUPERVISOR
    )
    # One retry mends both: the other step, whose turn came after the fix, is tried again first.
    await h.wait_for(
        broken_id, lambda s: s.stage == "identity" and bool(s.pending), "identity after the retry"
    )
    state = await h.wait_document(broken_id, "intake_consent")
    assert state.blocked is None and [e.event for e in state.history].count("retry") == 1
    assert [e.event for e in state.history].count("failed") == 1
    assert stuck(h) == []


async def test_a_closure_step_failed_for_good_waits_for_a_retry(harness: Harness) -> None:
    """The closure of a withdrawn case cannot make its report (bad data stored): the case is not
    shown closed without its report, the supervisor sees the failed step, and a retry after the
    fix closes it. (Before, the stop that the closure carries out woke the failed step at once
    and the case's workflow task failed for ever; a repatriated case's outcome was already set,
    so the retry was refused as "closed".)"""
    h = harness
    case_id, good = await opened_with_its_consent_form(h, 2)
    set_profile(h, case_id, broken(good))  # a faulty import breaks the stored profile
    await h.service.decide(case_id, DecisionKind.consent_withdrawal, {"reason": "changed mind"}, CASEWORKER)
    state = await h.wait_for(case_id, lambda s: s.blocked is not None, "the closure's failed step")
    assert state.blocked is not None and state.blocked.step == "render closure_report"
    assert state.outcome is None and state.closing == Outcome.withdrawn
    await h.wait_stuck(BOSS, [(case_id, "failed")])
    assert h.service.resolve(case_id).outcome is None  # the lists do not show it closed yet
    with pytest.raises(Rejected, match="closing"):  # no decision is taken meanwhile
        await h.service.decide(case_id, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER)

    set_profile(h, case_id, good)  # a person fixes the data
    await h.service.intervene(case_id, {"action": "retry", "justification": "profile restored"}, SUPERVISOR)
    state = await h.handle(case_id).result()  # the read model is written before the workflow ends
    assert state.outcome == Outcome.withdrawn and state.blocked is None
    assert [d.doc_type for d in state.documents].count("closure_report") == 1
    assert stuck(h) == []


async def test_a_returned_survivor_s_closure_report_failed_for_good_is_retried(harness: Harness) -> None:
    """The survivor is home, the closure report cannot be made: the case is closing, not closed
    (no outcome listed); only a retry or an override of that step is taken, then it closes."""
    h = harness
    request = open_request(person(1), None)
    case_id = (await h.service.open_case(request, CASEWORKER)).case_id
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await through_embassy(h, case_id)
    await book_first_flight(h, case_id)
    await h.service.decide(case_id, DecisionKind.departure, {}, CASEWORKER)
    good = request.survivor.model_dump(mode="json")
    set_profile(h, case_id, broken(good))
    await h.service.decide(case_id, DecisionKind.arrival, {"reception_organisation": "IOM"}, CASEWORKER)
    state = await h.wait_for(case_id, lambda s: s.blocked is not None, "the closure's failed step")
    assert state.blocked is not None and state.blocked.stage == "closed"
    assert state.outcome is None and state.closing == Outcome.repatriated
    [item] = await h.wait_stuck(BOSS, [(case_id, "failed")])
    assert item.detail == "failed for good: retry or override"
    for action in ("hold", "cancel"):  # nothing else is done to a closing case
        with pytest.raises(Rejected, match="closed or closing"):
            why = {"action": action, "justification": "report still missing"}
            await h.service.intervene(case_id, why, SUPERVISOR)

    set_profile(h, case_id, good)
    await h.service.intervene(case_id, {"action": "retry", "justification": "profile restored"}, SUPERVISOR)
    state = await h.handle(case_id).result()  # the read model is written before the workflow ends
    assert state.outcome == Outcome.repatriated and state.blocked is None
    assert any(d.doc_type == "closure_report" for d in state.documents)
    assert h.service.resolve(case_id).outcome == Outcome.repatriated and stuck(h) == []


async def test_interventions_are_for_supervisors_and_audited(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 1)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    with pytest.raises(Forbidden):
        await h.service.intervene(
            case_id, {"action": "hold", "justification": "checking a report"}, CASEWORKER
        )
    with pytest.raises(Rejected, match="nothing to retry"):
        await h.service.intervene(case_id, {"action": "retry", "justification": "just because"}, SUPERVISOR)

    state = await h.service.intervene(
        case_id, {"action": "hold", "justification": "safety concern reported"}, SUPERVISOR
    )
    assert state.on_hold and stuck(h) == [(case_id, "on_hold")]
    with pytest.raises(Rejected, match="on hold"):
        await h.service.decide(case_id, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER)
    await h.service.intervene(case_id, {"action": "resume", "justification": "concern resolved"}, SUPERVISOR)
    assert stuck(h) == []

    reassign = {"action": "reassign", "role": "caseworker", "to": "cw-maya", "justification": "Anna on leave"}
    # Work goes only to someone who can do it, named in the refusal; nothing is recorded then.
    users.add_user(h.db, "cw-elsewhere", Role.caseworker, "Other NGO")
    nationality = h.service.resolve(case_id).nationality
    assert nationality != "PHL"
    users.add_user(h.db, "liaison-phl", Role.liaison, ORG, ["PHL"])
    before = (await h.state(case_id)).pending_of(DecisionKind.identity_attestation).assignee
    assert before != "cw-maya"
    for to, role, rule in (
        ("cw-maya", "caseworker", "to: there is no user named 'cw-maya'"),
        ("cw-elsewhere", "caseworker", "to: 'cw-elsewhere' works for another organisation"),
        ("liaison-phl", "caseworker", "to: 'liaison-phl' is a liaison, not a caseworker"),
        ("liaison-phl", "liaison", f"to: 'liaison-phl' is not a liaison for {nationality}"),
    ):
        with pytest.raises(Invalid) as refused:
            await h.service.intervene(case_id, {**reassign, "to": to, "role": role}, SUPERVISOR)
        assert str(refused.value) == rule
    assert (await h.state(case_id)).pending_of(DecisionKind.identity_attestation).assignee == before
    users.add_user(h.db, "cw-maya", Role.caseworker, ORG)
    state = await h.service.intervene(case_id, reassign, SUPERVISOR)
    assert state.pending_of(DecisionKind.identity_attestation).assignee == "cw-maya"
    await through_identity(h, case_id)
    await h.wait_pending(case_id, DecisionKind.funding)
    with pytest.raises(Rejected, match="needs data only"):
        await h.service.intervene(
            case_id, {"action": "override", "stage": "funding", "justification": "x" * 25}, SUPERVISOR
        )
    state = await h.wait_pending(case_id, DecisionKind.nationality)
    state = await h.service.intervene(
        case_id,
        {
            "action": "override",
            "stage": "embassy",
            "justification": "passport copy verified with the embassy by phone",
        },
        SUPERVISOR,
    )
    assert state.nationality_confirmed is True
    await h.wait_pending(case_id, DecisionKind.etd)
    await approve_funding(h, case_id)
    state = await h.service.intervene(
        case_id, {"action": "cancel", "justification": "family found a way home"}, SUPERVISOR
    )
    final = await h.handle(case_id).result()
    assert (
        final.outcome == Outcome.cancelled
        and final.funding is not None
        and final.funding.status == "released"
    )
    assert [e.event for e in final.history].count("intervention") == 5
    with h.db.session() as s:
        audited = [
            a.action
            for a in s.scalars(select(AuditEntry).where(AuditEntry.case_id == case_id))
            if a.action.startswith("intervention.")
        ]
    assert audited == [
        "intervention.hold",
        "intervention.resume",
        "intervention.reassign",
        "intervention.override",
        "intervention.cancel",
    ]


async def test_a_cost_estimate_failed_for_good_waits_for_a_person(harness: Harness) -> None:
    """The stored profile turns invalid between intake and funding (a faulty import, a stricter
    model deployed mid-case): the cost estimate cannot be made. The case waits for a supervisor,
    as for any step failed for good, instead of its workflow failing; a retry after the fix
    carries it on to the funding decision."""
    h = harness
    case_id, good = await opened_with_its_consent_form(h, 0)
    set_profile(h, case_id, broken(good))
    await h.service.decide(case_id, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER)
    await h.wait_for(case_id, lambda s: s.blocked is not None, "a step failed for good")
    set_profile(h, case_id, good)  # a person fixes the data
    await h.service.intervene(case_id, {"action": "retry", "justification": "profile restored"}, SUPERVISOR)
    state = await h.wait_pending(case_id, DecisionKind.funding)
    assert state.estimate is not None and state.estimate.total > 0
    assert (await h.handle(case_id).describe()).status == WorkflowExecutionStatus.RUNNING


async def test_no_flight_before_the_etd_expires_is_a_step_for_a_supervisor(isolated_harness: Harness) -> None:
    """The ETD runs out before the earliest flight (funding came days after a short ETD): there is
    nothing to choose, so the case does not wait for a flight choice nobody can make; the search
    is failed for good with the reason, for a supervisor to retry or cancel."""
    h = isolated_harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await h.wait_pending(case_id, DecisionKind.nationality)
    await h.service.decide(case_id, DecisionKind.nationality, {"confirmed": True}, LIAISON)
    soonest = h.settings.min_flight_lead_days
    expires = (datetime.now(UTC).date() + timedelta(days=soonest)).isoformat()
    etd = {"issued": True, "document_number": "SPLP-0043", "expires_on": expires}
    await h.service.decide(case_id, DecisionKind.etd, etd, LIAISON)
    await h.wait_pending(case_id, DecisionKind.funding)
    await h.env.sleep(timedelta(days=soonest + 1))  # the funding decision comes late
    await approve_funding(h, case_id)
    state = await h.wait_for(case_id, lambda s: s.blocked is not None, "the flight search failed")
    assert state.blocked is not None and state.blocked.step == "flight search"
    assert f"the travel document expires on {expires}" in state.blocked.error
    assert state.pending_of(DecisionKind.flight_choice) is None
    cancel = {"action": "cancel", "justification": "a new ETD is needed"}
    await h.service.intervene(case_id, cancel, SUPERVISOR)
    final = await h.handle(case_id).result()
    assert final.outcome == Outcome.cancelled
