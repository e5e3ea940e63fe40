"""What activities need, built once per worker process.

Documents render either in this process (one renderer per activity thread: tests, the embedded
stack) or, in a deployed worker, in a :class:`RenderPool` of kept-warm render processes, one per
core: WeasyPrint's layout is pure Python, so threads take turns on one core (the GIL) while
processes use them all, and the worker's own event loop and database work stop queueing behind
a page layout.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.exceptions import CancelledError

from booking.provider import BookingProvider
from booking.simulated import SimulatedProvider
from database.engine import Database, database_for
from documents.errors import is_document_error
from documents.frames import read_frame, write_frame
from documents.sealed import Sealer
from repatriation.settings import Settings


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class RenderFailed(RuntimeError):
    """The renderer raised (a template or data error): the process is fine, the activity fails.
    Its text is the render process's ``"ExceptionType: message"``."""

    @property
    def kind(self) -> str:
        """The type of the exception the renderer raised (its message may name the survivor)."""
        return str(self).split(":", 1)[0]


# A document that failed to render this many attempts in a row has a template or data error, not
# a passing fault: the step fails for good and waits for a person (activities/paperwork.py,
# activities/embassy_lists.py).
RENDER_ATTEMPTS = 3


def document_fault(err: BaseException) -> str | None:
    """The type of the error if a render failed by the document's fault (a template or the data:
    retrying the same input fails the same way), else None: the machine's fault, the render
    process lost, or the worker stopping, all retried as any fault (documents/errors.py)."""
    if isinstance(err, RenderFailed):
        return err.kind
    if isinstance(err, (RenderProcessLost, CancelledError)) or not is_document_error(err):
        return None
    return type(err).__name__


class TemplatesUnusable(RuntimeError):
    """The document templates could not be loaded when the worker started (one broken or missing
    in ``Settings.templates_dir``)."""


class RenderProcessLost(RuntimeError):
    """A render process died or stopped answering; it is replaced on the next render."""


_SERVE = (
    "from documents.renderer import serve_renders; serve_renders(nice={nice}, templates_dir={templates!r})"
)


class _RenderProcess:
    """One render process (``documents.renderer.serve_renders``), spoken to over its stdin/stdout."""

    def __init__(self, nice: int = 0, templates_dir: Path | None = None) -> None:
        templates = str(templates_dir) if templates_dir is not None else None
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVE.format(nice=int(nice), templates=templates)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the worker's stderr: warnings reach its log
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in, self._out = self.process.stdin, self.process.stdout
        try:
            hello = read_frame(self._out)
        except Exception as err:
            self.stop()
            raise RenderProcessLost(f"a render process did not start: {err}") from err
        if isinstance(hello, tuple) and hello[0] == "broken":  # the templates, not the process
            self.stop()
            raise RenderFailed(str(hello[1]))
        if not (isinstance(hello, tuple) and hello[0] == "ready"):
            self.stop()
            raise RenderProcessLost(f"a render process said {hello!r} instead of ready")

    @property
    def pid(self) -> int:
        return self.process.pid

    def render(self, doc_type: str, context: dict[str, Any]) -> bytes:
        try:
            write_frame(self._in, (doc_type, context))
            status, value = read_frame(self._out)
        except (OSError, EOFError, ValueError) as err:
            raise RenderProcessLost(f"render process {self.pid} was lost: {err}") from err
        if status == "fault":  # the machine's (memory, a file): retried, in a fresh process
            raise RenderProcessLost(f"render process {self.pid} failed: {str(value).split(':', 1)[0]}")
        if status != "ok":
            raise RenderFailed(str(value))
        return bytes(value)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._in.close()  # the process ends when its stdin closes
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        with contextlib.suppress(OSError):
            self._out.close()


