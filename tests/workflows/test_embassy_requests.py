"""The embassy is asked by consolidated requests: the cases ready for one embassy within the
window share one request, mailed once with each survivor's ETD application; a case closed
meanwhile is left out; a case whose data cannot go waits for a supervisor; a retry never names
a case twice nor mails twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from access.actor import Actor
from activities.embassy_requests import EmbassyRequestActivities, batcher_id
from activities.outbox import open_mail, outbox_mails
from contracts.messages import EmbassyRequestBatch
from contracts.state import DecisionKind, Role, Stage
from database.models import AuditEntry, Case, Document, DocumentCase, NoticeRow
from documents.verify import verify
from repatriation.ports import free_port
from repatriation.service import NotFound
from tests.conftest import CASEWORKER, ORG, SUPERVISOR, Harness, binary, harness_for, pdf_text
from tests.journeys import HOA, open_case, through_identity
from tests.stack.conftest import reserved_port

LIAISON_VNM = Actor("liaison-vnm", Role.liaison, ORG, source="test", countries=("VNM",))
LIAISON_IDN = Actor("liaison-idn", Role.liaison, ORG, source="test", countries=("IDN",))


def requests(h: Harness) -> list[Document]:
    with h.db.session() as s:
        return list(s.scalars(select(Document).where(Document.doc_type == "embassy_request")))


def named(h: Harness, document_id: str) -> set[str]:
    with h.db.session() as s:
        return set(s.scalars(select(DocumentCase.case_id).where(DocumentCase.document_id == document_id)))


def mails_to(h: Harness, address: str) -> list:
    messages = [open_mail(h.deps.sealer, p) for p in outbox_mails(h.settings.outbox_dir)]
    return [m for m in messages if m["To"] == address]


def flat_text(h: Harness, path: str) -> str:
    text = pdf_text(h.deps.sealer, path)
    return "".join(text.split())  # names wrap inside the table's narrow cells


@pytest.mark.parametrize("harness", [{"embassy_request_window_seconds": 4}], indirect=True)
async def test_cases_ready_together_share_one_request(harness: Harness) -> None:
    h = harness
    lan = await open_case(h, 0)
    hoa = await open_case(h, 0, **HOA)
    budi = await open_case(h, 1)
    for case_id in (lan, hoa, budi):
        await through_identity(h, case_id)
    for case_id in (lan, hoa, budi):
        await h.wait_pending(case_id, DecisionKind.nationality)

    by_subject = {d.subject: d for d in requests(h)}
    assert len(by_subject) == 2  # one request per embassy, not one letter per survivor
    vnm = next(d for s, d in by_subject.items() if s.startswith("REQ-VNM-"))
    idn = next(d for s, d in by_subject.items() if s.startswith("REQ-IDN-"))
    assert named(h, vnm.id) == {lan, hoa} and named(h, idn.id) == {budi}

    # The request names each survivor with the code of the ETD application sent with it.
    lan_state, hoa_state = await h.state(lan), await h.state(hoa)
    codes = [
        next(d.verification_code for d in s.documents if d.doc_type == "etd_application")
        for s in (lan_state, hoa_state)
    ]
    text = flat_text(h, vnm.path)
    for needle in (
        lan_state.reference,
        hoa_state.reference,
        "NguyễnThịLan",
        "TrầnThịHoa",
        *codes,
        "article8",
    ):
        assert needle in text, needle
    assert (await h.state(budi)).reference not in text  # each embassy is told of its own nationals only

    # One mail per request, with the request and each survivor's application.
    (letter,) = mails_to(h, "consular.vnm@embassies.example")
    attached = sorted(p.get_filename() for p in letter.iter_attachments())
    assert attached == sorted(
        [f"{vnm.subject}.pdf", *(f"etd-application-{s.reference}-v1.pdf" for s in (lan_state, hoa_state))]
    )
    assert len(mails_to(h, "consular.idn@embassies.example")) == 1

    # Each case's timeline says when and in which request the embassy was asked.
    for state in (lan_state, hoa_state):
        events = [e.event for e in state.history if e.stage == Stage.embassy]
        assert events[:3] == ["started", "queued", "document"] and "sent" in events
        assert any(vnm.subject in (e.detail or "") for e in state.history if e.event == "sent")
        assert any(d.document_id == vnm.id for d in state.documents)

    # Read through either case, by those who may see both; every case named is audited.
    for case_id in (lan, hoa):
        assert any(d.id == vnm.id for d in h.service.documents(case_id))
    assert h.service.document_file(LIAISON_VNM, lan, vnm.id).path == vnm.path
    with h.db.session() as s:
        reads = s.scalars(
            select(AuditEntry.case_id).where(
                AuditEntry.action == "document.read", AuditEntry.actor == "liaison-vnm"
            )
        ).all()
    assert sorted(reads) == sorted([lan, hoa])
    with pytest.raises(NotFound):
        h.service.document_file(LIAISON_IDN, lan, vnm.id)
    with pytest.raises(NotFound):  # a request is read only through a case it names
        h.service.document_file(SUPERVISOR, budi, vnm.id)


async def two_queued(h: Harness) -> tuple[str, str]:
    """Lan and Hoa wait in their embassy's batch. (Lan, Hoa)"""
    lan = await open_case(h, 0)
    hoa = await open_case(h, 0, **HOA)
    for case_id in (lan, hoa):
        await through_identity(h, case_id)
    for case_id in (lan, hoa):
        await h.wait_for(case_id, lambda s: any(e.event == "queued" for e in s.history), "queued")
    return lan, hoa


