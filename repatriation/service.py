"""The service layer: open a case, decide, read. Every entry point (CLI, API, demo robots)
goes through here, so the rules and the audit trail have one home.

The entry points that talk to Temporal are coroutines; their database work runs in a thread
(``asyncio.to_thread``), never on the event loop: a write waiting for the database (SQLite's one
writer busy, a PostgreSQL lock, a slow network) holds up its own request only, not every other
request the process is serving. The reading entry points are plain functions, which the API and
the pages call in their thread pool."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from access import scope
from access.actor import Actor
from activities import read_model
from activities.outbox import embassy_list_of, open_mail, outbox_key, outbox_mails
from contracts import decisions as d
from contracts.interventions import Intervention, Reassign
from contracts.messages import CaseStart, DecisionReceipt, DocType, ReadModelSync
from contracts.state import CaseState, DecisionKind, Role
from contracts.survivor import CaseOpenRequest, SurvivorProfile, check_profile
from contracts.views import (
    AuditRecord,
    CaseDetail,
    CasePage,
    CaseSummary,
    DocumentInfo,
    HistoryEntry,
    StuckItem,
)
from database import audit as audit_trail
from database import ledger
from database.engine import Database
from database.models import AuditEntry, Case, Document, DocumentCase, NoticeRow, StuckFlag, User
from documents.sealed import Sealer
from repatriation import metrics
from repatriation.logs import get_logger
from repatriation.settings import Settings
from workflows.repatriation import RepatriationWorkflow, workflow_id_for

INTERVENTION: TypeAdapter[Any] = TypeAdapter(Intervention)
CASE_NAMESPACE = uuid.UUID("0b9a4c8e-7d55-4f0e-8a53-2f4c1e6d9b10")


class ServiceError(Exception):
    status = 400


class Invalid(ServiceError):
    """The request breaks a rule of the data (HTTP 422)."""

    status = 422


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    """The actor's role may not do this (HTTP 403)."""

    status = 403


class Rejected(ServiceError):
    """The decision does not fit the case as it is (HTTP 409)."""

    status = 409


class NotReady(Rejected):
    """Not taken now (HTTP 503): the case's workflow cannot take anything at the moment, or the
    workflow engine does not answer; nothing was recorded and the same request can be sent again
    (after a timeout the message says that it may have been, and to look first). Pages treat it
    as a refusal (the form is kept, the reason shown)."""

    status = 503


@dataclass(frozen=True)
class Opened:
    case_id: str
    reference: str
    created: bool


# Update name and payload type for each decision.
UPDATES: dict[DecisionKind, tuple[Any, type[BaseModel]]] = {
    DecisionKind.duplicate_resolution: (RepatriationWorkflow.resolve_duplicate, d.DuplicateResolution),
    DecisionKind.identity_attestation: (RepatriationWorkflow.attest_identity, d.IdentityAttestation),
    DecisionKind.nationality: (RepatriationWorkflow.decide_nationality, d.NationalityDecision),
    DecisionKind.etd: (RepatriationWorkflow.decide_etd, d.EtdDecision),
    DecisionKind.funding: (RepatriationWorkflow.decide_funding, d.FundingDecision),
    DecisionKind.flight_choice: (RepatriationWorkflow.choose_flight, d.FlightChoice),
    DecisionKind.departure: (RepatriationWorkflow.confirm_departure, d.DepartureConfirmation),
    DecisionKind.arrival: (RepatriationWorkflow.confirm_arrival, d.ArrivalConfirmation),
    DecisionKind.consent_withdrawal: (RepatriationWorkflow.withdraw_consent, d.ConsentWithdrawal),
}


def _summary(kind: DecisionKind, decision: BaseModel) -> str:
    """What the audit keeps of a decision: its verdict fields, never personal data."""
    keep = ("verified", "action", "confirmed", "issued", "approved", "source_id", "amount", "option_id")
    fields = {k: v for k, v in decision.model_dump(mode="json").items() if k in keep and v is not None}
    return f"{kind}: " + ", ".join(f"{k}={v}" for k, v in fields.items())


def _intervention_update_id(actor: Actor, request_id: str, intervention: BaseModel) -> str:
    """The Temporal Update id of an intervention sent with a request id: the same supervisor, id
    and intervention give the same Update (applied once); a request changed under the same id
    (7 days instead of 3, sent again after a timeout) is another intervention."""
    what = intervention.model_dump_json(exclude={"decided_by"})
    digest = hashlib.sha256("\x00".join((actor.name, request_id, what)).encode()).hexdigest()
    return f"intervention-{digest[:32]}"


def case_reference(case_id: str) -> str:
    """What people write and say (``RP-3F9A2C1B``): the start of the case id, unique among cases
    (:meth:`CaseService._insert_case` gives a case another id when its start is taken)."""
    return "RP-" + case_id.replace("-", "")[:8].upper()


REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
ENGINE_DOWN = "the workflow engine (Temporal) does not answer"
ENGINE_SLOW = "the workflow engine (Temporal) did not answer in time"
UNSURE = "it may or may not have been recorded: look at case {case} before sending it again"

# 32 bits: among 10,000 cases two share a start about once in a hundred mass releases; eight
# starts taken in a row do not happen.
REFERENCE_ATTEMPTS = 8


def name_key(profile: SurvivorProfile) -> str:
    from checks.names import name_key as key

    return key(profile.given_names, profile.family_name)


@dataclass(frozen=True)
class Target:
    """The case a decision or an intervention is sent to."""

    id: str
    reference: str
    workflow_id: str


class CaseService:
    def __init__(self, settings: Settings, client: Client, db: Database) -> None:
        self.settings = settings
        self.client = client
        self.db = db
        self.sealer = Sealer.for_settings(settings)

    def audit(self, actor: Actor, action: str, case_id: str | None, detail: str | None = None) -> None:
        self.audit_each(actor, action, {case_id: detail})

    async def _audit_taken(self, actor: Actor, action: str, case_id: str, detail: str | None = None) -> None:
        """The audit entry of something Temporal has taken already (a case opened, a decision, an
        intervention). Should the database fail it now, the action stands all the same: the person
        is answered that it is done (told "nothing was changed", they would send it again and be
        refused as already decided), and the missing entry is logged as an error by case id, for
        an operator to add from the decisions table and the case's history."""
        try:
            await asyncio.to_thread(self.audit, actor, action, case_id, detail)
        except SQLAlchemyError as err:
            get_logger(case_id=case_id).error(
                "action taken, audit entry not written",
                action=action,
                actor=actor.name,
                error=type(err).__name__,
            )

    def visible_case_ids(self, actor: Actor, case_ids: set[str]) -> set[str]:
        """Those of ``case_ids`` that ``actor`` may see (the rest are another organisation's,
        another country's, or unknown)."""
        if not case_ids:
            return set()
        query = scope.restrict(actor, select(Case.id)).where(Case.id.in_(sorted(case_ids)))
        with self.db.reading() as session:
            return set(session.scalars(query))

    def audit_each(self, actor: Actor, action: str, details: dict[str | None, str | None]) -> None:
        """One entry per case (its detail), in one transaction: a read of something about several
        cases shows in each one's trail."""
        with self.db.session() as session:
            for case_id, detail in details.items():
                audit_trail.append(
                    session,
                    actor=actor.name,
                    role=actor.role,
                    case_id=case_id,
                    action=action,
                    detail=detail,
                    source=actor.source,
                )

    # -- opening ---------------------------------------------------------------------------
    def _case_start(self, case_id: str, reference: str, profile: SurvivorProfile, today: date) -> CaseStart:
        evidence = profile.evidence
        has_passport = bool(
            evidence.passport_held and evidence.passport_expiry and evidence.passport_expiry > today
        )
        v = profile.vulnerabilities
        return CaseStart(
            case_id=case_id,
            reference=reference,
            organisation=self.settings.organisation,
            nationality=profile.nationality,
            is_minor=profile.age_on(today) < 18,
            pregnant_weeks=v.pregnant_weeks,
            has_medical_needs=bool(v.medical_needs or v.disability),
            has_passport=has_passport,
            travel_document_expiry=evidence.passport_expiry if has_passport else None,
            policy=self.settings.policy(),
        )

    async def open_case(self, request: CaseOpenRequest, actor: Actor) -> Opened:
        if actor.role != Role.caseworker:
            raise Forbidden("only a caseworker opens a case")
        today = datetime.now(UTC).date()
        profile = request.survivor
        errors = check_profile(profile, today)
        start_probe = self._case_start("probe", "probe", profile, today)
        if not start_probe.has_passport and not profile.consent.disclosure_to_embassy:
            errors.append(
                "survivor.consent.disclosure_to_embassy: without a valid passport in hand, an "
                "emergency travel document needs consent to disclosure to the embassy"
            )
        if errors:
            raise Invalid("; ".join(errors))

        case_id, created = await asyncio.to_thread(self._insert_case, request, actor)
        reference = case_reference(case_id)
        try:
            await self.client.start_workflow(
                RepatriationWorkflow.run,
                self._case_start(case_id, reference, profile, today),
                id=workflow_id_for(case_id),
                task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                # A closed case is never walked again under the same id.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError as err:
            if created:  # a journey under this id ran and ended: the row is not left without one
                await asyncio.to_thread(self._delete_case, case_id)
                raise Invalid(
                    f"client_reference: {request.client_reference!r} belongs to a journey that has "
                    "ended; give this survivor a new reference"
                ) from err
        except Exception as err:
            # The start may have gone in though its answer did not come back: then the case
            # stands. Otherwise nothing half-written: no case row without its journey.
            if not (created and await self._journey_exists(case_id)):
                if created:
                    await asyncio.to_thread(self._delete_case, case_id)
                if isinstance(err, RPCError) and err.status == RPCStatusCode.UNAVAILABLE:
                    raise NotReady(f"{ENGINE_DOWN}; no case was opened; try again shortly") from err
                raise
            get_logger(case_id=case_id).warning("journey started, start unanswered", error=type(err).__name__)
        if created:
            await self._audit_taken(actor, "case.open", case_id)
        get_logger(case_id=case_id, stage="intake").info("case opened", created=created)
        return Opened(case_id=case_id, reference=reference, created=created)

    async def _journey_exists(self, case_id: str) -> bool:
        """Whether Temporal has the case's workflow (False too when it cannot say)."""
        try:
            await self.client.get_workflow_handle(workflow_id_for(case_id)).describe()
        except Exception:  # noqa: BLE001 - not found, or the engine does not answer
            return False
        return True

    def _insert_case(self, request: CaseOpenRequest, actor: Actor) -> tuple[str, bool]:
        """The case's row, unless it exists (the same client reference sent again): (case id,
        created?).

        A client reference names one survivor: sent again for someone else (another name, date
        of birth or nationality), it is refused rather than answered with the first survivor's
        case, which would leave the second registered nowhere. Two requests with the same
        reference at once (a double click): one inserts, the other finds its row. A case's
        printed reference is the start of its id (:func:`case_reference`); when another case has
        it already, the case takes another id."""
        for attempt in range(REFERENCE_ATTEMPTS):
            case_id = self._new_case_id(request, actor, attempt)
            try:
                if self._insert_new_case(case_id, request, actor):
                    return case_id, True
            except IntegrityError:
                pass  # the same reference inserted meanwhile, or the printed reference taken
            existing = self._existing_case(request, actor, case_id)
            if existing is not None:
                self._check_same_survivor(existing, request)
                return existing, False
        raise RuntimeError(f"no free case reference after {REFERENCE_ATTEMPTS} ids")

    @staticmethod
    def _new_case_id(request: CaseOpenRequest, actor: Actor, attempt: int) -> str:
        """The same id for the same client reference (so a retry finds its case); the attempt
        after a taken printed reference changes it."""
        if not request.client_reference:
            return str(uuid.uuid4())
        seed = f"{actor.organisation}:{request.client_reference}" + (f":{attempt}" if attempt else "")
        return str(uuid.uuid5(CASE_NAMESPACE, seed))

    def _existing_case(self, request: CaseOpenRequest, actor: Actor, case_id: str) -> str | None:
        """The case already opened with this request's client reference (or id), if any."""
        with self.db.reading() as session:
            return session.scalar(self._existing_query(request, actor, case_id))

    @staticmethod
    def _existing_query(request: CaseOpenRequest, actor: Actor, case_id: str) -> Any:
        if request.client_reference:
            return select(Case.id).where(
                Case.organisation == actor.organisation, Case.client_reference == request.client_reference
            )
        return select(Case.id).where(Case.id == case_id)

    def _check_same_survivor(self, case_id: str, request: CaseOpenRequest) -> None:
        profile = request.survivor
        with self.db.reading() as session:
            existing = session.execute(
                select(Case.name_key, Case.date_of_birth, Case.nationality).where(Case.id == case_id)
            ).one()
        if tuple(existing) != (name_key(profile), profile.date_of_birth, profile.nationality):
            raise Invalid(
                f"client_reference: {request.client_reference!r} was already used for another survivor "
                "of this organisation; give each survivor a reference of their own"
            )

    def _insert_new_case(self, case_id: str, request: CaseOpenRequest, actor: Actor) -> bool:
        profile = request.survivor
        with self.db.session() as session:
            if session.scalar(self._existing_query(request, actor, case_id)) is not None:
                return False
            now = datetime.now(UTC)
            session.add(
                Case(
                    id=case_id,
                    reference=case_reference(case_id),
                    organisation=actor.organisation,
                    client_reference=request.client_reference,
                    caseworker=actor.name,
                    workflow_id=workflow_id_for(case_id),
                    nationality=profile.nationality,
                    profile=profile.model_dump(mode="json"),
                    date_of_birth=profile.date_of_birth,
                    name_key=name_key(profile),
                    stage="intake",
                    state={},
                    opened_at=now,
                    updated_at=now,
                )
            )
            return True

    def _delete_case(self, case_id: str) -> None:
        with self.db.session() as session:
            row = session.get(Case, case_id)
            if row is not None:
                session.delete(row)

    # -- deciding --------------------------------------------------------------------------
    def resolve(self, case_id_or_reference: str) -> Case:
        with self.db.reading() as session:
            case = session.get(Case, case_id_or_reference) or session.scalar(
                select(Case).where(Case.reference == case_id_or_reference.upper())
            )
        if case is None:
            raise NotFound(f"case {case_id_or_reference} not found")
        return case

    def case_for(self, actor: Actor, case_id_or_reference: str) -> Case:
        """The case if the actor may see it; otherwise not found, as if it did not exist."""
        try:
            case = self.resolve(case_id_or_reference)
        except NotFound:
            raise NotFound(f"case {case_id_or_reference} not found") from None
        if not scope.can_see(actor, case):
            raise NotFound(f"case {case_id_or_reference} not found")
        return case

    def target(self, actor: Actor, case_id_or_reference: str) -> Target:
        """What acting on a case needs of it, if the actor may see it (the rule of
        :meth:`case_for`, applied as a filter: ``scope.restrict``); otherwise not found, as if it
        did not exist. Reads neither the profile nor the state: a decision needs neither here."""
        columns = select(Case.id, Case.reference, Case.workflow_id)
        with self.db.reading() as session:
            by_id = columns.where(Case.id == case_id_or_reference)
            row = session.execute(scope.restrict(actor, by_id)).first()
            if row is None:
                by_reference = columns.where(Case.reference == case_id_or_reference.upper())
                row = session.execute(scope.restrict(actor, by_reference)).first()
        if row is None:
            raise NotFound(f"case {case_id_or_reference} not found")
        return Target(row.id, row.reference, row.workflow_id)

    def _precheck_funding(self, decision: d.FundingDecision) -> None:
        """Refuse an approval the source cannot cover before it reaches the workflow."""
        if not decision.approved or decision.source_id is None or decision.amount is None:
            return
        try:
            free = ledger.free_budget(self.db, decision.source_id)
        except ledger.LedgerError as err:
            raise Rejected(f"source_id: {err}") from err
        if free < Decimal(decision.amount):
            raise Rejected(
                f"amount: {decision.currency} {decision.amount} is above the free budget of "
                f"source {decision.source_id} ({free})"
            )

    async def decide(
        self, case_id_or_reference: str, kind: DecisionKind, payload: dict[str, Any], actor: Actor
    ) -> CaseState:
        case = await asyncio.to_thread(self.target, actor, case_id_or_reference)
        if not scope.may_decide(actor, kind):
            raise Forbidden(f"a {actor.role} may not record a {kind} decision")
        update, model = UPDATES[kind]
        try:
            decision = model.model_validate({**payload, "decided_by": actor.name})
        except ValueError as err:
            raise Invalid(str(err)) from err
        if isinstance(decision, d.FundingDecision):
            await asyncio.to_thread(self._precheck_funding, decision)
        handle = self.client.get_workflow_handle(case.workflow_id)
        try:
            receipt = await handle.execute_update(update, decision, result_type=DecisionReceipt)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            # The refusal is the answer; a list left behind is mended on the next try or by the case.
            with contextlib.suppress(RPCError, WorkflowQueryFailedError, SQLAlchemyError):
                await self._mend_read_model(case)
            raise Rejected(message) from err
        except RPCError as err:
            raise await self._not_taken(case, err, "no further decisions") from err
        except WorkflowUpdateRPCTimeoutOrCancelledError as err:
            raise NotReady(f"{ENGINE_SLOW}; {UNSURE.format(case=case.reference)}") from err
        await self._audit_taken(actor, f"decision.{kind}", case.id, _summary(kind, decision))
        metrics.decision_made(actor.role, kind)
        return scope.visible_state(actor, await self.state_after(case, receipt))

    async def state_after(self, case: Target, receipt: DecisionReceipt) -> CaseState:
        """The case's state once a decision is recorded, and the read model brought up to it.

        Cases opened from v6 on (workflows/journey.py, V6) take a decision in one workflow task
        and write nothing outside the workflow in it: when the Update returns, Temporal has
        recorded the decision, and the read model does not hold it yet. The workflow says what
        it should hold (its ``read_model`` query: the state, its sequence number, the decisions
        not yet written) and it is written here, before the person is answered, so that the next
        list anyone reads shows it (the workflow writes the same again in its next task, within
        READ_MODEL_BACKSTOP from v7, should this write fail or this process die first). Earlier
        cases' rows hold it already; a row older than the receipt for another reason (a read
        model restored from a backup) is mended the same way."""
        state, seq = await asyncio.to_thread(self._row_state, case.id)
        if seq >= receipt.seq:
            return CaseState.model_validate(state)
        # The decision is taken and recorded by Temporal whatever happens next: a failure to
        # write it here is logged, never reported as the decision failing (the person would send
        # it again and be refused); the workflow writes it within READ_MODEL_BACKSTOP (v7).
        log, unwritten = get_logger(case_id=case.id), "decision taken, read model not yet written"
        try:
            current = await self._workflow_read_model(case)
        except (RPCError, WorkflowQueryFailedError) as err:
            log.warning(unwritten, kind=receipt.kind, error=type(err).__name__)
            return CaseState.model_validate(state)
        try:
            await asyncio.to_thread(read_model.write_now, self.db, current)
        except SQLAlchemyError as err:
            log.warning(unwritten, kind=receipt.kind, error=type(err).__name__)
        return current.state

    def _row_state(self, case_id: str) -> tuple[dict[str, Any], int]:
        """The read model's state of a case (as stored) and the sequence number of its write."""
        with self.db.reading() as session:
            row = session.execute(select(Case.state, Case.state_seq).where(Case.id == case_id)).one()
        return row.state, row.state_seq

    async def _workflow_read_model(self, case: Target) -> ReadModelSync:
        handle = self.client.get_workflow_handle(case.workflow_id)
        return await handle.query(RepatriationWorkflow.read_model, result_type=ReadModelSync)

    async def _mend_read_model(self, case: Target) -> CaseState:
        """Write what the workflow says the read model should hold (an older snapshot than the
        row's writes nothing). After a refused decision: a person who acted on a list that was
        behind (this process died between a decision and its write, v6) is told why it was
        refused, and the next list is right."""
        current = await self._workflow_read_model(case)
        await asyncio.to_thread(read_model.write_now, self.db, current)
        return current.state

    async def _not_taken(self, case: Target, err: RPCError, closed: str) -> Exception:
        """What to tell the person whose decision or intervention Temporal did not take.

        NOT_FOUND and FAILED_PRECONDITION come for a closed case, and also for an open one whose
        workflow cannot take anything just now (its workflow task keeps failing or timing out:
        a bad deploy, an overloaded worker): that one is not closed, nothing was recorded, and
        the same decision can be sent again. The read model says which (a case's outcome is
        written before its workflow completes)."""
        if err.status == RPCStatusCode.UNAVAILABLE:
            # The SDK retried before giving up: an earlier attempt may have gone in.
            return NotReady(f"{ENGINE_DOWN}; {UNSURE.format(case=case.reference)}")
        if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            return NotReady(f"{ENGINE_SLOW}; {UNSURE.format(case=case.reference)}")
        if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return err
        outcome = await asyncio.to_thread(self._outcome, case.id)
        if outcome is not None or "completed" in err.message:
            return Rejected(f"case {case.reference} is closed; {closed}")
        return NotReady(
            f"case {case.reference} cannot take it just now (its workflow is not ready: "
            f"{err.message or err.status.name}); nothing was recorded; try again in a moment"
        )

    def _outcome(self, case_id: str) -> str | None:
        with self.db.reading() as session:
            return session.scalar(select(Case.outcome).where(Case.id == case_id))

    # -- reading (scoped and audited) -----------------------------------------------------
    async def live_state(self, case_id_or_reference: str) -> CaseState:
        case = await asyncio.to_thread(self.resolve, case_id_or_reference)
        handle = self.client.get_workflow_handle(case.workflow_id)
        return await handle.query(RepatriationWorkflow.state, result_type=CaseState)

    def list_for(
        self,
        actor: Actor,
        stage: str | None = None,
        nationality: str | None = None,
        stuck: bool | None = None,
        q: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> CasePage:
        query = scope.restrict(actor, select(Case))
        if stage:
            query = query.where(Case.stage == stage)
        if nationality:
            query = query.where(Case.nationality == nationality.upper())
        if stuck is not None:
            query = query.where(Case.overdue.is_(stuck))
        if q:
            query = query.where(Case.reference.contains(q.strip().upper(), autoescape=True))
        with self.db.reading() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = list(
                session.scalars(
                    query.order_by(Case.opened_at, Case.id).limit(page_size).offset((page - 1) * page_size)
                )
            )
        return CasePage(items=[summary(c) for c in rows], total=total, page=page, page_size=page_size)

    def detail_for(self, actor: Actor, case_id_or_reference: str) -> CaseDetail:
        case = self.case_for(actor, case_id_or_reference)
        self.audit(actor, "case.read", case.id)
        state = scope.visible_state(actor, CaseState.model_validate(case.state)) if case.state else None
        return CaseDetail(
            case_id=case.id,
            reference=case.reference,
            organisation=case.organisation,
            nationality=case.nationality,
            stage=case.stage,
            outcome=case.outcome,
            outcome_reason=state.outcome_reason if state else None,
            overdue=case.overdue,
            opened_at=case.opened_at,
            pending=state.pending if state else [],
            timeline=state.history if state else [],
            state=state,
            survivor=scope.visible_profile(actor, case.profile),
            documents=[document_info(doc, case.id) for doc in self.documents_of(actor, case.id)],
        )

    def documents_for(self, actor: Actor, case_id_or_reference: str) -> list[DocumentInfo]:
        case = self.case_for(actor, case_id_or_reference)
        return [document_info(doc, case.id) for doc in self.documents_of(actor, case.id)]

    def documents_of(self, actor: Actor, case_id: str) -> list[Document]:
        """The case's documents the actor may read (a liaison: those the embassy is sent)."""
        return [doc for doc in self.documents(case_id) if scope.visible_document(actor, doc.doc_type)]

    def document_file(self, actor: Actor, case_id_or_reference: str, document_id: str) -> Document:
        """A document of the case, or one naming it among others (an embassy request), which
        only those who may see every case it names may read: each of them is audited."""
        case = self.case_for(actor, case_id_or_reference)
        doc = next((d for d in self.documents_of(actor, case.id) if d.id == document_id), None)
        if doc is None:
            raise NotFound(f"document {document_id} not found")
        if not doc.path:
            raise NotFound(f"document {document_id} was removed under the retention policy")
        named = [case.id] if doc.case_id else self._named_in(doc.id)
        if doc.case_id is None:
            with self.db.reading() as session:
                others = list(session.scalars(select(Case).where(Case.id.in_(named))))
            if len(others) != len(set(named)) or not all(scope.can_see(actor, c) for c in others):
                raise NotFound(f"document {document_id} not found")
        detail = f"{doc.doc_type} v{doc.version}"
        through = f"{detail}, read through case {case.reference}"
        self.audit_each(actor, "document.read", {n: detail if n == case.id else through for n in named})
        return doc

    def document_pdf(
        self, actor: Actor, case_id_or_reference: str, document_id: str
    ) -> tuple[Document, bytes]:
        """:meth:`document_file` and its PDF, opened (the file is sealed at rest)."""
        doc = self.document_file(actor, case_id_or_reference, document_id)
        return doc, self.sealer.read(Path(doc.path))

    # -- the local outbox (activities/outbox.py) ----------------------------------------------
    def outbox_list(self, actor: Actor) -> list[tuple[str, EmailMessage]]:
        """The local outbox's mails, opened, for a supervisor: a list shows what the case list
        does (references, addresses, dates), so reading it is not audited; :meth:`outbox_mail`
        is."""
        if actor.role != Role.supervisor:
            raise Forbidden("only a supervisor reads the outbox")
        return [(p.name, open_mail(self.sealer, p)) for p in outbox_mails(self.settings.outbox_dir)]

    def outbox_mail(self, actor: Actor, name: str) -> tuple[str, EmailMessage]:
        """One mail of the local outbox (by its file name, with or without the suffix), opened
        for a supervisor who may see every case it is about; each of those cases' audit trail
        records the read, as for a document."""
        if actor.role != Role.supervisor:
            raise Forbidden("only a supervisor reads the outbox")
        mails = outbox_mails(self.settings.outbox_dir)
        path = next((p for p in mails if name in (p.name, p.name.split(".")[0])), None)
        if path is None:
            raise NotFound(f"name: no mail {name!r} in the outbox")
        cases = self._mail_cases(path.name.split(".")[0])
        with self.db.reading() as session:
            found = list(session.scalars(select(Case).where(Case.id.in_(cases))))
        if not all(scope.can_see(actor, c) for c in found):
            raise NotFound(f"name: no mail {name!r} in the outbox")
        message = open_mail(self.sealer, path)
        about: list[str | None] = [c.id for c in found] or [None]
        self.audit_each(actor, "outbox.read", dict.fromkeys(about, f"mail {path.name}"))
        return path.name, message

    def _mail_cases(self, key: str) -> list[str]:
        """The cases a mail is about: a notice's case, or those its request or list names."""
        with self.db.reading() as session:
            notice = next((n for n in session.scalars(select(NoticeRow)) if outbox_key(n.id) == key), None)
            if notice is None:
                return []
            if notice.kind == "embassy_request":
                docs = select(Document.id).where(
                    Document.doc_type == DocType.embassy_request, Document.subject == notice.case_id
                )
            elif notice.kind == "embassy_list":
                nationality, day, version = embassy_list_of(notice.id)
                docs = select(Document.id).where(
                    Document.doc_type == DocType.embassy_daily_list,
                    Document.subject == f"{nationality}:{day}",
                    Document.version == version,
                )
            else:
                return [notice.case_id]
            named = select(DocumentCase.case_id).where(DocumentCase.document_id.in_(docs)).distinct()
            return list(session.scalars(named))

    def history_for(self, actor: Actor, case_id_or_reference: str) -> list[HistoryEntry]:
        case = self.case_for(actor, case_id_or_reference)
        self.audit(actor, "history.read", case.id)
        state = scope.visible_state(actor, CaseState.model_validate(case.state)) if case.state else None
        entries = [
            HistoryEntry(at=e.at, kind="stage", stage=e.stage, event=e.event, detail=e.detail)
            for e in (state.history if state else [])
        ]
        if actor.role == Role.supervisor:
            entries += [
                HistoryEntry(at=a.at, kind="audit", event=a.action, detail=a.detail, actor=a.actor)
                for a in self.audit_trail(actor, case.id)
            ]
        return sorted(entries, key=lambda e: e.at)

    def audit_trail(self, actor: Actor, case_id: str | None = None, limit: int = 500) -> list[AuditRecord]:
        if actor.role != Role.supervisor:
            raise Forbidden("only a supervisor reads the audit trail")
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if case_id is not None:
            query = query.where(AuditEntry.case_id == case_id)
        else:
            # Entries about no case (sign-ins, the codec) are the organisation's own staff's.
            visible = scope.restrict(actor, select(Case.id)).scalar_subquery()
            colleagues = select(User.name).where(User.organisation == actor.organisation).scalar_subquery()
            query = query.where(
                AuditEntry.case_id.in_(visible)
                | (AuditEntry.case_id.is_(None) & AuditEntry.actor.in_(colleagues))
            )
        with self.db.reading() as session:
            return [AuditRecord.model_validate(row, from_attributes=True) for row in session.scalars(query)]

    # -- stuck cases and interventions (supervisors) ---------------------------------------
    def stuck_for(
        self,
        actor: Actor,
        reason: str | None = None,
        stage: str | None = None,
        nationality: str | None = None,
        limit: int = 500,
    ) -> list[StuckItem]:
        """Every stuck case with why and since when, oldest first, from the read model."""
        if actor.role != Role.supervisor:
            raise Forbidden("only a supervisor sees the stuck cases")
        # Only the columns the list shows: loading profiles and states made it 3x slower at 10,000.
        columns = select(StuckFlag, Case.id, Case.reference, Case.nationality)
        query = scope.restrict(actor, columns.join(Case, Case.id == StuckFlag.case_id))
        if reason:
            query = query.where(StuckFlag.reason == reason)
        if stage:
            query = query.where(StuckFlag.stage == stage)
        if nationality:
            query = query.where(Case.nationality == nationality.upper())
        now = datetime.now(UTC)
        with self.db.reading() as session:
            rows = session.execute(query.order_by(StuckFlag.since, StuckFlag.case_id).limit(limit)).all()
        return [
            StuckItem(
                case_id=case_id,
                reference=reference,
                nationality=nationality,
                stage=flag.stage,
                reason=flag.reason,
                since=flag.since,
                age_seconds=(now - flag.since).total_seconds(),
                awaited=flag.awaited,
                step=flag.step,
                attempts=flag.attempts,
                last_error=flag.last_error,
                detail=flag.detail,
            )
            for flag, case_id, reference, nationality in rows
        ]

    async def intervene(
        self, case_id_or_reference: str, payload: dict[str, Any], actor: Actor, request_id: str | None = None
    ) -> CaseState:
        """A supervisor's intervention. ``request_id`` (a web form's, or the API's Idempotency-Key)
        makes it happen once: the same request sent again (a double click, a client's retry after
        a timeout) gets the first one's answer, is not applied a second time (a deadline extended
        twice) nor audited twice."""
        case = await asyncio.to_thread(self.target, actor, case_id_or_reference)
        if actor.role != Role.supervisor:
            raise Forbidden("only a supervisor intervenes on a case")
        if request_id is not None and not REQUEST_ID.fullmatch(request_id):
            raise Invalid("request_id: 8 to 64 letters, digits, '-' or '_'")
        try:
            intervention = INTERVENTION.validate_python({**payload, "decided_by": actor.name})
        except ValueError as err:
            raise Invalid(str(err)) from err
        if isinstance(intervention, Reassign):
            await asyncio.to_thread(self._check_assignee, case, intervention)
        handle = self.client.get_workflow_handle(case.workflow_id)
        update_id = _intervention_update_id(actor, request_id, intervention) if request_id else None
        action = f"intervention.{intervention.action}"
        detail = intervention.justification + (f" [request {request_id}]" if request_id else "")
        if update_id is not None:
            earlier = await self._earlier_update(handle, update_id)
            if earlier is not None:
                # Taken before; its audit entry may be missing if that answer never came back
                # (a timeout): written now if so, never twice.
                if not await asyncio.to_thread(self._audited, case.id, action, detail):
                    await self._audit_taken(actor, action, case.id, detail)
                return earlier
        try:
            state = await handle.execute_update(
                RepatriationWorkflow.intervene, intervention, id=update_id, result_type=CaseState
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise Rejected(
                cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            ) from err
        except RPCError as err:
            raise await self._not_taken(case, err, "no intervention") from err
        except WorkflowUpdateRPCTimeoutOrCancelledError as err:
            raise NotReady(f"{ENGINE_SLOW}; {UNSURE.format(case=case.reference)}") from err
        await self._audit_taken(actor, action, case.id, detail)
        return state

    def _audited(self, case_id: str, action: str, detail: str) -> bool:
        with self.db.reading() as session:
            found = select(AuditEntry.id).where(
                AuditEntry.case_id == case_id, AuditEntry.action == action, AuditEntry.detail == detail
            )
            return session.scalar(found.limit(1)) is not None

    @staticmethod
    async def _earlier_update(handle: WorkflowHandle[Any, Any], update_id: str) -> CaseState | None:
        """The answer of an intervention this request already made, or None if it made none.
        (Two copies sent at the same moment both find none; Temporal then applies the update
        once, under its id, and both are answered with its result.)"""
        try:
            return await handle.get_update_handle(update_id, result_type=CaseState).result()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        except WorkflowUpdateFailedError:
            # Refused when first sent: sent again under the same id, Temporal gives the same
            # refusal (or, refused by the validator, judges it afresh).
            return None

    def _check_assignee(self, case: Target, reassign: Reassign) -> None:
        """Work goes only to someone who can do it: an active user of that role who may see the
        case (a caseworker of its organisation; a liaison for its nationality)."""
        to, role = reassign.to, reassign.role
        with self.db.reading() as session:
            user = session.scalar(select(User).where(User.name == to))
            row = session.execute(
                select(Case.organisation, Case.nationality).where(Case.id == case.id)
            ).one()
        if user is None:
            raise Invalid(f"to: there is no user named {to!r}")
        if user.disabled_at is not None:
            raise Invalid(f"to: {to!r} is disabled")
        if user.role != role:
            raise Invalid(f"to: {to!r} is a {user.role}, not a {role}")
        if role == Role.liaison and row.nationality not in (user.countries or []):
            raise Invalid(f"to: {to!r} is not a liaison for {row.nationality}")
        if role == Role.caseworker and user.organisation != row.organisation:
            raise Invalid(f"to: {to!r} works for another organisation")

    # -- unscoped, for the system's own robots and the local operator's CLI ------------------
    def list_cases(
        self,
        stage: str | None = None,
        nationality: str | None = None,
        open_only: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Case]:
        query = select(Case).order_by(Case.opened_at)
        if stage:
            query = query.where(Case.stage == stage)
        if nationality:
            query = query.where(Case.nationality == nationality.upper())
        if open_only:
            query = query.where(Case.outcome.is_(None))
        with self.db.reading() as session:
            return list(session.scalars(query.limit(limit).offset(offset)))

    def count_by_stage(self, actor: Actor) -> dict[str, int]:
        query = scope.restrict(actor, select(Case.stage, func.count()).select_from(Case)).group_by(Case.stage)
        with self.db.reading() as session:
            return {stage: n for stage, n in session.execute(query).all()}

    def documents(self, case_id: str) -> list[Document]:
        """The case's own documents and the embassy requests naming it, oldest first (the daily
        lists name it too, but are the embassy's reminders, mailed, not the case's papers)."""
        naming = select(DocumentCase.document_id).where(DocumentCase.case_id == case_id)
        asked = Document.id.in_(naming) & (Document.doc_type == DocType.embassy_request)
        with self.db.reading() as session:
            return list(
                session.scalars(
                    select(Document)
                    .where((Document.case_id == case_id) | asked)
                    .order_by(Document.created_at)
                )
            )

    def _named_in(self, document_id: str) -> list[str]:
        with self.db.reading() as session:
            return list(
                session.scalars(select(DocumentCase.case_id).where(DocumentCase.document_id == document_id))
            )


def summary(case: Case) -> CaseSummary:
    return CaseSummary(
        case_id=case.id,
        reference=case.reference,
        nationality=case.nationality,
        stage=case.stage,
        outcome=case.outcome,
        overdue=case.overdue,
        next_deadline=case.next_deadline,
        waiting_for=[p["kind"] for p in (case.state or {}).get("pending", [])],
        opened_at=case.opened_at,
        updated_at=case.updated_at,
    )


def document_info(doc: Document, case_id: str) -> DocumentInfo:
    """``case_id``: the case it is listed under (a consolidated document names several)."""
    return DocumentInfo(
        document_id=doc.id,
        doc_type=doc.doc_type,
        version=doc.version,
        sha256=doc.sha256,
        verification_code=doc.verification_code,
        issued_on=doc.issued_on,
        superseded=doc.superseded,
        url=f"/api/cases/{case_id}/documents/{doc.id}",
    )
