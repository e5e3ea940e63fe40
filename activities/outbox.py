"""The local outbox: where mail rests when no relay is configured (``smtp_url`` unset, the
embedded default), one file per mail, named after its notice (:func:`outbox_key`).

Its mails carry what the documents do (names, the PDFs attached), so they rest sealed like the
documents (documents/sealed.py): ``<key>.eml.sealed``. ``repatriation outbox`` lists them and
opens one for a supervisor (repatriation/service.py, audited); the retention purge removes a
case's (:func:`outbox_files`).
"""

from __future__ import annotations

import hashlib
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from documents.sealed import SUFFIX, Sealer

OUTBOX_SUFFIX = ".eml" + SUFFIX


def outbox_mails(outbox: Path) -> list[Path]:
    """The mails in the local outbox by name: sealed, and plain ones written before the outbox
    was sealed (a write cut short, ``.tmp``, is not a mail)."""
    if not outbox.is_dir():
        return []
    return sorted(p for p in outbox.iterdir() if p.name.endswith((OUTBOX_SUFFIX, ".eml")))


def open_mail(sealer: Sealer, path: Path) -> EmailMessage:
    """An outbox mail, opened (a plain one is read as it is)."""
    message = BytesParser(policy=policy.default).parsebytes(sealer.read(path))
    assert isinstance(message, EmailMessage)
    return message


def write(outbox: Path, sealer: Sealer, key: str, message: EmailMessage) -> None:
    """Seal ``message`` into the outbox, atomically (a reader finds the whole mail or none). A
    plain copy left by a worker from before the outbox was sealed is replaced, not kept beside."""
    outbox.mkdir(parents=True, exist_ok=True)
    sealer.write(outbox / f"{key}{OUTBOX_SUFFIX}", message.as_bytes())
    for plain in (outbox / f"{key}.eml", outbox / f"{key}.eml.tmp"):
        plain.unlink(missing_ok=True)


def seal_plain_mails(outbox: Path, sealer: Sealer) -> int:
    """Seal every mail a worker from before the outbox was sealed left in clear, in place, and
    remove the plain copies (and plain writes cut short); returns how many were sealed. Run as a
    worker starts (repatriation/temporal.py, running_workers), so that no mail rests in clear
    for longer than an upgrade."""
    if not outbox.is_dir():
        return 0
    sealed = 0
    for plain in sorted(outbox.glob("*.eml.tmp")):
        plain.unlink(missing_ok=True)
    for plain in sorted(outbox.glob("*.eml")):
        target = plain.with_name(plain.name + SUFFIX)
        try:
            if not target.exists():
                sealer.write(target, plain.read_bytes())
                sealed += 1
        except FileNotFoundError:  # another worker starting beside this one sealed it first
            continue
        plain.unlink(missing_ok=True)
    return sealed


def embassy_request_notice(reference: str) -> str:
    """The notice id of a consolidated embassy request (activities/embassy_requests.py)."""
    return f"embassy-request:{reference}"


def lists_unrenderable_notice(day: str) -> str:
    """The notice id of the supervisors' mail that a day's lists could not all be rendered."""
    return f"lists-unrenderable:{day}"


def embassy_list_notice(nationality: str, day: str, version: int) -> str:
    """The notice id of an embassy's daily list, version by version (activities/embassy_lists.py)."""
    return f"list:{nationality}:{day}:v{version}"


def embassy_list_of(notice_id: str) -> tuple[str, str, int]:
    """(nationality, day, version) of :func:`embassy_list_notice`'s id."""
    _, nationality, day, version = notice_id.split(":")
    return nationality, day, int(version.removeprefix("v"))


def outbox_key(notice_id: str) -> str:
    """What names a notice's outbox file and its Message-ID: its id's digest, or for an embassy's
    daily list (``list:VNM:2026-12-01:v2``) the id itself, readable (``list-VNM-2026-12-01-v2``)."""
    if notice_id.startswith("list:"):
        return notice_id.replace(":", "-")
    return hashlib.sha256(notice_id.encode()).hexdigest()[:32]


def outbox_files(outbox: Path, notice_id: str) -> list[Path]:
    """Where a notice's mail may rest in the local outbox: its file and the temporary one of a
    write cut short, sealed or from before sealing (for the retention's purge)."""
    key = outbox_key(notice_id)
    names = (f"{key}{OUTBOX_SUFFIX}", f"{key}{OUTBOX_SUFFIX}.tmp", f"{key}.eml", f"{key}.eml.tmp")
    return [outbox / name for name in names]
