"""Retention: a case closed longer than the period loses its personal data everywhere (database,
documents, the mail outbox, Temporal's history), keeps its statistics, verification records and
audit chain."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from access.actor import operator
from activities.notices import already_sent
from activities.outbox import open_mail, outbox_mails
from contracts.state import DecisionKind, Role
from database import audit
from database.models import Case, DecisionRow, Document, DocumentCase, NoticeRow
from documents.verify import verify
from repatriation.retention import PURGED, purge, purge_case_data
from repatriation.service import NotFound
from tests.conftest import CASEWORKER, ORG, Harness, harness_for
from tests.journeys import HOA, approve_funding, open_case, person, through_embassy, through_identity
from workflows.embassy_lists import EmbassyListsWorkflow


async def test_purge_removes_personal_data_and_keeps_what_may_stay(local_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with harness_for(local_env, tmp_path) as h:
        old = await open_case(h, 0)
        await through_identity(h, old)
        await approve_funding(h, old)
        await through_embassy(h, old)
        await h.wait_pending(old, DecisionKind.flight_choice)
        await h.service.decide(
            old, DecisionKind.consent_withdrawal, {"reason": "stays with family"}, CASEWORKER
        )
        await h.handle(old).result()
        recent = await open_case(h, 1)
        await h.wait_pending(recent, DecisionKind.identity_attestation)
        await h.service.decide(recent, DecisionKind.consent_withdrawal, {"reason": "x"}, CASEWORKER)
        await h.handle(recent).result()
        with h.db.session() as s:
            s.execute(
                update(Case).where(Case.id == old).values(closed_at=datetime.now(UTC) - timedelta(days=400))
            )
            docs = list(s.scalars(select(Document).where(Document.case_id == old)))
            # The embassy's consolidated request names the survivor too: it goes with the case.
            naming = select(DocumentCase.document_id).where(DocumentCase.case_id == old)
            docs += list(s.scalars(select(Document).where(Document.id.in_(naming))))
        files = [Path(d.path) for d in docs]
        assert files and all(f.exists() for f in files)
        assert any(d.doc_type == "embassy_request" for d in docs)

        report = await purge(h.db, h.env.client, "default", older_than_days=365, outbox=h.settings.outbox_dir)
        assert (
            report.cases == [old] and report.documents_removed == len(files) and report.histories_deleted == 1
        )

        with h.db.session() as s:
            case = s.get(Case, old)
            payloads = [d.payload for d in s.scalars(select(DecisionRow).where(DecisionRow.case_id == old))]
        survivor = person(0)
        text = f"{case.profile} {case.state} {payloads}"
        for secret in (
            survivor["given_names"],
            survivor["family_name"],
            survivor["native_name"],
            survivor["date_of_birth"],
            survivor["phone"],
            "SPLP-0042",
            "stays with family",
        ):
            assert secret not in text, secret
        assert case.profile == {
            "purged": True,
            "nationality": "VNM",
            "sex": "F",
            "age_band": "18-29",
            "vulnerable": False,
        }
        assert case.outcome == "withdrawn" and case.purged_at is not None  # statistics stay
        assert not any(f.exists() for f in files)
        genuine = verify(h.db, docs[0].verification_code)
        assert genuine is not None and genuine.genuine  # a printed letter can still be checked
        boss = operator("sup", Role.supervisor, ORG, "test")
        with pytest.raises(NotFound, match="retention"):
            h.service.document_file(boss, old, docs[0].id)
        # Temporal accepted the deletion of the history (it removes it in the background; the
        # dev server does so lazily, so the test does not wait for it).
        assert report.histories_deleted == 1
        assert audit.verify(h.db).intact
        with h.db.session() as s:  # the recent case is untouched
            assert s.get(Case, recent).profile["given_names"] == person(1)["given_names"]


def outbox_texts(h: Harness, tmp_path: Path) -> dict[str, str]:
    """Each outbox mail's headers, body and attached PDFs as text, without white space (names
    wrap inside the PDFs' narrow table cells)."""
    texts = {}
    for eml in outbox_mails(h.settings.outbox_dir):
        message = open_mail(h.deps.sealer, eml)
        parts = [str(v) for v in message.values()]
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                parts.append(part.get_content())
            elif part.get_content_type() == "application/pdf":
                pdf = tmp_path / "attachment.pdf"
                pdf.write_bytes(part.get_payload(decode=True))
                command = ["pdftotext", str(pdf), "-"]
                parts.append(subprocess.run(command, capture_output=True, check=True, text=True).stdout)
        texts[eml.name] = "".join(" ".join(parts).split())
    return texts


