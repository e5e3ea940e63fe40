"""Refusals end the case cleanly; consent withdrawn at any stage compensates and closes."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import delete, select

from access.actor import Actor
from contracts.state import CaseState, DecisionKind, Outcome, Role, StageStatus
from database import ledger
from database.models import BookingRow, FundingCommitmentRow
from tests.conftest import CASEWORKER, LIAISON, SUPERVISOR, Harness
from tests.journeys import approve_funding, book_first_flight, open_case, through_embassy, through_identity

FUND = "iom-return-fund"


async def finished(h: Harness, case_id: str) -> CaseState:
    return await h.handle(case_id).result()


def commitments(h: Harness, case_id: str) -> list[FundingCommitmentRow]:
    with h.db.session() as s:
        return list(s.scalars(select(FundingCommitmentRow).where(FundingCommitmentRow.case_id == case_id)))


async def test_nationality_refused_closes_not_repatriable_and_releases_funds(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 1)
    await through_identity(h, case_id)
    await approve_funding(h, case_id, FUND)
    assert ledger.free_budget(h.db, FUND) < Decimal(50_000)
    await h.wait_pending(case_id, DecisionKind.nationality)
    await h.service.decide(
        case_id, DecisionKind.nationality, {"confirmed": False, "reason": "no record of citizenship"}, LIAISON
    )
    final = await finished(h, case_id)
    assert final.outcome == Outcome.not_repatriable
    assert "no record of citizenship" in (final.outcome_reason or "")
    assert final.stages["funding"] == StageStatus.done and final.stages["embassy"] == StageStatus.stopped
    assert [c.status for c in commitments(h, case_id)] == ["released"]
    assert ledger.free_budget(h.db, FUND) == Decimal(50_000)
    assert {d.doc_type for d in final.documents} >= {"closure_report", "funding_memo"}


async def test_etd_refused_closes_not_repatriable(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await h.wait_pending(case_id, DecisionKind.nationality)
    await h.service.decide(case_id, DecisionKind.nationality, {"confirmed": True}, LIAISON)
    await h.service.decide(
        case_id, DecisionKind.etd, {"issued": False, "reason": "identity unclear"}, LIAISON
    )
    final = await finished(h, case_id)
    assert final.outcome == Outcome.not_repatriable
    assert final.stages["funding"] == StageStatus.stopped  # the parallel branch stopped too
    assert commitments(h, case_id) == []


async def test_identity_not_attested_closes_case(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    await h.service.decide(case_id, DecisionKind.identity_attestation, {"verified": False}, CASEWORKER)
    final = await finished(h, case_id)
    assert final.outcome == Outcome.identity_not_established
    assert {d.doc_type for d in final.documents} == {"intake_consent", "identity_report", "closure_report"}


async def test_funding_rejected_waits_for_another_decision(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await h.wait_pending(case_id, DecisionKind.funding)
    state = await h.service.decide(
        case_id, DecisionKind.funding, {"approved": False, "reason": "use the embassy fund"}, SUPERVISOR
    )
    assert state.funding is None and state.outcome is None
    state = await h.wait_for(case_id, lambda s: any(e.event == "rejected" for e in s.history), "rejection")
    await approve_funding(h, case_id, "embassy-consular-assistance")
    state = await h.wait_for(case_id, lambda s: s.stages["funding"] == StageStatus.done, "funding done")
    assert state.funding is not None and state.funding.source_id == "embassy-consular-assistance"


async def test_duplicate_registration_is_held_then_merged(harness: Harness) -> None:
    h = harness
    first = await open_case(h, 0, reference="dup-a")
    await h.wait_pending(first, DecisionKind.identity_attestation)
    # The same person again, with the name typed without diacritics and order swapped.
    second = await open_case(h, 0, reference="dup-b", given_names="Nguyen", family_name="Thi Lan")
    state = await h.wait_pending(second, DecisionKind.duplicate_resolution)
    assert state.identity is not None and [c.case_id for c in state.identity.duplicates] == [first]
    await h.service.decide(
        second, DecisionKind.duplicate_resolution, {"action": "merge", "duplicate_of": first}, CASEWORKER
    )
    final = await finished(h, second)
    assert final.outcome == Outcome.duplicate_merged
    assert h.service.resolve(first).reference in (final.outcome_reason or "")


async def test_duplicate_dismissed_continues_to_attestation(harness: Harness) -> None:
    h = harness
    first = await open_case(h, 0, reference="twin-a")
    await h.wait_pending(first, DecisionKind.identity_attestation)
    second = await open_case(h, 0, reference="twin-b")
    await h.wait_pending(second, DecisionKind.duplicate_resolution)
    await h.service.decide(second, DecisionKind.duplicate_resolution, {"action": "dismiss"}, CASEWORKER)
    await through_identity(h, second)
    await h.wait_pending(second, DecisionKind.nationality)


async def test_another_organisation_s_registration_is_not_named_as_a_duplicate(harness: Harness) -> None:
    """Duplicates are looked for among the organisation's own cases: another organisation's case
    is out of its caseworkers' scope, so it is neither named to them nor offered for a merge."""
    h = harness
    from repatriation.synthetic import open_request
    from tests.journeys import person

    elsewhere = Actor("cw-other", Role.caseworker, "Another Shelter", source="test")
    theirs = await h.service.open_case(open_request(person(0), f"theirs-{uuid.uuid4().hex[:8]}"), elsewhere)
    await h.wait_pending(theirs.case_id, DecisionKind.identity_attestation)
    ours = await open_case(h, 0, reference="ours")
    state = await h.wait_pending(ours, DecisionKind.identity_attestation)
    assert state.identity is not None and state.identity.duplicates == []
    assert state.pending_of(DecisionKind.duplicate_resolution) is None


