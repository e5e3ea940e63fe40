"""Scale: many open cases waiting on people. Real workflows opened through the service wait at
identity attestation; the rest of the open cases are rows cloned from a real waiting case (each
with its own invented survivor and opening time, a share of them overdue, so the stuck list has
work to do) and, on the Temporal server, bare workflows waiting on an Update with a deadline
timer. Then: the stuck list's latency and the worker's resident memory while everything waits."""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from temporalio.client import Client

from access.actor import Actor, operator
from bench.bare_temporal import BARE_QUEUE, BareJourney, Shape
from bench.journey import open_all
from bench.measure import children, percentile, sample, workflow_backlog
from bench.survivors import open_request, survivors
from contracts.state import Role
from database.models import Case, Document, StuckFlag
from repatriation.service import CaseService, case_reference, name_key

OVERDUE_SHARE_DAYS = 10  # openings spread over this many days: those older than the deadline are overdue
FAILING_EVERY = 97  # one case in this many has a step failing again and again (mail server down)


@dataclass
class ScaleResult:
    waiting: int
    real: int
    real_seconds: float = 0.0
    fill_seconds: float = 0.0
    temporal_fill: int = 0
    temporal_fill_seconds: float = 0.0
    stuck_cases: int = 0
    stuck_items_returned: int = 0
    stuck_ms: dict[str, float | None] = field(default_factory=dict)
    list_ms: dict[str, float | None] = field(default_factory=dict)
    worker_mb: float = 0.0
    render_processes_mb: float = 0.0
    worker_mb_after_idle: float = 0.0
    render_processes_after_idle: int = 0

    def summary(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def _wait_until_waiting(service: CaseService, ids: set[str], timeout: float, progress: Any) -> None:
    deadline = time.monotonic() + timeout
    last = -1
    while True:

        def count() -> int:
            """Cases waiting for a person with their consent form made (it renders beside the
            identity checks): nothing left for the worker to do."""
            with service.db.reading() as session:
                rows = session.execute(
                    select(Case.id, Case.state["pending"]).where(Case.stage == "identity")
                ).all()
                papered = set(
                    session.scalars(select(Document.case_id).where(Document.doc_type == "intake_consent"))
                )
            return sum(
                1
                for case_id, pending in rows
                if case_id in ids
                and case_id in papered
                and any(p["kind"] in ("identity_attestation", "duplicate_resolution") for p in pending or [])
            )

        waiting = await asyncio.to_thread(count)
        if waiting >= len(ids):
            return
        if waiting * 4 // len(ids) != last * 4 // len(ids) and waiting:
            progress(f"  {waiting}/{len(ids)} real cases waiting at identity attestation, consent form made")
        last = waiting
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {waiting} of {len(ids)} cases reached identity attestation")
        await asyncio.sleep(1)


def _shift(value: str, delta: timedelta) -> str:
    return (datetime.fromisoformat(value) + delta).isoformat()


def _fresh_case_id(taken: set[str]) -> tuple[str, str]:
    """A case id whose reference (its first eight hex digits) no case has, as the service gives
    one (``CaseService._insert_case``): among 10,000 cases two random ones share it about once
    in a hundred runs, and the cases' table refuses the second."""
    while True:
        case_id = str(uuid.uuid4())
        reference = case_reference(case_id)
        if reference not in taken:
            taken.add(reference)
            return case_id, reference


def fill_rows(
    service: CaseService, template_id: str, count: int, start_index: int, organisation: str, today: date
) -> int:
    """Insert ``count`` open cases cloned from the waiting case ``template_id``; the stuck flags."""
    with service.db.reading() as session:
        template = session.get(Case, template_id)
        assert template is not None
        base_state = copy.deepcopy(template.state)
        base_opened = template.opened_at
        taken = set(session.scalars(select(Case.reference)))
    now = datetime.now(UTC)
    people = survivors(count, today, start=start_index)
    cases: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    for n, person in enumerate(people):
        request = open_request(person, f"bench-fill-{start_index + n:06d}")
        profile = request.survivor
        case_id, reference = _fresh_case_id(taken)
        opened = now - timedelta(seconds=(n * 7919) % (OVERDUE_SHARE_DAYS * 86400))
        delta = opened - base_opened
        state = copy.deepcopy(base_state)
        state.update(case_id=case_id, reference=reference, nationality=profile.nationality)
        for event in state.get("history", []):
            event["at"] = _shift(event["at"], delta)
        overdue_since = None
        for pending in state.get("pending", []):
            pending["since"] = _shift(pending["since"], delta)
            pending["deadline"] = _shift(pending["deadline"], delta)
            if datetime.fromisoformat(pending["deadline"]) < now:
                pending["overdue"] = True
                overdue_since = datetime.fromisoformat(pending["deadline"])
        deadlines = [datetime.fromisoformat(p["deadline"]) for p in state.get("pending", [])]
        cases.append(
            dict(
                id=case_id,
                reference=reference,
                organisation=organisation,
                client_reference=f"bench-fill-{start_index + n:06d}",
                caseworker="bench-caseworker",
                workflow_id=f"repatriation-{case_id}",
                nationality=profile.nationality,
                profile=profile.model_dump(mode="json"),
                date_of_birth=profile.date_of_birth,
                name_key=name_key(profile),
                stage="identity",
                state=state,
                outcome=None,
                next_deadline=min(deadlines) if deadlines else None,
                overdue=overdue_since is not None,
                state_seq=template.state_seq,
                opened_at=opened,
                updated_at=opened,
            )
        )
        if overdue_since is not None:
            flags.append(
                dict(
                    case_id=case_id,
                    reason="overdue",
                    stage="identity",
                    since=overdue_since,
                    awaited="caseworker",
                    step="identity_attestation",
                    attempts=0,
                    detail="identity_attestation awaited from the caseworker",
                )
            )
        if n % FAILING_EVERY == 0:
            flags.append(
                dict(
                    case_id=case_id,
                    reason="failing",
                    stage="identity",
                    since=opened,
                    step="send_notice",
                    attempts=5,
                    last_error="SMTPConnectError: connection refused by the mail relay",
                    detail="send_notice failed 5 times",
                )
            )
    with service.db.session() as session:
        for start in range(0, len(cases), 500):
            session.execute(insert(Case), cases[start : start + 500])
        for start in range(0, len(flags), 500):
            session.execute(insert(StuckFlag), flags[start : start + 500])
    return len({f["case_id"] for f in flags})


async def fill_temporal(client: Client, count: int, concurrency: int = 50) -> None:
    """``count`` bare workflows waiting on an Update (and their deadline timers) on the server."""
    limit = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with limit:
            await client.start_workflow(
                BareJourney.run,
                Shape(activities=0, updates=1),
                id=f"bench-waiting-{n}",
                task_queue=BARE_QUEUE,
            )

    await asyncio.gather(*(one(n) for n in range(count)))


async def wait_for_backlog(client: Client, task_queue: str, timeout: float = 600) -> float:
    """Until the server has no workflow task waiting on ``task_queue`` (the bare workflows just
    started have all begun waiting), so that the lists are timed on a stack at rest, as people
    would meet it, not while it digests thousands of starts. Returns the seconds waited."""
    t0 = time.perf_counter()
    quiet = 0
    while quiet < 3:  # three readings in a row: the count is approximate
        count, _ = await workflow_backlog(client, task_queue)
        quiet = quiet + 1 if count == 0 else 0
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"the workflow tasks on {task_queue} were still queued after {timeout:.0f} s")
        await asyncio.sleep(1)
    return time.perf_counter() - t0


