"""Helpers of the deployment tests: a fresh, empty PostgreSQL database (no tables, unlike
``tests.db_fixtures.db``, which creates them) and free ports (:func:`repatriation.ports.free_port`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from repatriation.ports import free_port as free_port  # the tests' servers take their ports here
from tests.db_fixtures import POSTGRES_ADMIN_URL, _admin_connection


def fresh_postgres() -> Iterator[str]:
    """Create an empty database on the test server, yield its URL, drop it afterwards; skips the
    test when the server does not answer."""
    name = f"test_{uuid.uuid4().hex}"
    with _admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin_connection() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from fresh_postgres()


