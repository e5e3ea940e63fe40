"""The read model: the case row mirrors the workflow's state after every change, so lists and
the stuck view answer from indexed tables; decisions are kept once each.

The writes of many cases at once go in one transaction (``database.group_commit``): a mass
release makes hundreds at the same moment, and an fsync each had workflow tasks waiting seconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from temporalio import activity

from activities import stuck
from activities.deps import Deps
from contracts.messages import DecisionRecord, ReadModelSync
from contracts.state import DECISION_STAGE, CaseState
from database.engine import Database
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
    """A group's decisions (each kept once) and read-model snapshots, in one transaction.

    A few statements for the whole group, not a few per case: the rows' sequence numbers read
    at once (locked, on PostgreSQL, so that another worker's write cannot come in between), every
    newer snapshot in one executemany, the stuck flags and the decisions each in a batch."""
    decisions: list[DecisionRecord] = []
    latest: dict[str, _Snapshot] = {}
    for item in (item for write in writes for item in write):
        if isinstance(item, DecisionRecord):
            decisions.append(item)
            continue
        held = latest.get(item.state.case_id)  # of one case's snapshots only the newest is written
        if held is None or item.seq > held.seq:
            latest[item.state.case_id] = item
    _add_decisions(session, decisions)
    if not latest:
        return
    cases = Case.__table__
    written = dict(
        session.execute(
            select(cases.c.id, cases.c.state_seq).where(cases.c.id.in_(list(latest))).with_for_update()
        ).all()
    )
    # An older snapshot (one that lost the race to a newer one) writes nothing, the flags neither.
    newer = [snap for case_id, snap in latest.items() if case_id in written and written[case_id] < snap.seq]
    if not newer:
        return
    session.execute(
        update(cases).where(cases.c.id == bindparam("_case"), cases.c.state_seq < bindparam("_newer")),
        [{"_case": snap.state.case_id, "_newer": snap.seq, **snap.values} for snap in newer],
    )
    stuck.replace_derived_flags(session, [snap.state for snap in newer])


def _add_decisions(session: Session, records: list[DecisionRecord]) -> None:
    """Each decision once: one recorded before, or twice in this group, is not added again."""
    if not records:
        return
    table = DecisionRow.__table__
    kept = set(session.scalars(select(table.c.id).where(table.c.id.in_([r.decision_id for r in records]))))
    rows = []
    for record in records:
        if record.decision_id in kept:
            continue
        kept.add(record.decision_id)
        rows.append(
            dict(
                id=record.decision_id,
                case_id=record.case_id,
                kind=record.kind,
                role=record.role,
                decided_by=record.decided_by,
                decided_at=record.decided_at,
                payload=record.payload,
            )
        )
    if rows:
        session.execute(_insert_new(session, table), rows)


def _insert_new(session: Session, table: Table) -> Insert:
    """An insert that skips a row whose decision is there already: the check above reads before
    the case's row is locked, so the service's write and the worker's of the same decision (v6)
    may both find it missing; the second adds nothing instead of failing on the primary key."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[table.c.id])
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=[table.c.id])
    return insert(table)


def write_now(db: Database, request: ReadModelSync) -> None:
    """The same write outside an activity, in a transaction of its own: the service's, once a
    decision's Update has returned (v6, workflows/journey.py)."""
    with db.session() as session:
        _write(session, [[*request.decisions, snapshot(request)]])


class ReadModelActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.writes: GroupCommit[list[_Snapshot | DecisionRecord]] = GroupCommit(deps.db, _write)

    @activity.defn(name="sync_read_model")
    def sync_read_model(self, request: ReadModelSync) -> None:
        """The state; v6: with the decisions taken since the last write (each kept once, so one
        the service wrote first is not added again)."""
        self.writes.write([*request.decisions, snapshot(request)])

    @activity.defn(name="record_decision")
    def record_decision(self, record: DecisionRecord) -> None:
        """The decision, once; in v3 with the state after it, in the same transaction."""
        if record.read_model is None:
            with self.deps.db.session() as session:
                _add_decisions(session, [record])
        else:
            self.writes.write([record, snapshot(record.read_model)])
        get_logger(case_id=record.case_id, stage=DECISION_STAGE.get(record.kind, "any")).info(
            "decision recorded", kind=record.kind
        )
