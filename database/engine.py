"""Engines and sessions. SQLite gets WAL and immediate write locks so that concurrent
writers queue instead of failing; PostgreSQL is used as it is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from database.models import Base


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def create_schema(engine: Engine) -> None:
    Base.metadata.create_all(engine)


SchemaMode = Literal["create", "upgrade", "check"]


class Database:
    """An engine and its session factory.

    ``schema``: "create" makes the tables from the models (tests, scratch databases); "upgrade"
    runs the migrations up to the code's revision (the embedded stack); "check" refuses a
    database that is behind, naming the command that fixes it (production).
    """

    def __init__(self, url: str, schema: SchemaMode = "create") -> None:
        self.url = url
        if schema == "create":
            self.engine = make_engine(url)
            create_schema(self.engine)
        else:
            from database import migrate

            if schema == "upgrade":
                migrate.upgrade(url)
            else:
                migrate.check_current(url)
            self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


@lru_cache(maxsize=8)
def database_for(url: str, schema: SchemaMode = "upgrade") -> Database:
    return Database(url, schema)
