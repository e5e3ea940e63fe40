"""Alembic's environment: run by every migration command of ``database/migrate.py``.

The URL (or an open connection) comes from the config's ``attributes``, never from an ini file,
so a password with ``%`` in it is not mangled. On PostgreSQL an advisory lock serialises
concurrent upgrades (two deployments starting at once migrate once); on SQLite the migrations
run in batch mode, the only way SQLite can alter a table.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, TypeDecorator, text

from database.migrate import ADVISORY_LOCK_KEY, engine_for
from database.models import Base

config = context.config
target_metadata = Base.metadata


def _render_item(kind: str, obj: object, _autogen: object) -> str | bool:
    """Autogenerate writes a column of a custom type (``UtcDateTime``) as its plain SQLAlchemy
    type, so that revisions never import the models."""
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        # SQLite can roll DDL back; our engine opens real transactions (see engine_for).
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        context.run_migrations()


def run_offline() -> None:
    """``--sql`` mode: print the SQL instead of running it."""
    context.configure(
        url=config.attributes["url"],
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = engine_for(config.attributes["url"])
    try:
        with engine.connect() as connection:
            _configure(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
