"""Retention: closed cases are purged of personal data after the configured period.

Kept: the case row with non-identifying facts (nationality, sex, age band, outcome, stage
times) for statistics, the documents' verification records (a printed letter can still be
proven genuine), the ledger and bookings, and the audit trail with its chain intact (details,
which may hold free text, are blanked; the chain covers their digests). Removed: the profile,
the PDFs (the case's own and the consolidated ones naming it: the embassy requests and daily
lists), decision payloads beyond their verdict, document numbers in the read model, the
workflow's history in Temporal, and the mail about it left in the local outbox (the sealed mails
of its notices and of the consolidated mails naming it, which carry its name and those PDFs).

A mail about several cases (an embassy request with each survivor's ETD application, a daily
list) goes with the first of them purged, as its PDF does: it names this survivor, and a file
cannot be purged of one person only. The other survivors' own notices and PDFs stay until their
own purge. The notice rows stay (their ids are what keeps a notice from being sent twice, so a
purged case is never mailed again); the subject of the case's own notices is blanked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.outbox import embassy_list_notice, embassy_request_notice, outbox_files
from database import audit
from database.engine import Database
from database.models import AuditEntry, Case, DecisionRow, Document, DocumentCase, NoticeRow
from repatriation.logs import get_logger

VERDICT_FIELDS = ("verified", "action", "confirmed", "issued", "approved", "source_id", "amount", "currency")
PURGED = "(purged)"


@dataclass(frozen=True)
class PurgeReport:
    cases: list[str]
    documents_removed: int
    histories_deleted: int
    mails_removed: int = 0


def _age_band(born: str | None, on: date) -> str:
    if not born:
        return "unknown"
    try:
        age = (on - date.fromisoformat(born)).days // 365
    except ValueError:
        return "unknown"
    for upper, band in ((18, "0-17"), (30, "18-29"), (45, "30-44"), (60, "45-59")):
        if age < upper:
            return band
    return "60+"


def anonymous_profile(profile: dict[str, Any], closed: date) -> dict[str, Any]:
    vulnerable = profile.get("vulnerabilities") or {}
    return {
        "purged": True,
        "nationality": profile.get("nationality"),
        "sex": profile.get("sex"),
        "age_band": _age_band(profile.get("date_of_birth"), closed),
        "vulnerable": bool(vulnerable.get("pregnant_weeks") or vulnerable.get("medical_needs")),
    }


def _scrub_state(state: dict[str, Any]) -> dict[str, Any]:
    state = dict(state)
    if state.get("etd"):
        state["etd"] = {**state["etd"], "document_number": PURGED}
    if state.get("outcome_reason"):
        state["outcome_reason"] = PURGED
    state["hold_reason"] = None
    # Timeline details written from people's free text (reasons, justifications) go too.
    free_text = ("closed", "intervention", "failed")
    state["history"] = [
        {**e, "detail": None} if e.get("event") in free_text else e for e in state.get("history", [])
    ]
    return state


def _mail_notice_id(doc: Document) -> str | None:
    """The notice that mailed a document about several cases (activities/embassy_requests.py,
    activities/embassy_lists.py)."""
    if doc.doc_type == "embassy_request":
        return embassy_request_notice(doc.subject)
    if doc.doc_type == "embassy_daily_list":
        nationality, day = doc.subject.split(":", 1)
        return embassy_list_notice(nationality, day, doc.version)
    return None


def _remove(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        if path.exists():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def purge_case_data(db: Database, case_id: str, now: datetime, outbox: Path | None = None) -> tuple[int, int]:
    """Remove one closed case's personal data in one transaction; returns the document files and
    the outbox mails removed."""
    removed = mails = 0
    notice_ids: set[str] = set()
    with db.session() as session:
        case = session.get(Case, case_id)
        if case is None or case.purged_at is not None:
            return 0, 0
        closed = (case.closed_at or now).date()
        case.profile = anonymous_profile(case.profile or {}, closed)
        case.date_of_birth = date(1900, 1, 1)
        case.name_key = ""
        case.state = _scrub_state(case.state or {})
        case.purged_at = now
        for decision in session.scalars(select(DecisionRow).where(DecisionRow.case_id == case_id)):
            decision.payload = {k: v for k, v in (decision.payload or {}).items() if k in VERDICT_FIELDS}
            decision.payload["purged"] = True
        # Its own documents, and the consolidated ones naming it (an embassy request, a daily
        # list): they hold this person's data too. Their verification records stay.
        naming = select(DocumentCase.document_id).where(DocumentCase.case_id == case_id)
        for doc in session.scalars(
            select(Document).where((Document.case_id == case_id) | Document.id.in_(naming))
        ):
            if doc.path:
                Path(doc.path).unlink(missing_ok=True)
                removed += 1
            doc.path = ""
            if (notice_id := _mail_notice_id(doc)) is not None:
                notice_ids.add(notice_id)
        # Its notices (reminders, closure, an early single request), mailed with its PDFs.
        for notice in session.scalars(select(NoticeRow).where(NoticeRow.case_id == case_id)):
            notice_ids.add(notice.id)
            notice.subject = PURGED
        if outbox is not None:
            for notice_id in sorted(notice_ids):
                mails += _remove(outbox_files(outbox, notice_id))
        session.execute(update(AuditEntry).where(AuditEntry.case_id == case_id).values(detail=None))
        audit.append(
            session,
            actor="retention",
            role="system",
            case_id=case_id,
            action="case.purged",
            detail=None,
            source="purge",
        )
    return removed, mails


async def purge(
    db: Database,
    client: Client | None,
    namespace: str,
    older_than_days: int,
    now: datetime | None = None,
    *,
    outbox: Path | None,
) -> PurgeReport:
    """``outbox``: the folder the workers write mail to (settings.outbox_dir; looked
    at with SMTP configured too, for the mail written before it was), None for none."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=older_than_days)
    with db.session() as session:
        due = list(
            session.execute(
                select(Case.id, Case.workflow_id).where(
                    Case.closed_at.is_not(None), Case.closed_at < cutoff, Case.purged_at.is_(None)
                )
            )
        )
    documents = histories = mails = 0
    for case_id, workflow_id in due:
        files, sent = purge_case_data(db, case_id, now, outbox)
        documents += files
        mails += sent
        if client is not None:
            try:
                await client.workflow_service.delete_workflow_execution(
                    DeleteWorkflowExecutionRequest(
                        namespace=namespace, workflow_execution=WorkflowExecution(workflow_id=workflow_id)
                    )
                )
                histories += 1
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:  # already removed by the namespace's retention
                    raise
        get_logger(case_id=case_id).info("case purged")
    return PurgeReport(
        cases=[c for c, _ in due],
        documents_removed=documents,
        histories_deleted=histories,
        mails_removed=mails,
    )
