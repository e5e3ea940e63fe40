"""Robots that decide at once, case by case (repatriation.robots.decide_pending takes rounds
over every case; here each pending decision is taken as soon as the read model shows it).

One loop polls the read model for cases whose sequence number moved (a narrow query: id and
sequence only), reads the state of those, and starts one task per new pending decision, through
the same service layer as people use.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from contracts.state import DecisionKind, Role
from database.models import Case
from repatriation.robots import payload_for, robot
from repatriation.service import CaseService, Rejected


def _without_reference(message: str) -> str:
    """A refusal's reason, the same for every case (its reference taken out)."""
    return re.sub(r"case \S+", "case …", message)[:200]


# How often a robot tries a decision the workflow refuses while it is still pending.
REJECTIONS = 5

# What repatriation.robots.payload_for reads of a case's state.
ROBOT_STATE_KEYS = ("pending", "identity", "estimate", "flight_options")

# Which open cases moved: the outcome's index holds id and sequence number, so this reads it alone.
_OPEN_CASES = "SELECT id, state_seq FROM cases WHERE outcome IS NULL"
# Only the parts of the state a robot needs (not the timeline).
_STATES = select(
    Case.id, Case.reference, Case.nationality, Case.state_seq, *(Case.state[key] for key in ROBOT_STATE_KEYS)
)


@dataclass
class Robots:
    service: CaseService
    organisation: str
    case_ids: set[str]
    concurrency: int = 32
    poll_seconds: float = 0.2
    decided: int = 0
    rejected: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    # Seconds from a decision becoming pending (the workflow's clock) to its Update returning.
    turnaround: list[float] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict)
    _busy: set[tuple[str, str]] = field(default_factory=set)
    _done: set[tuple[str, str]] = field(default_factory=set)
    _refused: Counter[tuple[str, str]] = field(default_factory=Counter)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def _changed(self) -> list[SimpleNamespace]:
        db = self.service.db
        with db.reading() as session:
            # Plain rows from the driver: this runs five times a second over every open case, and
            # the robots share the machine with what they measure.
            rows = session.connection().exec_driver_sql(_OPEN_CASES).fetchall()
        seen, ours = self._seen, self.case_ids
        moved = [case_id for case_id, seq in rows if seen.get(case_id) != seq and case_id in ours]
        found: list[SimpleNamespace] = []
        for start in range(0, len(moved), 500):
            chunk = moved[start : start + 500]
            with db.reading() as session:
                for r in session.execute(_STATES.where(Case.id.in_(chunk))):
                    self._seen[r.id] = r.state_seq
                    state = {k: r[4 + i] for i, k in enumerate(ROBOT_STATE_KEYS) if r[4 + i] is not None}
                    found.append(
                        SimpleNamespace(
                            id=r.id, reference=r.reference, nationality=r.nationality, state=state
                        )
                    )
        return found

    def open_count(self) -> int:
        with self.service.db.reading() as session:
            rows = session.execute(select(Case.id).where(Case.outcome.is_(None))).scalars().all()
        return sum(1 for r in rows if r in self.case_ids)

    async def _decide(self, case: SimpleNamespace, pending: dict[str, Any]) -> None:
        kind = DecisionKind(pending["kind"])
        key = (case.id, kind.value)
        try:
            payload = payload_for(kind, case, self.service)  # type: ignore[arg-type]
            if payload is None:
                return
            actor = robot(Role(pending["role"]), self.organisation)
            await self.service.decide(case.id, kind, payload, actor)
            self.decided += 1
            self._done.add(key)
            since = datetime.fromisoformat(pending["since"])
            self.turnaround.append((datetime.now(UTC) - since).total_seconds())
        except Rejected as err:
            # Mostly the state moved on since the read model was read; the case is read again
            # at the next poll and, if the decision is still pending there, it is tried again
            # (up to REJECTIONS times), as a person would: else a refusal that was only a
            # moment's would leave the case waiting until something else changed it.
            self.rejected += 1
            self.rejections[f"{kind}: {_without_reference(str(err))}"] += 1
            self._refused[key] += 1
            self._seen.pop(case.id, None)
        except Exception:  # noqa: BLE001 - counted, and tried again at the next change
            self.errors += 1
            self._seen.pop(case.id, None)
        finally:
            self._busy.discard(key)

    async def run(self, timeout: float) -> bool:
        """Decide until every case is closed (True) or ``timeout`` seconds have passed (False)."""
        limit = asyncio.Semaphore(self.concurrency)

        async def guarded(case: SimpleNamespace, pending: dict[str, Any]) -> None:
            async with limit:
                await self._decide(case, pending)

        deadline = time.monotonic() + timeout
        last_check = 0.0
        try:
            while time.monotonic() < deadline:
                for case in await asyncio.to_thread(self._changed):
                    for pending in (case.state or {}).get("pending", []):
                        key = (case.id, pending["kind"])
                        if key in self._busy or key in self._done or self._refused[key] >= REJECTIONS:
                            continue
                        self._busy.add(key)
                        task = asyncio.ensure_future(guarded(case, pending))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                if time.monotonic() - last_check > 2:
                    last_check = time.monotonic()
                    if await asyncio.to_thread(self.open_count) == 0:
                        return True
                await asyncio.sleep(self.poll_seconds)
            return False
        finally:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