async def test_withdrawal_during_identity(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    await h.service.decide(case_id, DecisionKind.consent_withdrawal, {"reason": "wants to stay"}, CASEWORKER)
    final = await finished(h, case_id)
    assert final.outcome == Outcome.withdrawn
    assert final.stages["identity"] == StageStatus.stopped


async def test_withdrawal_while_embassy_and_funding_releases_funds(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id, FUND)
    await h.wait_pending(case_id, DecisionKind.nationality)
    await h.service.decide(
        case_id, DecisionKind.consent_withdrawal, {"reason": "family situation"}, CASEWORKER
    )
    final = await finished(h, case_id)
    assert final.outcome == Outcome.withdrawn
    assert [c.status for c in commitments(h, case_id)] == ["released"]
    assert ledger.free_budget(h.db, FUND) == Decimal(50_000)
    assert any(e.event == "compensation" for e in final.history)


async def test_withdrawal_after_booking_cancels_and_releases(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id, FUND)
    await through_embassy(h, case_id)
    state = await book_first_flight(h, case_id)
    assert state.booking is not None
    await h.service.decide(case_id, DecisionKind.consent_withdrawal, {"reason": "changed mind"}, CASEWORKER)
    final = await finished(h, case_id)
    assert final.outcome == Outcome.withdrawn
    assert final.booking is not None and final.booking.status == "cancelled"
    with h.db.session() as s:
        booking = s.scalars(select(BookingRow).where(BookingRow.case_id == case_id)).one()
        assert booking.status == "cancelled" and booking.cancelled_at is not None
    assert [c.status for c in commitments(h, case_id)] == ["released"]
    assert ledger.free_budget(h.db, FUND) == Decimal(50_000)


async def test_a_cancellation_the_provider_refuses_waits_for_a_supervisor(harness: Harness) -> None:
    """The provider no longer knows the booking when consent is withdrawn: its refusal is for
    good, so the closure shows the cancellation as failed for a supervisor, who overrides it
    once the booking is dealt with by hand; the funds are released and the case closes."""
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id, FUND)
    await through_embassy(h, case_id)
    await book_first_flight(h, case_id)
    with h.db.session() as s:  # the provider loses the booking
        s.execute(delete(BookingRow).where(BookingRow.case_id == case_id))
    await h.service.decide(case_id, DecisionKind.consent_withdrawal, {"reason": "changed mind"}, CASEWORKER)
    state = await h.wait_for(case_id, lambda s: s.blocked is not None, "the cancellation failed for good")
    assert state.blocked is not None and state.blocked.step == "booking cancellation"
    assert "unknown booking" in state.blocked.error
    why = "the airline confirmed by phone that the seat is released"
    override = {"action": "override", "stage": "travel", "justification": why}
    await h.service.intervene(case_id, override, SUPERVISOR)
    final = await finished(h, case_id)
    assert final.outcome == Outcome.withdrawn
    assert [c.status for c in commitments(h, case_id)] == ["released"]
    assert any(e.event == "skipped" and "booking cancellation" in (e.detail or "") for e in final.history)
