"""How the workflow calls its activities: names, timeouts, retry policies, task queues and
priorities in one place.

Activities are referenced by name so that this module never imports SQLAlchemy or WeasyPrint.

- The short steps of a case run as *local* activities (v3): the read model's bookkeeping
  (``sync_read_model``, ``record_decision``), the identity checks, the cost estimate and joining
  the embassy's next request. They run in the worker that runs the workflow task, are recorded
  as a marker in the history, and need no task scheduled, matched and dispatched on the server,
  nor a workflow task of their own afterwards: in a mass release the server's work per case, not
  the worker's, was what bound the orchestration. They retry as any activity does. A case runs
  one at a time (``Journey.in_turn``, journey v11): the SDK hands back the results of local
  activities that overlapped in another order on replay than when they ran.
- Documents render on a task queue of their own (``Policy.paperwork_task_queue``), served by
  workers whose slots match their render processes, so that the backlog of a mass release waits
  in Temporal, where it is ordered by priority, instead of in the workers.
- Priorities (Temporal's ``priority_key``, 1 first, 3 the default): the embassy request first
  (it names many survivors and must not queue behind their applications), then the ETD
  applications it carries, because the embassy's answer is the longest wait of every case; the
  records that nobody waits for (the intake and consent form, the identity report) last. Under
  no backlog they change nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts.messages import (
        BookFlight,
        CancelBooking,
        CommitFunds,
        DecisionRecord,
        DocType,
        EmbassyRequestBatch,
        EmbassyRequestResult,
        EstimateInput,
        FlightSearch,
        IdentityCheckInput,
        JoinEmbassyRequest,
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
# A consolidated request renders a page per few dozen survivors and attaches their applications.
EMBASSY_REQUEST = timedelta(minutes=5)
# A notice (send_notice) is mailed in one SMTP conversation that activities/notices.py ends
# within NOTICE_DELIVERY, however slowly the server answers; the notice is marked sent only once
# the server has it. An attempt that outran its start-to-close would be retried while the server
# may still be taking the first copy, and the second attempt would mail it again: so an attempt
# may run for the whole conversation and then some, for the database's reads and write around it.
# (No heartbeat: it would let a worker that lost touch with Temporal be replaced mid-delivery.)
NOTICE_DELIVERY = timedelta(seconds=30)
NOTICE = NOTICE_DELIVERY + timedelta(seconds=30)
# The long ones (a consolidated request, the embassies' daily lists) heartbeat
# (activities/heartbeats.py): a worker killed while sending is noticed in seconds, not when the
# minutes are up, so the survivors named do not wait for that.
HEARTBEAT = timedelta(seconds=30)

FIRST = Priority(priority_key=1)  # the embassy request, and the steps that lead to it
EMBASSY_PATH = Priority(priority_key=2)  # the ETD applications the request carries
# Every other document, in the order its case asked for it: the records nobody's next step waits
# on (the consent form, the identity report), and the funding, travel and closure paperwork, whose
# steps wait on it but the embassy's do not. Those last were once at the default priority, ahead
# of the records: in a mass release each funding request rendered opened a supervisor's decision,
# the ledger, the memo and then the travel stage, all taking the cores from the cases not yet
# asked for. Behind the records, they wait until the embassy's path is clear: every request out
# 13 % sooner over two pairs of 1,000-case runs (BENCHMARKS.md, 2026-12-04).
OFF_PATH = Priority(priority_key=5)

DOC_PRIORITY: dict[DocType, Priority] = {DocType.etd_application: EMBASSY_PATH}


T = TypeVar("T")


async def _run(
    name: str,
    arg: Any,
    result_type: type[T] | None = None,
    timeout: timedelta = QUICK,
    task_queue: str | None = None,
    priority: Priority = Priority.default,
    heartbeat: timedelta | None = None,
) -> T:
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timeout,
        heartbeat_timeout=heartbeat,
        retry_policy=RETRY,
        task_queue=task_queue,
        priority=priority,
    )


async def _local(name: str, arg: Any, result_type: type[T] | None = None) -> T:
    return await workflow.execute_local_activity(
        name, arg, result_type=result_type, start_to_close_timeout=QUICK, retry_policy=RETRY
    )


async def sync_read_model(request: ReadModelSync, local: bool = False) -> None:
    if local:
        await _local("sync_read_model", request)
    else:
        await _run("sync_read_model", request)


async def record_decision(record: DecisionRecord, local: bool = False) -> None:
    if local:
        await _local("record_decision", record)
    else:
        await _run("record_decision", record)


async def render_document(
    request: RenderRequest, task_queue: str | None = None, prioritised: bool = False
) -> DocumentRef:
    """On ``task_queue`` (the paperwork queue; None: the workflow's own) at the document's
    priority (cases opened before v3: the default priority, as they were recorded)."""
    priority = DOC_PRIORITY.get(request.doc_type, OFF_PATH) if prioritised else Priority.default
    return await _run("render_document", request, DocumentRef, RENDER, task_queue, priority)


async def join_embassy_request(request: JoinEmbassyRequest) -> None:
    await _local("join_embassy_request", request)


async def send_embassy_request(batch: EmbassyRequestBatch, task_queue: str | None) -> EmbassyRequestResult:
    return await _run(
        "send_embassy_request",
        batch,
        EmbassyRequestResult,
        EMBASSY_REQUEST,
        task_queue,
        FIRST,
        HEARTBEAT,
    )


async def send_notice(notice: Notice) -> None:
    await _run("send_notice", notice, timeout=NOTICE)


async def run_identity_checks(request: IdentityCheckInput, local: bool = False) -> IdentityReport:
    if local:
        return await _local("run_identity_checks", request, IdentityReport)
    return await _run("run_identity_checks", request, IdentityReport)


async def estimate_costs(request: EstimateInput, local: bool = False) -> CostEstimate:
    if local:
        return await _local("estimate_costs", request, CostEstimate)
    return await _run("estimate_costs", request, CostEstimate)


async def commit_funds(request: CommitFunds) -> FundingCommitment:
    # Never a local activity: its completion settles the funding approval (journey.V10), which
    # holds only for an activity handed out once the task that scheduled it is recorded.
    return await _run("commit_funds", request, FundingCommitment)


async def release_funds(request: ReleaseFunds) -> list[FundingCommitment]:
    return await _run("release_funds", request, list[FundingCommitment])  # type: ignore[arg-type]


async def search_flights(request: FlightSearch) -> list[FlightOption]:
    return await _run("search_flights", request, list[FlightOption])  # type: ignore[arg-type]


async def book_flight(request: BookFlight) -> Booking:
    return await _run("book_flight", request, Booking)


async def cancel_booking(request: CancelBooking) -> Booking:
    return await _run("cancel_booking", request, Booking)
