"""A survivor walked from intake to closure, every stage, document and row checked."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from activities.outbox import open_mail, outbox_mails
from contracts.state import DecisionKind, Outcome, Stage, StageStatus
from database.models import (
    BookingRow,
    Case,
    DecisionRow,
    Document,
    DocumentCase,
    FundingCommitmentRow,
    NoticeRow,
)
from documents.sealed import MAGIC
from tests.conftest import CASEWORKER, Harness, pdf_text
from tests.journeys import approve_funding, book_first_flight, open_case, through_embassy, through_identity
from workflows.journey import V12

ALL_DOCUMENTS = {
    "intake_consent",
    "identity_report",
    "etd_application",
    "embassy_request",
    "funding_request",
    "funding_memo",
    "exit_clearance",
    "itinerary",
    "travel_letter",
    "closure_report",
}




async def test_happy_journey_to_closure(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0, reference="happy-1")

    state = await h.wait_pending(case_id, DecisionKind.identity_attestation)
    assert state.stage == Stage.identity
    assert state.stages[Stage.intake] == StageStatus.done
    assert state.identity is not None and {c.name for c in state.identity.checks} >= {"mrz", "duplicates"}

    await through_identity(h, case_id)
    # Funding runs alongside the embassy: both wait at once.
    state = await h.wait_for(
        case_id,
        lambda s: {p.kind for p in s.pending} >= {DecisionKind.nationality, DecisionKind.funding},
        "embassy and funding side by side",
    )
    assert state.stages[Stage.embassy] == StageStatus.active
    assert state.stages[Stage.funding] == StageStatus.active
    assert state.stages[Stage.travel_documents] == StageStatus.done

    await approve_funding(h, case_id)
    await through_embassy(h, case_id)
    state = await book_first_flight(h, case_id)
    assert state.booking is not None and state.booking.status == "ticketed"
    await h.service.decide(case_id, DecisionKind.departure, {}, CASEWORKER)
    await h.service.decide(
        case_id, DecisionKind.arrival, {"reception_organisation": "Peace House Shelter, Hanoi"}, CASEWORKER
    )

    final = await h.handle(case_id).result()
    assert final.outcome == Outcome.repatriated
    assert final.stage == Stage.closed
    started = [e.stage for e in final.history if e.event == "started"]
    assert started[:3] == [Stage.intake, Stage.identity, Stage.travel_documents]
    assert set(started[3:5]) == {Stage.embassy, Stage.funding} and started[5:] == [Stage.travel]
    completed = {e.stage for e in final.history if e.event == "completed"}
    assert completed == {
        Stage.intake,
        Stage.identity,
        Stage.travel_documents,
        Stage.embassy,
        Stage.funding,
        Stage.travel,
    }
    times = [e.at for e in final.history]
    assert times == sorted(times)

    # A case opened now is marked once (journey.V12, as from V5): the duties of the earlier
    # markers (the durable decisions, the closure notice) hold for it, as the rest of this test shows.
    history = await h.handle(case_id).fetch_history()
    patches = [
        e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert len(patches) == 1 and V12.encode() in patches[0]

    # Every document, each readable and naming the case.
    assert {d.doc_type for d in final.documents} == ALL_DOCUMENTS
    for doc in final.documents:
        text = pdf_text(h.deps.sealer, doc.path, "-layout")
        assert final.reference in text, doc.doc_type
        assert doc.verification_code in text, doc.doc_type
        # On disk it is sealed: no PDF, no name, no reference to read there.
        sealed = Path(doc.path).read_bytes()
        assert not sealed.startswith(b"%PDF") and final.reference.encode() not in sealed, doc.doc_type
    consent = next(d.path for d in final.documents if d.doc_type == "intake_consent")
    assert "Nguyễn Thị Lan" in pdf_text(h.deps.sealer, consent, "-layout")
    assert final.booking is not None
    itinerary = next(d.path for d in final.documents if d.doc_type == "itinerary")
    assert final.booking.option.flight_number in pdf_text(h.deps.sealer, itinerary, "-layout")

    # The read model and the rows behind it.
    with h.db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.stage == "closed" and case.outcome == "repatriated"
        assert case.closed_at is not None and case.next_deadline is None
        kinds = {r.kind for r in s.scalars(select(DecisionRow).where(DecisionRow.case_id == case_id))}
        assert kinds == {
            "identity_attestation",
            "nationality",
            "etd",
            "funding",
            "flight_choice",
            "departure",
            "arrival",
        }
        docs = list(s.scalars(select(Document).where(Document.case_id == case_id)))
        assert len(docs) == len(ALL_DOCUMENTS) - 1 and not any(d.superseded for d in docs)
        # The embassy was asked by a consolidated request naming this case (and any other ready
        # at the same time), linked to it.
        request = s.scalars(
            select(Document)
            .join(DocumentCase, DocumentCase.document_id == Document.id)
            .where(DocumentCase.case_id == case_id)
        ).one()
        assert request.doc_type == "embassy_request" and request.case_id is None
        commitment = s.scalars(
            select(FundingCommitmentRow).where(FundingCommitmentRow.case_id == case_id)
        ).one()
        assert commitment.status == "committed"
        booking = s.scalars(select(BookingRow).where(BookingRow.case_id == case_id)).one()
        assert booking.status == "ticketed" and booking.ticket_number
        notices = list(s.scalars(select(NoticeRow).where(NoticeRow.case_id == case_id)))
        assert {n.kind: n.to_address for n in notices} == {"closed": "caseworkers@shelter.example"}
        asked = s.get(NoticeRow, f"embassy-request:{request.subject}")
        assert asked is not None and asked.to_address == "consular.vnm@embassies.example"
    sent = [e for e in final.history if e.stage == Stage.embassy and e.event == "sent"]
    assert len(sent) == 1 and request.subject in (sent[0].detail or "")
    sent = outbox_mails(h.settings.outbox_dir)
    # The outbox stands in for a relay: its mails rest sealed, nobody's name or PDF in clear.
    for raw in (p.read_bytes() for p in sent):
        assert raw.startswith(MAGIC)
        for clear in (b"Subject:", final.reference.encode(), b"JVBER", b"%PDF"):  # JVBER: %PDF in base64
            assert clear not in raw, clear
    mail = [open_mail(h.deps.sealer, p) for p in sent]
    assert len(mail) == 2
    to_embassy = next(m for m in mail if m["To"] == "consular.vnm@embassies.example")
    attached = sorted(part.get_filename() for part in to_embassy.iter_attachments())
    assert attached == sorted([f"{request.subject}.pdf", f"etd-application-{final.reference}-v1.pdf"])
