"""Faults: the worker killed with SIGKILL at random moments and the Temporal server stopped and
started again, while dozens of cases are in every stage. Every case reaches the end it would
have reached, with exactly one of each document, booking, ledger entry and mail."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from temporalio.client import Client

from access.actor import operator
from activities.outbox import outbox_mails
from contracts.state import Role
from database import audit, ledger
from database.engine import Database
from database.models import BookingRow, Case, Document, DocumentCase, FundingCommitmentRow, NoticeRow
from repatriation.robots import decide_pending
from repatriation.service import CaseService
from repatriation.settings import Settings
from repatriation.stack import TemporalDevServer, wait_for_temporal
from repatriation.synthetic import open_request, survivors
from tests.stack.conftest import free_port

CASES = 20
KILLS = 6
ROOT = Path(__file__).resolve().parents[2]


def people(today: date) -> list[dict]:  # type: ignore[type-arg]
    """Distinct synthetic survivors (no duplicates, no CJK to keep rendering quick)."""
    base = [p for p in survivors(today) if p["nationality"] in ("VNM", "IDN", "THA", "MMR", "PHL")]
    out = []
    for i in range(CASES):
        p = dict(base[i % len(base)])
        p["given_names"] = f"{p['given_names']} {chr(65 + i)}{chr(75 + i % 10)}"
        p.pop("native_name", None)
        p["date_of_birth"] = (date.fromisoformat(p["date_of_birth"]) - timedelta(days=37 * i)).isoformat()
        out.append(p)
    return out


async def where_they_are(client: Client, db: Database) -> str:
    """What each open case is waiting for: its read model and the workflow's pending work."""
    lines = []
    with db.session() as s:
        cases = list(s.scalars(select(Case).where(Case.outcome.is_(None))))
    for case in cases:
        state = case.state or {}
        history = [f"{e['stage']}:{e['event']}" for e in state.get("history", [])[-4:]]
        pending = [p["kind"] for p in state.get("pending", [])]
        try:
            described = await client.get_workflow_handle(case.workflow_id).describe()
            raw = described.raw_description
            status = described.status.name if described.status else "?"
            activities = [
                f"{a.activity_type.name} attempt {a.attempt} {a.last_failure.message!r}"
                for a in raw.pending_activities
            ]
            task = raw.pending_workflow_task
            activities.append(f"workflow task: state {task.state} attempt {task.attempt}")
            events = [e async for e in client.get_workflow_handle(case.workflow_id).fetch_history_events()]
            activities.append("history: " + ", ".join(str(e.event_type) for e in events[-12:]))
            live = await client.get_workflow_handle(case.workflow_id).query("state")
            activities.append(f"live: stage {live['stage']} pending {[p['kind'] for p in live['pending']]}")
        except Exception as err:  # noqa: BLE001 - a diagnostic: say what went wrong and go on
            status, activities = f"not described ({err})", []
        lines.append(
            f"{case.id} stage={case.stage} seq={case.state_seq} blocked={state.get('blocked')} "
            f"pending={pending} last={history} workflow={status} {activities}"
        )
    return "\n".join(lines)


class Worker:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.kills += 1