def _latencies(fn: Any, rounds: int) -> tuple[dict[str, float | None], Any]:
    times = []
    result = None
    for _ in range(rounds):
        t = time.perf_counter()
        result = fn()
        times.append(1000 * (time.perf_counter() - t))
    return {"p50": percentile(times, 50), "p95": percentile(times, 95), "max": max(times)}, result


def measure_lists(service: CaseService, organisation: str, rounds: int) -> dict[str, Any]:
    """The supervisors' stuck list (every reason, then overdue, a stage, a nationality) and the
    first page of the case list, each ``rounds`` times."""
    supervisor = operator("bench-supervisor", Role.supervisor, organisation, source="bench")
    calls = [
        lambda: service.stuck_for(supervisor),
        lambda: service.stuck_for(supervisor, reason="overdue"),
        lambda: service.stuck_for(supervisor, stage="identity"),
        lambda: service.stuck_for(supervisor, nationality="VNM"),
    ]
    all_times: list[float] = []
    returned = 0
    for call in calls:
        call()  # warm
    for _ in range(rounds):
        for call in calls:
            t = time.perf_counter()
            items = call()
            all_times.append(1000 * (time.perf_counter() - t))
            returned = max(returned, len(items))
    list_ms, _ = _latencies(lambda: service.list_for(supervisor, page=1), rounds)
    return {
        "stuck_ms": {
            "p50": percentile(all_times, 50),
            "p95": percentile(all_times, 95),
            "max": max(all_times),
        },
        "returned": returned,
        "list_ms": list_ms,
    }