async def two_queued_one_withdrawn(h: Harness) -> tuple[str, str]:
    """Lan and Hoa wait in their embassy's batch; Hoa withdraws her consent. (stays, leaves)"""
    stays, leaves = await two_queued(h)
    await h.service.decide(leaves, DecisionKind.consent_withdrawal, {"reason": "goes home alone"}, CASEWORKER)
    return stays, leaves


@pytest.mark.parametrize("harness", [{"embassy_request_window_seconds": 5}], indirect=True)
async def test_a_case_closed_before_the_request_goes_is_left_out(harness: Harness) -> None:
    h = harness
    stays, leaves = await two_queued_one_withdrawn(h)
    await h.handle(leaves).result()

    await h.wait_pending(stays, DecisionKind.nationality)
    (request,) = requests(h)
    assert named(h, request.id) == {stays}
    assert "TrầnThịHoa" not in flat_text(h, request.path)


@pytest.mark.parametrize(
    "harness", [{"embassy_request_window_seconds": 600, "embassy_request_quiet_seconds": 600}], indirect=True
)
async def test_a_withdrawal_leaves_the_case_out_before_its_closure_is_done(harness: Harness) -> None:
    """Consent withdrawn while the case waits in its embassy's batch: the service's write of the
    withdrawal marks the case closing, and a request sent from then on leaves it out, though its
    closure (compensation, closure report, notice) has yet to write the outcome. In a mass release
    the closure's paperwork waits behind hundreds of documents, while the batch goes out."""
    h = harness
    stays, leaves = await two_queued_one_withdrawn(h)
    with h.db.session() as s:
        written = s.execute(select(Case.state, Case.outcome).where(Case.id == leaves)).one()
    assert written.state["closing"] == "withdrawn"
    await h.handle(leaves).result()
    with h.db.session() as s:  # the row as the service's write left it, before the closure's
        s.execute(update(Case).where(Case.id == leaves).values(state=written.state, outcome=written.outcome))

    # What the batcher sends when its window closes: this batch names both.
    sent = await ActivityEnvironment().run(
        EmbassyRequestActivities(h.deps).send_embassy_request,
        EmbassyRequestBatch(
            request_reference="REQ-VNM-WITHDRAWN-1",
            nationality="VNM",
            organisation=ORG,
            issued_on=date.today(),
            case_ids=[stays, leaves],
        ),
    )
    assert sent.sent == [stays] and sent.skipped == {leaves: "closed (withdrawn)"}
    (request,) = requests(h)
    assert named(h, request.id) == {stays}
    assert "TrầnThịHoa" not in flat_text(h, request.path)


