"""The service layer: open a case, decide, read. Every entry point (CLI, API, demo robots)
goes through here, so the rules and the audit trail have one home."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from contracts import decisions as d
from contracts.messages import CaseStart
from contracts.state import CaseState, DecisionKind, Role
from contracts.survivor import CaseOpenRequest, SurvivorProfile, check_profile
from database import ledger
from database.engine import Database
from database.models import AuditEntry, Case, DecisionRow, Document
from repatriation.logs import get_logger
from repatriation.settings import Settings
from workflows.repatriation import RepatriationWorkflow, workflow_id_for

CASE_NAMESPACE = uuid.UUID("0b9a4c8e-7d55-4f0e-8a53-2f4c1e6d9b10")


class ServiceError(Exception):
    status = 400


class Invalid(ServiceError):
    """The request breaks a rule of the data (HTTP 422)."""

    status = 422


class NotFound(ServiceError):
    status = 404


class Rejected(ServiceError):
    """The decision does not fit the case as it is (HTTP 409)."""

    status = 409


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role
    organisation: str
    source: str = "cli"


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


def case_reference(case_id: str) -> str:
    return "RP-" + case_id.replace("-", "")[:8].upper()


def name_key(profile: SurvivorProfile) -> str:
    from checks.names import name_key as key

    return key(profile.given_names, profile.family_name)


class CaseService:
    def __init__(self, settings: Settings, client: Client, db: Database) -> None:
        self.settings = settings
        self.client = client
        self.db = db

    def audit(self, actor: Actor, action: str, case_id: str | None, detail: str | None = None) -> None:
        with self.db.session() as session:
            session.add(
                AuditEntry(
                    at=datetime.now(UTC),
                    actor=actor.name,
                    role=actor.role,
                    case_id=case_id,
                    action=action,
                    detail=detail,
                    source=actor.source,
                )
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
            raise Rejected("only a caseworker opens a case")
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

        if request.client_reference:
            case_id = str(uuid.uuid5(CASE_NAMESPACE, f"{actor.organisation}:{request.client_reference}"))
        else:
            case_id = str(uuid.uuid4())
        reference = case_reference(case_id)
        created = False
        with self.db.session() as session:
            existing = session.get(Case, case_id)
            if existing is None:
                now = datetime.now(UTC)
                session.add(
                    Case(
                        id=case_id,
                        reference=reference,
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
                created = True
        try:
            await self.client.start_workflow(
                RepatriationWorkflow.run,
                self._case_start(case_id, reference, profile, today),
                id=workflow_id_for(case_id),
                task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except Exception:
            if created:  # nothing half-written: no case row without its journey
                with self.db.session() as session:
                    row = session.get(Case, case_id)
                    if row is not None:
                        session.delete(row)
            raise
        if created:
            self.audit(actor, "case.open", case_id)
        get_logger(case_id=case_id).info("case opened", created=created)
        return Opened(case_id=case_id, reference=reference, created=created)

    # -- deciding --------------------------------------------------------------------------
    def resolve(self, case_id_or_reference: str) -> Case:
        with self.db.session() as session:
            case = session.get(Case, case_id_or_reference) or session.scalar(
                select(Case).where(Case.reference == case_id_or_reference.upper())
            )
        if case is None:
            raise NotFound(f"case {case_id_or_reference} not found")
        return case

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
        case = self.resolve(case_id_or_reference)
        update, model = UPDATES[kind]
        try:
            decision = model.model_validate({**payload, "decided_by": actor.name})
        except ValueError as err:
            raise Invalid(str(err)) from err
        if isinstance(decision, d.FundingDecision):
            self._precheck_funding(decision)
        handle = self.client.get_workflow_handle(case.workflow_id)
        try:
            state = await handle.execute_update(update, decision, result_type=CaseState)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            raise Rejected(message) from err
        except RPCError as err:
            if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise Rejected(f"case {case.reference} is closed; no further decisions") from err
            raise
        self.audit(actor, f"decision.{kind}", case.id)
        return state

    # -- reading ---------------------------------------------------------------------------
    async def live_state(self, case_id_or_reference: str) -> CaseState:
        case = self.resolve(case_id_or_reference)
        handle = self.client.get_workflow_handle(case.workflow_id)
        return await handle.query(RepatriationWorkflow.state, result_type=CaseState)

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
        with self.db.session() as session:
            return list(session.scalars(query.limit(limit).offset(offset)))

    def count_by_stage(self) -> dict[str, int]:
        with self.db.session() as session:
            rows = session.execute(select(Case.stage, func.count()).group_by(Case.stage)).all()
        return {stage: n for stage, n in rows}

    def documents(self, case_id: str) -> list[Document]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Document).where(Document.case_id == case_id).order_by(Document.created_at)
                )
            )

    def decisions(self, case_id: str) -> list[DecisionRow]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(DecisionRow).where(DecisionRow.case_id == case_id).order_by(DecisionRow.decided_at)
                )
            )
