"""The mail server down: sending the embassy's request fails again and again, the case it names
is flagged stuck with the attempts and the error while retries go on, and when the server is
back the request goes out exactly once and the case carries on by itself."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from access.actor import operator
from contracts.state import DecisionKind, Role
from database.models import Document
from tests.conftest import ORG, Harness
from tests.journeys import open_case, through_identity
from tests.smtp_sink import SmtpSink
from tests.stack.conftest import reserved_port

HELD = reserved_port()  # refused until the mail server is back, and nobody else's meanwhile
PORT = HELD.getsockname()[1]


@pytest.mark.parametrize(
    "harness", [{"smtp_url": f"smtp://127.0.0.1:{PORT}", "stuck_after_attempts": 2}], indirect=True
)
async def test_mail_server_down_then_back(harness: Harness) -> None:
    h = harness
    boss = operator("sup", Role.supervisor, ORG, "test")
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not (flags := h.service.stuck_for(boss, reason="failing")):
        assert loop.time() < deadline, "the failing mail was never flagged"
        await asyncio.sleep(0.1)
    assert flags[0].step == "send_embassy_request" and flags[0].attempts >= 2
    assert "ConnectionRefusedError" in (flags[0].last_error or "")

    sink = SmtpSink(port=PORT)
    HELD.close()
    await sink.start()  # the mail server is back
    try:
        await h.wait_pending(case_id, DecisionKind.nationality, timeout=60)
        assert h.service.stuck_for(boss) == []
        letters = [m for m in sink.messages if m["To"] == "consular.vnm@embassies.example"]
        assert len(letters) == 1
        attachments = sorted(p.get_filename() for p in letters[0].iter_attachments())
        reference = h.service.resolve(case_id).reference
        assert len(attachments) == 2 and attachments[0].startswith("REQ-VNM-")
        assert attachments[1] == f"etd-application-{reference}-v1.pdf"
        with h.db.session() as s:  # the request was rendered once, however often the mail was tried
            assert (
                s.scalar(
                    select(func.count()).select_from(Document).where(Document.doc_type == "embassy_request")
                )
                == 1
            )
        assert letters[0]["Message-ID"].endswith("@repatriation>")
    finally:
        await sink.stop()