@pytest.mark.parametrize(
    "harness", [{"embassy_request_window_seconds": 600, "embassy_request_quiet_seconds": 600}], indirect=True
)
async def test_a_withdrawal_before_a_failed_mail_is_retried_leaves_the_survivor_out(harness: Harness) -> None:
    """The request was stored naming two survivors but its mail failed (the relay down); one of
    them withdraws consent before the retry. The retry does not mail the stored request as it
    is: the draft is discarded, a new request names only the survivor who still consents, and
    only her application goes."""
    h = harness
    stays, leaves = await two_queued(h)
    batch = EmbassyRequestBatch(
        request_reference="REQ-VNM-RELAY-DOWN-1",
        nationality="VNM",
        organisation=ORG,
        issued_on=date.today(),
        case_ids=[stays, leaves],
    )
    refused = reserved_port()  # bound, not listening: the relay refuses
    try:
        relay_down = h.settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{refused.getsockname()[1]}"})
        with pytest.raises(ConnectionRefusedError):
            await ActivityEnvironment().run(
                EmbassyRequestActivities(replace(h.deps, settings=relay_down)).send_embassy_request, batch
            )
    finally:
        refused.close()
    (draft,) = requests(h)
    assert named(h, draft.id) == {stays, leaves} and mails_to(h, "consular.vnm@embassies.example") == []

    await h.service.decide(leaves, DecisionKind.consent_withdrawal, {"reason": "goes home alone"}, CASEWORKER)
    retried = await ActivityEnvironment().run(EmbassyRequestActivities(h.deps).send_embassy_request, batch)

    assert retried.sent == [stays] and retried.skipped == {leaves: "closed (withdrawn)"} and retried.mailed
    # The draft that named her is gone, file and all: no liaison reads it among the documents
    # of the case it names; the request that went names only the survivor who still consents.
    (current,) = requests(h)
    assert current.verification_code != draft.verification_code and named(h, current.id) == {stays}
    assert verify(h.db, draft.verification_code) is None  # the draft's code proves nothing now
    assert "TrầnThịHoa" not in flat_text(h, current.path)
    (listed,) = [d for d in h.service.documents_for(LIAISON_VNM, stays) if d.doc_type == "embassy_request"]
    assert listed.verification_code == current.verification_code
    (letter,) = mails_to(h, "consular.vnm@embassies.example")
    stays_reference = h.service.resolve(stays).reference
    assert sorted(a.get_filename() for a in letter.iter_attachments()) == [
        "REQ-VNM-RELAY-DOWN-1.pdf",
        f"etd-application-{stays_reference}-v1.pdf",
    ]


