"""Decisions that do not fit the case are refused with a clear message and leave no trace."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from contracts.state import DecisionKind
from database import ledger
from database.models import Case, DecisionRow
from repatriation.service import CASE_NAMESPACE, Invalid, Rejected, case_reference
from tests.conftest import CASEWORKER, LIAISON, SUPERVISOR, Harness, harness_for
from tests.db_fixtures import _postgres_database, make_case
from tests.journeys import approve_funding, book_first_flight, open_case, through_embassy, through_identity
from workflows.repatriation import workflow_id_for


async def accepted_updates(h: Harness, case_id: str) -> int:
    history = await h.handle(case_id).fetch_history()
    return sum(
        1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def test_rejections_name_the_rule_and_leave_no_trace(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)

    with pytest.raises(Rejected, match="embassy has not been asked"):
        await h.service.decide(case_id, DecisionKind.nationality, {"confirmed": True}, LIAISON)
    with pytest.raises(Rejected, match="no flight options"):
        await h.service.decide(case_id, DecisionKind.flight_choice, {"option_id": "x"}, CASEWORKER)
    with pytest.raises(Rejected, match="departure has not been confirmed"):
        await h.service.decide(case_id, DecisionKind.arrival, {"reception_organisation": "X"}, CASEWORKER)
    assert await accepted_updates(h, case_id) == 0

    await through_identity(h, case_id)
    with pytest.raises(Rejected, match="already attested"):
        await h.service.decide(case_id, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER)
    assert await accepted_updates(h, case_id) == 1

    state = await h.wait_pending(case_id, DecisionKind.funding)
    assert state.estimate is not None
    below = state.estimate.total - 1
    with pytest.raises(Rejected, match="below the cost estimate"):
        await h.service.decide(
            case_id,
            DecisionKind.funding,
            {"approved": True, "source_id": "ngo-emergency", "amount": str(below)},
            SUPERVISOR,
        )
    with pytest.raises(Rejected, match="free budget"):
        await h.service.decide(
            case_id,
            DecisionKind.funding,
            {"approved": True, "source_id": "family-contribution", "amount": "99999"},
            SUPERVISOR,
        )
    with pytest.raises(Rejected, match="source_id"):
        await h.service.decide(
            case_id,
            DecisionKind.funding,
            {"approved": True, "source_id": "no-such-fund", "amount": "100"},
            SUPERVISOR,
        )

    await h.wait_pending(case_id, DecisionKind.nationality)
    await h.service.decide(case_id, DecisionKind.nationality, {"confirmed": True}, LIAISON)
    too_soon = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    with pytest.raises(
        Rejected, match="expires_on: the ETD expires on .* before the earliest possible flight"
    ):
        await h.service.decide(
            case_id,
            DecisionKind.etd,
            {"issued": True, "document_number": "ETD-1", "expires_on": too_soon},
            LIAISON,
        )
    with pytest.raises(Rejected, match="already decided"):
        await h.service.decide(
            case_id, DecisionKind.nationality, {"confirmed": False, "reason": "x"}, LIAISON
        )
    assert await accepted_updates(h, case_id) == 2
    with h.db.session() as s:
        assert len(list(s.scalars(select(DecisionRow).where(DecisionRow.case_id == case_id)))) == 2


async def test_malformed_decisions_name_the_field(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    with pytest.raises(Invalid, match="document_number and expires_on"):
        await h.service.decide(case_id, DecisionKind.etd, {"issued": True}, LIAISON)
    with pytest.raises(Invalid, match="reason"):
        await h.service.decide(case_id, DecisionKind.nationality, {"confirmed": False}, LIAISON)
    with pytest.raises(Invalid, match="amount"):
        await h.service.decide(
            case_id, DecisionKind.funding, {"approved": True, "source_id": "x", "amount": "-5"}, SUPERVISOR
        )


async def test_flight_not_offered_and_decisions_after_closure(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await through_embassy(h, case_id)
    await h.wait_pending(case_id, DecisionKind.flight_choice)
    with pytest.raises(Rejected, match="not one of the offered flights"):
        await h.service.decide(case_id, DecisionKind.flight_choice, {"option_id": "PNH-XXX"}, CASEWORKER)
    await book_first_flight(h, case_id)
    await h.service.decide(case_id, DecisionKind.departure, {}, CASEWORKER)
    with pytest.raises(Rejected, match="only before departure"):
        await h.service.decide(case_id, DecisionKind.consent_withdrawal, {"reason": "late"}, CASEWORKER)
    await h.service.decide(case_id, DecisionKind.arrival, {"reception_organisation": "Reception"}, CASEWORKER)
    await h.handle(case_id).result()
    with pytest.raises(Rejected, match="closed"):
        await h.service.decide(case_id, DecisionKind.arrival, {"reception_organisation": "X"}, CASEWORKER)


async def test_same_decision_twice_at_once_is_applied_once(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    state = await h.wait_pending(case_id, DecisionKind.funding)
    assert state.estimate is not None
    body = {"approved": True, "source_id": "iom-return-fund", "amount": str(state.estimate.total)}
    results = await asyncio.gather(
        *(h.service.decide(case_id, DecisionKind.funding, body, SUPERVISOR) for _ in range(3)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, Rejected) for r in results if isinstance(r, Exception))
    assert ledger.free_budget(h.db, "iom-return-fund") == Decimal(50_000) - state.estimate.total
    assert len(ledger.commitments_for(h.db, case_id)) == 1


async def test_two_cases_racing_for_the_last_budget(harness: Harness) -> None:
    h = harness
    a = await open_case(h, 0, reference="race-a")
    b = await open_case(h, 1, reference="race-b")
    for case_id in (a, b):
        await through_identity(h, case_id)
    estimates = [(await h.wait_pending(c, DecisionKind.funding)).estimate for c in (a, b)]
    amount = max(e.total for e in estimates if e)
    ledger.ensure_sources(
        h.db, [ledger.SourceSpec(id="tiny", name="Tiny fund", kind="ngo", currency="USD", budget=amount + 1)]
    )
    body = {"approved": True, "source_id": "tiny", "amount": str(amount)}
    results = await asyncio.gather(
        *(h.service.decide(c, DecisionKind.funding, body, SUPERVISOR) for c in (a, b)), return_exceptions=True
    )
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert any(isinstance(r, Rejected) for r in results)
    assert ledger.free_budget(h.db, "tiny") == Decimal(1)


async def test_opening_the_same_case_twice_gives_one_journey(harness: Harness) -> None:
    await _same_case_opened_at_once(harness)


@pytest.mark.postgres
async def test_opening_the_same_case_at_once_on_postgresql(time_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL lets the requests' inserts race (SQLite serialises them): the loser's duplicate
    key is the same case, not an error."""
    for database in _postgres_database():  # skipped when PostgreSQL does not answer
        async with harness_for(time_env, tmp_path, database.url) as h:
            await _same_case_opened_at_once(h)


