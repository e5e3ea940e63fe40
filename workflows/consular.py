"""Stages 3 and 4, emergency travel documents and embassy contact.

The ETD application is prepared, then the embassy of nationality is asked to verify the
nationality and issue the ETD, and decides: nationality confirmed or refused, ETD issued or
refused. A survivor holding a valid passport needs neither stage.

The embassy is asked by a *consolidated request* (workflows/embassy_requests.py): the case joins
its embassy's next request, which names every survivor ready for that embassy within a short
window and carries their ETD applications, so a mass release means a few letters an hour, not
hundreds. Cases opened before v3 were asked by a letter each, and still are.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.decisions import EtdDecision, NationalityDecision
    from contracts.messages import DocType, JoinEmbassyRequest, Notice
    from contracts.state import DecisionKind, DocumentRef, Outcome, Role, Stage, StageStatus

from workflows import calls
from workflows.journey import CaseStopped, Journey

# A request goes out within a minute or so of a case joining it; one not out within an hour
# means the embassy's batcher is failing, and the case says so instead of waiting in silence.
REQUEST_OVERDUE = timedelta(hours=1)


async def _consolidated_request(j: Journey) -> DocumentRef:
    """Join the embassy's next consolidated request and wait until it has gone out."""
    j.embassy_answer = None
    joining = JoinEmbassyRequest(case_id=j.start.case_id, workflow_id=workflow.info().workflow_id)
    # The embassy's batcher is told only what Temporal has recorded.
    await j.in_turn(lambda: calls.join_embassy_request(joining), settled=True)
    j.event(Stage.embassy, "queued", "waiting for the embassy's next consolidated request")
    await j.sync()
    try:
        await workflow.wait_condition(
            lambda: j.embassy_answer is not None or j.stop is not None, timeout=REQUEST_OVERDUE
        )
    except TimeoutError:
        raise ApplicationError(
            "the embassy's consolidated request naming this case did not go out within an hour: "
            "its batcher (EmbassyRequestsWorkflow) may be failing; see the Temporal Web UI, then retry",
            non_retryable=True,
        ) from None
    j.check_stop()
    answer = j.embassy_answer
    assert answer is not None
    if answer.document is None:
        raise ApplicationError(
            f"request {answer.request_reference} could not name this case: {answer.error}",
            non_retryable=True,
        )
    return answer.document


async def _ask_embassy(j: Journey) -> None:
    if not j.v3:
        await _letter(j)
        return
    document = await j.guarded(
        Stage.embassy, "embassy request", lambda: _consolidated_request(j), skippable=True
    )
    if document is None:  # overridden: a supervisor had the embassy asked another way
        return
    j.add_document(Stage.embassy, document)
    assert j.embassy_answer is not None
    j.event(
        Stage.embassy,
        "sent",
        f"nationality verification and ETD application sent in request {j.embassy_answer.request_reference}",
    )
    await j.sync()


async def _letter(j: Journey) -> None:
    """Before v3: a nationality verification request of its own, mailed with the application."""
    await j.render(Stage.embassy, DocType.nationality_request)
    await calls.send_notice(
        Notice(
            case_id=j.start.case_id,
            notice_id=f"{j.start.case_id}:embassy-request",
            kind="embassy_request",
            to_role=Role.liaison,
            subject=f"Nationality verification and ETD application: case {j.state.reference}",
            body=(
                "Please find attached a request to verify nationality and an application for an "
                "emergency travel document (UN Trafficking in Persons Protocol, art. 8). "
                f"Record your decisions against case {j.state.reference}."
            ),
            attachments=j.document_ids(DocType.nationality_request, DocType.etd_application),
        )
    )
    j.event(Stage.embassy, "sent", "nationality verification request and ETD application sent")
    await j.sync()


async def run(j: Journey) -> None:
    if j.start.has_passport:
        for stage in (Stage.travel_documents, Stage.embassy):
            j.state.stages[stage] = StageStatus.done
            j.event(stage, "skipped", "not needed: the survivor holds a valid passport")
        await j.sync()
        return

    j.begin(Stage.travel_documents)
    await j.sync()
    await j.render(Stage.travel_documents, DocType.etd_application)
    j.finish(Stage.travel_documents, "ETD application prepared")

    j.begin(Stage.embassy)
    await j.sync()
    await _ask_embassy(j)

    nationality = await j.await_decision(DecisionKind.nationality)
    assert isinstance(nationality, NationalityDecision)
    if not nationality.confirmed:
        j.halt(Outcome.not_repatriable, f"nationality refused by the embassy: {nationality.reason}")
        raise CaseStopped(Outcome.not_repatriable)

    etd = await j.await_decision(DecisionKind.etd)
    assert isinstance(etd, EtdDecision)
    if not etd.issued:
        j.halt(Outcome.not_repatriable, f"emergency travel document refused: {etd.reason}")
        raise CaseStopped(Outcome.not_repatriable)
    j.finish(Stage.embassy, "nationality confirmed and ETD issued")
    await j.sync()
