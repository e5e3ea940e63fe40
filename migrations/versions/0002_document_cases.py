"""document_cases: the cases named by a document about several cases (the consolidated embassy
request, the embassy's daily list)

Revision ID: 0002
Revises: 0001
Created: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document_cases",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("document_id", "case_id"),
    )
    op.create_index("ix_document_cases_case_id", "document_cases", ["case_id"])


def downgrade() -> None:
    op.drop_table("document_cases")
