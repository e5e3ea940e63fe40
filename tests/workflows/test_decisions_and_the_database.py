"""A person's decision when the app database is slow or refuses the service's write.

The decision is Temporal's once its Update has returned; the service then writes it, and the
state after it, to the read model (workflows/journey.py, V6). Here the database really waits
(PostgreSQL holding a lock) or really refuses (an SQLite trigger), nothing stands in for it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import psycopg
import pytest
import structlog
from sqlalchemy import select
from sqlalchemy.engine import make_url

from contracts.state import DecisionKind
from database.models import AuditEntry
from repatriation.service import Rejected
from tests.conftest import CASEWORKER, LIAISON, Harness, harness_for
from tests.db_fixtures import _postgres_database
from tests.journeys import approve_funding, open_case, through_embassy, through_identity
from tests.workflows.test_durable_decisions import decided, row_state, settled_and_wrote

# Should the service block its event loop, the lock is let go after this long (the test fails
# then, rather than hangs): PostgreSQL ends the holder's idle transaction.
HOLDER_GIVES_UP = "15s"


async def test_a_decision_waiting_for_the_database_leaves_the_service_free(time_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The service's database work runs beside its event loop: while a caseworker's decision
    waits for a lock on the audit trail, the same process still talks to Temporal (here: the
    test's own queries), and the decision completes once the lock is let go."""
    for database in _postgres_database():  # skipped when PostgreSQL does not answer
        async with harness_for(time_env, tmp_path, database.url) as h:
            await _decision_behind_a_lock(h)


async def _decision_behind_a_lock(h: Harness) -> None:
    case_id = await open_case(h, 0)
    await h.wait_pending(case_id, DecisionKind.identity_attestation)
    url = make_url(h.db.url)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=False
    ) as holder:
        holder.execute(f"SET idle_in_transaction_session_timeout = '{HOLDER_GIVES_UP}'")
        holder.execute("LOCK TABLE audit IN EXCLUSIVE MODE")  # reads go on, appends wait
        decision = asyncio.create_task(
            h.service.decide(case_id, DecisionKind.identity_attestation, {"verified": True}, CASEWORKER)
        )
        # This coroutine runs on the same event loop as the service: it sees Temporal take the
        # decision, then the service's append waiting for the lock, while the lock is held.
        await h.wait_for(case_id, lambda s: s.identity_verified is True, "the attestation taken")
        waiting = await _wait_until_an_insert_waits(holder, "audit")
        assert waiting, "the service's audit append never waited for the lock"
        assert not decision.done()
        holder.rollback()  # the lock let go
    state = await decision
    assert state.identity_verified is True
    assert DecisionKind.identity_attestation in decided(h, case_id)
    with h.db.reading() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.case_id == case_id)))
    assert f"decision.{DecisionKind.identity_attestation}" in actions


async def _wait_until_an_insert_waits(holder: psycopg.Connection, table: str) -> bool:
    """Whether another session waits for the holder's lock on ``table``, asked from a second
    connection (while this event loop goes on)."""
    info = holder.info
    with psycopg.connect(host=info.host, port=info.port, user=info.user, dbname=info.dbname) as probe:
        for _ in range(600):
            row = probe.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = %s AND NOT l.granted",
                (table,),
            ).fetchone()
            probe.rollback()
            if row and row[0]:
                return True
            await asyncio.sleep(0.02)
    return False


