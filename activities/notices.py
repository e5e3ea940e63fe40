"""Mail to the parties: the embassy's requests, reminders, overdue notices.

With ``smtp_url`` set, mail goes through that SMTP server; otherwise each message is written as
an .eml file to the outbox folder (the embedded default). A notice is sent once: its id is the
idempotency key, the file name and the Message-ID, so a retry neither sends a second copy to
the outbox nor lets a receiving server count it twice.

The outbox (activities/outbox.py) stands in for a mail relay; its mails rest sealed.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import select
from temporalio import activity

from activities import outbox
from activities.deps import Deps
from activities.outbox import outbox_key
from contracts.messages import Notice
from contracts.state import Role
from database.engine import Database
from database.models import Case, Document, NoticeRow
from documents.sealed import Sealer
from repatriation.logs import get_logger
from repatriation.settings import Settings
from workflows.calls import NOTICE_DELIVERY


def recipient(settings: Settings, role: Role, nationality: str) -> str:
    if role == Role.liaison:
        return settings.embassy_email_pattern.format(nationality=nationality.lower())
    if role == Role.supervisor:
        return settings.supervisors_email
    return settings.caseworkers_email


# How long one read or write to the mail server may take (the whole conversation may take
# longer) when the caller sets no bound on the whole (the embassy's requests and lists, which
# heartbeat and have minutes).
SMTP_TIMEOUT = timedelta(seconds=20)


class BoundedSMTP(smtplib.SMTP):
    """An SMTP client whose whole conversation ends within ``within``, not each read or write:
    each command and reply gets what is left of it. A slow server then fails the attempt before
    the activity's start-to-close runs out, so a retry never starts while it is still taking
    the message (see NOTICE in workflows/calls.py)."""

    def __init__(self, host: str, port: int, within: timedelta) -> None:
        self.within = within
        self.ends = time.monotonic() + within.total_seconds()
        super().__init__(host, port, timeout=within.total_seconds())

    def _left(self) -> None:
        left = self.ends - time.monotonic()
        if left <= 0:
            self.close()
            raise TimeoutError(f"smtp: the mail server took longer than {self.within} to take the message")
        if self.sock is not None:
            self.sock.settimeout(left)

    def send(self, s: str | bytes) -> None:
        self._left()
        super().send(s)

    def getreply(self) -> tuple[int, bytes]:
        self._left()
        return super().getreply()


def deliver(
    settings: Settings, sealer: Sealer, message: EmailMessage, key: str, within: timedelta | None = None
) -> None:
    """Mail ``message`` (or write it to the outbox, sealed). ``within``: how long the whole SMTP
    conversation may take; None: SMTP_TIMEOUT for each read and write."""
    if settings.smtp_url:
        url = urlparse(settings.smtp_url)
        host, port = url.hostname or "127.0.0.1", url.port or 25
        if within is None:
            smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT.total_seconds())
        else:
            smtp = BoundedSMTP(host, port, within)
        try:
            # Credentials never cross the network in clear: with a user name, STARTTLS always,
            # and a server that does not offer it is refused (smtplib.SMTPNotSupportedError).
            if settings.smtp_starttls or url.username:
                smtp.starttls(context=ssl.create_default_context())
            if url.username:
                smtp.login(url.username, url.password or "")
            smtp.send_message(message)
        finally:
            # The server has the message once send_message has returned: a QUIT it answers late
            # or wrongly must not fail the attempt, or the retry would mail it a second time.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            smtp.close()
        return
    outbox.write(settings.outbox_dir, sealer, key, message)


def already_sent(db: Database, notice_id: str) -> bool:
    with db.reading() as session:
        return session.get(NoticeRow, notice_id) is not None


def send_once(
    deps: Deps,
    *,
    notice_id: str,
    kind: str,
    case_id: str,
    to: str,
    subject: str,
    body: str,
    attachments: list[tuple[str, Path]],
    within: timedelta | None = None,
) -> bool:
    """Mail once per ``notice_id`` (True if this call sent it). ``attachments``: (file name,
    PDF path). The outbox file and the Message-ID are named by :func:`outbox_key`.
    ``within``: how long the SMTP conversation may take in all (see :func:`deliver`)."""
    settings = deps.settings
    if already_sent(deps.db, notice_id):
        return False
    key = outbox_key(notice_id)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{key}@repatriation>"
    message.set_content(body)
    for filename, path in attachments:  # sealed at rest (documents/sealed.py), sent opened
        pdf = deps.sealer.read(path)
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    deliver(settings, deps.sealer, message, key, within)
    with deps.db.session() as session:
        if session.get(NoticeRow, notice_id) is None:
            session.add(
                NoticeRow(
                    id=notice_id,
                    case_id=case_id[:36],
                    kind=kind,
                    to_address=to,
                    subject=subject,
                    sent_at=datetime.now(UTC),
                )
            )
    return True


class NoticeActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="send_notice")
    def send_notice(self, notice: Notice) -> None:
        if already_sent(self.deps.db, notice.notice_id):
            return
        with self.deps.db.reading() as session:
            case = session.execute(
                select(Case.nationality, Case.stage).where(Case.id == notice.case_id)
            ).first()
            nationality = case.nationality if case else ""
            case_stage = case.stage if case else None
            documents = list(session.scalars(select(Document).where(Document.id.in_(notice.attachments))))
        send_once(
            self.deps,
            notice_id=notice.notice_id,
            kind=notice.kind,
            case_id=notice.case_id,
            to=recipient(self.deps.settings, notice.to_role, nationality),
            subject=notice.subject,
            body=notice.body,
            attachments=[(f"{d.doc_type}-v{d.version}.pdf", Path(d.path)) for d in documents],
            within=NOTICE_DELIVERY,
        )
        get_logger(case_id=notice.case_id, stage=case_stage).info(
            "notice sent", kind=notice.kind, to_role=notice.to_role
        )
