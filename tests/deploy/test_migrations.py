"""Migrations on SQLite and PostgreSQL, up from an empty database: the start-up check names the
command that fixes a database that is behind, and the models never drift from the migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from database import migrate
from database.engine import Database
from database.models import Base
from tests.deploy.conftest import fresh_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no tables at all): a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "postgresql":
        yield from fresh_postgres()
    else:
        yield f"sqlite:///{tmp_path / 'app.db'}"


def tables(url: str) -> set[str]:
    engine = migrate.engine_for(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def execute(url: str, statement: str) -> None:
    engine = migrate.engine_for(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


DRIFT = (
    "database/models.py and migrations/ disagree: write a migration with "
    '`repatriation db revision -m "..."`, review it, and commit it with the model change'
)


def test_there_is_one_head_and_a_linear_history() -> None:
    history = migrate.history()
    assert history[0][1] is None, "the first revision starts from an empty database"
    assert [down for _, down, _ in history[1:]] == [rev for rev, _, _ in history[:-1]]
    assert migrate.head() == history[-1][0]


def test_upgrade_from_empty_to_head_and_the_start_up_check(empty_url: str) -> None:
    with pytest.raises(migrate.SchemaOutOfDate) as behind:
        migrate.check_current(empty_url)
    message = str(behind.value)
    assert "run `repatriation db upgrade`" in message
    assert f"the code needs {migrate.head()}" in message
    assert "is empty" in message and migrate.safe_url(empty_url) in message
    assert migrate.current(empty_url) is None

    assert migrate.upgrade(empty_url) == migrate.head()
    migrate.check_current(empty_url)  # passes
    assert set(Base.metadata.tables) | {"alembic_version"} == tables(empty_url)
    assert migrate.upgrade(empty_url) == migrate.head()  # again: nothing to do


def test_the_models_match_the_migrations(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    differences = migrate.diff(empty_url)
    assert differences == [], f"{DRIFT}:\n" + "\n".join(map(str, differences))


def test_downgrade_to_base_and_up_again(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    assert migrate.downgrade(empty_url, "base") is None
    assert tables(empty_url) <= {"alembic_version"}
    assert migrate.upgrade(empty_url) == migrate.head()
    assert migrate.diff(empty_url) == []


def test_every_revision_goes_up_and_down_one_step_at_a_time(empty_url: str) -> None:
    revisions = [rev for rev, _, _ in migrate.history()]
    for rev in revisions:
        assert migrate.upgrade(empty_url, rev) == rev
    for rev in reversed(revisions[:-1]):
        assert migrate.downgrade(empty_url, "-1") == rev
    assert migrate.downgrade(empty_url, "-1") is None


def test_a_database_behind_the_code_names_both_revisions_and_the_command(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate.upgrade(empty_url)
    current = migrate.head()
    monkeypatch.setattr(migrate, "head", lambda: "9999")
    monkeypatch.setattr(migrate, "history", lambda: [(current, None, ""), ("9999", current, "next")])
    with pytest.raises(migrate.SchemaOutOfDate) as behind:
        migrate.check_current(empty_url)
    assert str(behind.value) == (
        f"the database at {migrate.safe_url(empty_url)} is at revision {current}, "
        "the code needs 9999: run `repatriation db upgrade`"
    )
    assert (behind.value.current, behind.value.needed) == (current, "9999")


def test_a_database_ahead_of_the_code_says_so(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    execute(empty_url, "UPDATE alembic_version SET version_num = 'ffff'")
    with pytest.raises(migrate.SchemaOutOfDate, match="revision ffff, which this code does not know"):
        migrate.check_current(empty_url)


def test_a_database_made_before_migrations_is_adopted_when_it_matches(empty_url: str) -> None:
    Database(empty_url).dispose()  # create_all, as before migrations existed
    with pytest.raises(migrate.SchemaOutOfDate, match="has tables but no revision"):
        migrate.check_current(empty_url)
    assert migrate.upgrade(empty_url) == migrate.head()
    migrate.check_current(empty_url)


def test_a_database_made_before_migrations_that_differs_is_left_alone(empty_url: str) -> None:
    Database(empty_url).dispose()
    execute(empty_url, "DROP TABLE notices")
    with pytest.raises(migrate.MigrationError, match="notices"):
        migrate.upgrade(empty_url)
    assert migrate.current(empty_url) is None


@pytest.mark.postgres
def test_upgrades_started_together_migrate_once() -> None:
    """Several deployments starting at once: the advisory lock lets one migrate, the others wait
    and find the database at head."""
    for url in fresh_postgres():
        code = f"from database import migrate; print(migrate.upgrade({url!r}))"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(3)
        ]
        results = [p.communicate(timeout=60) for p in processes]
        assert [p.returncode for p in processes] == [0, 0, 0], [err for _, err in results]
        assert {out.strip() for out, _ in results} == {migrate.head()}
        assert migrate.diff(url) == []


def test_upgrade_is_safe_from_several_threads(empty_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(empty_url)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert migrate.current(empty_url) == migrate.head()


def test_the_db_commands(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).with_name("repatriation"))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "REPATRIATION_DATABASE_URL": url, "REPATRIATION_DATA_DIR": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, "db", *args], env=env, capture_output=True, text=True, timeout=60)

    check = run("check")
    assert check.returncode == 1 and "run `repatriation db upgrade`" in check.stderr
    upgrade = run("upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert f"upgraded from empty to {migrate.head()}" in upgrade.stdout
    assert run("check").returncode == 0
    assert "up to date" in run("current").stdout
    assert migrate.head() in run("history").stdout
