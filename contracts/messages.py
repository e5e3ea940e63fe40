"""The workflow's input and the activities' inputs and results.

Personal data stays in the case database: the workflow carries the case id and the few
non-identifying facts that steer it (nationality, vulnerability flags), never a name, a date
of birth or a passport number. Activities load what they need by case id.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from contracts.state import CaseState, DecisionKind, DocumentRef, FlightOption, Role


class DocType(StrEnum):
    intake_consent = "intake_consent"
    identity_report = "identity_report"
    nationality_request = "nationality_request"
    etd_application = "etd_application"
    funding_request = "funding_request"
    funding_memo = "funding_memo"
    exit_clearance = "exit_clearance"
    itinerary = "itinerary"
    travel_letter = "travel_letter"
    closure_report = "closure_report"
    embassy_daily_list = "embassy_daily_list"
    embassy_request = "embassy_request"


# Documents about several cases: the consolidated request that asks an embassy to verify the
# nationality of a batch of survivors, and the embassy's daily list of everyone still awaiting it.
MULTI_CASE_DOC_TYPES: tuple[DocType, ...] = (DocType.embassy_request, DocType.embassy_daily_list)
# The documents about one case.
CASE_DOC_TYPES: tuple[DocType, ...] = tuple(t for t in DocType if t not in MULTI_CASE_DOC_TYPES)

# The stage each document belongs to (for logs and views).
DOC_STAGE: dict[DocType, str] = {
    DocType.intake_consent: "intake",
    DocType.identity_report: "identity",
    DocType.etd_application: "travel_documents",
    DocType.nationality_request: "embassy",
    DocType.funding_request: "funding",
    DocType.funding_memo: "funding",
    DocType.exit_clearance: "travel",
    DocType.itinerary: "travel",
    DocType.travel_letter: "travel",
    DocType.closure_report: "closed",
    DocType.embassy_daily_list: "embassy",
    DocType.embassy_request: "embassy",
}


class Policy(BaseModel):
    """Configuration snapshot taken when the case opens, so a replay never reads settings."""

    deadlines: dict[DecisionKind, float] = Field(description="Seconds allowed for each decision.")
    reminder_fraction: float = 0.5
    min_flight_lead_days: int = 2
    flight_search_days: int = 14
    max_pregnancy_weeks_to_fly: int = 32
    fit_to_fly_from_weeks: int = 28
    search_attributes: bool = Field(
        default=False, description="Upsert the custom search attributes (registered on the server)."
    )
    paperwork_task_queue: str | None = Field(
        default=None,
        description="The task queue of the render activities (None: the workflow's own, as before "
        "the paperwork had a queue of its own).",
    )


class CaseStart(BaseModel):
    case_id: str
    reference: str
    organisation: str
    nationality: str
    is_minor: bool = False
    pregnant_weeks: int | None = None
    has_medical_needs: bool = False
    has_passport: bool = Field(
        default=False, description="An original, valid passport is in hand: no ETD is needed."
    )
    travel_document_expiry: date | None = None
    policy: Policy


class CaseRef(BaseModel):
    case_id: str


class IdentityCheckInput(BaseModel):
    case_id: str
    today: date


class EstimateInput(BaseModel):
    case_id: str
    today: date


class CommitFunds(BaseModel):
    case_id: str
    source_id: str
    amount: Decimal
    currency: str
    idempotency_key: str


class ReleaseFunds(BaseModel):
    case_id: str
    reason: str


class FlightSearch(BaseModel):
    case_id: str
    not_before: date
    not_after: date


class BookFlight(BaseModel):
    case_id: str
    option: FlightOption
    idempotency_key: str


class CancelBooking(BaseModel):
    case_id: str
    booking_ref: str
    idempotency_key: str


class RenderRequest(BaseModel):
    """Render one document. ``facts`` are what the workflow knows (decisions, estimate, booking);
    the personal data is read from the case database by the activity."""

    case_id: str
    doc_type: DocType
    issued_on: date
    facts: dict[str, Any] = Field(default_factory=dict)


class DecisionRecord(BaseModel):
    case_id: str
    decision_id: str
    kind: DecisionKind
    role: Role
    decided_by: str
    decided_at: datetime
    payload: dict[str, Any]
    read_model: ReadModelSync | None = Field(
        default=None, description="v3: the state after the decision, written in the same transaction."
    )


class DecisionReceipt(BaseModel):
    """What a decision's Update returns: which decision was recorded and the read model's sequence
    number that carries it (the case row holds that state or a newer one once the service has
    answered: ``CaseService.state_after``).

    Not the whole state: an Update's result is kept in the workflow's history, and the state there
    six or seven times a case was two fifths of what the Temporal server stored for it
    (BENCHMARKS.md); who wants the state reads it from the read model."""

    case_id: str
    decision_id: str
    kind: DecisionKind
    seq: int = Field(
        description="The read-model write that includes this decision (cases.state_seq). v3 to v5: the "
        "case row holds it when the Update returns; v6: the service writes it from the workflow's "
        "read_model query (workflows/journey.py, V6)."
    )


class Notice(BaseModel):
    """A reminder or a letter to a party (embassy, caseworkers, supervisors)."""

    case_id: str
    notice_id: str = Field(description="Idempotency key: the same notice is sent once.")
    kind: str
    to_role: Role
    subject: str
    body: str
    attachments: list[str] = Field(default_factory=list, description="Document ids to attach.")


class EmbassyListsRequest(BaseModel):
    list_date: date


class EmbassyList(BaseModel):
    nationality: str
    cases: int
    document_id: str
    version: int
    mailed: bool


class EmbassyRequestEntry(BaseModel):
    """A case ready for the embassy: its ETD application is made and it waits for the request."""

    case_id: str
    workflow_id: str


class JoinEmbassyRequest(BaseModel):
    case_id: str
    workflow_id: str


class EmbassyBatchStart(BaseModel):
    """The input of an embassy's request batcher (one per nationality and organisation)."""

    nationality: str
    organisation: str
    window_seconds: float = Field(gt=0, description="The longest a batch collects cases before it is sent.")
    quiet_seconds: float | None = Field(
        default=None, gt=0, description="A batch is sent once no case has joined it for this long."
    )
    max_cases: int = Field(ge=1, description="A batch this large is sent at once.")
    paperwork_task_queue: str | None = None
    waiting: list[EmbassyRequestEntry] = Field(
        default_factory=list, description="Cases carried over a continue-as-new."
    )
    batches_sent: int = 0


