"""The read model: the case row mirrors the workflow's state after every change, so lists and
the stuck view answer from indexed tables; decisions are kept once each.

The writes of many cases at once go in one transaction (``database.group_commit``): a mass
release makes hundreds at the same moment, and an fsync each had workflow tasks waiting seconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from temporalio import activity

from activities import stuck
from activities.deps import Deps
from contracts.messages import DecisionRecord, ReadModelSync
from contracts.state import DECISION_STAGE, CaseState
from database.group_commit import GroupCommit
from database.models import Case, DecisionRow
from repatriation.logs import get_logger


@dataclass(frozen=True)
class _Snapshot:
    state: CaseState
    seq: int
    values: dict[str, Any]


def snapshot(request: ReadModelSync) -> _Snapshot:
    """The row's new values, made before taking a turn to write."""
    state = request.state
    deadlines = [p.deadline for p in state.pending]
    now = datetime.now(UTC)
    values = dict(
        stage=state.stage,
        state=state.model_dump(mode="json"),
        outcome=state.outcome,
        next_deadline=min(deadlines) if deadlines else None,
        overdue=any(p.overdue for p in state.pending),
        state_seq=request.seq,
        updated_at=now,
        closed_at=now if state.outcome is not None else None,
    )
    return _Snapshot(state, request.seq, values)


def _write(session: Session, writes: list[list[_Snapshot | DecisionRecord]]) -> None:
    """A group's decisions (each kept once) and read-model snapshots, in one transaction."""
    latest: dict[str, _Snapshot] = {}
    for item in (item for write in writes for item in write):
        if isinstance(item, DecisionRecord):
            _add_decision(session, item)
            continue
        held = latest.get(item.state.case_id)  # of one case's snapshots only the newest is written
        if held is None or item.seq > held.seq:
            latest[item.state.case_id] = item
    for snap in latest.values():
        result = session.execute(
            update(Case).where(Case.id == snap.state.case_id, Case.state_seq < snap.seq).values(**snap.values)
        )
        if result.rowcount:  # an older snapshot never rewrites the stuck flags either
            stuck.replace_derived_flags(session, snap.state)


def _add_decision(session: Session, record: DecisionRecord) -> None:
    if session.scalar(select(DecisionRow.id).where(DecisionRow.id == record.decision_id)):
        return
    session.add(
        DecisionRow(
            id=record.decision_id,
            case_id=record.case_id,
            kind=record.kind,
            role=record.role,
            decided_by=record.decided_by,
            decided_at=record.decided_at,
            payload=record.payload,
        )
    )
    session.flush()  # a decision recorded twice in one group is found by the second


class ReadModelActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.writes: GroupCommit[list[_Snapshot | DecisionRecord]] = GroupCommit(deps.db, _write)

    @activity.defn(name="sync_read_model")
    def sync_read_model(self, request: ReadModelSync) -> None:
        self.writes.write([snapshot(request)])

    @activity.defn(name="record_decision")
    def record_decision(self, record: DecisionRecord) -> None:
        """The decision, once; in v3 with the state after it, in the same transaction."""
        if record.read_model is None:
            with self.deps.db.session() as session:
                _add_decision(session, record)
        else:
            self.writes.write([record, snapshot(record.read_model)])
        get_logger(case_id=record.case_id, stage=DECISION_STAGE.get(record.kind, "any")).info(
            "decision recorded", kind=record.kind
        )
