"""The funding ledger: no over-commitment under racing approvals, idempotency, single release."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from contracts.messages import CommitFunds
from database.engine import Database
from database.ledger import (
    DEFAULT_SOURCES,
    CurrencyMismatch,
    InsufficientBudget,
    LedgerError,
    SourceSpec,
    UnknownCase,
    UnknownSource,
    commit_funds,
    commitments_for,
    ensure_sources,
    free_budget,
    list_sources,
    release_funds,
)
from database.models import AuditEntry, FundingCommitmentRow, FundingSource
from tests.db_fixtures import db, make_case  # noqa: F401

T = TypeVar("T")

SMALL = SourceSpec(
    id="iom-fund", name="Test return fund", kind="iom_fund", currency="USD", budget=Decimal(5000)
)


def race(n: int, call: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``call(i)`` for i in 0..n-1 on n threads released at the same moment."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T | BaseException:
        barrier.wait()
        try:
            return call(i)
        except BaseException as exc:  # noqa: BLE001 - the test inspects what each call did
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def request(case_id: str, key: str, amount: str = "300", source: str = "iom-fund") -> CommitFunds:
    return CommitFunds(
        case_id=case_id, source_id=source, amount=Decimal(amount), currency="USD",
        idempotency_key=key,
    )  # fmt: skip


def committed_in_db(db: Database, source_id: str) -> tuple[Decimal, Decimal]:  # noqa: F811
    """(source.committed, sum of its committed commitments)."""
    with db.session() as session:
        source = session.get(FundingSource, source_id)
        assert source is not None
        total = session.scalar(
            select(func.coalesce(func.sum(FundingCommitmentRow.amount), 0)).where(
                FundingCommitmentRow.source_id == source_id,
                FundingCommitmentRow.status == "committed",
            )
        )
        return Decimal(source.committed).quantize(Decimal("0.01")), Decimal(str(total)).quantize(
            Decimal("0.01")
        )


def test_default_sources_and_listing(db: Database) -> None:  # noqa: F811
    ensure_sources(db, DEFAULT_SOURCES)
    ensure_sources(db, DEFAULT_SOURCES)  # idempotent
    sources = {s.id: s for s in list_sources(db)}
    assert set(sources) == {s.id for s in DEFAULT_SOURCES}
    assert sources["embassy-consular-assistance"].budget == Decimal("20000.00")
    assert sources["embassy-consular-assistance"].kind == "embassy"
    assert {s.kind for s in sources.values()} == {"iom_fund", "ngo", "embassy", "family"}
    assert all(s.free == s.budget and s.committed == 0 for s in sources.values())


def test_ensure_sources_keeps_existing_budget(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL])
    ensure_sources(db, [SMALL.model_copy(update={"budget": Decimal(99)})])
    assert free_budget(db, "iom-fund") == Decimal("5000.00")


def test_commit_reduces_free_budget_and_names_the_source(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL])
    case_id = make_case(db)
    commitment = commit_funds(db, request(case_id, "k1", "1234.56"))
    assert commitment.source_name == "Test return fund"
    assert commitment.amount == Decimal("1234.56")
    assert commitment.status == "committed"
    assert free_budget(db, "iom-fund") == Decimal("3765.44")
    assert commitments_for(db, case_id) == [commitment]


def test_same_key_twice_commits_once(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL])
    case_id = make_case(db)
    first = commit_funds(db, request(case_id, "same"))
    second = commit_funds(db, request(case_id, "same"))
    assert first == second
    assert free_budget(db, "iom-fund") == Decimal("4700.00")


def test_forty_racing_commits_never_over_commit(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL])
    case_ids = [make_case(db) for _ in range(40)]
    results = race(40, lambda i: commit_funds(db, request(case_ids[i], f"race-{i}")))
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 16, lost
    assert all(isinstance(r, InsufficientBudget) for r in lost), lost
    committed, total = committed_in_db(db, "iom-fund")
    assert committed == total == Decimal("4800.00")
    assert committed <= Decimal(5000)
    assert free_budget(db, "iom-fund") == Decimal("200.00")


def test_same_key_racing_from_eight_threads_commits_once(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL])
    case_id = make_case(db)
    results = race(8, lambda _i: commit_funds(db, request(case_id, "approval-1")))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len({r.commitment_id for r in results if not isinstance(r, BaseException)}) == 1
    assert len(commitments_for(db, case_id)) == 1
    assert committed_in_db(db, "iom-fund") == (Decimal("300.00"), Decimal("300.00"))


def test_same_key_racing_for_the_last_of_the_budget(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL.model_copy(update={"budget": Decimal(300)})])
    case_id = make_case(db)
    results = race(8, lambda _i: commit_funds(db, request(case_id, "last-seat")))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert free_budget(db, "iom-fund") == Decimal("0.00")


def test_release_gives_the_budget_back_once(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL])
    case_id, other = make_case(db), make_case(db)
    commit_funds(db, request(case_id, "a", "300"))
    commit_funds(db, request(case_id, "b", "450.50"))
    commit_funds(db, request(other, "c", "100"))
    assert free_budget(db, "iom-fund") == Decimal("4149.50")

    released = release_funds(db, case_id, "survivor withdrew consent")
    assert sorted(c.amount for c in released) == [Decimal("300.00"), Decimal("450.50")]
    assert all(c.status == "released" for c in released)
    assert free_budget(db, "iom-fund") == Decimal("4900.00")

    again = release_funds(db, case_id, "retried")
    assert {c.commitment_id for c in again} == {c.commitment_id for c in released}
    assert free_budget(db, "iom-fund") == Decimal("4900.00")
    assert [c.status for c in commitments_for(db, other)] == ["committed"]
    with db.session() as session:
        rows = session.scalars(select(FundingCommitmentRow)).all()
        assert all((r.released_at is not None) == (r.status == "released") for r in rows)
        audit = session.scalars(select(AuditEntry).where(AuditEntry.case_id == case_id)).all()
        assert len(audit) == 1 and "survivor withdrew consent" in (audit[0].detail or "")


def test_racing_releases_give_back_once(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL])
    case_id = make_case(db)
    commit_funds(db, request(case_id, "a", "1000"))
    results = race(8, lambda _i: release_funds(db, case_id, "closed"))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert free_budget(db, "iom-fund") == Decimal("5000.00")
    assert committed_in_db(db, "iom-fund") == (Decimal("0.00"), Decimal("0.00"))


def test_release_without_commitments_is_empty(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL])
    assert release_funds(db, make_case(db), "nothing to release") == []


def test_unknown_source(db: Database) -> None:  # noqa: F811
    case_id = make_case(db)
    with pytest.raises(UnknownSource, match="no-such-fund"):
        commit_funds(db, request(case_id, "k", source="no-such-fund"))
    with pytest.raises(UnknownSource):
        free_budget(db, "no-such-fund")


def test_insufficient_budget_names_source_and_free_amount(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL])
    case_id = make_case(db)
    commit_funds(db, request(case_id, "big", "4880"))
    with pytest.raises(InsufficientBudget) as info:
        commit_funds(db, request(case_id, "too-much", "300"))
    assert str(info.value) == "source iom-fund has USD 120.00 free, 300.00 requested"
    assert isinstance(info.value, LedgerError)
    assert free_budget(db, "iom-fund") == Decimal("120.00")
    assert len(commitments_for(db, case_id)) == 1
    # The exact remainder still fits: no rounding loss on either database.
    commit_funds(db, request(case_id, "rest", "120.00"))
    assert free_budget(db, "iom-fund") == Decimal("0.00")


def test_cent_amounts_add_up_exactly(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL.model_copy(update={"budget": Decimal("0.30")})])
    case_id = make_case(db)
    commit_funds(db, request(case_id, "x", "0.10"))
    commit_funds(db, request(case_id, "y", "0.20"))
    assert free_budget(db, "iom-fund") == Decimal("0.00")


def test_currency_mismatch_bad_amount_and_unknown_case(db: Database) -> None:  # noqa: F811
    ensure_sources(db, [SMALL])
    case_id = make_case(db)
    with pytest.raises(CurrencyMismatch, match="USD"):
        commit_funds(
            db,
            CommitFunds(
                case_id=case_id,
                source_id="iom-fund",
                amount=Decimal(10),
                currency="EUR",
                idempotency_key="eur",
            ),  # fmt: skip
        )
    for amount in ("0", "-5", "1.005"):
        with pytest.raises(LedgerError, match="amount"):
            commit_funds(db, request(case_id, f"bad-{amount}", amount))
    with pytest.raises(UnknownCase):
        commit_funds(db, request("no-such-case", "orphan"))
    assert free_budget(db, "iom-fund") == Decimal("5000.00")
