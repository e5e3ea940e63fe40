"""The benchmark's worker: a process of its own, as deployed (``python worker.py``), so that its
memory is measured apart from the robots and the measuring.

``python -m bench.worker [--render-processes N] [--cache N] [--workflow-tasks N]`` runs
:func:`repatriation.temporal.run_worker` with the settings of the environment (REPATRIATION_*)
until SIGTERM or SIGINT; :class:`WorkerProcess` starts it and waits until it polls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent


def worker_env(settings_env: dict[str, str]) -> dict[str, str]:
    """The environment without any REPATRIATION_ variable of the user's, plus the benchmark's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPATRIATION_")}
    env.update(settings_env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _die_with_parent() -> None:
    from repatriation.stack import _die_with_parent as die

    die()


class WorkerProcess:
    """A worker subprocess (``module`` is ``bench.worker`` or ``bench.bare_temporal``)."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        args: list[str],
        module: str = "bench.worker",
        cwd: Path | None = None,
    ) -> None:
        self.env = env
        self.log = log
        self.args = args
        self.module = module
        self.cwd = cwd or ROOT  # the data folder: no .env of the user's is read
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> WorkerProcess:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
            )
        return self

    async def wait_polling(
        self, client: Client, namespace: str, task_queue: str, timeout: float = 90
    ) -> None:
        """Until this process polls the task queue (its poller identity is ``pid@host``)."""
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        request = DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.process.returncode}; see {self.log}")
            response = await client.workflow_service.describe_task_queue(request)
            if any(p.identity.startswith(f"{self.pid}@") for p in response.pollers):
                return
            if loop.time() > deadline:
                raise RuntimeError(f"the worker did not poll {task_queue} in {timeout:.0f} s; see {self.log}")
            await asyncio.sleep(0.3)

    def stop(self, timeout: float = 60) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--render-processes", type=int, default=None, help="default: one per core")
    parser.add_argument("--cache", type=int, default=None, help="max cached workflows")
    parser.add_argument("--workflow-tasks", type=int, default=None, help="max concurrent workflow tasks")
    parser.add_argument("--full-sandbox", action="store_true", help="reload the workflows per workflow")
    parser.add_argument("--render-idle", type=float, default=None, help="stop idle render processes after")
    parser.add_argument("--render-nice", type=int, default=None, help="render processes' nice (0-19)")
    return parser.parse_args(argv)


def tuning_from(args: argparse.Namespace) -> Any:
    """The deployed worker's tuning, with what the command line changes."""
    import dataclasses

    from repatriation.temporal import WorkerTuning

    changes: dict[str, Any] = {}
    if getattr(args, "render_processes", None) is not None:
        changes["render_processes"] = args.render_processes
    if args.cache is not None:
        changes["max_cached_workflows"] = args.cache
    if args.workflow_tasks is not None:
        changes["max_concurrent_workflow_tasks"] = args.workflow_tasks
    if args.full_sandbox:
        changes["shared_workflow_modules"] = False
    if getattr(args, "render_idle", None) is not None:
        changes["render_idle_seconds"] = args.render_idle
    if getattr(args, "render_nice", None) is not None:
        changes["render_nice"] = args.render_nice
    return dataclasses.replace(WorkerTuning.deployed(), **changes)


def main(argv: list[str] | None = None) -> None:
    from repatriation.logs import configure_logging
    from repatriation.ops import load_settings
    from repatriation.temporal import run_worker

    args = _args(argv)
    settings = load_settings()
    configure_logging(settings.environment, settings.log_level)
    tuning = tuning_from(args)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop, tuning)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
