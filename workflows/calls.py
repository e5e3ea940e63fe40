"""How the workflow calls its activities: names, timeouts and retry policies in one place.

Activities are referenced by name so that this module never imports SQLAlchemy or WeasyPrint.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

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


T = TypeVar("T")


async def _run(name: str, arg: Any, result_type: type[T] | None = None, timeout: timedelta = QUICK) -> T:
    return await workflow.execute_activity(
        name, arg, result_type=result_type, start_to_close_timeout=timeout, retry_policy=RETRY
    )


async def sync_read_model(request: ReadModelSync) -> None:
    await _run("sync_read_model", request)


async def record_decision(record: DecisionRecord) -> None:
    await _run("record_decision", record)


async def render_document(request: RenderRequest) -> DocumentRef:
    return await _run("render_document", request, DocumentRef, RENDER)


async def send_notice(notice: Notice) -> None:
    await _run("send_notice", notice)


async def run_identity_checks(request: IdentityCheckInput) -> IdentityReport:
    return await _run("run_identity_checks", request, IdentityReport)


async def estimate_costs(request: EstimateInput) -> CostEstimate:
    return await _run("estimate_costs", request, CostEstimate)


async def commit_funds(request: CommitFunds) -> FundingCommitment:
    return await _run("commit_funds", request, FundingCommitment)


async def release_funds(request: ReleaseFunds) -> list[FundingCommitment]:
    return await _run("release_funds", request, list[FundingCommitment])  # type: ignore[arg-type]


async def search_flights(request: FlightSearch) -> list[FlightOption]:
    return await _run("search_flights", request, list[FlightOption])  # type: ignore[arg-type]


async def book_flight(request: BookFlight) -> Booking:
    return await _run("book_flight", request, Booking)


async def cancel_booking(request: CancelBooking) -> Booking:
    return await _run("cancel_booking", request, Booking)
