"""Where a case is: stages, pending human decisions, the timeline. Returned by the workflow query."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field


class Stage(StrEnum):
    intake = "intake"
    identity = "identity"
    travel_documents = "travel_documents"
    embassy = "embassy"
    funding = "funding"
    travel = "travel"
    closed = "closed"


STAGE_ORDER: list[Stage] = list(Stage)


class StageStatus(StrEnum):
    pending = "pending"
    active = "active"
    done = "done"
    stopped = "stopped"


class Role(StrEnum):
    caseworker = "caseworker"
    liaison = "liaison"
    supervisor = "supervisor"


class DecisionKind(StrEnum):
    duplicate_resolution = "duplicate_resolution"
    identity_attestation = "identity_attestation"
    nationality = "nationality"
    etd = "etd"
    funding = "funding"
    flight_choice = "flight_choice"
    departure = "departure"
    arrival = "arrival"
    consent_withdrawal = "consent_withdrawal"


# Who decides what, and in which stage the decision is awaited.
DECISION_ROLE: dict[DecisionKind, Role] = {
    DecisionKind.duplicate_resolution: Role.caseworker,
    DecisionKind.identity_attestation: Role.caseworker,
    DecisionKind.nationality: Role.liaison,
    DecisionKind.etd: Role.liaison,
    DecisionKind.funding: Role.supervisor,
    DecisionKind.flight_choice: Role.caseworker,
    DecisionKind.departure: Role.caseworker,
    DecisionKind.arrival: Role.caseworker,
    DecisionKind.consent_withdrawal: Role.caseworker,
}
DECISION_STAGE: dict[DecisionKind, Stage] = {
    DecisionKind.duplicate_resolution: Stage.identity,
    DecisionKind.identity_attestation: Stage.identity,
    DecisionKind.nationality: Stage.embassy,
    DecisionKind.etd: Stage.embassy,
    DecisionKind.funding: Stage.funding,
    DecisionKind.flight_choice: Stage.travel,
    DecisionKind.departure: Stage.travel,
    DecisionKind.arrival: Stage.travel,
}


class Outcome(StrEnum):
    repatriated = "repatriated"
    not_repatriable = "not_repatriable"
    identity_not_established = "identity_not_established"
    duplicate_merged = "duplicate_merged"
    withdrawn = "withdrawn"
    cancelled = "cancelled"


class StageEvent(BaseModel):
    stage: Stage
    event: str = Field(description="started, completed, waiting, reminder, overdue, decision, stopped")
    at: datetime
    detail: str | None = None


class PendingDecision(BaseModel):
    kind: DecisionKind
    role: Role
    stage: Stage
    since: datetime
    deadline: datetime
    reminders_sent: int = 0
    overdue: bool = False
    assignee: str | None = None


class BlockedStep(BaseModel):
    """An automatic step that failed for good and waits for a person (retry, override, cancel)."""

    stage: Stage
    step: str
    error: str
    since: datetime


class DocumentRef(BaseModel):
    document_id: str
    doc_type: str
    version: int
    sha256: str
    verification_code: str
    path: str


class CheckOutcome(StrEnum):
    passed = "passed"
    failed = "failed"
    warning = "warning"
    not_applicable = "not_applicable"


class CheckResult(BaseModel):
    name: str
    outcome: CheckOutcome
    detail: str


class DuplicateCandidate(BaseModel):
    case_id: str
    reference: str
    score: float = Field(ge=0, le=1)
    reason: str


class IdentityReport(BaseModel):
    checks: list[CheckResult]
    duplicates: list[DuplicateCandidate] = Field(default_factory=list)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.outcome == CheckOutcome.failed]


class CostLine(BaseModel):
    item: str
    amount: Decimal
    note: str | None = None


class CostEstimate(BaseModel):
    currency: str = "USD"
    lines: list[CostLine]
    overstay_days: int = 0

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


class FundingCommitment(BaseModel):
    commitment_id: str
    source_id: str
    source_name: str
    amount: Decimal
    currency: str
    status: str = "committed"


class FlightOption(BaseModel):
    option_id: str
    carrier: str
    flight_number: str
    origin: str
    destination: str
    departs_at: datetime
    arrives_at: datetime
    fare: Decimal
    currency: str = "USD"


class Booking(BaseModel):
    booking_ref: str
    ticket_number: str
    option: FlightOption
    status: str = "ticketed"


class EtdRecord(BaseModel):
    document_number: str
    expires_on: date


class CaseState(BaseModel):
    case_id: str
    reference: str
    organisation: str
    nationality: str
    stage: Stage = Stage.intake
    stages: dict[Stage, StageStatus] = Field(default_factory=lambda: {s: StageStatus.pending for s in Stage})
    history: list[StageEvent] = Field(default_factory=list)
    pending: list[PendingDecision] = Field(default_factory=list)
    outcome: Outcome | None = None
    outcome_reason: str | None = None
    # Set the moment the case must stop (consent withdrawn, a refusal, a supervisor's cancel),
    # before its closure has run: from the service's write of a withdrawal on, an embassy request
    # leaves the case out (activities/embassy_requests.py), where ``outcome`` is set only once
    # the closure (compensation, closure report) is done.
    closing: Outcome | None = None
    identity: IdentityReport | None = None
    identity_verified: bool | None = None
    nationality_confirmed: bool | None = None
    etd: EtdRecord | None = None
    estimate: CostEstimate | None = None
    funding: FundingCommitment | None = None
    flight_options: list[FlightOption] = Field(default_factory=list)
    booking: Booking | None = None
    departed_at: datetime | None = None
    arrived_at: datetime | None = None
    documents: list[DocumentRef] = Field(default_factory=list)
    on_hold: bool = False
    hold_reason: str | None = None
    held_since: datetime | None = None
    blocked: BlockedStep | None = None
    assignees: dict[Role, str] = Field(default_factory=dict)

    @property
    def active_stages(self) -> list[Stage]:
        return [s for s, st in self.stages.items() if st == StageStatus.active]

    def pending_of(self, kind: DecisionKind) -> PendingDecision | None:
        return next((p for p in self.pending if p.kind == kind), None)
