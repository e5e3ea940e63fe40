"""Engines and sessions. SQLite gets WAL and immediate write locks so that concurrent
writers queue instead of failing; PostgreSQL is used as it is.

On SQLite a process's writers also queue on a lock of its own before they ask SQLite: waiting
threads are woken the moment the writer before them commits, where SQLite's busy handler would
have them sleep and poll (1, 2, 5 … 100 ms), which in a mass release left workflow tasks waiting
seconds for their read-model writes. Reads that change nothing (:meth:`Database.reading`) take no
write lock at all: WAL gives each a snapshot of its own, beside the writer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from database.models import Base

_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


# A statement's values are personal data (a profile, a name key, a decision): an error's text
# (logged, or recorded by Temporal as an activity's failure) names the statement, not the values.
HIDE_PARAMETERS = True


def _writer_lock(url: str) -> threading.RLock:
    """One lock per SQLite file in this process, whichever engine writes to it."""
    key = str(Path(url.split("///", 1)[-1]).resolve()) if "///" in url else url
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(key, threading.RLock())


def _sqlite_engine(url: str, pragmas: tuple[str, ...], begin: str) -> Engine:
    engine = create_engine(
        url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=HIDE_PARAMETERS
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        for pragma in pragmas:
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql(begin)

    return engine


def make_reading_engine(url: str) -> Engine:
    """SQLite: connections that begin deferred transactions and refuse to write (query_only), so
    a read takes no write lock and cannot turn into a write by mistake."""
    return _sqlite_engine(url, ("busy_timeout=30000", "query_only=ON"), "BEGIN")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Immediate: a writer takes the lock when it begins, so writers queue instead of failing.
        return _sqlite_engine(
            url, ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000"), "BEGIN IMMEDIATE"
        )
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=HIDE_PARAMETERS
    )


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
        self._writer = _writer_lock(url) if url.startswith("sqlite") else None
        if self._writer is not None:
            self.reading_engine: Engine = make_reading_engine(url)
            self._reads = sessionmaker(self.reading_engine, expire_on_commit=False)
        else:
            self.reading_engine = self.engine
            self._reads = self._sessions

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        with self._writer or nullcontext(), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it waits for no writer and cannot write."""
        with self._reads() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self.reading_engine is not self.engine:
            self.reading_engine.dispose()


@lru_cache(maxsize=8)
def database_for(url: str, schema: SchemaMode = "upgrade") -> Database:
    return Database(url, schema)
