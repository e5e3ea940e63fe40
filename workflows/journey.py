"""The case's working memory inside the workflow, and the moves every stage makes: begin and
finish a stage, wait for a person's decision (with its deadline and reminder), make a document,
mirror the state to the read model."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.decisions import Decision
    from contracts.messages import CaseStart, DocType, Notice, ReadModelSync, RenderRequest
    from contracts.state import (
        DECISION_ROLE,
        DECISION_STAGE,
        STAGE_ORDER,
        CaseState,
        DecisionKind,
        DocumentRef,
        Outcome,
        PendingDecision,
        Role,
        Stage,
        StageEvent,
        StageStatus,
    )

from workflows import calls


class CaseStopped(Exception):
    """Raised inside a stage when the case must stop (refusal, withdrawal, merge)."""


class Journey:
    def __init__(self, start: CaseStart) -> None:
        self.start = start
        self.state = CaseState(
            case_id=start.case_id,
            reference=start.reference,
            organisation=start.organisation,
            nationality=start.nationality,
        )
        self.opened_at: datetime = workflow.now()
        self.decisions: dict[DecisionKind, Decision] = {}
        self.deciding: set[DecisionKind] = set()
        self.stop: tuple[Outcome, str] | None = None
        self.duplicate_open = False
        self.reception_organisation: str | None = None
        self._seq = 0

    @property
    def needs_escort(self) -> bool:
        start = self.start
        return start.is_minor or start.has_medical_needs or bool(start.pregnant_weeks)

    # -- timeline ---------------------------------------------------------------------------
    def event(self, stage: Stage, event: str, detail: str | None = None) -> None:
        self.state.history.append(StageEvent(stage=stage, event=event, at=workflow.now(), detail=detail))

    def _refresh_stage(self) -> None:
        active = [s for s in STAGE_ORDER if self.state.stages[s] == StageStatus.active]
        if active:
            self.state.stage = active[0]

    def begin(self, stage: Stage) -> None:
        self.state.stages[stage] = StageStatus.active
        self._refresh_stage()
        self.event(stage, "started")

    def finish(self, stage: Stage, detail: str | None = None) -> None:
        self.state.stages[stage] = StageStatus.done
        self._refresh_stage()
        self.event(stage, "completed", detail)

    def halt(self, outcome: Outcome, reason: str) -> None:
        """Stop the case: every waiting stage wakes and raises CaseStopped."""
        if self.stop is None:
            self.stop = (outcome, reason)

    def check_stop(self) -> None:
        if self.stop is not None:
            raise CaseStopped(self.stop[0])

    # -- read model --------------------------------------------------------------------------
    async def sync(self) -> None:
        self._seq += 1
        await calls.sync_read_model(ReadModelSync(state=self.state, seq=self._seq))

    # -- paperwork ---------------------------------------------------------------------------
    async def render(self, stage: Stage, doc_type: DocType, **facts: Any) -> DocumentRef:
        ref = await calls.render_document(
            RenderRequest(
                case_id=self.start.case_id,
                doc_type=doc_type,
                issued_on=workflow.now().date(),
                facts=facts,
            )
        )
        self.state.documents = [d for d in self.state.documents if d.doc_type != ref.doc_type]
        self.state.documents.append(ref)
        self.event(stage, "document", f"{doc_type} v{ref.version}")
        return ref

    def document_ids(self, *types: DocType) -> list[str]:
        return [d.document_id for d in self.state.documents if d.doc_type in types]

    # -- human decisions ---------------------------------------------------------------------
    async def _wait(self, kind: DecisionKind, seconds: float | None) -> bool:
        def arrived() -> bool:
            return kind in self.decisions or self.stop is not None

        try:
            await workflow.wait_condition(
                arrived, timeout=None if seconds is None else timedelta(seconds=max(seconds, 0.001))
            )
            return True
        except TimeoutError:
            return False

    async def await_decision(self, kind: DecisionKind) -> Decision:
        """Wait for a person's decision; remind half-way, flag overdue at the deadline."""
        self.check_stop()
        if kind not in self.decisions:
            stage, role = DECISION_STAGE[kind], DECISION_ROLE[kind]
            total = self.start.policy.deadlines[kind]
            now = workflow.now()
            pending = PendingDecision(
                kind=kind,
                role=role,
                stage=stage,
                since=now,
                deadline=now + timedelta(seconds=total),
            )
            self.state.pending.append(pending)
            self.event(stage, "waiting", f"{kind} by {role} until {pending.deadline:%Y-%m-%d %H:%M}Z")
            await self.sync()
            first = total * self.start.policy.reminder_fraction
            if not await self._wait(kind, first):
                await self._remind(pending)
                if not await self._wait(kind, total - first):
                    await self._escalate(pending)
                    await self._wait(kind, None)
            self.state.pending = [p for p in self.state.pending if p.kind != kind]
        self.check_stop()
        return self.decisions.pop(kind)

    def _recipient_docs(self, kind: DecisionKind) -> list[str]:
        if kind in (DecisionKind.nationality, DecisionKind.etd):
            return self.document_ids(DocType.nationality_request, DocType.etd_application)
        if kind == DecisionKind.funding:
            return self.document_ids(DocType.funding_request)
        return []

    async def _remind(self, pending: PendingDecision) -> None:
        pending.reminders_sent += 1
        self.event(pending.stage, "reminder", f"{pending.kind} reminder sent to {pending.role}")
        await calls.send_notice(
            Notice(
                case_id=self.start.case_id,
                notice_id=f"{self.start.case_id}:{pending.kind}:{pending.since.isoformat()}:reminder",
                kind="reminder",
                to_role=pending.role,
                subject=f"Reminder: case {self.state.reference} awaits your decision ({pending.kind})",
                body=(
                    f"Case {self.state.reference} has awaited a decision ({pending.kind}) since "
                    f"{pending.since:%Y-%m-%d %H:%M} UTC. The deadline is "
                    f"{pending.deadline:%Y-%m-%d %H:%M} UTC."
                ),
                attachments=self._recipient_docs(pending.kind),
            )
        )
        await self.sync()

    async def _escalate(self, pending: PendingDecision) -> None:
        pending.overdue = True
        self.event(pending.stage, "overdue", f"{pending.kind} by {pending.role} is overdue")
        await calls.send_notice(
            Notice(
                case_id=self.start.case_id,
                notice_id=f"{self.start.case_id}:{pending.kind}:{pending.since.isoformat()}:overdue",
                kind="overdue",
                to_role=Role.supervisor,
                subject=f"Overdue: case {self.state.reference} ({pending.kind})",
                body=(
                    f"Case {self.state.reference} has awaited {pending.kind} from the "
                    f"{pending.role} since {pending.since:%Y-%m-%d %H:%M} UTC; the deadline "
                    f"{pending.deadline:%Y-%m-%d %H:%M} UTC has passed."
                ),
            )
        )
        await self.sync()
