"""What the API and the pages show: projections of the read model, scoped to the reader."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from contracts.state import CaseState, PendingDecision, StageEvent


class CaseSummary(BaseModel):
    case_id: str
    reference: str
    nationality: str
    stage: str
    outcome: str | None
    overdue: bool
    next_deadline: datetime | None
    waiting_for: list[str]
    opened_at: datetime
    updated_at: datetime


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    page: int
    page_size: int


class DocumentInfo(BaseModel):
    document_id: str
    doc_type: str
    version: int
    sha256: str
    verification_code: str
    issued_on: date
    superseded: bool
    url: str


class CaseDetail(BaseModel):
    case_id: str
    reference: str
    organisation: str
    nationality: str
    stage: str
    outcome: str | None
    outcome_reason: str | None
    overdue: bool
    opened_at: datetime
    pending: list[PendingDecision]
    timeline: list[StageEvent]
    state: CaseState | None = Field(description="Stage statuses, estimate, funding, flight options, booking.")
    survivor: dict[str, Any] = Field(description="The profile, limited to what the reader may see.")
    documents: list[DocumentInfo]


class AuditRecord(BaseModel):
    at: datetime
    actor: str
    role: str
    case_id: str | None
    action: str
    detail: str | None
    source: str


class HistoryEntry(BaseModel):
    at: datetime
    kind: str = Field(description="'stage' for the timeline, 'audit' for the audit trail")
    stage: str | None = None
    event: str
    detail: str | None = None
    actor: str | None = None


class StuckItem(BaseModel):
    case_id: str
    reference: str
    nationality: str
    stage: str
    reason: str = Field(description="overdue, failing, failed, workflow_task_failing, on_hold")
    since: datetime
    age_seconds: float
    awaited: str | None
    step: str | None
    attempts: int
    last_error: str | None
    detail: str | None
