"""A departure or an arrival is confirmed once it has happened: a time in the future, or an
arrival before the departure, is refused naming the field, and the case still waits for it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType

from contracts.state import CaseState, DecisionKind
from database.models import DecisionRow
from repatriation.service import Rejected
from tests.conftest import CASEWORKER, Harness
from tests.journeys import approve_funding, book_first_flight, open_case, through_embassy, through_identity


async def accepted(h: Harness, case_id: str, update: str) -> int:
    history = await h.handle(case_id).fetch_history()
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == update
    )


def decisions_of(h: Harness, case_id: str, kind: DecisionKind) -> int:
    with h.db.session() as s:
        rows = s.scalars(select(DecisionRow).where(DecisionRow.case_id == case_id, DecisionRow.kind == kind))
        return len(list(rows))


def workflow_now(state: CaseState) -> datetime:
    """The workflow's clock (the time-skipping server's, not this machine's): its last event."""
    return max(e.at for e in state.history)


async def booked_case(h: Harness) -> tuple[str, CaseState]:
    """A case whose flight is booked, waiting for its departure."""
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await through_embassy(h, case_id)
    return case_id, await book_first_flight(h, case_id)


async def test_a_departure_in_the_future_is_refused(harness: Harness) -> None:
    h = harness
    case_id, state = await booked_case(h)
    now = workflow_now(state)

    in_a_month = (now + timedelta(days=30)).isoformat()
    with pytest.raises(Rejected, match=r"^departed_at: .* is in the future"):
        await h.service.decide(case_id, DecisionKind.departure, {"departed_at": in_a_month}, CASEWORKER)
    state = await h.state(case_id)
    assert state.departed_at is None and state.pending_of(DecisionKind.departure) is not None
    assert await accepted(h, case_id, "confirm_departure") == 0
    assert decisions_of(h, case_id, DecisionKind.departure) == 0

    # A minute ahead of the workflow's clock is a clock running fast, not a departure to come.
    a_minute_ahead = now + timedelta(minutes=1)
    state = await h.service.decide(
        case_id, DecisionKind.departure, {"departed_at": a_minute_ahead.isoformat()}, CASEWORKER
    )
    assert state.departed_at == a_minute_ahead


async def test_an_arrival_before_the_departure_or_in_the_future_is_refused(harness: Harness) -> None:
    h = harness
    case_id, state = await booked_case(h)
    departed = workflow_now(state) - timedelta(hours=2)
    await h.service.decide(case_id, DecisionKind.departure, {"departed_at": departed.isoformat()}, CASEWORKER)
    state = await h.wait_pending(case_id, DecisionKind.arrival)
    now = workflow_now(state)

    before = (departed - timedelta(hours=1)).isoformat()
    with pytest.raises(Rejected, match=r"^arrived_at: .* is before the departure at"):
        await h.service.decide(
            case_id,
            DecisionKind.arrival,
            {"reception_organisation": "IOM", "arrived_at": before},
            CASEWORKER,
        )
    tomorrow = (now + timedelta(days=1)).isoformat()
    with pytest.raises(Rejected, match=r"^arrived_at: .* is in the future"):
        await h.service.decide(
            case_id,
            DecisionKind.arrival,
            {"reception_organisation": "IOM", "arrived_at": tomorrow},
            CASEWORKER,
        )
    state = await h.state(case_id)
    assert state.arrived_at is None and state.outcome is None
    assert state.pending_of(DecisionKind.arrival) is not None
    assert await accepted(h, case_id, "confirm_arrival") == 0
    assert decisions_of(h, case_id, DecisionKind.arrival) == 0

    landed = departed + timedelta(hours=1)
    await h.service.decide(
        case_id,
        DecisionKind.arrival,
        {"reception_organisation": "IOM", "arrived_at": landed.isoformat()},
        CASEWORKER,
    )
    final = await h.handle(case_id).result()
    assert final.departed_at == departed and final.arrived_at == landed
