"""A long activity heartbeats while its blocking work runs, so that a worker killed in the
middle of it is noticed after a heartbeat timeout, not after its whole start-to-close timeout."""

from __future__ import annotations

import threading

import pytest
from temporalio.testing import ActivityEnvironment

from activities.heartbeats import in_thread_heartbeating


async def test_heartbeats_until_the_work_is_done() -> None:
    beats: list[object] = []
    enough = threading.Event()

    def on_heartbeat(*details: object) -> None:
        beats.append(details)
        if len(beats) == 3:
            enough.set()

    def work() -> str:
        # Blocks until three heartbeats have been sent: it cannot finish without them.
        assert enough.wait(timeout=10), "no heartbeats while the work ran"
        return "sent"

    env = ActivityEnvironment()
    env.on_heartbeat = on_heartbeat
    result = await env.run(in_thread_heartbeating, work, 0.01)
    assert result == "sent"
    assert len(beats) >= 3


async def test_the_work_s_error_is_the_activity_s() -> None:
    def work() -> None:
        raise ValueError("the request's data is not valid")

    with pytest.raises(ValueError, match="not valid"):
        await ActivityEnvironment().run(in_thread_heartbeating, work, 0.01)