async def _same_case_opened_at_once(h: Harness) -> None:
    from repatriation.synthetic import open_request
    from tests.journeys import person

    request = open_request(person(0), f"same-ref-{uuid.uuid4().hex[:8]}")
    opened = await asyncio.gather(*(h.service.open_case(request, CASEWORKER) for _ in range(5)))
    opened.append(await h.service.open_case(request, CASEWORKER))
    assert len({o.case_id for o in opened}) == 1
    assert [o.created for o in opened].count(True) == 1
    with h.db.session() as s:
        assert len(list(s.scalars(select(Case)))) == 1
    await h.wait_pending(opened[0].case_id, DecisionKind.identity_attestation)
    history = await h.handle(opened[0].case_id).fetch_history()
    starts = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED]
    assert len(starts) == 1


async def test_a_client_reference_sent_again_for_someone_else_is_refused(harness: Harness) -> None:
    """A shelter's reference names one survivor: reused for another person it is refused with
    the field named, and the second person is not silently answered with the first one's case."""
    h = harness
    from repatriation.synthetic import open_request
    from tests.journeys import person

    reference = f"bed-{uuid.uuid4().hex[:8]}"
    first = await h.service.open_case(open_request(person(0), reference), CASEWORKER)
    assert first.created
    for someone_else in (person(1), person(0, date_of_birth="1990-02-03"), person(0, nationality="IDN")):
        refused = f"client_reference: '{reference}' was already used for another survivor"
        with pytest.raises(Invalid, match=refused):
            await h.service.open_case(open_request(someone_else, reference), CASEWORKER)
    again = await h.service.open_case(open_request(person(0), reference), CASEWORKER)
    assert again.case_id == first.case_id and not again.created
    with h.db.session() as s:
        assert len(list(s.scalars(select(Case)))) == 1


