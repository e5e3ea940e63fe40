"""Stages 3 and 4, emergency travel documents and embassy contact.

The ETD application is prepared, then the embassy of nationality receives the nationality
verification request with it and decides: nationality confirmed or refused, ETD issued or
refused. A survivor holding a valid passport needs neither stage.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.decisions import EtdDecision, NationalityDecision
    from contracts.messages import DocType, Notice
    from contracts.state import DecisionKind, Outcome, Role, Stage, StageStatus

from workflows import calls
from workflows.journey import CaseStopped, Journey


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