@pytest.mark.parametrize("harness", [{"embassy_request_window_seconds": 3}], indirect=True)
async def test_a_case_that_cannot_be_named_waits_for_a_supervisor(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await h.wait_for(case_id, lambda s: any(e.event == "queued" for e in s.history), "queued")
    with h.db.session() as s:  # the consent to disclosure is found missing before the request goes
        case = s.get(Case, case_id)
        good = dict(case.profile)
        case.profile = {**good, "consent": {**good["consent"], "disclosure_to_embassy": False}}

    state = await h.wait_for(case_id, lambda s: s.blocked is not None, "the request step blocked")
    assert state.blocked.step == "embassy request" and "consent to disclosure" in state.blocked.error
    assert requests(h) == []  # nothing went to the embassy
    await h.wait_stuck(SUPERVISOR, [(case_id, "failed")])

    with h.db.session() as s:
        s.get(Case, case_id).profile = good
    await h.service.intervene(
        case_id, {"action": "retry", "justification": "consent re-recorded"}, SUPERVISOR
    )
    await h.wait_pending(case_id, DecisionKind.nationality)
    (request,) = requests(h)
    assert named(h, request.id) == {case_id}


async def test_sending_again_names_no_one_twice_and_mails_once(harness: Harness) -> None:
    """The activity run again with the same batch (a retry), and a later batch naming a case
    that an earlier request already named (a join retried after its request went out)."""
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await h.wait_pending(case_id, DecisionKind.nationality)
    (first,) = requests(h)
    # Sent with a heartbeat timeout: a worker killed while sending is noticed in seconds, and
    # the attempt retried, not after the five-minute start-to-close timeout.
    batcher = h.env.client.get_workflow_handle(batcher_id(h.settings.task_queue, "VNM", ORG))
    (sending,) = [
        e.activity_task_scheduled_event_attributes
        for e in (await batcher.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert sending.activity_type.name == "send_embassy_request"
    assert sending.heartbeat_timeout.ToTimedelta() == timedelta(seconds=30)
    assert sending.start_to_close_timeout.ToTimedelta() == timedelta(minutes=5)
    activities = EmbassyRequestActivities(h.deps)
    env = ActivityEnvironment()
    batch = EmbassyRequestBatch(
        request_reference=first.subject,
        nationality="VNM",
        organisation=ORG,
        issued_on=first.issued_on,
        case_ids=[case_id],
    )
    again = await env.run(activities.send_embassy_request, batch)
    assert again.sent == [case_id] and again.document.document_id == first.id and not again.mailed

    later = await env.run(
        activities.send_embassy_request, batch.model_copy(update={"request_reference": "REQ-VNM-LATER-1"})
    )
    assert later.sent == [] and later.document is None
    assert later.earlier[case_id].reference == first.subject
    assert len(requests(h)) == 1
    with h.db.session() as s:
        sent = s.scalar(
            select(func.count()).select_from(NoticeRow).where(NoticeRow.kind == "embassy_request")
        )
    assert sent == 1 and len(mails_to(h, "consular.vnm@embassies.example")) == 1
    assert Path(first.path).exists()


async def test_the_journey_orders_its_work(harness: Harness) -> None:
    """What a mass release relies on, as the workflow asks it of Temporal: documents on the
    paperwork queue, the embassy path first and everything else after; the read model's bookkeeping
    as local activities, so it never queues on the server."""
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await h.wait_pending(case_id, DecisionKind.nationality)
    await h.wait_pending(case_id, DecisionKind.funding)
    await h.wait_document(case_id, "intake_consent")
    history = await h.handle(case_id).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    renders = {}
    for a in scheduled:
        if a.activity_type.name == "render_document":
            request = await h.env.client.data_converter.decode(a.input.payloads)
            renders[request[0]["doc_type"]] = (a.task_queue.name, a.priority.priority_key)
    paperwork = h.settings.paperwork_queue
    assert renders == {
        "intake_consent": (paperwork, 5),
        "identity_report": (paperwork, 5),
        "etd_application": (paperwork, 2),
        "funding_request": (paperwork, 5),  # off the embassy's path: behind it, with the records
    }
    local = {
        "sync_read_model",
        "record_decision",
        "run_identity_checks",
        "estimate_costs",
        "join_embassy_request",
    }
    assert not local & {a.activity_type.name for a in scheduled}  # none of them queued on the server
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert sum(m.marker_recorded_event_attributes.marker_name == "core_local_activity" for m in markers) >= 8


@pytest.mark.parametrize(
    "harness", [{"embassy_request_window_seconds": 120, "embassy_request_quiet_seconds": 8}], indirect=True
)
async def test_a_wave_goes_when_it_is_over_not_when_the_window_ends(harness: Harness) -> None:
    """Cases ready one after the other share a request, sent once no other has joined for the
    quiet period: long before the two-minute window."""
    h = harness
    lan = await open_case(h, 0)
    hoa = await open_case(h, 0, **HOA)
    await through_identity(h, lan)
    await h.wait_for(lan, lambda s: any(e.event == "queued" for e in s.history), "queued")
    await through_identity(h, hoa)  # joins while the first waits
    for case_id in (lan, hoa):
        await h.wait_pending(case_id, DecisionKind.nationality, timeout=60)
    (request,) = requests(h)
    assert named(h, request.id) == {lan, hoa}
    state = await h.state(lan)
    queued = next(e.at for e in state.history if e.event == "queued")
    sent = next(e.at for e in state.history if e.event == "sent")
    assert (sent - queued).total_seconds() < 60


async def test_a_request_that_never_goes_out_is_a_stuck_case(tmp_path: Path) -> None:
    """The embassy's batcher gone (a bug, an operator's mistake): the case does not wait in
    silence; after an hour it is listed as failed, and a retry asks again."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        port=free_port(),
    )
    try:
        # A window long enough that the batcher is gone before it sends anything.
        async with harness_for(
            env, tmp_path, embassy_request_window_seconds=600, embassy_request_quiet_seconds=600
        ) as h:
            case_id = await open_case(h, 0)
            await through_identity(h, case_id)
            await h.wait_for(case_id, lambda s: any(e.event == "queued" for e in s.history), "queued")
            case = h.service.resolve(case_id)
            batcher = h.env.client.get_workflow_handle(
                batcher_id(h.settings.task_queue, "VNM", case.organisation)
            )
            await batcher.terminate("lost")
            await h.env.sleep(timedelta(hours=1, minutes=5))
            state = await h.wait_for(case_id, lambda s: s.blocked is not None, "the request step blocked")
            assert state.blocked.step == "embassy request" and "within an hour" in state.blocked.error
            assert requests(h) == []
            await h.wait_stuck(SUPERVISOR, [(case_id, "failed")])

            await h.service.intervene(
                case_id, {"action": "retry", "justification": "batcher restarted"}, SUPERVISOR
            )
            await h.env.sleep(timedelta(minutes=11))  # the new batcher's window
            await h.wait_pending(case_id, DecisionKind.nationality)
            (request,) = requests(h)
            assert named(h, request.id) == {case_id}
    finally:
        await env.shutdown()
