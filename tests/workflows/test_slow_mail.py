"""A slow mail server: a notice whose server takes longer to answer than a quick step may run is
still mailed once, because its attempt outlasts the whole delivery and is not retried while the
server is still taking the first copy."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contracts.state import DecisionKind, Outcome
from database.models import NoticeRow
from tests.conftest import CASEWORKER, Harness
from tests.journeys import open_case
from tests.slow_smtp_sink import SlowSink
from tests.stack.conftest import reserved_port
from workflows import calls

HELD = reserved_port()  # nobody else's until the sink binds it
PORT = HELD.getsockname()[1]
# Longer than a quick step's start-to-close (the notice's before), within the delivery's bound.
SLOW = calls.QUICK.total_seconds() + 2


@pytest.mark.parametrize("harness", [{"smtp_url": f"smtp://127.0.0.1:{PORT}"}], indirect=True)
async def test_a_slow_server_gets_the_notice_once(harness: Harness) -> None:
    h = harness
    assert SLOW < calls.NOTICE_DELIVERY.total_seconds()
    sink = SlowSink(queued_delay=SLOW)
    sink.port = PORT
    HELD.close()
    await sink.start()
    try:
        case_id = await open_case(h, 0)
        await h.wait_pending(case_id, DecisionKind.identity_attestation)
        withdrawal = {"reason": "changed mind"}
        await h.service.decide(case_id, DecisionKind.consent_withdrawal, withdrawal, CASEWORKER)
        final = await h.handle(case_id).result()  # after the closure notice was mailed
        assert final.outcome == Outcome.withdrawn
        assert len(sink.messages) == 1, [m["Subject"] for m in sink.messages]
        assert final.reference in str(sink.messages[0]["Subject"])
        with h.db.session() as s:
            kinds = [n.kind for n in s.scalars(select(NoticeRow).where(NoticeRow.case_id == case_id))]
        assert kinds == ["closed"]
    finally:
        await sink.stop()
