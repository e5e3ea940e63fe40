"""Mail through a real SMTP server (the test sink): a notice's whole conversation ends within its
bound, which is below its activity's start-to-close, and credentials never cross in clear."""

from __future__ import annotations

import asyncio
import smtplib
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from activities.notices import deliver
from documents.sealed import Sealer
from repatriation.settings import Settings
from tests.conftest import make_settings
from tests.slow_smtp_sink import SlowSink
from workflows import calls


def send(settings: Settings, within: timedelta) -> None:
    deliver(settings, Sealer.for_settings(settings), message(), "k", within)


def message() -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.org", "b@example.org", "test"
    m.set_content("hello")
    return m


def test_a_notice_attempt_outlasts_its_whole_delivery() -> None:
    """The relation the activity's start-to-close is made of (workflows/calls.py)."""
    assert calls.NOTICE >= calls.NOTICE_DELIVERY * 2


async def test_the_whole_conversation_ends_within_its_bound(tmp_path: Path) -> None:
    # Each reply within a second: a client bounding each read only would wait for all of them.
    sink = SlowSink(reply_delay=0.8)
    await sink.start()
    try:
        settings = make_settings(tmp_path, smtp_url=f"smtp://127.0.0.1:{sink.port}")
        began = time.monotonic()
        with pytest.raises((smtplib.SMTPServerDisconnected, TimeoutError)):
            await asyncio.to_thread(send, settings, calls.NOTICE_DELIVERY / 15)
        # Its bound is 2 s; a client bounding each read only would wait 0.8 s for each of the six or
        # more replies of a conversation.
        assert time.monotonic() - began < 3.5
        assert sink.messages == []
    finally:
        await sink.stop()


async def test_a_slow_server_within_the_bound_takes_the_message(tmp_path: Path) -> None:
    sink = SlowSink(queued_delay=1.5)
    await sink.start()
    try:
        settings = make_settings(tmp_path, smtp_url=f"smtp://127.0.0.1:{sink.port}")
        await asyncio.to_thread(send, settings, calls.NOTICE_DELIVERY)
        assert [m["Subject"] for m in sink.messages] == ["test"]
    finally:
        await sink.stop()


@pytest.mark.parametrize(
    ("credentials", "starttls"), [("user:secret@", False), ("", True)], ids=["credentials", "setting"]
)
async def test_no_starttls_offered_no_mail(tmp_path: Path, credentials: str, starttls: bool) -> None:
    """With credentials (or the setting), the connection is encrypted first: a server that does
    not offer STARTTLS (the test sink) is refused before a password or a message crosses."""
    sink = SlowSink()
    await sink.start()
    try:
        settings = make_settings(
            tmp_path, smtp_url=f"smtp://{credentials}127.0.0.1:{sink.port}", smtp_starttls=starttls
        )
        with pytest.raises(smtplib.SMTPNotSupportedError, match="STARTTLS"):
            await asyncio.to_thread(send, settings, calls.NOTICE_DELIVERY)
        commands = [line.split()[0].upper() for line in sink.lines if line.strip()]
        assert b"AUTH" not in commands and b"MAIL" not in commands
        assert sink.messages == []
    finally:
        await sink.stop()