async def test_worker_killed_and_server_restarted_nothing_lost_nothing_doubled(tmp_path: Path) -> None:
    data = tmp_path / "var"
    settings = Settings(
        data_dir=data,
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
        organisation="Fault Shelter",
        task_queue="faults",
    )
    env = {
        **os.environ,
        "REPATRIATION_DATA_DIR": str(data),
        "REPATRIATION_TEMPORAL_ADDRESS": settings.temporal_address,
        "REPATRIATION_ORGANISATION": settings.organisation,
        "REPATRIATION_TASK_QUEUE": "faults",
        "REPATRIATION_LOG_LEVEL": "WARNING",
        "REPATRIATION_EMBASSY_REQUEST_WINDOW_SECONDS": "1",
        "PYTHONPATH": str(ROOT),
    }
    server = TemporalDevServer(settings)
    server.start()
    worker = Worker(env)
    rng = random.Random(7)
    try:
        client = await wait_for_temporal(settings, server)
        db = Database(settings.db_url)
        ledger.ensure_sources(db, ledger.DEFAULT_SOURCES)
        service = CaseService(settings, client, db)
        worker.start()
        caseworker = operator("cw", Role.caseworker, settings.organisation, "test")
        ids = [
            (await service.open_case(open_request(p, f"fault-{i}"), caseworker)).case_id
            for i, p in enumerate(people(datetime.now(UTC).date()))
        ]

        async def chaos() -> None:
            restarted_server = False
            while worker.kills < KILLS:
                await asyncio.sleep(rng.uniform(2.0, 6.0))
                worker.kill()
                if worker.kills == 3 and not restarted_server:
                    server.stop()  # the Temporal server goes down too, then comes back
                    await asyncio.sleep(1)
                    server.start()
                    restarted_server = True
                worker.start()

        chaos_task = asyncio.create_task(chaos())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 300
        while True:
            with db.session() as s:
                open_cases = s.scalar(select(func.count()).select_from(Case).where(Case.outcome.is_(None)))
            if open_cases == 0:
                break
            assert loop.time() < deadline, f"{open_cases} cases never finished:\n" + await where_they_are(
                client, db
            )
            try:
                await asyncio.wait_for(decide_pending(service, settings.organisation), timeout=20)
            except Exception:  # noqa: BLE001 - the server or worker is down for a moment; try again
                pass
            await asyncio.sleep(0.3)
        chaos_task.cancel()
        assert worker.kills >= 3
        # The read model may show a case closed while its closure notice is still going out
        # (v6: the arrival's write waits for the next workflow task, which comes after the
        # closure report): count what each case left behind once its workflow has ended.
        with db.session() as s:
            workflow_ids = list(s.scalars(select(Case.workflow_id).where(Case.id.in_(ids))))
        for workflow_id in workflow_ids:
            left = max(5.0, deadline - loop.time())
            await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), timeout=left)

        with db.session() as s:
            outcomes = Counter(s.scalars(select(Case.outcome).where(Case.id.in_(ids))))
            docs = Counter((d.case_id, d.doc_type) for d in s.scalars(select(Document)) if d.case_id)
            requests = list(s.scalars(select(Document.id).where(Document.doc_type == "embassy_request")))
            named = Counter(s.scalars(select(DocumentCase.case_id)))
            superseded = s.scalar(select(func.count()).select_from(Document).where(Document.superseded))
            bookings = Counter(b.case_id for b in s.scalars(select(BookingRow)))
            commitments = Counter(c.case_id for c in s.scalars(select(FundingCommitmentRow)))
            notices = s.scalar(select(func.count()).select_from(NoticeRow))
        assert outcomes == {"repatriated": CASES}
        # A survivor holding her passport (PHL here) needs no ETD application, no embassy request.
        with db.session() as s:
            passports = s.scalar(select(func.count()).select_from(Case).where(Case.nationality == "PHL"))
        expected_docs = CASES * 9 - passports
        assert len(docs) == expected_docs and set(docs.values()) == {1} and superseded == 0
        # Every other survivor named in exactly one consolidated request, each mailed once.
        assert len(named) == CASES - passports and set(named.values()) == {1}
        assert 1 <= len(requests) <= CASES - passports
        assert set(bookings.values()) == {1} and len(bookings) == CASES
        assert set(commitments.values()) == {1} and len(commitments) == CASES
        mails = len(outbox_mails(settings.outbox_dir))
        assert notices == CASES + len(requests) == mails  # closure notices + the embassy requests
        assert len(list(settings.documents_dir.rglob("*.pdf.sealed"))) == expected_docs + len(requests)
        assert audit.verify(db).intact
        db.dispose()
    finally:
        worker.kill()
        server.stop()
