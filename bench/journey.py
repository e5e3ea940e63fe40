"""The journey: N survivors opened at once and driven to closure by robots, then measured from
the read model (the timeline of every case), the documents table and Temporal's histories."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from temporalio.client import Client, WorkflowHistory

from access.actor import Actor
from bench import histories, server_work
from bench.bare_temporal import Shape
from bench.measure import BacklogWatch, CpuWatch, MemoryWatch, children, cores, percentile
from bench.robots import Robots
from bench.server_work import ServerWatch
from bench.survivors import open_request, survivors
from contracts.state import Role, Stage
from database.engine import Database
from database.models import Case, Document, DocumentCase, NoticeRow
from repatriation.service import CaseService

STAGES = [s.value for s in Stage]
CONSOLIDATED = ("embassy_request",)  # the daily lists go at 06:00 UTC, whatever the journey does


@dataclass
class JourneyResult:
    cases: int
    started_at: datetime
    open_seconds: float = 0.0
    seconds: float = 0.0
    finished: bool = False
    outcomes: dict[str, int] = field(default_factory=dict)
    cases_per_second: float = 0.0
    stage_latency: dict[str, dict[str, float | None]] = field(default_factory=dict)
    case_latency: dict[str, float | None] = field(default_factory=dict)
    embassy_requests: int = 0
    embassy_needed: int = 0
    embassy_all_out_seconds: float | None = None
    embassy_latency: dict[str, float | None] = field(default_factory=dict)
    # From a request mailed to each case it names learning of it (the batcher's signal).
    embassy_told_latency: dict[str, float | None] = field(default_factory=dict)
    documents: int = 0
    documents_by_type: dict[str, int] = field(default_factory=dict)
    embassy_letters: int = 0  # consolidated requests mailed to the embassies
    decisions: int = 0
    robot_turnaround: dict[str, float | None] = field(default_factory=dict)
    robot_errors: int = 0
    # Decisions the workflow refused (the state had moved on since the robot read it), by reason.
    robot_rejections: dict[str, int] = field(default_factory=dict)
    peak_worker_mb: float = 0.0
    peak_worker_total_mb: float = 0.0
    # Where the machine's time went: CPU-seconds per group of processes, until every embassy
    # request was out and over the whole journey, beside what the cores could give meanwhile.
    cores: int = 0
    cpu_until_requests_out: dict[str, float] = field(default_factory=dict)
    cpu_journey: dict[str, float] = field(default_factory=dict)
    # Workflow tasks waiting on the server (every case waits that long for each of its tasks).
    backlog_until_requests_out: dict[str, float] = field(default_factory=dict)
    backlog_journey: dict[str, float] = field(default_factory=dict)
    # What the Temporal server's persistence was asked, per case (bench.server_work).
    server_until_requests_out: dict[str, Any] = field(default_factory=dict)
    server_journey: dict[str, Any] = field(default_factory=dict)
    # What the Temporal server keeps of a case: events and bytes by kind (bench.histories).
    history: dict[str, Any] = field(default_factory=dict)
    shapes: list[Shape] = field(default_factory=list)
    case_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("shapes", "case_ids")}
        out["started_at"] = self.started_at.isoformat()
        acts = [s.activities for s in self.shapes]
        ups = [s.updates for s in self.shapes]
        out["activities_per_case"] = sum(acts) / len(acts) if acts else None
        out["updates_per_case"] = sum(ups) / len(ups) if ups else None
        return out


def _p(values: list[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "max": max(values, default=None)}


async def open_all(
    service: CaseService, people: list[dict[str, Any]], prefix: str, actor: Actor, concurrency: int = 50
) -> list[str]:
    """Open every case at once (``concurrency`` requests in flight); the case ids, in order."""
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int, person: dict[str, Any]) -> str:
        async with limit:
            opened = await service.open_case(open_request(person, f"{prefix}-{index:05d}"), actor)
            return opened.case_id

    return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(people))))


def _stage_times(history: list[dict[str, Any]]) -> dict[str, tuple[datetime, datetime]]:
    """Per stage: (first event, the event that ended it)."""
    begun: dict[str, datetime] = {}
    ended: dict[str, datetime] = {}
    previous: datetime | None = None
    for event in history:
        stage, kind, at = event["stage"], event["event"], datetime.fromisoformat(event["at"])
        if stage not in begun:
            # Closing begins when the last stage before it ended.
            begun[stage] = previous if stage == "closed" and previous else at
        previous = at
        if kind in ("completed", "skipped", "stopped", "closed") and stage not in ended:
            ended[stage] = at
    return {s: (begun[s], ended[s]) for s in begun if s in ended}


def request_sent_at(history: list[dict[str, Any]]) -> datetime | None:
    """When the case learnt that the request naming it went out (its timeline's "sent" event)."""
    for event in history:
        if event["stage"] == "embassy" and event["event"] == "sent":
            return datetime.fromisoformat(event["at"])
    return None


def requests_mailed(session: Any) -> dict[str, datetime]:
    """Per case, when the embassy request naming it was mailed to the embassy: the request is
    out, whatever the case's workflow learns of it later (a signal from the batcher)."""
    rows = session.execute(
        select(DocumentCase.case_id, NoticeRow.sent_at)
        .join(Document, Document.id == DocumentCase.document_id)
        .join(NoticeRow, NoticeRow.id == "embassy-request:" + Document.subject)
        .where(Document.doc_type == "embassy_request")
    ).all()
    return {case_id: sent_at for case_id, sent_at in rows}


def holds_passport(profile: dict[str, Any], day: date) -> bool:
    evidence = profile.get("evidence") or {}
    expiry = evidence.get("passport_expiry")
    return bool(evidence.get("passport_held") and expiry and date.fromisoformat(expiry) > day)


def measure(db: Database, case_ids: list[str], started_at: datetime, result: JourneyResult) -> None:
    ids = set(case_ids)
    latencies: dict[str, list[float]] = defaultdict(list)
    whole: list[float] = []
    outcomes: Counter[str] = Counter()
    needed = 0
    embassy: list[datetime] = []
    per_case: list[float] = []
    told_after: list[float] = []
    with db.reading() as session:
        rows = session.execute(
            select(Case.id, Case.opened_at, Case.closed_at, Case.outcome, Case.state, Case.profile)
        ).all()
        docs = session.execute(select(Document.case_id, Document.doc_type, Document.created_at)).all()
        letters = session.scalar(
            select(func.count()).select_from(NoticeRow).where(NoticeRow.kind == "embassy_request")
        )
        mailed = requests_mailed(session)
    for row in rows:
        if row.id not in ids:
            continue
        outcomes[row.outcome or "open"] += 1
        state = row.state or {}
        history = state.get("history", [])
        for stage, (begin, end) in _stage_times(history).items():
            latencies[stage].append((end - begin).total_seconds())
        if row.closed_at:
            whole.append((row.closed_at - row.opened_at).total_seconds())
        if not holds_passport(row.profile, row.opened_at.date()):
            needed += 1  # an ETD, so the embassy must be asked
        out = mailed.get(row.id)
        if out is not None:
            embassy.append(out)
            per_case.append((out - row.opened_at).total_seconds())
            told = request_sent_at(history)
            if told is not None:
                told_after.append((told - out).total_seconds())
    by_type: Counter[str] = Counter()
    for doc in docs:
        if doc.case_id in ids or (doc.case_id is None and doc.doc_type in CONSOLIDATED):
            by_type[doc.doc_type] += 1
    result.outcomes = dict(outcomes)
    result.stage_latency = {s: _p(latencies[s]) for s in STAGES if latencies.get(s)}
    result.case_latency = _p(whole)
    result.embassy_requests = len(embassy)
    result.embassy_needed = needed
    result.embassy_all_out_seconds = (max(embassy) - started_at).total_seconds() if embassy else None
    result.embassy_latency = _p(per_case)
    result.embassy_told_latency = _p(told_after)
    result.documents = sum(by_type.values())
    result.documents_by_type = dict(by_type)
    result.embassy_letters = letters or 0


def shape_of(history: WorkflowHistory) -> Shape:
    """Activities and Updates a case's workflow ran (from its history)."""
    from temporalio.api.enums.v1 import EventType

    kinds = Counter(e.event_type for e in history.events)
    local = sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )
    return Shape(
        activities=kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
        updates=kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED],
        local_activities=local,
        signals=kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED],
    )


