"""Run one worker against the configured Temporal server (deployments: `python worker.py`).

Configuration comes from the environment (REPATRIATION_TEMPORAL_ADDRESS,
REPATRIATION_DATABASE_URL, ...); see README.md.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from activities.deps import TemplatesUnusable
from database.migrate import MigrationError
from repatriation.logs import configure_logging, get_logger
from repatriation.ops import load_settings
from repatriation.temporal import TemporalUnreachable, run_worker


def main() -> None:
    settings = load_settings()
    configure_logging(settings.environment, settings.log_level)
    get_logger().info("worker starting", temporal=settings.temporal_address, task_queue=settings.task_queue)
    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # finish the activities in hand, then leave
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    try:
        asyncio.run(until_signalled())
    except (MigrationError, TemplatesUnusable) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(3)
    except TemporalUnreachable as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(6)


if __name__ == "__main__":
    main()