class RenderPool:
    """Up to ``size`` kept-warm render processes, each rendering one document at a time.

    A process starts on first need (about a second: imports, templates, fonts) and then stays,
    warm, for the next documents. When no document has been asked for in ``idle_seconds`` every
    process stops, so a worker whose cases all wait on people does not hold their memory; the
    next document starts them again. A process that dies (killed, out of memory) fails the one
    render in hand, which the activity's retry policy repeats, and is replaced.

    ``nice``: how much lower than the worker's the processes' CPU priority is (``nice(1)``).
    ``templates_dir``: the organisation's own templates (``Settings.templates_dir``).
    Rendering is the bulk of a mass release's CPU and orchestration feeds it: when both want
    the cores, the worker and the Temporal server go first, so every case reaches its next
    document sooner and the render processes still take every idle moment (BENCHMARKS.md).
    """

    def __init__(
        self, size: int, idle_seconds: float = 60.0, nice: int = 0, templates_dir: Path | None = None
    ) -> None:
        if size < 1:
            raise ValueError("a render pool needs at least one process")
        if not 0 <= nice <= 19:
            raise ValueError(f"render_nice must be between 0 and 19, not {nice}")
        self.size = size
        self.idle_seconds = idle_seconds
        self.nice = nice
        self.templates_dir = templates_dir
        self._free: list[_RenderProcess] = []
        self._count = 0  # started and not stopped: free + in use + starting
        self._cond = threading.Condition()
        self._last_used = time.monotonic()
        self._closed = False
        self._reaper: threading.Thread | None = None

    @property
    def pids(self) -> list[int]:
        with self._cond:
            return [p.pid for p in self._free]

    def _acquire(self) -> _RenderProcess:
        with self._cond:
            while True:
                if self._closed:
                    raise RenderProcessLost("the render pool is closed")
                if self._free:
                    return self._free.pop()
                if self._count < self.size:
                    self._count += 1
                    break
                self._cond.wait()
            self._start_reaper()
        try:
            return _RenderProcess(self.nice, self.templates_dir)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _release(self, process: _RenderProcess, healthy: bool) -> None:
        with self._cond:
            self._last_used = time.monotonic()
            if healthy and not self._closed:
                self._free.append(process)
                self._cond.notify()
                return
            self._count -= 1
            self._cond.notify()
        process.stop()

    def render(self, doc_type: str, context: dict[str, Any]) -> bytes:
        process = self._acquire()
        healthy = False
        try:
            pdf = process.render(doc_type, context)
            healthy = True
            return pdf
        except RenderFailed:
            healthy = True
            raise
        finally:
            self._release(process, healthy)

    def _start_reaper(self) -> None:
        if self._reaper is None or not self._reaper.is_alive():
            self._reaper = threading.Thread(
                target=_reap, args=(weakref.ref(self),), name="render-pool-reaper", daemon=True
            )
            self._reaper.start()

    def warm(self) -> None:
        """Start a render process now if none is running (it loads every template and the fonts
        first, and fails to start if a template is broken or missing)."""
        self._release(self._acquire(), healthy=True)

    def stop_idle(self, force: bool = False) -> int:
        """Stop the free processes if the pool has been idle long enough (or ``force``)."""
        with self._cond:
            if not self._free:
                return 0
            if not force and time.monotonic() - self._last_used < self.idle_seconds:
                return 0
            stopping, self._free = self._free, []
            self._count -= len(stopping)
        for process in stopping:
            process.stop()
        return len(stopping)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.stop_idle(force=True)


def _reap(pool_ref: weakref.ref[RenderPool]) -> None:
    while True:
        pool = pool_ref()
        if pool is None or pool._closed:
            return
        pause = max(1.0, pool.idle_seconds / 4)
        pool.stop_idle()
        if pool._count == 0:
            pool._reaper = None
            return
        del pool
        time.sleep(pause)


@dataclass
class Deps:
    settings: Settings
    db: Database
    provider: BookingProvider
    sealer: Sealer
    render_pool: RenderPool | None = None
    _local: threading.local = field(default_factory=threading.local)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        render_processes: int = 0,
        render_idle_seconds: float = 60.0,
        render_nice: int = 0,
    ) -> Deps:
        """``render_processes``: 0 renders in the activity threads; N > 0 in a pool of N processes
        (stopped after ``render_idle_seconds`` without a document, ``render_nice`` lower in CPU
        priority than the worker)."""
        db = database_for(settings.db_url, settings.schema_mode)
        seed = settings.booking_failure_seed
        provider = SimulatedProvider(
            db,
            failure_rate=settings.booking_failure_rate,
            rng=random.Random(seed) if seed is not None else None,
        )
        pool = None
        if render_processes > 0:
            pool = RenderPool(render_processes, render_idle_seconds, render_nice, settings.templates_dir)
        sealer = Sealer.for_settings(settings)
        return cls(settings=settings, db=db, provider=provider, sealer=sealer, render_pool=pool)

    def check_renderer(self) -> None:
        """Load the templates once, before serving: in a render process (the pool's first), or in
        this thread. A template that is broken or missing (``Settings.templates_dir``) then stops
        the worker as it starts, instead of failing every document it is given."""
        try:
            if self.render_pool is not None:
                self.render_pool.warm()
            else:
                self.renderer()
        except RenderFailed as err:  # no case yet, so the error's text names no survivor
            from documents.renderer import TEMPLATES_DIR

            folder = self.settings.templates_dir or TEMPLATES_DIR
            raise TemplatesUnusable(f"the document templates in {folder} could not be loaded: {err}") from err

    def renderer(self) -> Any:
        """One renderer per worker thread: templates and fonts are loaded once per thread."""
        renderer = getattr(self._local, "renderer", None)
        if renderer is None:
            from documents.renderer import Renderer

            try:
                renderer = self._local.renderer = Renderer(self.settings.templates_dir)
            except Exception as err:
                if not is_document_error(err):
                    raise  # a font file, memory: retried
                # The templates (one broken, or missing): as a render process says it.
                raise RenderFailed(f"{type(err).__name__}: {err}") from err
        return renderer

    def render_pdf(self, doc_type: str, context: dict[str, Any]) -> bytes:
        """The document as PDF bytes: in a render process when there is a pool, else here. The
        document's fault raises :class:`RenderFailed` either way; the machine's, as it is."""
        if self.render_pool is not None:
            return self.render_pool.render(str(doc_type), context)
        renderer = self.renderer()
        try:
            return bytes(renderer.render(doc_type, context).pdf)
        except Exception as err:  # told apart as a render process tells them (documents/errors.py)
            if isinstance(err, CancelledError) or not is_document_error(err):
                raise
            raise RenderFailed(f"{type(err).__name__}: {err}") from err

    def close(self) -> None:
        if self.render_pool is not None:
            self.render_pool.close()
