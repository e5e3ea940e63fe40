"""The local outbox: mail rests sealed, opens whole, and what the purge must remove is named."""

from __future__ import annotations

import base64
import os
from email.message import EmailMessage
from pathlib import Path

import pytest

from activities import outbox
from activities.outbox import OUTBOX_SUFFIX, open_mail, outbox_files, outbox_key, outbox_mails
from documents.sealed import MAGIC, SealedFileError, Sealer


def sealer() -> Sealer:
    return Sealer({"k1": os.urandom(32)}, "k1")


def mail(subject: str = "Case RP-7Q2X closed: repatriated") -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "cases@shelter.example", "caseworkers@shelter.example", subject
    m.set_content("Nguyễn Thị Lan is home.")
    m.add_attachment(b"%PDF-1.7 closure report", maintype="application", subtype="pdf", filename="r.pdf")
    return m


def test_a_mail_rests_sealed_and_opens_whole(tmp_path: Path) -> None:
    s, box = sealer(), tmp_path / "outbox"
    key = outbox_key("case-1:closed")
    outbox.write(box, s, key, mail())
    [path] = outbox_mails(box)
    assert path.name == f"{key}{OUTBOX_SUFFIX}"
    raw = path.read_bytes()
    assert raw.startswith(MAGIC)
    pdf_in_base64 = base64.b64encode(b"%PDF").decode()[:5].encode()  # as an attachment is encoded
    for clear in (b"Subject:", b"RP-7Q2X", "Nguyễn".encode(), pdf_in_base64, b"%PDF"):
        assert clear not in raw, clear
    opened = open_mail(s, path)
    assert opened["Subject"] == "Case RP-7Q2X closed: repatriated"
    assert "Nguyễn Thị Lan is home." in opened.get_body(preferencelist=("plain",)).get_content()
    [attachment] = opened.iter_attachments()
    assert attachment.get_content() == b"%PDF-1.7 closure report"
    with pytest.raises(SealedFileError, match="not configured"):  # another deployment's keys
        open_mail(Sealer({"other": os.urandom(32)}, "other"), path)


def test_a_plain_mail_from_before_sealing_is_read_then_replaced(tmp_path: Path) -> None:
    s, box = sealer(), tmp_path / "outbox"
    key = outbox_key("case-2:reminder")
    box.mkdir()
    (box / f"{key}.eml").write_bytes(mail("old").as_bytes())  # left by a worker before sealing
    (box / f"{key}.eml.tmp").write_bytes(b"cut short")
    (box / "other.eml.sealed.tmp").write_bytes(b"cut short")  # not a mail
    [plain] = outbox_mails(box)
    assert open_mail(s, plain)["Subject"] == "old"
    outbox.write(box, s, key, mail("new"))  # the retry on a new worker: one mail, not two
    assert [p.name for p in outbox_mails(box)] == [f"{key}{OUTBOX_SUFFIX}"]
    assert not (box / f"{key}.eml.tmp").exists()
    assert open_mail(s, outbox_mails(box)[0])["Subject"] == "new"


def test_a_starting_worker_seals_the_plain_mails_left_from_before(tmp_path: Path) -> None:
    """Mail written in clear by a worker from before the outbox was sealed does not rest in clear
    until it is purged: the next worker to start seals it (repatriation/temporal.py, running_workers)."""
    s, box = sealer(), tmp_path / "outbox"
    old_key, both_key = outbox_key("case-3:closed"), outbox_key("case-4:closed")
    box.mkdir()
    (box / f"{old_key}.eml").write_bytes(mail("only plain").as_bytes())
    (box / f"{both_key}.eml").write_bytes(mail("plain twin").as_bytes())
    outbox.write(box, s, both_key, mail("sealed already"))
    (box / f"{both_key}.eml").write_bytes(mail("plain twin").as_bytes())  # (write removed it)
    (box / f"{old_key}.eml.tmp").write_bytes(b"cut short")

    assert outbox.seal_plain_mails(box, s) == 1
    assert sorted(p.name for p in box.iterdir()) == sorted(
        [f"{old_key}{OUTBOX_SUFFIX}", f"{both_key}{OUTBOX_SUFFIX}"]
    )
    for path in box.iterdir():
        raw = path.read_bytes()
        assert raw.startswith(MAGIC) and b"Subject:" not in raw and "Nguyễn".encode() not in raw
    opened = {open_mail(s, p)["Subject"] for p in outbox_mails(box)}
    assert opened == {"only plain", "sealed already"}  # the sealed one is not overwritten
    assert outbox.seal_plain_mails(box, s) == 0  # nothing left in clear
    assert outbox.seal_plain_mails(tmp_path / "none", s) == 0  # no outbox yet


def test_the_purge_is_told_every_name_a_notice_may_rest_under(tmp_path: Path) -> None:
    key = outbox_key("embassy-request:RQ-1")
    assert len(key) == 32 and outbox_key("list:VNM:2026-12-01:v2") == "list-VNM-2026-12-01-v2"
    names = {p.name for p in outbox_files(tmp_path, "embassy-request:RQ-1")}
    assert names == {f"{key}.eml.sealed", f"{key}.eml.sealed.tmp", f"{key}.eml", f"{key}.eml.tmp"}
