"""The app database unreachable: the API answers 503 with a clear message, /healthz says which
part is down, and nothing is half-written; when it is back, work carries on."""

from __future__ import annotations

from pathlib import Path

import httpx
from psycopg import sql

from access import users
from api.app import create_app
from contracts.state import Role
from database.engine import Database
from tests.conftest import ORG, harness_for
from tests.db_fixtures import _admin_connection, _postgres_database
from tests.journeys import person


async def test_api_answers_503_while_the_database_is_down(time_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for database in _postgres_database():  # skipped when PostgreSQL does not answer
        await _outage(time_env, tmp_path, database)


async def _outage(time_env, tmp_path: Path, database: Database) -> None:  # type: ignore[no-untyped-def]
    name = database.engine.url.database
    async with harness_for(time_env, tmp_path, database.url) as h:
        token = users.add_user(h.db, "cw", Role.caseworker, ORG).token
        app = create_app(h.settings, h.env.client, h.db)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/api/cases", headers=headers)).status_code == 200
            # The database server refuses this database from now on.
            with _admin_connection() as admin:
                admin.execute(
                    sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name))
                )
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
                )
            try:
                down = await client.post("/api/cases", headers=headers, json={"survivor": person(0)})
                assert down.status_code == 503 and "database is unavailable" in down.json()["detail"]
                assert down.headers["retry-after"] == "30"
                health = await client.get("/healthz")
                assert health.status_code == 503 and health.json()["database"].startswith("unavailable")
                assert health.json()["temporal"] == "ok"
            finally:
                with _admin_connection() as admin:
                    admin.execute(
                        sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(name))
                    )
            back = await client.get("/api/cases", headers=headers)
            assert back.status_code == 200 and back.json()["total"] == 0  # nothing half-written
