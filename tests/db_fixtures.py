"""A ``db`` fixture over SQLite and PostgreSQL, and a helper to insert a minimal case.

Use it in a test module with ``from tests.db_fixtures import db  # noqa: F401``.

SQLite: a fresh file in ``tmp_path``. PostgreSQL: a fresh database ``test_<uuid hex>`` created on
the server named by ``REPATRIATION_TEST_POSTGRES_URL`` (default: the ``test`` database on
127.0.0.1:5432 as ``postgres``) and dropped afterwards; that parameter is skipped when the server
does not answer within 2 s.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from database.engine import Database
from database.models import Case

POSTGRES_ADMIN_URL = os.environ.get(
    "REPATRIATION_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
CONNECT_TIMEOUT_S = 2


def _admin_connection() -> psycopg.Connection:
    """An autocommit connection to the admin database; skips the test when it does not answer."""
    url = make_url(POSTGRES_ADMIN_URL)
    try:
        return psycopg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname=url.database,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
        )
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL does not answer at {POSTGRES_ADMIN_URL}: {exc}")


def _postgres_database() -> Iterator[Database]:
    name = f"test_{uuid.uuid4().hex}"
    with _admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name)
    db = Database(url.render_as_string(hide_password=False))
    try:
        yield db
    finally:
        db.dispose()
        with _admin_connection() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _sqlite_database(directory: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{directory / 'app.db'}")
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty app database with the schema, on SQLite and on PostgreSQL."""
    if request.param == "postgresql":
        yield from _postgres_database()
    else:
        yield from _sqlite_database(tmp_path)


def make_case(
    db: Database,
    case_id: str | None = None,
    nationality: str = "IDN",
    *,
    reference: str | None = None,
    organisation: str = "Test Shelter",
    workflow_id: str | None = None,
    stage: str = "intake",
) -> str:
    """Insert a minimal case (only the non-null columns) and return its id."""
    case_id = case_id or str(uuid.uuid4())
    now = datetime.now(UTC)
    with db.session() as session:
        session.add(
            Case(
                id=case_id,
                reference=reference or f"T-{uuid.uuid4().hex[:12].upper()}",
                organisation=organisation,
                caseworker="caseworker@test.example",
                workflow_id=workflow_id or f"case-{case_id}",
                nationality=nationality,
                profile={},
                date_of_birth=date(2000, 1, 1),
                name_key="test case",
                stage=stage,
                state={},
                overdue=False,
                state_seq=0,
                opened_at=now,
                updated_at=now,
            )
        )
    return case_id