async def run_journey(
    service: CaseService,
    client: Client,
    worker_pid: int,
    count: int,
    today: date,
    organisation: str,
    timeout: float,
    progress: Any = print,
    server_pid: int | None = None,
    task_queue: str | None = None,
    server_metrics: str | None = None,
) -> JourneyResult:
    people = survivors(count, today, start=0)
    actor = Actor("bench-caseworker", Role.caseworker, organisation, source="bench")
    watch = MemoryWatch(worker_pid).start()
    groups = {
        "render processes": lambda: children(worker_pid),
        "worker": lambda: [worker_pid],
        "Temporal server": lambda: [server_pid] if server_pid else [],
        "robots and service layer": lambda: [os.getpid()],
    }
    cpu = CpuWatch(groups).start()
    backlog = BacklogWatch(client, task_queue).start() if task_queue else None
    server = await ServerWatch(server_metrics).begin() if server_metrics else None
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    result = JourneyResult(cases=count, started_at=started_at)
    case_ids = await open_all(service, people, "bench-journey", actor)
    result.case_ids = case_ids
    result.open_seconds = time.perf_counter() - t0
    progress(f"  {count} cases opened in {result.open_seconds:.1f} s; robots deciding")
    robots = Robots(service, organisation, set(case_ids))
    reporter = asyncio.ensure_future(_report_progress(service.db, set(case_ids), t0, progress))
    try:
        result.finished = await robots.run(timeout)
        if result.finished:
            # A case's outcome reaches the read model before its closure's last write (the
            # closure report, its notice, the timeline's last events): the journey ends when
            # every case's workflow has.
            left = timeout - (time.perf_counter() - t0)
            result.finished = await _all_ended(client, case_ids, left)
    finally:
        reporter.cancel()
    result.seconds = time.perf_counter() - t0
    await watch.stop()
    await cpu.stop()
    if backlog is not None:
        await backlog.stop()
    if server is not None:
        await server.stop()
    result.cases_per_second = count / result.seconds if result.seconds else 0.0
    result.decisions = robots.decided
    result.robot_errors = robots.errors
    result.robot_rejections = dict(robots.rejections)
    result.robot_turnaround = _p(robots.turnaround)
    result.peak_worker_mb = watch.peak_main_mb
    result.peak_worker_total_mb = watch.peak_total_mb
    measure(service.db, case_ids, started_at, result)
    out = result.embassy_all_out_seconds
    result.cores = cores()
    result.cpu_journey = cpu.used()
    if out is not None:
        result.cpu_until_requests_out = cpu.used(out)
    if backlog is not None:
        result.backlog_journey = backlog.worst()
        if out is not None:
            result.backlog_until_requests_out = backlog.worst(out)
    if server is not None and server.complete:
        result.server_journey = server_work.summary(server.used(), count)
        if out is not None:
            result.server_until_requests_out = server_work.summary(server.used(out), count)
    found = await histories.fetch(client, [f"repatriation-{c}" for c in case_ids])
    result.shapes = [shape_of(h) for h in found]
    result.history = histories.profile(found)
    return result