class EmbassyRequestBatch(BaseModel):
    """Send one consolidated request: render it, mail it with each survivor's ETD application."""

    request_reference: str = Field(max_length=40)
    nationality: str
    organisation: str
    issued_on: date
    case_ids: list[str]


class EarlierRequest(BaseModel):
    reference: str
    document: DocumentRef


class EmbassyRequestResult(BaseModel):
    request_reference: str
    document: DocumentRef | None = None
    sent: list[str] = Field(default_factory=list, description="Cases named in the request.")
    earlier: dict[str, EarlierRequest] = Field(
        default_factory=dict,
        description="Cases already named in an earlier request (a join retried after it went out).",
    )
    skipped: dict[str, str] = Field(
        default_factory=dict, description="Cases left out, and why (closed, consent withdrawn)."
    )
    failed: dict[str, str] = Field(
        default_factory=dict, description="Cases whose data could not be put in the request, and why."
    )
    mailed: bool = False


class EmbassyRequestSent(BaseModel):
    """Signalled to a case by its embassy's batcher: the request naming it went out, or why not."""

    request_reference: str
    document: DocumentRef | None = None
    error: str | None = None


class ReadModelSync(BaseModel):
    state: CaseState
    seq: int = Field(description="Grows with every change; an older snapshot never overwrites a newer.")
    decisions: list[DecisionRecord] = Field(
        default_factory=list,
        description="v6: decisions not yet known to be in the database, written in the same transaction.",
    )


DecisionRecord.model_rebuild()
