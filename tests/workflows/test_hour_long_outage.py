"""The booking provider down for an hour (the time-skipping server skips the hour): retries
with backoff go on, the stuck view shows the failing step while it lasts, and when the provider
is back the case carries on with exactly one booking."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from access.actor import operator
from contracts.state import DecisionKind, Role
from database.models import BookingRow
from tests.conftest import CASEWORKER, ORG, Harness
from tests.journeys import approve_funding, open_case, through_embassy, through_identity


async def test_provider_down_for_an_hour(isolated_harness: Harness) -> None:
    h = isolated_harness
    boss = operator("sup", Role.supervisor, ORG, "test")
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    state = await through_embassy(h, case_id)
    h.deps.provider.failure_rate = 1.0  # the provider goes down before the flight search
    await h.env.sleep(timedelta(hours=1))
    flags = h.service.stuck_for(boss, reason="failing")
    assert [f.step for f in flags] == ["search_flights"] and flags[0].attempts >= 10  # backoff, capped
    assert "ProviderUnavailable" in (flags[0].last_error or "")

    h.deps.provider.failure_rate = 0.0  # back after the hour
    await h.env.sleep(timedelta(minutes=6))  # the next retry comes within the 5-minute cap
    state = await h.wait_pending(case_id, DecisionKind.flight_choice, timeout=60)
    assert h.service.stuck_for(boss) == []
    option = state.flight_options[0].option_id
    await h.service.decide(case_id, DecisionKind.flight_choice, {"option_id": option}, CASEWORKER)
    await h.wait_pending(case_id, DecisionKind.departure, timeout=60)
    with h.db.session() as s:
        assert (
            s.scalar(select(func.count()).select_from(BookingRow).where(BookingRow.case_id == case_id)) == 1
        )