async def test_a_case_whose_printed_reference_is_taken_gets_another(harness: Harness) -> None:
    """A printed reference is the start of the case id (32 bits): among thousands of cases two
    ids will share it now and then. The second case takes another id, and its client reference
    still finds it."""
    h = harness
    from repatriation.synthetic import open_request
    from tests.journeys import person

    client_reference = f"bed-{uuid.uuid4().hex[:8]}"
    natural_id = str(uuid.uuid5(CASE_NAMESPACE, f"{CASEWORKER.organisation}:{client_reference}"))
    other_id = natural_id[:8] + str(uuid.uuid4())[8:]  # another case, the same printed reference
    make_case(h.db, other_id, reference=case_reference(other_id), organisation="Another shelter")
    request = open_request(person(0), client_reference)
    opened = await h.service.open_case(request, CASEWORKER)
    assert opened.created and opened.case_id not in (natural_id, other_id)
    assert opened.reference == case_reference(opened.case_id) != case_reference(other_id)
    again = await h.service.open_case(request, CASEWORKER)
    assert (again.case_id, again.created) == (opened.case_id, False)
    state = await h.wait_pending(opened.case_id, DecisionKind.identity_attestation)
    assert state.reference == opened.reference


async def test_opening_rejects_bad_input_with_the_field_named(harness: Harness) -> None:
    h = harness
    from repatriation.synthetic import open_request
    from tests.journeys import person

    future = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    with pytest.raises(Invalid, match="survivor.date_of_birth: must be in the past"):
        await h.service.open_case(open_request(person(0, date_of_birth=future), None), CASEWORKER)
    minor = person(2)
    minor.pop("guardian")
    with pytest.raises(Invalid, match="survivor.guardian"):
        await h.service.open_case(open_request(minor, None), CASEWORKER)
    no_disclosure = person(
        0, consent={"repatriation": True, "disclosure_to_embassy": False, "data_processing": True}
    )
    with pytest.raises(Invalid, match="disclosure_to_embassy"):
        await h.service.open_case(open_request(no_disclosure, None), CASEWORKER)
    with pytest.raises(ValueError, match="nationality"):
        open_request(person(0, nationality="XYZ"), None)
    slips = {
        "survivor.given_names: must not contain control characters": {"given_names": "Lan\x00"},
        "survivor.entered_host_country_on: is before the date of birth": {
            "entered_host_country_on": "1980-01-01"
        },
        "survivor.family_name: must not contain control characters": {"family_name": "Thi\u202eLan"},
        "survivor.native_name: must not contain control characters": {"native_name": "Lan\u2028Thi"},
        "survivor.phone: needs at least 6 digits": {"phone": "(((((("},
    }
    for rule, changes in slips.items():
        with pytest.raises(Invalid, match=re.escape(rule)):
            await h.service.open_case(open_request(person(0, **changes), None), CASEWORKER)
    with h.db.session() as s:
        assert list(s.scalars(select(Case))) == []


@workflow.defn(sandboxed=False)
class EndedJourney:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_a_reference_whose_journey_has_ended_is_refused_with_the_field(harness: Harness) -> None:
    """A journey ran and ended under the id a client reference gives (its row lost, as after a
    start whose answer never came back): Temporal will not walk that id again, so the reference
    is refused by name, and no row is left behind."""
    h = harness
    from repatriation.synthetic import open_request
    from tests.journeys import person

    client_reference = f"bed-{uuid.uuid4().hex[:8]}"
    case_id = str(uuid.uuid5(CASE_NAMESPACE, f"{CASEWORKER.organisation}:{client_reference}"))
    queue = f"ended-{uuid.uuid4()}"
    async with Worker(h.env.client, task_queue=queue, workflows=[EndedJourney]):
        await h.env.client.execute_workflow(EndedJourney.run, id=workflow_id_for(case_id), task_queue=queue)
    ended = f"client_reference: '{client_reference}' belongs to a journey that has ended"
    with pytest.raises(Invalid, match=ended):
        await h.service.open_case(open_request(person(0), client_reference), CASEWORKER)
    with h.db.session() as s:
        assert s.get(Case, case_id) is None
