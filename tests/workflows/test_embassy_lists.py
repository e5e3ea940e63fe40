"""One consolidated list per embassy per day, instead of hundreds of single letters."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from activities.outbox import outbox_mails
from contracts.messages import EmbassyList
from contracts.state import DecisionKind
from database.models import AuditEntry, Document
from tests.conftest import SUPERVISOR, Harness, pdf_text
from tests.journeys import HOA, open_case, through_embassy, through_identity
from workflows.embassy_lists import EmbassyListsWorkflow


async def send_lists(h: Harness) -> dict[str, EmbassyList]:
    lists = await h.env.client.execute_workflow(
        EmbassyListsWorkflow.run, id=f"lists-{uuid.uuid4()}", task_queue=h.settings.task_queue
    )
    return {item.nationality: EmbassyList.model_validate(item) for item in lists}


async def test_daily_list_per_embassy(harness: Harness) -> None:
    h = harness
    lan = await open_case(h, 0)
    hoa = await open_case(h, 0, **HOA)
    budi = await open_case(h, 1)
    for case_id in (lan, hoa, budi):
        await through_identity(h, case_id)
        await h.wait_pending(case_id, DecisionKind.nationality)

    first = await send_lists(h)
    assert {k: v.cases for k, v in first.items()} == {"VNM": 2, "IDN": 1}
    assert all(v.mailed and v.version == 1 for v in first.values())
    with h.db.session() as s:
        doc = s.get(Document, first["VNM"].document_id)
    text = pdf_text(h.deps.sealer, doc.path)
    flat = "".join(text.split())  # names wrap inside the table's narrow cells
    needles = [h.service.resolve(c).reference for c in (lan, hoa)]
    for needle in (*needles, "Nguyễn Thị Lan", "Trần Thị Hoa", "art. 8", doc.verification_code):
        assert "".join(needle.split()) in flat, needle
    assert h.service.resolve(budi).reference not in text  # each embassy sees its own nationals only
    lists = [p for p in outbox_mails(h.settings.outbox_dir) if p.name.startswith("list-")]
    mails = sorted(h.deps.sealer.read(p).decode(errors="replace") for p in lists)
    assert len(mails) == 2 and any("consular.vnm@" in m for m in mails)
    # A supervisor opens the VNM list's mail: the read is in the trail of each survivor it names.
    vnm = next(p for p in lists if "VNM" in p.name)
    name, opened = h.service.outbox_mail(SUPERVISOR, vnm.name.split(".")[0])
    assert name == vnm.name and opened["To"].startswith("consular.vnm@")
    with h.db.reading() as s:
        read = select(AuditEntry.case_id).where(
            AuditEntry.action == "outbox.read", AuditEntry.detail == f"mail {name}"
        )
        assert sorted(s.scalars(read)) == sorted([lan, hoa])

    again = await send_lists(h)  # a retry, or a second run the same day: nothing new
    assert again["VNM"].document_id == first["VNM"].document_id and not again["VNM"].mailed

    await through_embassy(h, lan)  # decided: Lan leaves tomorrow's... today's updated list
    await h.wait_for(lan, lambda s: s.stages["embassy"] == "done", "embassy done")
    updated = await send_lists(h)
    assert updated["VNM"].cases == 1 and updated["VNM"].version == 2 and updated["VNM"].mailed
    with h.db.session() as s:
        assert s.get(Document, first["VNM"].document_id).superseded
