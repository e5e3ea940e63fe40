"""Mail to the parties: the embassy's requests, reminders, overdue notices.

With ``smtp_url`` set, mail goes through that SMTP server; otherwise each message is written as
an .eml file to the outbox folder (the embedded default). A notice is sent once: its id is the
idempotency key, the file name and the Message-ID, so a retry neither sends a second copy to
the outbox nor lets a receiving server count it twice.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import select
from temporalio import activity

from activities.deps import Deps
from contracts.messages import Notice
from contracts.state import Role
from database.engine import Database
from database.models import Case, Document, NoticeRow
from repatriation.logs import get_logger
from repatriation.settings import Settings


def recipient(settings: Settings, role: Role, nationality: str) -> str:
    if role == Role.liaison:
        return settings.embassy_email_pattern.format(nationality=nationality.lower())
    if role == Role.supervisor:
        return settings.supervisors_email
    return settings.caseworkers_email


def deliver(settings: Settings, message: EmailMessage, key: str) -> None:
    if settings.smtp_url:
        url = urlparse(settings.smtp_url)
        with smtplib.SMTP(url.hostname or "127.0.0.1", url.port or 25, timeout=20) as smtp:
            if url.username:
                smtp.login(url.username, url.password or "")
            smtp.send_message(message)
        return
    outbox: Path = settings.outbox_dir
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{key}.eml"
    tmp = path.with_suffix(".eml.tmp")
    tmp.write_bytes(message.as_bytes())
    os.replace(tmp, path)


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
    key: str | None = None,
) -> bool:
    """Mail once per ``notice_id`` (True if this call sent it). ``attachments``: (file name,
    PDF path). ``key`` names the outbox file and the Message-ID (default: from the notice id)."""
    settings = deps.settings
    if already_sent(deps.db, notice_id):
        return False
    key = key or hashlib.sha256(notice_id.encode()).hexdigest()[:32]
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{key}@repatriation>"
    message.set_content(body)
    for filename, path in attachments:
        message.add_attachment(path.read_bytes(), maintype="application", subtype="pdf", filename=filename)
    deliver(settings, message, key)
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
        )
        get_logger(case_id=notice.case_id, stage=case_stage).info(
            "notice sent", kind=notice.kind, to_role=notice.to_role
        )
