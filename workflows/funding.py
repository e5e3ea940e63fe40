"""Stage 5, funding approval: a cost estimate, the funding request, the supervisor's decision.

Runs alongside the embassy stages. A rejection keeps the request open for another decision
(another source); an approval commits the money in the ledger inside the Update itself, so a
budget that cannot cover it refuses the decision instead of over-committing.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.decisions import FundingDecision
    from contracts.messages import DocType, EstimateInput
    from contracts.state import DecisionKind, Stage

from workflows import calls
from workflows.journey import Journey


async def run(j: Journey) -> None:
    j.begin(Stage.funding)
    await j.sync()
    # Its data found invalid (a stricter profile deployed mid-case), the estimate waits for a
    # supervisor to fix it and retry, as any step that fails for good, rather than failing the case.
    asked = EstimateInput(case_id=j.start.case_id, today=workflow.now().date())
    estimate = await j.guarded(
        Stage.funding,
        "cost estimate",
        lambda: j.in_turn(lambda: calls.estimate_costs(asked, local=j.v3)),
        False,
    )
    assert estimate is not None  # not skippable: a cost cannot be overridden away
    j.state.estimate = estimate
    await j.render(
        Stage.funding,
        DocType.funding_request,
        estimate=estimate.model_dump(mode="json"),
        escort_required=j.needs_escort,
    )
    await j.sync()

    while True:
        decision = await j.await_decision(DecisionKind.funding)
        assert isinstance(decision, FundingDecision)
        if decision.approved:
            break
        j.event(Stage.funding, "rejected", "funding rejected; awaiting another decision")

    assert j.state.funding is not None
    await j.render(
        Stage.funding,
        DocType.funding_memo,
        estimate=estimate.model_dump(mode="json"),
        funding=j.state.funding.model_dump(mode="json"),
        approved_by=decision.decided_by,
    )
    j.finish(Stage.funding, f"{j.state.funding.currency} {j.state.funding.amount} committed")
    await j.sync()
