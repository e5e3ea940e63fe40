"""The funding ledger: sources with a budget, and commitments of money to cases.

A budget is never over-committed, even when approvals race: a commitment is ONE conditional
``UPDATE ... SET committed = committed + :amount WHERE budget - committed >= :amount`` checked
by its row count, followed by the insert of the commitment row, in one transaction. Commitments
are idempotent by their idempotency key; releases happen at most once per commitment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.messages import CommitFunds
from contracts.state import FundingCommitment
from database import audit
from database.engine import Database
from database.models import Case, FundingCommitmentRow, FundingSource

CENT = Decimal("0.01")
# Amounts are whole cents, so adding half a cent to the free budget changes no exact comparison
# but absorbs the binary rounding of SQLite, which keeps NUMERIC values as floating point.
_HALF_CENT = Decimal("0.005")

COMMITTED = "committed"
RELEASED = "released"


class LedgerError(Exception):
    """A commitment or release the ledger refuses. Permanent: retrying will not mend it."""


class UnknownSource(LedgerError):
    """No funding source with that id."""


class UnknownCase(LedgerError):
    """No case with that id."""


class InsufficientBudget(LedgerError):
    """The source's free budget is smaller than the amount requested."""


class CurrencyMismatch(LedgerError):
    """The request's currency is not the source's currency."""


SourceKind = Literal["iom_fund", "embassy", "ngo", "family"]


class SourceSpec(BaseModel):
    """A funding source to create when missing."""

    id: str = Field(max_length=60)
    name: str = Field(max_length=200)
    kind: SourceKind
    currency: str = Field(min_length=3, max_length=3)
    budget: Decimal = Field(ge=0, decimal_places=2)


class SourceStatus(BaseModel):
    """A funding source and how much of its budget is committed."""

    id: str
    name: str
    kind: str
    currency: str
    budget: Decimal
    committed: Decimal
    free: Decimal


DEFAULT_SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec(
        id="iom-return-fund",
        name="IOM-style Assisted Voluntary Return and Reintegration fund",
        kind="iom_fund",
        currency="USD",
        budget=Decimal("50000.00"),
    ),
    SourceSpec(
        id="ngo-emergency",
        name="Shelter network emergency travel budget",
        kind="ngo",
        currency="USD",
        budget=Decimal("8000.00"),
    ),
    SourceSpec(
        id="embassy-consular-assistance",
        name="Embassy consular assistance (repatriation of distressed nationals)",
        kind="embassy",
        currency="USD",
        budget=Decimal("20000.00"),
    ),
    SourceSpec(
        id="family-contribution",
        name="Family contributions held in trust",
        kind="family",
        currency="USD",
        budget=Decimal("2000.00"),
    ),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _money(value: Decimal | None) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


def _to_contract(row: FundingCommitmentRow, source_name: str) -> FundingCommitment:
    return FundingCommitment(
        commitment_id=row.id,
        source_id=row.source_id,
        source_name=source_name,
        amount=_money(row.amount),
        currency=row.currency,
        status=row.status,
    )


def ensure_sources(db: Database, sources: Iterable[SourceSpec] = DEFAULT_SOURCES) -> None:
    """Create the sources that do not exist yet; existing ones (and their budgets) are kept."""
    rows = [
        {
            "id": s.id,
            "name": s.name,
            "kind": s.kind,
            "currency": s.currency.upper(),
            "budget": _money(s.budget),
            "committed": Decimal("0.00"),
        }
        for s in sources
    ]
    if not rows:
        return
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    with db.session() as session:
        session.execute(insert(FundingSource).values(rows).on_conflict_do_nothing())


def _source(session: Session, source_id: str) -> FundingSource:
    source = session.get(FundingSource, source_id)
    if source is None:
        raise UnknownSource(f"unknown funding source {source_id!r}")
    return source


def free_budget(db: Database, source_id: str) -> Decimal:
    """The part of the source's budget that is not committed."""
    with db.session() as session:
        source = _source(session, source_id)
        return _money(source.budget) - _money(source.committed)


def list_sources(db: Database) -> list[SourceStatus]:
    """All sources, by id, with budget, committed and free amounts."""
    with db.session() as session:
        sources = session.scalars(select(FundingSource).order_by(FundingSource.id)).all()
        return [
            SourceStatus(
                id=s.id,
                name=s.name,
                kind=s.kind,
                currency=s.currency,
                budget=_money(s.budget),
                committed=_money(s.committed),
                free=_money(s.budget) - _money(s.committed),
            )
            for s in sources
        ]


