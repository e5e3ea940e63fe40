"""Migrations of the app database (Alembic, configured in code; the scripts are in ``migrations/``).

``upgrade(url)`` brings a database to the code's revision (``head()``); ``check_current(url)``
raises :class:`SchemaOutOfDate` naming the command that fixes it when the database is behind
(or ahead). Independent of :class:`database.engine.Database`, which may call it at start-up.

A database made before migrations existed (by ``Base.metadata.create_all``) has the tables but
no revision: ``upgrade`` adopts it (stamps it at head) when its tables match the models, and
otherwise stops, listing the differences.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Alembic announces its plugins and its dialect at INFO on every command: not news to an operator.
# What it migrates ("Running upgrade 0001 -> 0002, ...") is still logged.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
logging.getLogger("alembic.runtime.migration").addFilter(
    lambda record: not str(record.msg).startswith(("Context impl", "Will assume"))
)

from alembic import command  # noqa: E402
from alembic.autogenerate import compare_metadata  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Connection, Engine, create_engine, event, inspect, pool  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from database.engine import HIDE_PARAMETERS  # noqa: E402
from migrations import LOCATION  # noqa: E402

UPGRADE_COMMAND = "repatriation db upgrade"
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock key taken by every migration run on PostgreSQL (any constant bigint).
ADVISORY_LOCK_KEY = 0x5245504154  # "REPAT"


# Alembic keeps the running command's context in module globals: one command at a time per process.
# Between processes, the advisory lock (PostgreSQL) or BEGIN IMMEDIATE (SQLite) serialises them.
_alembic_lock = threading.RLock()


class MigrationError(RuntimeError):
    """A migration cannot run as asked."""


class SchemaOutOfDate(MigrationError):
    """The database is not at the revision the code needs."""

    def __init__(self, message: str, current: str | None, needed: str) -> None:
        super().__init__(message)
        self.current = current
        self.needed = needed


# -- engines --------------------------------------------------------------------------------
def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` (and ``postgres://``) mean psycopg 3, as everywhere in the app."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without anything after '@'
        return re.sub(r"//[^@/]*@", "//***@", url)


def engine_for(url: str) -> Engine:
    """A short-lived engine for migrations. SQLite: DDL inside real transactions (pysqlite
    otherwise commits before each DDL statement), so a failed migration leaves nothing behind."""
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, poolclass=pool.NullPool, connect_args={"timeout": 30}, hide_parameters=HIDE_PARAMETERS
        )

        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, poolclass=pool.NullPool, hide_parameters=HIDE_PARAMETERS)


@contextmanager
def _connection(url: str) -> Iterator[Connection]:
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


# -- alembic --------------------------------------------------------------------------------
def config(url: str | None = None) -> Config:
    """Alembic's configuration, in code: no alembic.ini."""
    cfg = Config()
    cfg.set_main_option("script_location", str(LOCATION))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["url"] = url
    return cfg


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The revision the code needs."""
    heads = scripts().get_heads()
    if len(heads) != 1:
        raise MigrationError(f"the migrations have {len(heads)} heads ({', '.join(heads)}); merge them")
    return heads[0]


def history() -> list[tuple[str, str | None, str]]:
    """(revision, previous revision, message), oldest first."""
    revisions = list(scripts().walk_revisions())
    revisions.reverse()
    return [(r.revision, r.down_revision, (r.doc or "").strip()) for r in revisions]  # type: ignore[misc]


def current(url: str) -> str | None:
    """The database's revision; None when it has never been migrated."""
    with _connection(url) as connection:
        return _current(connection)


def _current(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    return heads[0] if heads else None


def _app_tables(connection: Connection) -> list[str]:
    return [t for t in inspect(connection).get_table_names() if t != VERSION_TABLE]


def diff(url: str) -> list[Any]:
    """How the database differs from ``database/models.py`` (Alembic autogenerate's diff);
    empty when they agree."""
    from database.models import Base

    with _connection(url) as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def upgrade(url: str, revision: str = "head") -> str | None:
    """Migrate the database up to ``revision`` (default: the code's); returns its revision."""
    with _alembic_lock:
        with _connection(url) as connection:
            unversioned = _current(connection) is None and bool(_app_tables(connection))
        if unversioned:
            _adopt(url)
        command.upgrade(config(url), revision)
        return current(url)


def _adopt(url: str) -> None:
    differences = diff(url)
    if differences:
        shown = "; ".join(str(d) for d in differences[:5])
        more = f" and {len(differences) - 5} more" if len(differences) > 5 else ""
        raise MigrationError(
            f"the database at {safe_url(url)} has tables but no migration revision, and they differ "
            f"from the models ({shown}{more}); bring them in line by hand, then mark the revision "
            "they match with `repatriation db stamp REVISION`"
        )
    command.stamp(config(url), "head")


def downgrade(url: str, revision: str) -> str | None:
    """Migrate down to ``revision`` (``base``: an empty database); returns the new revision."""
    with _alembic_lock:
        command.downgrade(config(url), revision)
        return current(url)


def stamp(url: str, revision: str) -> None:
    """Record ``revision`` as the database's without running anything."""
    with _alembic_lock:
        command.stamp(config(url), revision)


def check_current(url: str) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at the code's revision."""
    needed = head()
    with _connection(url) as connection:
        found = _current(connection)
        has_tables = bool(_app_tables(connection))
    if found == needed:
        return
    where = f"the database at {safe_url(url)}"
    if found is None:
        state = "has tables but no revision" if has_tables else "is empty (no revision)"
        message = f"{where} {state}, the code needs {needed}: run `{UPGRADE_COMMAND}`"
    elif found not in {rev for rev, _, _ in history()}:
        message = (
            f"{where} is at revision {found}, which this code does not know (a newer version of the "
            f"app migrated it); the code needs {needed}: run the newer version, or with it "
            f"`repatriation db downgrade {needed}`"
        )
    else:
        message = f"{where} is at revision {found}, the code needs {needed}: run `{UPGRADE_COMMAND}`"
    raise SchemaOutOfDate(message, found, needed)


def revision(message: str, url: str | None = None) -> Path:
    """Write a new revision from the difference between the models and a database at head
    (default: a scratch SQLite database). Review it before committing: autogenerate misses
    renames and data changes."""
    import tempfile

    with _alembic_lock, tempfile.TemporaryDirectory() as scratch:
        target = url or f"sqlite:///{Path(scratch) / 'scratch.db'}"
        upgrade(target)
        numbers = [int(rev) for rev, _, _ in history() if rev.isdigit()]
        rev_id = f"{max(numbers, default=0) + 1:04d}"
        cfg = config(target)
        ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
        if ruff:  # format the new file as the rest of the code
            cfg.set_section_option("post_write_hooks", "hooks", "ruff_format")
            cfg.set_section_option("post_write_hooks", "ruff_format.type", "exec")
            cfg.set_section_option("post_write_hooks", "ruff_format.executable", ruff)
            cfg.set_section_option(
                "post_write_hooks", "ruff_format.options", "format REVISION_SCRIPT_FILENAME"
            )
        script = command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
    if script is None or isinstance(script, list):
        raise MigrationError("alembic wrote no single revision")
    return Path(script.path)
