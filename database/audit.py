"""The audit trail: append-only and tamper-evident. Each entry carries the hash of the previous
one and a hash over its own fields and that link, so changing, removing or inserting an entry
anywhere breaks the chain from there on; `repatriation audit verify` walks it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from database.engine import Database
from database.models import AuditEntry

GENESIS = "0" * 64

# Built once: an entry is a look-up of the chain's end and one insert, run as Core statements
# (no unit of work to flush): the service appends one for every decision and every read.
_TABLE = AuditEntry.__table__
_LAST_HASH = select(_TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)
_INSERT = insert(_TABLE)
_COLUMNS = [column.name for column in _TABLE.c if column.name != "id"]


def detail_digest(detail: str | None) -> str:
    return hashlib.sha256((detail or "").encode()).hexdigest()


def entry_hash(entry: AuditEntry) -> str:
    fields = [
        entry.prev_hash,
        entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        entry.actor,
        entry.role,
        entry.case_id,
        entry.action,
        entry.detail_digest,
        entry.source,
    ]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    role: str,
    case_id: str | None,
    action: str,
    detail: str | None,
    source: str,
    at: datetime | None = None,
) -> AuditEntry:
    """Add an entry at the end of the chain, inside the caller's transaction (the entry returned
    is not attached to the session; its id is the database's)."""
    if session.get_bind().dialect.name == "postgresql":
        # One writer at a time extends the chain (SQLite's BEGIN IMMEDIATE already ensures it).
        session.execute(text("SELECT pg_advisory_xact_lock(727274)"))
    previous = session.execute(_LAST_HASH).scalar()
    entry = AuditEntry(
        at=at or datetime.now(UTC),
        actor=actor,
        role=role,
        case_id=case_id,
        action=action,
        detail=detail,
        source=source,
        prev_hash=previous or GENESIS,
        detail_digest=detail_digest(detail),
    )
    entry.hash = entry_hash(entry)
    session.execute(_INSERT, {name: getattr(entry, name) for name in _COLUMNS})
    return entry


@dataclass(frozen=True)
class ChainReport:
    entries: int
    intact: bool
    first_broken_id: int | None
    problem: str | None


def verify(db: Database, batch: int = 5000) -> ChainReport:
    expected_prev = GENESIS
    count = 0
    last_id = 0
    while True:
        with db.session() as session:
            rows = list(
                session.scalars(
                    select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
                )
            )
        if not rows:
            return ChainReport(count, True, None, None)
        for entry in rows:
            count += 1
            last_id = entry.id
            if entry.prev_hash != expected_prev:
                return ChainReport(count, False, entry.id, "does not follow the entry before it")
            if entry.hash != entry_hash(entry):
                return ChainReport(count, False, entry.id, "its content was changed")
            if entry.detail is not None and detail_digest(entry.detail) != entry.detail_digest:
                return ChainReport(count, False, entry.id, "its detail was changed")
            expected_prev = entry.hash
