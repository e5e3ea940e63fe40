"""Supervisors: the stuck cases, and the interventions that unstick them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query

from api.cases import ActorDep, ServiceDep
from contracts.interventions import Intervention
from contracts.state import CaseState, Stage
from contracts.views import StuckItem

router = APIRouter(prefix="/api", tags=["stuck cases"])
Reason = Annotated[str | None, Query(pattern=r"^(overdue|failing|failed|workflow_task_failing|on_hold)$")]


@router.get("/stuck", response_model=list[StuckItem])
def stuck(
    actor: ActorDep,
    svc: ServiceDep,
    reason: Reason = None,
    stage: Stage | None = None,
    nationality: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$", description="the embassy")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[StuckItem]:
    """Every stuck case: reason, stage, since, age, awaited party, attempts and last error; oldest first."""
    return svc.stuck_for(actor, reason, stage, nationality, limit)


@router.post("/cases/{case_id}/interventions", response_model=CaseState)
async def intervene(
    case_id: str,
    body: Annotated[Intervention, Body()],
    actor: ActorDep,
    svc: ServiceDep,
    idempotency_key: Annotated[str | None, Header(pattern=r"^[A-Za-z0-9_-]{8,64}$")] = None,
) -> CaseState:
    """Supervisor: `retry`, `extend_deadline`, `reassign`, `override` (a justification of 20+
    characters), `hold`, `resume`, `cancel`. Audited with the justification, shown in the timeline.
    With an `Idempotency-Key` header, the same request sent again (a retry after a timeout) is
    answered as the first was and not applied twice."""
    payload: dict[str, Any] = body.model_dump(mode="json", exclude={"decided_by"})
    return await svc.intervene(case_id, payload, actor, idempotency_key)
