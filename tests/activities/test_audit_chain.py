"""The audit trail is tamper-evident: any change, removal or insertion breaks the hash chain."""

from __future__ import annotations

import threading

from sqlalchemy import delete, select, update

from database import audit
from database.engine import Database
from database.models import AuditEntry
from tests.db_fixtures import db  # noqa: F401


def fill(database: Database, n: int) -> None:
    for i in range(n):
        with database.session() as s:
            audit.append(
                s,
                actor=f"user{i % 3}",
                role="caseworker",
                case_id=None,
                action="case.read",
                detail=f"entry {i}",
                source="test",
            )


def test_an_intact_chain_verifies_and_any_change_is_found(db: Database) -> None:  # noqa: F811
    fill(db, 6)
    report = audit.verify(db)
    assert report.intact and report.entries == 6
    with db.session() as s:
        ids = list(s.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))
        s.execute(update(AuditEntry).where(AuditEntry.id == ids[2]).values(detail="rewritten"))
    report = audit.verify(db)
    assert not report.intact and report.first_broken_id == ids[2] and "changed" in (report.problem or "")


def test_a_removed_entry_is_found(db: Database) -> None:  # noqa: F811
    fill(db, 5)
    with db.session() as s:
        ids = list(s.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))
        s.execute(delete(AuditEntry).where(AuditEntry.id == ids[1]))
    report = audit.verify(db)
    assert not report.intact and report.first_broken_id == ids[2]


def test_concurrent_writers_keep_one_chain(db: Database) -> None:  # noqa: F811
    threads = [threading.Thread(target=fill, args=(db, 10)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = audit.verify(db)
    assert report.intact and report.entries == 60
