"""Heartbeats for the activities that may run long (a consolidated request: a render of many
pages and a mail with dozens of attachments).

Without them a worker killed in the middle of such an activity is noticed only when its whole
start-to-close timeout has run out (minutes); with them, when one heartbeat timeout has (see
``workflows/calls.py``), and the attempt is retried on another worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")

EVERY_SECONDS = 5.0


async def in_thread_heartbeating(work: Callable[[], T], every: float = EVERY_SECONDS) -> T:
    """Run blocking ``work`` in a thread, heartbeating every ``every`` seconds until it is done."""
    task = asyncio.ensure_future(asyncio.to_thread(work))
    while True:
        done, _ = await asyncio.wait({task}, timeout=every)
        if done:
            return task.result()
        activity.heartbeat()
