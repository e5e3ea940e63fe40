"""The ports handed to the servers that tests and benchmarks start (repatriation/ports.py)."""

from __future__ import annotations

import itertools
import socket
import sys

import pytest

from repatriation import ports


def test_a_port_is_free_below_the_ephemeral_range_and_never_handed_out_twice() -> None:
    low = ports.ephemeral_low()
    given = [ports.free_port() for _ in range(20)]
    assert len(set(given)) == 20
    for port in given:
        assert ports.LOWEST <= port < low, f"{port} is in the range outgoing connections take"
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # still free: nothing took it meanwhile


def test_a_port_in_use_is_skipped() -> None:
    first = ports.free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", first + 1))
        held.listen()
        following = [ports.free_port() for _ in range(3)]
    assert first + 1 not in following


def block(monkeypatch: pytest.MonkeyPatch, worker: str | None, xdist: bool, pid: int) -> set[int]:
    """The ports a process would be handed: named pytest-xdist ``worker`` in its environment
    (None: not), with pytest-xdist loaded or not, being process ``pid``."""
    if worker is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    if xdist:
        monkeypatch.setitem(sys.modules, "xdist", sys.modules.get("xdist", sys))
    else:
        monkeypatch.delitem(sys.modules, "xdist", raising=False)
    monkeypatch.setattr(ports.os, "getpid", lambda: pid)
    return set(itertools.islice(ports._candidates(), ports.BLOCK))


def test_processes_side_by_side_get_blocks_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    workers = [block(monkeypatch, f"gw{n}", True, 1000 + n) for n in range(3)]
    # What a test worker starts (a service, the worker process) inherits the worker's name.
    children = [block(monkeypatch, "gw0", False, pid) for pid in (4242, 4243)]
    bench = block(monkeypatch, None, False, 5151)
    every = [*workers, *children, bench]
    assert all(len(b) == ports.BLOCK for b in every)
    for i, one in enumerate(every):
        for other in every[i + 1 :]:
            assert not one & other


def test_with_no_room_below_the_ephemeral_range_the_kernel_chooses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ports, "ephemeral_low", lambda: ports.LOWEST)
    monkeypatch.setattr(ports, "_ports", None)
    port = ports.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
