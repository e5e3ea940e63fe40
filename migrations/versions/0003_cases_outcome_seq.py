"""cases_outcome_seq: the outcome's index carries each case's id and sequence number, so that
"which open cases changed" is answered from the index alone

Revision ID: 0003
Revises: 0002
Created: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_outcome_seq", "cases", ["outcome", "id", "state_seq"])
    op.drop_index("ix_cases_outcome", table_name="cases")


def downgrade() -> None:
    op.create_index("ix_cases_outcome", "cases", ["outcome"])
    op.drop_index("ix_cases_outcome_seq", table_name="cases")