def _existing(session: Session, idempotency_key: str) -> FundingCommitment | None:
    found = session.execute(
        select(FundingCommitmentRow, FundingSource.name)
        .join(FundingSource, FundingSource.id == FundingCommitmentRow.source_id)
        .where(FundingCommitmentRow.idempotency_key == idempotency_key)
    ).first()
    return None if found is None else _to_contract(found[0], found[1])


def commit_funds(db: Database, request: CommitFunds) -> FundingCommitment:
    """Commit ``request.amount`` of the source's budget to the case, once per idempotency key.

    Raises UnknownSource, UnknownCase, CurrencyMismatch, InsufficientBudget or LedgerError (bad
    amount); nothing is committed then.
    """
    amount = Decimal(request.amount)
    if amount <= 0 or amount != amount.quantize(CENT):
        raise LedgerError(f"amount must be positive whole cents, got {request.amount}")
    amount = amount.quantize(CENT)
    currency = request.currency.upper()
    try:
        with db.session() as session:
            existing = _existing(session, request.idempotency_key)
            if existing is not None:
                return existing
            source = _source(session, request.source_id)
            if source.currency != currency:
                raise CurrencyMismatch(f"source {source.id} is in {source.currency}, {currency} requested")
            if session.get(Case, request.case_id) is None:
                raise UnknownCase(f"unknown case {request.case_id!r}")
            result = session.execute(
                update(FundingSource)
                .where(
                    FundingSource.id == source.id,
                    FundingSource.budget - FundingSource.committed + _HALF_CENT >= amount,
                )
                .values(committed=FundingSource.committed + amount)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                # PostgreSQL: a concurrent call with our key may have taken the last of the
                # budget; its commitment is ours.
                existing = _existing(session, request.idempotency_key)
                if existing is not None:
                    return existing
                session.refresh(source)
                free = _money(source.budget) - _money(source.committed)
                raise InsufficientBudget(
                    f"source {source.id} has {source.currency} {free:.2f} free, {amount:.2f} requested"
                )
            row = FundingCommitmentRow(
                id=str(uuid.uuid4()),
                idempotency_key=request.idempotency_key,
                case_id=request.case_id,
                source_id=source.id,
                amount=amount,
                currency=currency,
                status=COMMITTED,
                created_at=_now(),
            )
            session.add(row)
            session.flush()
            return _to_contract(row, source.name)
    except IntegrityError as exc:
        # A concurrent call with the same key won: its commitment stands, ours was rolled back
        # together with our increment of the committed amount.
        with db.session() as session:
            existing = _existing(session, request.idempotency_key)
        if existing is not None:
            return existing
        raise LedgerError(f"could not record the commitment: {exc.orig}") from exc


def release_funds(db: Database, case_id: str, reason: str) -> list[FundingCommitment]:
    """Release every committed commitment of the case and give its amount back, exactly once.

    Returns all released commitments of the case (also those released by an earlier call).
    """
    now = _now()
    with db.session() as session:
        open_rows = session.scalars(
            select(FundingCommitmentRow)
            .where(
                FundingCommitmentRow.case_id == case_id,
                FundingCommitmentRow.status == COMMITTED,
            )
            .order_by(FundingCommitmentRow.created_at, FundingCommitmentRow.id)
        ).all()
        released_now: list[str] = []
        for row in open_rows:
            # Conditional on the status, so a concurrent release gives the money back only once.
            result = session.execute(
                update(FundingCommitmentRow)
                .where(
                    FundingCommitmentRow.id == row.id,
                    FundingCommitmentRow.status == COMMITTED,
                )
                .values(status=RELEASED, released_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                continue
            session.execute(
                update(FundingSource)
                .where(FundingSource.id == row.source_id)
                .values(committed=FundingSource.committed - row.amount)
                .execution_options(synchronize_session=False)
            )
            released_now.append(f"{row.source_id} {row.currency} {_money(row.amount):.2f}")
        if released_now:
            audit.append(
                session,
                at=now,
                actor="ledger",
                role="system",
                case_id=case_id,
                action="funds_released",
                detail=f"{reason}: {', '.join(released_now)}",
                source="ledger",
            )
    return [c for c in commitments_for(db, case_id) if c.status == RELEASED]


def commitments_for(db: Database, case_id: str) -> list[FundingCommitment]:
    """Every commitment of the case, oldest first."""
    with db.session() as session:
        found = session.execute(
            select(FundingCommitmentRow, FundingSource.name)
            .join(FundingSource, FundingSource.id == FundingCommitmentRow.source_id)
            .where(FundingCommitmentRow.case_id == case_id)
            .order_by(FundingCommitmentRow.created_at, FundingCommitmentRow.id)
        ).all()
        return [_to_contract(row, name) for row, name in found]
