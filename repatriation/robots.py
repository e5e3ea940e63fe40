"""Robot liaisons, supervisors and caseworkers for the demo and the benchmark: they take every
pending decision at once, through the same service layer as people do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from access.actor import Actor, operator
from contracts.state import DecisionKind, Role
from database import ledger
from database.models import Case
from repatriation.service import CaseService, Rejected

RECEPTION = {
    "VNM": "Peace House Shelter, Hanoi",
    "IDN": "IOM reception, Jakarta",
    "THA": "Ministry of Social Development reception, Bangkok",
    "MMR": "Reception centre, Yangon",
    "PHL": "DSWD reception, Manila",
    "CHN": "Reception office, Beijing",
}


def robot(role: Role, organisation: str) -> Actor:
    return operator(f"robot-{role}", role, organisation, source="robot")


def payload_for(kind: DecisionKind, case: Case, service: CaseService) -> dict[str, Any] | None:
    state = case.state or {}
    today = datetime.now(UTC).date()
    match kind:
        case DecisionKind.duplicate_resolution:
            candidates = (state.get("identity") or {}).get("duplicates") or []
            return {"action": "merge", "duplicate_of": candidates[0]["case_id"]} if candidates else None
        case DecisionKind.identity_attestation:
            return {"verified": True}
        case DecisionKind.nationality:
            return {"confirmed": True}
        case DecisionKind.etd:
            return {
                "issued": True,
                "document_number": "ETD-" + case.reference.removeprefix("RP-"),
                "expires_on": (today + timedelta(days=60)).isoformat(),
            }
        case DecisionKind.funding:
            estimate = state.get("estimate") or {}
            total = sum(Decimal(str(line["amount"])) for line in estimate.get("lines", []))
            source = next(
                (s for s in ledger.list_sources(service.db) if s.free >= total and s.currency == "USD"),
                None,
            )
            if source is None:
                return None
            return {"approved": True, "source_id": source.id, "amount": str(total), "currency": "USD"}
        case DecisionKind.flight_choice:
            options = state.get("flight_options") or []
            return {"option_id": options[0]["option_id"]} if options else None
        case DecisionKind.departure:
            return {}
        case DecisionKind.arrival:
            return {"reception_organisation": RECEPTION.get(case.nationality, "IOM reception centre")}
    return None


# Cases decided at a time: a decision is a round trip to the workflow and back (two workflow
# tasks: it is accepted, then applied), so a round over many cases one by one takes long.
CONCURRENCY = 16


async def decide_pending(service: CaseService, organisation: str, concurrency: int = CONCURRENCY) -> int:
    """Take one round of decisions on every open case, several cases at a time (each case's
    decisions in turn); return how many were taken."""
    gate = asyncio.Semaphore(concurrency)

    async def one_case(case: Case) -> int:
        taken = 0
        async with gate:
            for pending in (case.state or {}).get("pending", []):
                kind = DecisionKind(pending["kind"])
                payload = payload_for(kind, case, service)
                if payload is None:
                    continue
                try:
                    await service.decide(case.id, kind, payload, robot(Role(pending["role"]), organisation))
                    taken += 1
                except Rejected:
                    continue  # the state moved on since the read model was read
        return taken

    cases = service.list_cases(open_only=True, limit=100_000)
    return sum(await asyncio.gather(*(one_case(case) for case in cases)))