async def _all_ended(client: Client, case_ids: list[str], timeout: float) -> bool:
    """Whether every case's workflow completes within ``timeout`` seconds (one at a time: those
    already done answer at once)."""

    async def each() -> None:
        for case_id in case_ids:
            await client.get_workflow_handle(f"repatriation-{case_id}").result()

    try:
        await asyncio.wait_for(each(), timeout=max(timeout, 1.0))
    except TimeoutError:
        return False
    return True


async def _report_progress(db: Database, ids: set[str], t0: float, progress: Any, every: float = 30) -> None:
    while True:
        await asyncio.sleep(every)

        def count() -> tuple[int, int]:
            with db.reading() as session:
                rows = session.execute(select(Case.id, Case.outcome)).all()
                named = session.scalars(
                    select(DocumentCase.case_id)
                    .join(Document, Document.id == DocumentCase.document_id)
                    .where(Document.doc_type == "embassy_request")
                ).all()
            closed = sum(1 for r in rows if r.id in ids and r.outcome)
            return closed, sum(1 for d in named if d in ids)

        closed, embassy = await asyncio.to_thread(count)
        progress(
            f"  {time.perf_counter() - t0:6.0f} s: {closed}/{len(ids)} closed, "
            f"{embassy} named in embassy requests"
        )