@pytest.mark.parametrize("harness", [{"embassy_request_window_seconds": 4}], indirect=True)
async def test_purge_removes_the_mail_about_the_case_from_the_outbox(
    harness: Harness, tmp_path: Path
) -> None:
    """The .eml files of the case's notices and of the consolidated mails naming it go; a mail
    naming other survivors too goes with the first of them purged, as its PDF does; the other
    survivors' own mail stays; a purged case's notices are still known as sent."""
    h = harness
    lan = await open_case(h, 0)
    hoa = await open_case(h, 0, **HOA)  # named with Lan in one request to the same embassy
    budi = await open_case(h, 1)  # another embassy: never in a mail with Lan
    for case_id in (lan, hoa, budi):
        await through_identity(h, case_id)
    for case_id in (lan, hoa, budi):
        await h.wait_pending(case_id, DecisionKind.nationality)
    await h.env.client.execute_workflow(  # today's lists: VNM names Lan and Hoa, IDN Budi
        EmbassyListsWorkflow.run, id=f"lists-{uuid.uuid4()}", task_queue=h.settings.task_queue
    )
    await h.service.decide(lan, DecisionKind.consent_withdrawal, {"reason": "stays with family"}, CASEWORKER)
    await h.handle(lan).result()

    lan_ref = h.service.resolve(lan).reference
    lan_secrets = [lan_ref, "NguyễnThịLan", "ThiLan", "stayswithfamily"]
    budi_name = "".join(person(1)["family_name"].split())
    before = outbox_texts(h, tmp_path)
    about_lan = {n for n, t in before.items() if lan_ref in t or "NguyễnThịLan" in t}
    about_budi = {n for n, t in before.items() if budi_name in t}
    assert len(about_lan) >= 3  # the VNM request, the VNM list, the closure notice
    assert any(n.startswith("list-VNM-") for n in about_lan)
    assert about_budi and not about_budi & about_lan
    with h.db.session() as s:
        lan_notices = {n.id for n in s.scalars(select(NoticeRow).where(NoticeRow.case_id == lan))}
        hoa_files = [Path(d.path) for d in s.scalars(select(Document).where(Document.case_id == hoa))]
    assert f"{lan}:closed" in lan_notices and hoa_files

    report = await purge(h.db, None, "default", older_than_days=0, outbox=h.settings.outbox_dir)
    assert report.cases == [lan] and report.mails_removed == len(about_lan)

    after = outbox_texts(h, tmp_path)
    assert not about_lan & set(after)
    for name, text in after.items():
        for secret in lan_secrets:
            assert secret not in text, (name, secret)
    assert about_budi <= set(after)  # the other embassy's survivor keeps all of his
    assert all(budi_name in after[n] for n in about_budi)
    assert all(f.exists() for f in hoa_files)  # Hoa's own PDFs stay until her own purge
    with h.db.session() as s:  # the bookkeeping stays: a purged case's notice is never sent again
        rows = list(s.scalars(select(NoticeRow).where(NoticeRow.case_id == lan)))
        assert {n.id for n in rows} == lan_notices and all(n.subject == PURGED for n in rows)
    assert already_sent(h.db, f"{lan}:closed")

    again = await purge(h.db, None, "default", older_than_days=0, outbox=h.settings.outbox_dir)
    assert again.cases == [] and again.mails_removed == 0
    assert purge_case_data(h.db, lan, datetime.now(UTC), h.settings.outbox_dir) == (0, 0)
    assert set(outbox_texts(h, tmp_path)) == set(after)
