"""Group commit and read-only sessions: many threads' read-model writes share transactions, a bad
write fails only its own caller, and reads neither wait for a writer nor write."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from database.engine import Database
from database.group_commit import GroupCommit
from database.models import Case


def _case(case_id: str) -> Case:
    now = datetime.now(UTC)
    return Case(
        id=case_id,
        reference=case_id.upper()[:20],
        organisation="Org",
        caseworker="cw",
        workflow_id=f"wf-{case_id}",
        nationality="VNM",
        profile={},
        date_of_birth=date(2000, 1, 1),
        name_key="",
        state={},
        opened_at=now,
        updated_at=now,
    )


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'app.db'}")


def test_writes_made_at_once_share_commits_and_all_land(db: Database) -> None:
    def apply(session: Session, ids: list[str]) -> None:
        time.sleep(0.01)  # a commit that takes a while, so that others queue behind it
        session.add_all(_case(i) for i in ids)

    group = GroupCommit(db, apply)
    ids = [f"case-{n:03d}" for n in range(60)]
    threads = [threading.Thread(target=group.write, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.reading() as s:
        assert sorted(s.scalars(select(Case.id))) == ids
    assert group.written == 60 and group.groups < 30  # several writes per commit


def test_a_bad_write_fails_only_its_caller(db: Database) -> None:
    with db.session() as s:
        s.add(_case("taken"))
    attempts: list[list[str]] = []

    def apply(session: Session, ids: list[str]) -> None:
        attempts.append(list(ids))
        session.add_all(_case(i) for i in ids)

    group = GroupCommit(db, apply)
    errors: dict[str, BaseException | None] = {}

    def write(case_id: str) -> None:
        try:
            group.write(case_id)
            errors[case_id] = None
        except Exception as err:  # noqa: BLE001 - recorded for the assertion
            errors[case_id] = err

    with group._committing:  # a commit in progress: the four queue up behind it, together
        threads = [threading.Thread(target=write, args=(i,)) for i in ("a", "taken", "b", "c")]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(group._queue) < 4:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    for t in threads:
        t.join()
    assert sorted(attempts[0]) == ["a", "b", "c", "taken"]  # one group, failed by one write
    assert errors["taken"] is not None and errors["a"] is errors["b"] is errors["c"] is None
    with db.reading() as s:
        assert sorted(s.scalars(select(Case.id))) == ["a", "b", "c", "taken"]


def test_a_read_neither_waits_for_the_writer_nor_writes(db: Database) -> None:
    with db.session() as s:
        s.add(_case("one"))
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with db.session() as s:
            s.add(_case("two"))
            s.flush()  # the write lock is held from here to the commit
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    try:
        started = time.monotonic()
        with db.reading() as s:
            seen = list(s.scalars(select(Case.id)))
        # Its own snapshot, at once: not after the writer's 10 s (the margin is for a loaded machine).
        assert seen == ["one"] and time.monotonic() - started < 5
        with pytest.raises(OperationalError, match="readonly"), db.reading() as s:
            s.execute(text("DELETE FROM cases"))
    finally:
        release.set()
        thread.join()
    with db.reading() as s:
        assert sorted(s.scalars(select(Case.id))) == ["one", "two"]
