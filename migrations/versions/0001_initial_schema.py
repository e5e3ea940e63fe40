"""initial schema: cases, documents, decisions, audit, funding, bookings, notices, users, stuck flags

Revision ID: 0001
Revises:
Created: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Money = sa.Numeric(precision=14, scale=2)


def Utc() -> sa.DateTime:  # noqa: N802 - reads as a type, like the models' UtcDateTime
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("organisation", sa.String(length=120), nullable=False),
        sa.Column("client_reference", sa.String(length=80), nullable=True),
        sa.Column("caseworker", sa.String(length=120), nullable=False),
        sa.Column("workflow_id", sa.String(length=80), nullable=False),
        sa.Column("nationality", sa.String(length=3), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("name_key", sa.String(length=400), nullable=False),
        sa.Column("stage", sa.String(length=30), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("next_deadline", Utc(), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("state_seq", sa.Integer(), nullable=False),
        sa.Column("opened_at", Utc(), nullable=False),
        sa.Column("updated_at", Utc(), nullable=False),
        sa.Column("closed_at", Utc(), nullable=True),
        sa.Column("purged_at", Utc(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organisation", "client_reference", name="uq_case_client_reference"),
        sa.UniqueConstraint("reference"),
        sa.UniqueConstraint("workflow_id"),
    )
    for column in (
        "date_of_birth",
        "nationality",
        "next_deadline",
        "organisation",
        "outcome",
        "overdue",
        "stage",
    ):
        op.create_index(f"ix_cases_{column}", "cases", [column])
    op.create_index("ix_cases_stage_deadline", "cases", ["stage", "next_deadline"])

    op.create_table(
        "documents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("doc_type", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("input_hash", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("verification_code", sa.String(length=20), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("created_at", Utc(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "doc_type", "subject", "version", name="uq_document_version"),
        sa.UniqueConstraint("verification_code"),
    )
    op.create_index("ix_documents_case_id", "documents", ["case_id"])

    op.create_table(
        "decisions",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=False),
        sa.Column("decided_at", Utc(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_decisions_case_id", "decisions", ["case_id"])

    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", Utc(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("detail_digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_case_id", "audit", ["case_id"])

    op.create_table(
        "funding_sources",
        sa.Column("id", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("budget", Money, nullable=False),
        sa.Column("committed", Money, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "funding_commitments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("source_id", sa.String(length=60), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", Utc(), nullable=False),
        sa.Column("released_at", Utc(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["source_id"], ["funding_sources.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_funding_commitments_case_id", "funding_commitments", ["case_id"])

    op.create_table(
        "bookings",
        sa.Column("booking_ref", sa.String(length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("option_id", sa.String(length=80), nullable=False),
        sa.Column("option", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ticket_number", sa.String(length=20), nullable=True),
        sa.Column("hold_expires_at", Utc(), nullable=True),
        sa.Column("created_at", Utc(), nullable=False),
        sa.Column("cancelled_at", Utc(), nullable=True),
        sa.PrimaryKeyConstraint("booking_ref"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_bookings_case_id", "bookings", ["case_id"])

    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("to_address", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("sent_at", Utc(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notices_case_id", "notices", ["case_id"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("organisation", sa.String(length=120), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=True),
        sa.Column("created_at", Utc(), nullable=False),
        sa.Column("disabled_at", Utc(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", Utc(), nullable=False),
        sa.Column("revoked_at", Utc(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])

    op.create_table(
        "stuck_flags",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("stage", sa.String(length=30), nullable=False),
        sa.Column("since", Utc(), nullable=False),
        sa.Column("awaited", sa.String(length=120), nullable=True),
        sa.Column("step", sa.String(length=60), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id", "reason"),
    )
    for column in ("reason", "since", "stage"):
        op.create_index(f"ix_stuck_flags_{column}", "stuck_flags", [column])


def downgrade() -> None:
    # Dependent tables first; dropping a table drops its indexes.
    for table in (
        "stuck_flags",
        "api_tokens",
        "users",
        "notices",
        "bookings",
        "funding_commitments",
        "funding_sources",
        "audit",
        "decisions",
        "documents",
        "cases",
    ):
        op.drop_table(table)