async def test_a_second_flight_choice_while_the_first_is_booked_is_refused(time_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Between a flight choice and its booking the options stay on show. A second choice then
    is refused: kept, it would be taken unasked after a refused booking, or name a flight no
    longer offered and leave the case unable to go on."""
    for database in _postgres_database():  # skipped when PostgreSQL does not answer
        async with harness_for(time_env, tmp_path, database.url) as h:
            await _second_choice_while_booking(h)


async def _second_choice_while_booking(h: Harness) -> None:
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await through_embassy(h, case_id)
    offered = (await h.wait_pending(case_id, DecisionKind.flight_choice)).flight_options
    assert len(offered) >= 2
    first, second = offered[0].option_id, offered[1].option_id
    url = make_url(h.db.url)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=False
    ) as holder:
        holder.execute(f"SET idle_in_transaction_session_timeout = '{HOLDER_GIVES_UP}'")
        holder.execute("LOCK TABLE bookings IN EXCLUSIVE MODE")  # the booking waits for it
        await h.service.decide(case_id, DecisionKind.flight_choice, {"option_id": first}, CASEWORKER)
        assert await _wait_until_an_insert_waits(holder, "bookings"), "the booking never started"
        with pytest.raises(Rejected, match="option_id: no flight choice is awaited now"):
            await h.service.decide(case_id, DecisionKind.flight_choice, {"option_id": second}, CASEWORKER)
        holder.rollback()
    state = await h.wait_for(case_id, lambda s: s.booking is not None, "the booking")
    assert state.booking is not None and state.booking.option.option_id == first
    assert decided(h, case_id).count(DecisionKind.flight_choice) == 1


async def test_a_decision_whose_write_the_database_refuses_stands_and_is_written_by_the_case(
    harness: Harness,
) -> None:
    """The database refuses the service's write after Temporal took the decision: the person is
    told the decision is taken (sending it again would be refused as decided), the failure is
    logged without personal data, nothing is half-written, and the case itself writes the
    decision once the database takes writes again (its own write is refused meanwhile, and
    retried)."""
    h = harness
    case_id = await open_case(h, 0)
    await through_identity(h, case_id)
    await approve_funding(h, case_id)
    await h.wait_pending(case_id, DecisionKind.nationality)

    path = make_url(h.db.url).database
    assert path is not None
    # The database refuses new decisions while the table `refusing` has a row. The case's own
    # write (v8: in the task of the timer that settles the decision) is refused too, and retried
    # with backoff; the service's query for the state waits behind that workflow task, so this
    # takes some 30 s: what a person meets while the database refuses writes.
    refuse = sqlite3.connect(Path(path), isolation_level=None)
    refuse.execute("CREATE TABLE refusing (why TEXT)")
    refuse.execute("INSERT INTO refusing VALUES ('the disk is full')")
    refuse.execute(
        "CREATE TRIGGER refuse_decisions BEFORE INSERT ON decisions "
        "WHEN EXISTS (SELECT 1 FROM refusing) BEGIN SELECT RAISE(ABORT, 'refused: the disk is full'); END"
    )
    try:
        with structlog.testing.capture_logs() as logs:
            state = await h.service.decide(case_id, DecisionKind.nationality, {"confirmed": True}, LIAISON)
        before, _ = row_state(h, case_id)
        assert before.pending_of(DecisionKind.nationality) is not None  # nothing half-written
        assert DecisionKind.nationality not in decided(h, case_id)
    finally:
        refuse.execute("DELETE FROM refusing")
        refuse.close()
    assert state.nationality_confirmed is True and state.pending_of(DecisionKind.nationality) is None
    # (The worker's own write, refused too meanwhile, logs its retries beside it.)
    warnings = [e for e in logs if e["event"] == "decision taken, read model not yet written"]
    assert [(w["log_level"], w["kind"], w["error"]) for w in warnings] == [
        ("warning", DecisionKind.nationality, "IntegrityError")
    ]
    assert warnings[0]["case_id"] == case_id
    assert set(warnings[0]) == {"event", "log_level", "case_id", "kind", "error"}  # nothing personal

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not settled_and_wrote(list((await h.handle(case_id).fetch_history()).events)):
        assert loop.time() < deadline, "the case never wrote the decision"
        await asyncio.sleep(0.05)
    assert DecisionKind.nationality in decided(h, case_id)
    after, _ = row_state(h, case_id)
    assert after.nationality_confirmed is True and [p.kind for p in after.pending] == [DecisionKind.etd]
