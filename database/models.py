"""Tables: cases (read model + survivor profile), documents, decisions, audit, funding, bookings, notices."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Money = Numeric(14, 2)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are stored and returned in UTC, aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Case(Base):
    """One survivor's case: the profile (personal data) and the read model of where it is."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    organisation: Mapped[str] = mapped_column(String(120), index=True)
    client_reference: Mapped[str | None] = mapped_column(String(80))
    caseworker: Mapped[str] = mapped_column(String(120))
    workflow_id: Mapped[str] = mapped_column(String(80), unique=True)
    nationality: Mapped[str] = mapped_column(String(3), index=True)
    # Personal data. Kept here, never in logs or in the workflow's history.
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    date_of_birth: Mapped[date] = mapped_column(Date, index=True)
    name_key: Mapped[str] = mapped_column(String(400))
    # Read model, written by the workflow's activities after every change.
    stage: Mapped[str] = mapped_column(String(30), default="intake", index=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str | None] = mapped_column(String(40))  # indexed with the sequence, below
    next_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    state_seq: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("organisation", "client_reference", name="uq_case_client_reference"),)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # A case's document; NULL for a document about several cases (an embassy's daily list).
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), index=True)
    doc_type: Mapped[str] = mapped_column(String(40))
    # What a document not tied to one case is about, e.g. "VNM:2026-11-23"; "" for a case's.
    subject: Mapped[str] = mapped_column(String(40), default="")
    version: Mapped[int] = mapped_column(Integer)
    input_hash: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(500))
    verification_code: Mapped[str] = mapped_column(String(20), unique=True)
    issuer: Mapped[str] = mapped_column(String(200))
    issued_on: Mapped[date] = mapped_column(Date)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("case_id", "doc_type", "subject", "version", name="uq_document_version"),
    )


class DocumentCase(Base):
    """The cases a document about several cases names (an embassy's consolidated request, its
    daily list): who may read it, and what a case's retention purge must remove."""

    __tablename__ = "document_cases"

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True, index=True)


class DecisionRow(Base):
    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # the Update's id
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(20))
    decided_by: Mapped[str] = mapped_column(String(120))
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditEntry(Base):
    """Append-only: who did what to which case, when and from where."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(120), default="cli")
    # Tamper evidence: each entry's hash covers its fields and the previous entry's hash.
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")
    # The chain covers the detail's digest, so a retention purge can blank a detail that may
    # hold personal data without breaking the chain.
    detail_digest: Mapped[str] = mapped_column(String(64), default="")


class FundingSource(Base):
    __tablename__ = "funding_sources"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    budget: Mapped[Decimal] = mapped_column(Money)
    committed: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))


class FundingCommitmentRow(Base):
    __tablename__ = "funding_commitments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("funding_sources.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default="committed")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class BookingRow(Base):
    """Bookings held by the simulated provider (a real provider keeps its own)."""

    __tablename__ = "bookings"

    booking_ref: Mapped[str] = mapped_column(String(20), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    option_id: Mapped[str] = mapped_column(String(80))
    option: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    ticket_number: Mapped[str | None] = mapped_column(String(20))
    hold_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class NoticeRow(Base):
    """Every mail sent, once: the notice id is the idempotency key."""

    __tablename__ = "notices"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    to_address: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_cases_stage_deadline", Case.stage, Case.next_deadline)
# The open (or closed) cases, and how far each has moved, from the index alone: a poller asking
# which open cases changed (the benchmark's robots every 0.2 s) reads neither the row nor its state
# (a row's sequence number lies past its state, kilobytes long, which SQLite walks through).
Index("ix_cases_outcome_seq", Case.outcome, Case.id, Case.state_seq)


class User(Base):
    """A person who uses the system: caseworker, liaison (bound to countries) or supervisor."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    organisation: Mapped[str] = mapped_column(String(120))
    countries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Web sessions issued at or before this moment are refused: revoking the tokens and signing
    # out move it to now (access/users.py).
    sessions_valid_after: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ApiToken(Base):
    """Only a hash of the token is kept; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class StuckFlag(Base):
    """Why a case cannot move on by itself, and since when: one row per case and reason.

    Written by activities as things happen, so the stuck view is right the moment after a change.
    """

    __tablename__ = "stuck_flags"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(30), primary_key=True, index=True)
    stage: Mapped[str] = mapped_column(String(30), index=True)
    since: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    awaited: Mapped[str | None] = mapped_column(String(120))
    step: Mapped[str | None] = mapped_column(String(60))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
