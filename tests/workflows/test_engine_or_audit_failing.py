"""What a person is told when the workflow engine does not answer, or when the audit trail
cannot be written after Temporal took the action: never a bare 500, never "nothing was changed"
about something that was."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment

from contracts.state import DecisionKind
from database.models import Case, DecisionRow
from repatriation.ports import free_port
from repatriation.service import CaseService, NotReady, Rejected
from tests.conftest import CASEWORKER, Harness, binary
from tests.journeys import open_case


@pytest_asyncio.fixture
async def engine_gone() -> AsyncIterator[Client]:
    """A client connected to a Temporal dev server that has stopped since (retries off, so the
    test does not wait for the SDK's backoff)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=["--log-level", "error"],
        port=free_port(),
    )
    client = await Client.connect(
        env.client.service_client.config.target_host,
        data_converter=pydantic_data_converter,
        retry_config=RetryConfig(max_retries=0),
    )
    await env.shutdown()
    yield client


async def test_an_engine_that_does_not_answer_records_nothing(harness: Harness, engine_gone: Client) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    service = CaseService(h.settings, engine_gone, h.db)

    with pytest.raises(NotReady) as decision:
        await service.decide(case_id, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER)
    assert decision.value.status == 503
    # The SDK retried before giving up, so an earlier attempt may have gone in: said so.
    reference = h.service.resolve(case_id).reference
    assert str(decision.value) == (
        "the workflow engine (Temporal) does not answer; it may or may not have been recorded: "
        f"look at case {reference} before sending it again"
    )

    from repatriation.synthetic import open_request
    from tests.journeys import person

    with pytest.raises(NotReady, match=r"does not answer; no case was opened; try again shortly"):
        await service.open_case(open_request(person(1), "engine-down-1"), CASEWORKER)
    with h.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1  # the first case only
        assert s.scalar(select(func.count()).select_from(DecisionRow)) == 0


async def test_a_decision_is_answered_as_taken_though_its_audit_failed(harness: Harness) -> None:
    h = harness
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    with h.db.session() as s:
        refuse = "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'x'); END"
        s.execute(text(refuse))
    with capture_logs() as logs:
        state = await h.service.decide(
            case_id, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER
        )
    assert state.identity_verified is True
    (missing,) = [e for e in logs if e["event"] == "action taken, audit entry not written"]
    assert missing["case_id"] == case_id and missing["action"] == "decision.identity_attestation"
    assert missing["log_level"] == "error"
    with h.db.session() as s:
        s.execute(text("DROP TRIGGER refuse_audit"))
    # Taken indeed: sent again, it is refused as already decided.
    with pytest.raises(Rejected, match="already attested"):
        await h.service.decide(case_id, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER)
