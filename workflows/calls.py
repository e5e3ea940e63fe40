"""How the workflow calls its activities: names, timeouts and retry policies in one place.

Activities are referenced by name so that this module never imports SQLAlchemy or WeasyPrint.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts.messages import (
        BookFlight,
        CancelBooking,
        CommitFunds,
        DecisionRecord,
        EstimateInput,
        FlightSearch,
        IdentityCheckInput,
        Notice,
        ReadModelSync,
        ReleaseFunds,
        RenderRequest,
    )
    from contracts.state import (
        Booking,
        CostEstimate,
        DocumentRef,
        FlightOption,
        FundingCommitment,
        IdentityReport,
    )

# Transient faults are retried with backoff for as long as it takes (the stuck view shows them);
# errors that a retry cannot mend are raised as non-retryable ApplicationErrors by the activity.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
# How long one attempt may run; a worker killed in the middle of an attempt is noticed when
# this runs out, and the attempt is retried elsewhere.
QUICK = timedelta(seconds=15)
RENDER = timedelta(seconds=30)


async def sync_read_model(request: ReadModelSync) -> None:
    await workflow.execute_activity(
        "sync_read_model", request, start_to_close_timeout=QUICK, retry_policy=RETRY
    )


async def record_decision(record: DecisionRecord) -> None:
    await workflow.execute_activity(
        "record_decision", record, start_to_close_timeout=QUICK, retry_policy=RETRY
    )


async def render_document(request: RenderRequest) -> DocumentRef:
    return await workflow.execute_activity(
        "render_document",
        request,
        result_type=DocumentRef,
        start_to_close_timeout=RENDER,
        retry_policy=RETRY,
    )


async def send_notice(notice: Notice) -> None:
    await workflow.execute_activity("send_notice", notice, start_to_close_timeout=QUICK, retry_policy=RETRY)


async def run_identity_checks(request: IdentityCheckInput) -> IdentityReport:
    return await workflow.execute_activity(
        "run_identity_checks",
        request,
        result_type=IdentityReport,
        start_to_close_timeout=QUICK,
        retry_policy=RETRY,
    )


async def estimate_costs(request: EstimateInput) -> CostEstimate:
    return await workflow.execute_activity(
        "estimate_costs",
        request,
        result_type=CostEstimate,
        start_to_close_timeout=QUICK,
        retry_policy=RETRY,
    )


async def commit_funds(request: CommitFunds) -> FundingCommitment:
    return await workflow.execute_activity(
        "commit_funds",
        request,
        result_type=FundingCommitment,
        start_to_close_timeout=QUICK,
        retry_policy=RETRY,
    )


async def release_funds(request: ReleaseFunds) -> list[FundingCommitment]:
    return await workflow.execute_activity(
        "release_funds",
        request,
        result_type=list[FundingCommitment],
        start_to_close_timeout=QUICK,
        retry_policy=RETRY,
    )


async def search_flights(request: FlightSearch) -> list[FlightOption]:
    return await workflow.execute_activity(
        "search_flights",
        request,
        result_type=list[FlightOption],
        start_to_close_timeout=QUICK,
        retry_policy=RETRY,
    )


async def book_flight(request: BookFlight) -> Booking:
    return await workflow.execute_activity(
        "book_flight",
        request,
        result_type=Booking,
        start_to_close_timeout=QUICK,
        retry_policy=RETRY,
    )


async def cancel_booking(request: CancelBooking) -> Booking:
    return await workflow.execute_activity(
        "cancel_booking",
        request,
        result_type=Booking,
        start_to_close_timeout=QUICK,
        retry_policy=RETRY,
    )
