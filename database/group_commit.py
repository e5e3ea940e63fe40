"""Group commit: the small writes that many threads make at once go in one transaction.

In a mass release hundreds of workflows mirror their state to the read model at the same moment;
one transaction each means one commit (an fsync) each, one after the other. Here a thread that
comes to write while another is committing waits, and the next committer takes every write that
queued meanwhile, in one transaction: the busier the database, the more each commit carries.
Nothing returns before its write is committed, so callers keep their guarantee. If a group fails,
each of its writes is tried alone, so one bad write fails only its own caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from database.engine import Database

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    item: T
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    """``apply(session, items)`` writes a group of items inside the caller's transaction."""

    def __init__(self, db: Database, apply: Callable[[Session, list[T]], None]) -> None:
        self.db = db
        self.apply = apply
        self._queue: list[_Entry[T]] = []
        self._queue_lock = threading.Lock()
        self._committing = threading.Lock()
        self.groups = 0  # commits made (for the benchmark and the tests)
        self.written = 0

    def write(self, item: T) -> None:
        """Return once ``item`` is committed, alone or in a group; raise its error if it failed."""
        entry = _Entry(item)
        with self._queue_lock:
            self._queue.append(entry)
        with self._committing:
            if not entry.done.is_set():
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._commit(group)
        if entry.error is not None:
            raise entry.error

    def _commit(self, group: list[_Entry[T]]) -> None:
        try:
            with self.db.session() as session:
                self.apply(session, [e.item for e in group])
            self.groups += 1
            self.written += len(group)
        except Exception as err:  # noqa: BLE001 - each write tried alone, so only its own fails
            if len(group) == 1:
                group[0].error = err
            else:
                for entry in group:
                    self._commit([entry])
                return
        finally:
            for entry in group:
                entry.done.set()
