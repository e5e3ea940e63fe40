"""The read model: the case row mirrors the workflow's state after every change, so lists and
the stuck view answer from indexed tables; decisions are kept once each."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from temporalio import activity

from activities import stuck
from activities.deps import Deps
from contracts.messages import DecisionRecord, ReadModelSync
from contracts.state import DECISION_STAGE
from database.models import Case, DecisionRow
from repatriation.logs import get_logger


class ReadModelActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="sync_read_model")
    def sync_read_model(self, request: ReadModelSync) -> None:
        state = request.state
        deadlines = [p.deadline for p in state.pending]
        closed = state.outcome is not None
        with self.deps.db.session() as session:
            result = session.execute(
                update(Case)
                .where(Case.id == state.case_id, Case.state_seq < request.seq)
                .values(
                    stage=state.stage,
                    state=state.model_dump(mode="json"),
                    outcome=state.outcome,
                    next_deadline=min(deadlines) if deadlines else None,
                    overdue=any(p.overdue for p in state.pending),
                    state_seq=request.seq,
                    updated_at=datetime.now(UTC),
                    closed_at=datetime.now(UTC) if closed else None,
                )
            )
            if result.rowcount:  # an older snapshot never rewrites the stuck flags either
                stuck.replace_derived_flags(session, state)

    @activity.defn(name="record_decision")
    def record_decision(self, record: DecisionRecord) -> None:
        with self.deps.db.session() as session:
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
        get_logger(case_id=record.case_id, stage=DECISION_STAGE.get(record.kind, "any")).info(
            "decision recorded", kind=record.kind
        )
