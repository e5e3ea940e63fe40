"""The read model's group write, on SQLite and on PostgreSQL: of many cases' snapshots in one
transaction each row gets its newest, an older one writes nothing (its stuck flags neither), the
derived flags follow the state, and a decision is kept once however often it comes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from activities import stuck
from activities.read_model import _add_decisions, _write, snapshot
from contracts.messages import DecisionRecord, ReadModelSync
from contracts.state import (
    BlockedStep,
    CaseState,
    DecisionKind,
    Outcome,
    PendingDecision,
    Role,
    Stage,
)
from database.engine import Database
from database.models import Case, DecisionRow, StuckFlag
from tests.db_fixtures import db, make_case  # noqa: F401 - the fixture

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _state(case_id: str, stage: Stage = Stage.identity, overdue: bool = False, **extra: object) -> CaseState:
    pending = PendingDecision(
        kind=DecisionKind.identity_attestation,
        role=Role.caseworker,
        stage=Stage.identity,
        since=T0,
        deadline=T0 + timedelta(days=7),
        overdue=overdue,
    )
    return CaseState(
        case_id=case_id,
        reference=f"R-{case_id[:8]}",
        organisation="Test Shelter",
        nationality="IDN",
        stage=stage,
        pending=[pending],
        **extra,  # type: ignore[arg-type]
    )


def _snap(state: CaseState, seq: int):  # type: ignore[no-untyped-def]
    return snapshot(ReadModelSync(state=state, seq=seq))


def _decision(case_id: str, decision_id: str) -> DecisionRecord:
    return DecisionRecord(
        case_id=case_id,
        decision_id=decision_id,
        kind=DecisionKind.identity_attestation,
        role=Role.caseworker,
        decided_by="cw",
        decided_at=T0,
        payload={"verified": True},
    )


def _write_group(db: Database, *writes: list) -> None:  # type: ignore[type-arg]  # noqa: F811
    with db.session() as session:
        _write(session, list(writes))


def _row(db: Database, case_id: str) -> tuple[int, str, bool, str | None]:  # noqa: F811
    with db.reading() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.state_seq, case.stage, case.overdue, case.state["stage"]


def _flags(db: Database, case_id: str) -> set[str]:  # noqa: F811
    with db.reading() as session:
        return set(session.scalars(select(StuckFlag.reason).where(StuckFlag.case_id == case_id)))


def test_each_case_gets_its_newest_snapshot_of_the_group(db: Database) -> None:  # noqa: F811
    a, b = make_case(db), make_case(db)
    _write_group(
        db,
        [_snap(_state(a, Stage.travel_documents), 3)],
        [_snap(_state(b, Stage.identity), 1)],
        [_snap(_state(a, Stage.identity), 2)],  # older than the one before it in the group
    )
    assert _row(db, a) == (3, "travel_documents", False, "travel_documents")
    assert _row(db, b) == (1, "identity", False, "identity")


def test_an_older_snapshot_writes_nothing_not_even_flags(db: Database) -> None:  # noqa: F811
    case_id = make_case(db)
    _write_group(db, [_snap(_state(case_id, overdue=True), 5)])
    assert _row(db, case_id)[:3] == (5, "identity", True) and _flags(db, case_id) == {"overdue"}
    _write_group(db, [_snap(_state(case_id, Stage.embassy), 4)])  # came late: a retry's
    assert _row(db, case_id)[:3] == (5, "identity", True) and _flags(db, case_id) == {"overdue"}


def test_the_derived_flags_follow_the_state(db: Database) -> None:  # noqa: F811
    quiet, troubled = make_case(db), make_case(db)
    blocked = BlockedStep(stage=Stage.identity, step="render identity_report", error="bad data", since=T0)
    _write_group(
        db,
        [_snap(_state(quiet), 1)],
        [_snap(_state(troubled, overdue=True, blocked=blocked, on_hold=True, hold_reason="check"), 1)],
    )
    assert _flags(db, quiet) == set() and _flags(db, troubled) == {"overdue", "failed", "on_hold"}
    with db.reading() as session:
        failed = session.get(StuckFlag, (troubled, "failed"))
        assert failed is not None and failed.last_error == "bad data" and failed.since == T0

    # The overdue flag goes once the decision is no longer overdue; the others stay.
    _write_group(db, [_snap(_state(troubled, blocked=blocked, on_hold=True, hold_reason="check"), 2)])
    assert _flags(db, troubled) == {"failed", "on_hold"}

    # A closed case keeps no flag, not even one an activity raised (a step failing).
    stuck.flag_failing(db, troubled, "book_flight", 5, "provider down")
    assert "failing" in _flags(db, troubled)
    _write_group(db, [_snap(_state(troubled, Stage.closed, outcome=Outcome.cancelled), 3)])
    assert _flags(db, troubled) == set()
    with db.reading() as session:
        case = session.get(Case, troubled)
        assert case is not None and case.outcome == "cancelled" and case.closed_at is not None


def test_a_decision_is_kept_once(db: Database) -> None:  # noqa: F811
    case_id = make_case(db)
    first = _decision(case_id, "update-1")
    _write_group(db, [first, _snap(_state(case_id), 1)], [first], [_decision(case_id, "update-2")])
    _write_group(db, [first, _snap(_state(case_id), 2)])  # the activity retried
    with db.reading() as session:
        ids = sorted(session.scalars(select(DecisionRow.id).where(DecisionRow.case_id == case_id)))
    assert ids == ["update-1", "update-2"]
    assert _row(db, case_id)[0] == 2


def test_two_writers_of_one_decision_who_both_found_it_missing(db: Database) -> None:  # noqa: F811
    """The service's write and the worker's of the same decision (v6) can overlap: each looks for
    the decision, finds it missing and adds it. The second adds nothing instead of failing on the
    primary key (on PostgreSQL it waits for the first to commit, then skips the row; on SQLite the
    writers are serialised and the second finds it)."""
    case_id = make_case(db)
    record = _decision(case_id, "update-7")
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with db.session() as session:
                _add_decisions(session, [record])
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    with db.session() as first:
        _add_decisions(first, [record])  # added, not yet committed
        writer = threading.Thread(target=second_writer)
        writer.start()
        if db.url.startswith("postgresql"):
            # Committed only once the second writer has found the decision missing and waits on
            # the first one's row: the overlap this test is about.
            waited_until = time.monotonic() + 10
            waiting = text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            with db.engine.connect() as watch:
                while not watch.execute(waiting).scalar():
                    watch.rollback()  # a fresh snapshot of the statistics each time round
                    assert time.monotonic() < waited_until, "the second writer never waited for the first"
                    time.sleep(0.01)
    writer.join(timeout=30)
    assert not writer.is_alive() and errors == []
    with db.reading() as session:
        kept = list(session.scalars(select(DecisionRow.id).where(DecisionRow.case_id == case_id)))
    assert kept == ["update-7"]
