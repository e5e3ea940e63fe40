"""Closing a case: compensation when it did not end in a return (the booking cancelled, the
committed funds released), the closure or handover report, the final read model."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.messages import CancelBooking, DocType, Notice, ReleaseFunds
    from contracts.state import Outcome, Role, Stage, StageStatus

from workflows import calls
from workflows.journey import Journey


async def _compensate(j: Journey, outcome: Outcome) -> None:
    booking = j.state.booking
    if booking is not None and booking.status != "cancelled" and j.state.departed_at is None:
        cancel = CancelBooking(
            case_id=j.start.case_id,
            booking_ref=booking.booking_ref,
            idempotency_key=f"{j.start.case_id}:cancel:{booking.booking_ref}",
        )
        # Refused for good by the provider (it no longer knows the booking), the cancellation
        # waits for a supervisor: retry, or override once the booking is dealt with by hand;
        # the funds are released after it either way.
        cancelled = await j.guarded(
            Stage.travel, "booking cancellation", lambda: calls.cancel_booking(cancel), True
        )
        if cancelled is not None:
            j.state.booking = cancelled
            j.event(Stage.travel, "compensation", f"booking {booking.booking_ref} cancelled")
    released = await calls.release_funds(ReleaseFunds(case_id=j.start.case_id, reason=outcome))
    if released and j.state.funding is not None:
        j.state.funding = j.state.funding.model_copy(update={"status": "released"})
        total = sum(c.amount for c in released)
        j.event(Stage.funding, "compensation", f"{released[0].currency} {total} released")


async def run(j: Journey) -> None:
    outcome, reason = j.stop or (Outcome.repatriated, "returned home")
    j.in_closure = True
    if outcome != Outcome.repatriated:
        await _compensate(j, outcome)
    for stage, status in j.state.stages.items():
        if status == StageStatus.active:
            j.state.stages[stage] = StageStatus.stopped
            j.event(stage, "stopped", str(outcome))
    j.state.pending = []
    # The outcome is the case's last word: lists show it only once the closure report exists
    # (a closed case without its report was seen for a moment while the report rendered), and
    # meanwhile the case is closing: nothing more is sent about it and no decision is taken.
    j.state.closing = outcome
    j.state.stages[Stage.closed] = StageStatus.active
    j.state.stage = Stage.closed
    await j.render(
        Stage.closed,
        DocType.closure_report,
        outcome=outcome,
        outcome_reason=reason,
        reception_organisation=j.reception_organisation,
        departed_at=j.state.departed_at.isoformat() if j.state.departed_at else None,
        arrived_at=j.state.arrived_at.isoformat() if j.state.arrived_at else None,
        funding=j.state.funding.model_dump(mode="json") if j.state.funding else None,
        booking=j.state.booking.model_dump(mode="json") if j.state.booking else None,
        etd=j.state.etd.model_dump(mode="json") if j.state.etd else None,
    )
    j.state.outcome = outcome
    j.state.outcome_reason = reason
    j.state.stages[Stage.closed] = StageStatus.done
    j.event(Stage.closed, "closed", f"{outcome}: {reason}")
    # Added after v1 was recorded: cases that closed before this change replay without it
    # (cases opened from v5 on have it without a marker of their own: journey.V5).
    if j.v5 or workflow.patched("closure-notice-to-caseworkers"):
        report = j.document_ids(DocType.closure_report)
        attached = "The closure report is attached." if report else "A supervisor skipped its closure report."
        await calls.send_notice(
            Notice(
                case_id=j.start.case_id,
                notice_id=f"{j.start.case_id}:closed",
                kind="closed",
                to_role=Role.caseworker,
                subject=f"Case {j.state.reference} closed: {outcome}",
                body=f"Case {j.state.reference} is closed ({outcome}). {attached}",
                attachments=report,
            )
        )
    await j.sync(wait=True)  # the read model shows the case closed before the workflow ends
