"""The JSON API for cases: open, list, read, decide, documents, history, audit.

Paths use the stage names: /identity, /embassy, /funding, /travel, /withdraw. Each decision is
a Workflow Update: 200 with the new state, 422 for a malformed body (the field named), 409 with
the validator's message when the decision does not fit the case, 404 for a case out of scope,
503 when the case's workflow cannot take anything just now (nothing recorded: send it again).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel

from access.actor import Actor
from api.auth import api_actor
from api.bodies import KIND_OF, EmbassyBody, FundingBody, IdentityBody, TravelBody, WithdrawBody
from contracts.state import CaseState, Stage
from contracts.survivor import CaseOpenRequest
from contracts.views import AuditRecord, CaseDetail, CasePage, DocumentInfo, HistoryEntry
from database.models import Document
from repatriation.service import CaseService

router = APIRouter(prefix="/api", tags=["cases"])
ActorDep = Annotated[Actor, Depends(api_actor)]


def service(request: Request) -> CaseService:
    return request.app.state.service


ServiceDep = Annotated[CaseService, Depends(service)]


class Opened(BaseModel):
    case_id: str
    reference: str
    created: bool


@router.post("/cases", status_code=201, response_model=Opened)
async def open_case(body: CaseOpenRequest, response: Response, actor: ActorDep, svc: ServiceDep) -> Opened:
    """Open a case and start its journey (caseworker). The same client_reference gives the same case."""
    opened = await svc.open_case(body, actor)
    if not opened.created:
        response.status_code = 200
    return Opened(case_id=opened.case_id, reference=opened.reference, created=opened.created)


@router.get("/cases", response_model=CasePage)
def list_cases(
    actor: ActorDep,
    svc: ServiceDep,
    stage: Stage | None = None,
    nationality: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
    stuck: bool | None = None,
    q: Annotated[str | None, Query(max_length=40, description="text in the case reference")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePage:
    return svc.list_for(actor, stage, nationality, stuck, q, page, page_size)


@router.get("/cases/{case_id}", response_model=CaseDetail)
def get_case(case_id: str, actor: ActorDep, svc: ServiceDep) -> CaseDetail:
    return svc.detail_for(actor, case_id)


async def _decide(svc: CaseService, case_id: str, body: BaseModel, actor: Actor) -> CaseState:
    payload = body.model_dump(mode="json", exclude={"decision", "decided_by"})
    return await svc.decide(case_id, KIND_OF[type(body)], payload, actor)


@router.post("/cases/{case_id}/identity", response_model=CaseState)
async def identity(
    case_id: str, body: Annotated[IdentityBody, Body()], actor: ActorDep, svc: ServiceDep
) -> CaseState:
    """Caseworker: attest identity (`decision: attest`) or resolve a possible duplicate (`duplicate`)."""
    return await _decide(svc, case_id, body, actor)


@router.post("/cases/{case_id}/embassy", response_model=CaseState)
async def embassy(
    case_id: str, body: Annotated[EmbassyBody, Body()], actor: ActorDep, svc: ServiceDep
) -> CaseState:
    """Liaison: nationality confirmed or refused (`nationality`), ETD issued or refused (`etd`)."""
    return await _decide(svc, case_id, body, actor)


@router.post("/cases/{case_id}/funding", response_model=CaseState)
async def funding(case_id: str, body: FundingBody, actor: ActorDep, svc: ServiceDep) -> CaseState:
    """Supervisor: approve (source and amount, committed in the ledger) or reject funding."""
    return await _decide(svc, case_id, body, actor)


@router.post("/cases/{case_id}/travel", response_model=CaseState)
async def travel(
    case_id: str, body: Annotated[TravelBody, Body()], actor: ActorDep, svc: ServiceDep
) -> CaseState:
    """Caseworker: choose a flight (`flight`), confirm `departure`, confirm `arrival` and handover."""
    return await _decide(svc, case_id, body, actor)


@router.post("/cases/{case_id}/withdraw", response_model=CaseState)
async def withdraw(case_id: str, body: WithdrawBody, actor: ActorDep, svc: ServiceDep) -> CaseState:
    """Caseworker: the survivor withdraws consent (before departure); the case closes cleanly."""
    return await _decide(svc, case_id, body, actor)


@router.get("/cases/{case_id}/documents", response_model=list[DocumentInfo])
def documents(case_id: str, actor: ActorDep, svc: ServiceDep) -> list[DocumentInfo]:
    return svc.documents_for(actor, case_id)


def pdf_download(doc: Document, pdf: bytes) -> Response:
    """A document's PDF as a download, never kept by a cache on the way."""
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{doc.doc_type}-v{doc.version}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/cases/{case_id}/documents/{document_id}",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def document(
    case_id: str,
    document_id: Annotated[str, PathParam(pattern=r"^[0-9a-f-]{36}$")],
    actor: ActorDep,
    svc: ServiceDep,
) -> Response:
    """The PDF. Only documents of a case the caller may see."""
    return pdf_download(*svc.document_pdf(actor, case_id, document_id))


@router.get("/cases/{case_id}/history", response_model=list[HistoryEntry])
def history(case_id: str, actor: ActorDep, svc: ServiceDep) -> list[HistoryEntry]:
    """The stage timeline joined with the audit trail (the audit part for supervisors)."""
    return svc.history_for(actor, case_id)


@router.get("/audit", response_model=list[AuditRecord])
def audit(
    actor: ActorDep, svc: ServiceDep, limit: Annotated[int, Query(ge=1, le=5000)] = 500
) -> list[AuditRecord]:
    """Supervisor: the organisation's audit trail, newest first."""
    return svc.audit_trail(actor, None, limit)
