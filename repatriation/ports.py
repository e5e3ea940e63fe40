"""Ports for the servers that tests and benchmarks start (the Temporal dev server, its Web UI,
the HTTP service, a mail sink).

A port found by binding port 0 comes from the kernel's ephemeral range, the same range every
outgoing connection takes its local port from; between the moment it is found free and the
moment the server binds it, any connection on the machine (a test talking to PostgreSQL, the dev
server's own internal services, which take random free ports) may take it, and the server fails
to start. :func:`free_port` hands out ports below that range instead, which nothing takes by
itself, each checked free by binding it. Within a process no port is handed out twice, and the
processes that may run side by side take them from blocks of their own: each pytest-xdist worker
its own block by its number, every other process (a benchmark, a service a test starts, which
inherits the test process's environment) a block chosen by its pid from another range.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

BLOCK = 500  # ports per process
LOWEST = 15_000
WORKER_BLOCKS = 16  # for pytest-xdist workers gw0 to gw15 (gw16 shares gw0's: still checked free)
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_low() -> int:
    """The lowest port the kernel gives to outgoing connections (32768 unless changed)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _worker_number() -> int | None:
    """The pytest-xdist worker's number (``gw3`` → 3) when this process is that worker. The
    processes a worker starts inherit its name in their environment but do not load pytest-xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not (worker.startswith("gw") and worker[2:].isdigit()) or "xdist" not in sys.modules:
        return None
    return int(worker[2:])


def _candidates() -> Iterator[int]:
    blocks = (ephemeral_low() - LOWEST) // BLOCK
    if blocks < 1:  # an unusual ephemeral range: no room below it
        return
    worker = _worker_number()
    shared = min(WORKER_BLOCKS, blocks // 2)  # the workers' blocks, then everyone else's
    if worker is not None and shared:
        index = worker % shared
    else:
        index = shared + os.getpid() % (blocks - shared)
    start = LOWEST + index * BLOCK
    yield from range(start, start + BLOCK)


_lock = threading.Lock()
_ports: Iterator[int] | None = None  # each port of the block once


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _any_free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a server about to start, outside the ephemeral range."""
    global _ports
    with _lock:
        if _ports is None:
            _ports = _candidates()
        for port in _ports:
            if _is_free(port):
                return port
        return _any_free()  # the block is used up or unusable: the kernel's choice, as before
