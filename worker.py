"""Run one worker against the configured Temporal server (deployments: `python worker.py`).

Configuration comes from the environment (REPATRIATION_TEMPORAL_ADDRESS,
REPATRIATION_DATABASE_URL, ...); see README.md.
"""

from __future__ import annotations

import asyncio
import sys

from database.migrate import MigrationError
from repatriation.logs import configure_logging, get_logger
from repatriation.ops import load_settings
from repatriation.temporal import run_worker


def main() -> None:
    settings = load_settings()
    configure_logging(settings.environment, settings.log_level)
    get_logger().info("worker starting", temporal=settings.temporal_address, task_queue=settings.task_queue)
    try:
        asyncio.run(run_worker(settings))
    except KeyboardInterrupt:
        pass
    except MigrationError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
