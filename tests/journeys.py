"""Steps the workflow tests share: open a survivor's case and drive it to a given point."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.state import CaseState, DecisionKind
from repatriation.synthetic import open_request, survivors
from tests.conftest import CASEWORKER, LIAISON, SUPERVISOR, Harness

# Another Vietnamese survivor (not a duplicate of the first): two cases for one embassy.
HOA = {
    "given_names": "Thi Hoa",
    "native_name": "Trần Thị Hoa",
    "family_name": "Tran",
    "date_of_birth": "1999-03-04",
}


def person(index: int = 0, **changes: Any) -> dict[str, Any]:
    survivor = survivors(datetime.now(UTC).date())[index]
    return {**survivor, **changes}


async def open_case(h: Harness, index: int = 0, reference: str | None = None, **changes: Any) -> str:
    """Open a case; a given reference gets a unique suffix, since one Temporal test server (and
    so every workflow id) is shared by the whole session."""
    unique = f"{reference}-{uuid.uuid4().hex[:8]}" if reference else None
    opened = await h.service.open_case(open_request(person(index, **changes), unique), CASEWORKER)
    return opened.case_id


async def through_identity(h: Harness, case_id: str) -> CaseState:
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    return await h.service.decide(case_id, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER)


async def approve_funding(h: Harness, case_id: str, source: str = "iom-return-fund") -> CaseState:
    state = await h.wait_pending(case_id, DecisionKind.funding)
    assert state.estimate is not None
    return await h.service.decide(
        case_id,
        DecisionKind.funding,
        {"approved": True, "source_id": source, "amount": str(state.estimate.total)},
        SUPERVISOR,
    )


async def through_embassy(h: Harness, case_id: str) -> CaseState:
    await h.wait_pending(case_id, DecisionKind.nationality)
    await h.service.decide(case_id, DecisionKind.nationality, {"confirmed": True}, LIAISON)
    expires = (datetime.now(UTC).date() + timedelta(days=60)).isoformat()
    return await h.service.decide(
        case_id,
        DecisionKind.etd,
        {"issued": True, "document_number": "SPLP-0042", "expires_on": expires},
        LIAISON,
    )


async def book_first_flight(h: Harness, case_id: str) -> CaseState:
    state = await h.wait_pending(case_id, DecisionKind.flight_choice)
    option = state.flight_options[0].option_id
    await h.service.decide(case_id, DecisionKind.flight_choice, {"option_id": option}, CASEWORKER)
    return await h.wait_pending(case_id, DecisionKind.departure)


async def walk_to_closure(h: Harness, case_id: str, reception: str = "Reception") -> None:
    """Every decision of a journey that ends in a return, the first flight offered taken."""
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await through_embassy(h, case_id)
    await book_first_flight(h, case_id)
    await h.service.decide(case_id, DecisionKind.departure, {}, CASEWORKER)
    await h.service.decide(case_id, DecisionKind.arrival, {"reception_organisation": reception}, CASEWORKER)
