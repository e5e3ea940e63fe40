"""The same journey on PostgreSQL; retries that never duplicate; logs free of personal data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog
from sqlalchemy import func, select

from contracts.state import DecisionKind, Outcome
from database.engine import Database
from database.models import BookingRow, Document, DocumentCase, FundingCommitmentRow
from tests.conftest import CASEWORKER, Harness, harness_for
from tests.db_fixtures import db  # noqa: F401 - the sqlite/postgresql fixture
from tests.journeys import (
    approve_funding,
    open_case,
    person,
    through_embassy,
    through_identity,
    walk_to_closure,
)


async def test_journey_on_each_database(time_env, tmp_path: Path, db: Database) -> None:  # noqa: F811
    async with harness_for(time_env, tmp_path, db.url) as h:
        case_id = await open_case(h, 1, reference="db-journey")
        await walk_to_closure(h, case_id)
        final = await h.handle(case_id).result()
        assert final.outcome == Outcome.repatriated
        with h.db.session() as s:
            assert (
                s.scalar(select(func.count()).select_from(Document).where(Document.case_id == case_id)) == 9
            )
            # and the embassy's consolidated request that names it
            assert s.scalars(select(DocumentCase.document_id).where(DocumentCase.case_id == case_id)).one()


@pytest.mark.parametrize("harness", [{"booking_failure_rate": 0.5, "booking_failure_seed": 1}], indirect=True)
async def test_flaky_booking_provider_is_retried_without_duplicates(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await through_embassy(h, case_id)
    state = await h.wait_pending(case_id, DecisionKind.flight_choice, timeout=120)
    await h.service.decide(
        case_id, DecisionKind.flight_choice, {"option_id": state.flight_options[0].option_id}, CASEWORKER
    )
    state = await h.wait_pending(case_id, DecisionKind.departure, timeout=120)
    assert state.booking is not None
    history = await h.handle(case_id).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert max(attempts) > 1  # the provider failed and the activity was retried
    with h.db.session() as s:
        assert (
            s.scalar(select(func.count()).select_from(BookingRow).where(BookingRow.case_id == case_id)) == 1
        )


async def test_a_retried_render_returns_the_stored_document(harness: Harness) -> None:
    """Run the paperwork activity twice with the same input, as a retry does."""
    from temporalio.testing import ActivityEnvironment

    from activities.deps import Deps
    from activities.paperwork import PaperworkActivities
    from contracts.messages import DocType, RenderRequest

    h = harness
    case_id = await open_case(h, 1)
    await h.wait_for(case_id, lambda s: bool(s.documents), "intake document")
    paperwork = PaperworkActivities(Deps.from_settings(h.settings))
    request = RenderRequest(
        case_id=case_id, doc_type=DocType.funding_request, issued_on="2026-11-23", facts={"estimate": None}
    )
    env = ActivityEnvironment()
    first = env.run(paperwork.render_document, request)
    second = env.run(paperwork.render_document, request)
    assert first == second
    with h.db.session() as s:
        rows = list(
            s.scalars(
                select(Document).where(Document.case_id == case_id, Document.doc_type == "funding_request")
            )
        )
    assert len(rows) == 1 and Path(rows[0].path).read_bytes()
    changed = env.run(
        paperwork.render_document, request.model_copy(update={"facts": {"escort_required": True}})
    )
    assert changed.version == 2 and changed.document_id != first.document_id


async def test_logs_carry_the_case_id_and_no_personal_data(harness: Harness) -> None:
    h = harness
    survivor = person(0)
    with structlog.testing.capture_logs() as logs:
        case_id = await open_case(h, 0)
        await walk_to_closure(h, case_id)
        await h.handle(case_id).result()
    assert logs and all(entry.get("case_id") == case_id for entry in logs if "case_id" in entry)
    assert any(entry.get("case_id") == case_id for entry in logs)
    assert all("stage" in entry for entry in logs if entry.get("case_id") == case_id)  # stage bound too
    text = json.dumps(logs, default=str)
    secrets = [
        survivor["given_names"],
        survivor["family_name"],
        survivor["native_name"],
        survivor["date_of_birth"],
        survivor["evidence"]["national_id_number"],
        "SPLP-0042",
        survivor["phone"],
    ]
    for secret in secrets:
        assert secret not in text, secret
    with h.db.session() as s:
        assert s.scalar(select(func.count()).select_from(FundingCommitmentRow)) == 1