async def run_scale(
    service: CaseService,
    client: Client,
    worker_pid: int,
    waiting: int,
    real: int,
    start_index: int,
    organisation: str,
    today: date,
    progress: Any = print,
    timeout: float = 7200,
    idle_wait: float = 100,
    rounds: int = 50,
    fill_server: bool = True,
    settle: float = 10,
) -> ScaleResult:
    real = min(real, waiting)
    result = ScaleResult(waiting=waiting, real=real)
    actor = Actor("bench-caseworker", Role.caseworker, organisation, source="bench")
    t0 = time.perf_counter()
    ids = await open_all(service, survivors(real, today, start=start_index), "bench-waiting", actor)
    progress(f"  {real} real cases opened in {time.perf_counter() - t0:.0f} s; waiting for them to wait")
    await _wait_until_waiting(service, set(ids), timeout, progress)
    result.real_seconds = time.perf_counter() - t0
    # Memory right after the last real case began waiting, its render processes still warm
    # (they stop after a minute without a document).
    await asyncio.sleep(settle)
    now = sample(worker_pid)
    result.worker_mb, result.render_processes_mb = now.main_mb, now.children_mb
    if waiting > real:
        t = time.perf_counter()
        fill = waiting - real
        result.stuck_cases = await asyncio.to_thread(
            fill_rows, service, ids[0], fill, start_index + real, organisation, today
        )
        result.fill_seconds = time.perf_counter() - t
        progress(f"  {fill} more open cases written to the database in {result.fill_seconds:.0f} s")
        if fill_server:
            t = time.perf_counter()
            await fill_temporal(client, fill)
            result.temporal_fill = fill
            result.temporal_fill_seconds = time.perf_counter() - t
            progress(
                f"  {fill} waiting workflows started on the server in {result.temporal_fill_seconds:.0f} s"
            )
            settled = await wait_for_backlog(client, BARE_QUEUE)
            progress(f"  ... and all of them waiting {settled:.0f} s later")
            await asyncio.sleep(settle)
    # The stuck list, with every case open.
    lists = await asyncio.to_thread(measure_lists, service, organisation, rounds)
    result.stuck_ms = lists["stuck_ms"]
    result.stuck_items_returned = lists["returned"]
    result.list_ms = lists["list_ms"]
    # Memory while every case waits, once the idle render processes have stopped.
    deadline = time.monotonic() + idle_wait
    while children(worker_pid) and time.monotonic() < deadline:
        await asyncio.sleep(2)
    after = sample(worker_pid)
    result.worker_mb_after_idle = after.total_mb
    result.render_processes_after_idle = len(children(worker_pid))
    return result
