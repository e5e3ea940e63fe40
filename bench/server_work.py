"""What the Temporal server's persistence was asked during a phase, from its own metrics.

The embedded dev server keeps everything in one SQLite file, and in a mass release its
persistence, not the cores, sets the pace (BENCHMARKS.md, 2026-12-04): the figure that says how
much a journey asks of it, beside bare Temporal, is the count of its persistence operations per
workflow. Counts do not vary with the machine's speed as seconds do, so a change to the
orchestration can be judged by them from one run.

The server serves Prometheus text on ``Settings.temporal_metrics_port``; :class:`ServerWatch`
reads it every few seconds, so that a phase's figures can be cut at any moment of it (until every
embassy request was out, say).
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from bench.measure import Periodic, interpolate

# A line of Prometheus text: name, optional {labels}, value.
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
# A workflow's state and its new history events written (one transaction); its creation and the
# rare reset or conflict resolution are not counted among them.
WRITE = "UpdateWorkflowExecution"
# The server publishes its counters about once a second (0.07 to 0.59 s after a workflow's start,
# measured here): the last reading of a phase waits that long, or a short phase counts nothing.
PUBLISHED_WITHIN = 1.2


def parse(text: str) -> dict[str, float]:
    """Persistence operations by name, summed over the server's services and namespaces
    (``persistence_requests``), and ``seconds:<name>``, the time spent in them
    (``persistence_latency_sum``: calls overlap while they queue for the database)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        if name not in ("persistence_requests", "persistence_latency_sum"):
            continue
        operation = dict(_LABEL.findall(labels or "")).get("operation")
        if not operation:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        key = operation if name == "persistence_requests" else f"seconds:{operation}"
        found[key] = found.get(key, 0.0) + number
    return found


def read(url: str, timeout: float = 5.0) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - our own server
        return parse(answer.read().decode("utf-8", "replace"))


def summary(used: dict[str, float], workflows: int, top: int = 8) -> dict[str, Any]:
    """Per workflow: every persistence operation, the writes of a workflow, the most frequent
    operations; the mean time of a write (its queueing for SQLite included)."""
    counts = {k: v for k, v in used.items() if not k.startswith("seconds:") and v > 0}
    n = max(workflows, 1)
    writes = counts.get(WRITE, 0.0)
    busiest = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    return {
        "workflows": workflows,
        "operations_per_workflow": round(sum(counts.values()) / n, 1),
        "writes_per_workflow": round(writes / n, 1),
        "write_ms": round(1000 * used.get(f"seconds:{WRITE}", 0.0) / writes, 1) if writes else None,
        "by_operation": {k: round(v / n, 2) for k, v in busiest},
    }


@dataclass
class ServerWatch(Periodic):
    """Reads the server's persistence counters every ``every`` seconds. :meth:`begin` takes the
    first reading before the phase starts, so the phase's first operations are counted; a
    reading missed (or empty: the server not answering yet) is skipped, and the next one carries
    the counts."""

    url: str
    every: float = 5.0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    missed: int = 0

    async def begin(self) -> ServerWatch:
        """Take a first reading now, then start the watch (not started if the server did not answer:
        the phase then has no figures)."""
        self._started = time.perf_counter()
        await self._sample()
        return self.start() if self.samples else self

    def start(self) -> ServerWatch:
        started = self._started
        super().start()
        if self.samples:  # keep begin()'s clock: its reading is the phase's start
            self._started = started
        return self

    async def stop(self) -> None:
        """The last reading, once the phase's last operations are published."""
        await asyncio.sleep(PUBLISHED_WITHIN)
        await super().stop()

    @property
    def complete(self) -> bool:
        """At least two readings, the first taken before the phase began."""
        return len(self.samples) >= 2

    def used(self, until: float | None = None) -> dict[str, float]:
        """Operations (and seconds) from the watch's first reading to ``until`` seconds in
        (default: its last reading); a counter that went back (a restarted server) counts 0."""
        if not self.samples:
            return {}
        first = self.samples[0][1]
        last = interpolate(self.samples, until) if until is not None else self.samples[-1][1]
        return {k: max(0.0, v - first.get(k, 0.0)) for k, v in last.items()}

    async def _sample(self) -> None:
        at = time.perf_counter() - self._started  # the counters are of the moment of asking
        try:
            counts = await asyncio.to_thread(read, self.url)
        except Exception:  # noqa: BLE001 - a reading missed is not a figure wrong
            self.missed += 1
            return
        if counts:
            self.samples.append((at, counts))
        else:
            self.missed += 1
