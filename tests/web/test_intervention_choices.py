"""What the case page offers a supervisor: everything while the case runs, only the failed step
of its closure while it is closing, nothing once it is closed."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.state import BlockedStep, CaseState, Outcome, Stage
from contracts.views import CaseDetail
from web.pages import intervention_choices


def detail(state: CaseState) -> CaseDetail:
    return CaseDetail(
        case_id=state.case_id,
        reference=state.reference,
        organisation=state.organisation,
        nationality=state.nationality,
        stage=state.stage,
        outcome=state.outcome,
        outcome_reason=None,
        overdue=False,
        opened_at=datetime.now(UTC),
        pending=[],
        timeline=[],
        state=state,
        survivor={},
        documents=[],
    )


def test_a_closing_case_offers_only_its_failed_step() -> None:
    state = CaseState(case_id="c1", reference="RP-1", organisation="Shelter", nationality="VNM")
    running = intervention_choices(detail(state))
    assert running is not None and running["closing"] is False

    state.closing = Outcome.repatriated
    assert intervention_choices(detail(state)) is None  # closing, nothing failed: nothing to do
    state.blocked = BlockedStep(
        stage=Stage.closed, step="render closure_report", error="x", since=datetime.now(UTC)
    )
    closing = intervention_choices(detail(state))
    assert closing is not None and closing["closing"] is True and closing["blocked"] == state.blocked

    state.outcome, state.blocked = Outcome.repatriated, None
    assert intervention_choices(detail(state)) is None
