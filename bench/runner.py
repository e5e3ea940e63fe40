"""`repatriation bench`: every phase in order, on a fresh data folder and free ports.

1. the Chinese-script document against its Latin twin (fresh render processes);
2. the journey: N survivors opened at once, robots deciding, a worker process measured;
3. bare Temporal: the same number of workflows with the same activities and Updates, empty;
4. bare paperwork: the journey's documents rendered with nothing else;
5. scale: open cases waiting on people, the stuck list and the worker's resident memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import histories, measure, server_work
from bench.server_work import ServerWatch
from bench.worker import WorkerProcess, worker_env
from repatriation.ports import free_port

# Bare journeys whose histories are read for their events and bytes (every case's are read).
HISTORY_SAMPLE = 200
BARE_PREFIX = "bench-bare"  # bare journey i is the workflow f"{BARE_PREFIX}-{i}"


@dataclass
class Options:
    cases: int = 1000
    waiting: int = 10_000
    waiting_real: int = 1_500  # the deployed worker's cache: every slot full, memory at its bound
    quick: bool = False
    skip_bare: bool = False
    skip_scale: bool = False
    skip_cjk: bool = False
    data_dir: Path | None = None
    keep: bool = False
    report: Path | None = Path("BENCHMARKS.md")
    json_path: Path | None = None
    render_processes: int | None = None  # None: one per core, as a deployed worker
    render_nice: int | None = None  # None: as a deployed worker
    cache: int | None = None
    workflow_tasks: int | None = None
    full_sandbox: bool = False
    paperwork_share: float = 0.25  # bare paperwork renders a stratified quarter and extrapolates
    timeout: float = 4 * 3600
    idle_wait: float = 100  # how long to wait for the idle render processes to stop (scale)
    render_idle: float | None = None  # the scale worker's idle timeout (None: the deployed one)
    settle: float = 10  # seconds between the last case waiting and the memory measurement
    cjk_repeats: int = 5
    cjk_documents: tuple[str, ...] = ("etd_application", "intake_consent")
    embassy_window: float | None = None  # None: the deployed default (REPATRIATION_EMBASSY_REQUEST_...)
    command: str = "repatriation bench"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick_run(cls, **changes: Any) -> Options:
        values: dict[str, Any] = dict(
            cases=10,
            waiting=300,
            waiting_real=30,
            quick=True,
            idle_wait=30,
            render_idle=10,
            settle=2,
            paperwork_share=1.0,
            cjk_repeats=3,
            cjk_documents=("etd_application",),
        )
        values.update(changes)
        return cls(**values)


@contextlib.contextmanager
def _without_user_settings() -> Iterator[None]:
    """The user's REPATRIATION_* variables must not reach the benchmark's settings."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("REPATRIATION_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def bench_settings(data_dir: Path, embassy_window: float | None = None) -> tuple[Any, dict[str, str]]:
    """Settings on ``data_dir`` and free ports, and the same as environment variables."""
    from repatriation.settings import Settings

    env = {
        "REPATRIATION_DATA_DIR": str(data_dir),
        "REPATRIATION_DATABASE_URL": f"sqlite:///{(data_dir / 'app.db').resolve()}",
        "REPATRIATION_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "REPATRIATION_TEMPORAL_UI_PORT": str(free_port()),
        "REPATRIATION_TEMPORAL_METRICS_PORT": str(free_port()),
        "REPATRIATION_HTTP_PORT": str(free_port()),
        "REPATRIATION_LOG_LEVEL": "WARNING",
        "REPATRIATION_SWEEP_SECONDS": "3600",
    }
    if embassy_window is not None:
        env["REPATRIATION_EMBASSY_REQUEST_WINDOW_SECONDS"] = str(embassy_window)
    with _without_user_settings():
        settings = Settings(
            _env_file=None, **{k.removeprefix("REPATRIATION_").lower(): v for k, v in env.items()}
        )
    return settings, env


def _worker_args(options: Options) -> list[str]:
    args = []
    if options.render_processes is not None:
        args += ["--render-processes", str(options.render_processes)]
    if options.render_nice is not None:
        args += ["--render-nice", str(options.render_nice)]
    if options.cache is not None:
        args += ["--cache", str(options.cache)]
    if options.workflow_tasks is not None:
        args += ["--workflow-tasks", str(options.workflow_tasks)]
    if options.full_sandbox:
        args.append("--full-sandbox")
    return args


def render_processes(options: Options) -> int:
    return measure.cores() if options.render_processes is None else options.render_processes


def render_nice(options: Options) -> int:
    from repatriation.temporal import WorkerTuning

    return WorkerTuning.deployed().render_nice if options.render_nice is None else options.render_nice


async def run(options: Options, progress: Callable[[str], None] = print) -> dict[str, Any]:
    from database import ledger
    from database.engine import database_for
    from repatriation.service import CaseService
    from repatriation.stack import TemporalDevServer, wait_for_temporal
    from repatriation.temporal import workflow_tasks

    created = options.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="repatriation-bench-")) if created else Path(options.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if any(data_dir.iterdir()):
        raise SystemExit(f"the data folder {data_dir} is not empty: the benchmark needs a fresh one")
    settings, env = bench_settings(data_dir, options.embassy_window)
    env = worker_env(env)
    results: dict[str, Any] = {
        "machine": measure.machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": options.command,
        "options": {
            "cases": options.cases,
            "waiting": options.waiting,
            "waiting_real": min(options.waiting_real, options.waiting),
            "render_processes": render_processes(options),
            "render_nice": render_nice(options),
            "cache": options.cache,
            "workflow_tasks": workflow_tasks(settings, options.workflow_tasks),
            "full_sandbox": options.full_sandbox,
            "paperwork_share": options.paperwork_share,
            "activity_threads": settings.activity_threads,
            "embassy_window": settings.embassy_request_window_seconds,
            "quick": options.quick,
        },
    }
    started = time.perf_counter()
    progress(f"Data folder {data_dir}; Temporal at {settings.temporal_address}")
    server = TemporalDevServer(settings)
    workers: list[WorkerProcess] = []

    def worker(module: str, log: str, args: list[str]) -> WorkerProcess:
        process = WorkerProcess(env, data_dir / log, args, module=module, cwd=data_dir).start()
        workers.append(process)
        return process

    try:
        server.start()
        assert server.process is not None
        server_pid = server.process.pid  # its CPU is measured beside the workers'
        client = await wait_for_temporal(settings, server)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        db = database_for(settings.db_url, "upgrade")
        ledger.ensure_sources(db, ledger.DEFAULT_SOURCES)
        ledger.ensure_sources(
            db,
            [
                ledger.SourceSpec(
                    id="bench-mass-release-fund",
                    name="Mass release emergency return fund (benchmark)",
                    kind="iom_fund",
                    currency="USD",
                    budget=Decimal(5000) * max(options.cases, 1),
                )
            ],
        )
        service = CaseService(settings, client, db)
        today = datetime.now(UTC).date()

        if not options.skip_cjk:
            from bench.paperwork import cjk_ratio

            progress("Chinese script against Latin script, the same document ...")
            results["cjk"] = await asyncio.to_thread(
                cjk_ratio,
                settings.organisation,
                settings.public_url,
                options.cjk_repeats,
                options.cjk_documents,
            )

        from bench.journey import run_journey

        # The machine's speed between the phases: a ratio of phases run at different speeds
        # measures the hour, not the code (bench/report.py: speed_drift).
        speed: dict[str, float] = {}
        results["speed"] = speed

        async def probe(phase: str) -> None:
            speed[phase] = round(await asyncio.to_thread(measure.speed_probe), 4)

        await probe("before the journey")

        progress(f"Journey: {options.cases} survivors opened at once ...")
        journey_worker = worker("bench.worker", "worker-journey.log", _worker_args(options))
        await journey_worker.wait_polling(client, settings.temporal_namespace, settings.task_queue)
        journey = await run_journey(
            service,
            client,
            journey_worker.pid,
            options.cases,
            today,
            settings.organisation,
            options.timeout,
            progress,
            server_pid=server_pid,
            task_queue=settings.task_queue,
            server_metrics=server.metrics_url,
        )
        results["journey"] = journey.summary()
        progress(f"  journey: {journey.seconds:.1f} s ({journey.cases_per_second:.2f} cases/s)")
        journey_worker.stop()
        await probe("after the journey")

        if not options.skip_bare or not options.skip_scale:
            from bench.bare_temporal import BARE_QUEUE

            args = []
            if options.cache is not None:
                args += ["--cache", str(options.cache)]
            if options.workflow_tasks is not None:
                args += ["--workflow-tasks", str(options.workflow_tasks)]
            if options.full_sandbox:
                args.append("--full-sandbox")
            bare_worker = worker("bench.bare_temporal", "worker-bare.log", args)
            await bare_worker.wait_polling(client, settings.temporal_namespace, BARE_QUEUE)
        if not options.skip_bare:
            from bench.bare_temporal import drive
            from bench.paperwork import journey_documents, render_all, sample

            progress(f"Bare Temporal: {options.cases} empty journeys of the same shape ...")
            cpu = measure.CpuWatch(
                {"Temporal server": lambda: [server_pid], "bare worker": lambda: [bare_worker.pid]}
            ).start()
            asked = await ServerWatch(server.metrics_url).begin() if server.metrics_url else None
            results["bare_temporal"] = await drive(client, journey.shapes, BARE_PREFIX)
            await cpu.stop()
            results["bare_temporal"]["cpu"] = cpu.used()
            if asked is not None:
                await asked.stop()
                if asked.complete:
                    bare_work = server_work.summary(asked.used(), len(journey.shapes))
                    results["bare_temporal"]["server"] = bare_work
            sampled = [f"{BARE_PREFIX}-{i}" for i in range(min(len(journey.shapes), HISTORY_SAMPLE))]
            results["bare_temporal"]["history"] = histories.profile(await histories.fetch(client, sampled))
            progress(f"  bare Temporal: {results['bare_temporal']['seconds']:.1f} s")
            await probe("after bare Temporal")
            jobs = journey_documents(db, journey.case_ids)
            picked = sample(jobs, options.paperwork_share)
            progress(f"Bare paperwork: {len(picked)} of the journey's {len(jobs)} documents ...")
            # The render processes bare paperwork starts are this process's children, beside the
            # server and the bare worker (and theirs).
            others = {server_pid, bare_worker.pid}

            def render_pids() -> list[int]:
                kids = measure.children(os.getpid())
                theirs = others | {c for o in others for c in measure.children(o)}
                return [k for k in kids if k not in theirs]

            cpu = measure.CpuWatch({"render processes": render_pids}, every=1.0).start()
            paper = await asyncio.to_thread(
                render_all, picked, render_processes(options), settings.organisation, settings.public_url
            )
            await cpu.stop()
            share = len(jobs) / max(len(picked), 1)
            paper["cpu"] = {k: round(v * share, 1) for k, v in cpu.used().items()}  # for all of them
            paper["all_documents"] = len(jobs)
            paper["estimated_seconds"] = paper["seconds"] * share
            results["bare_paperwork"] = paper
            progress(f"  bare paperwork: {paper['estimated_seconds']:.1f} s")
            await probe("after bare paperwork")
            limit = results["bare_temporal"]["seconds"] + paper["estimated_seconds"]
            results["limit_seconds"] = limit
            results["ratio"] = journey.seconds / limit if limit else None

        if not options.skip_scale:
            from bench.scale import run_scale

            progress(
                f"Scale: {options.waiting} open cases waiting on people "
                f"({min(options.waiting_real, options.waiting)} real workflows) ..."
            )
            args = _worker_args(options)
            if options.render_idle is not None:
                args += ["--render-idle", str(options.render_idle)]
            scale_worker = worker("bench.worker", "worker-scale.log", args)
            await scale_worker.wait_polling(client, settings.temporal_namespace, settings.task_queue)
            scale = await run_scale(
                service,
                client,
                scale_worker.pid,
                options.waiting,
                options.waiting_real,
                options.cases,
                settings.organisation,
                today,
                progress,
                idle_wait=options.idle_wait,
                settle=options.settle,
            )
            results["scale"] = scale.summary()
    except BaseException as err:
        # A run takes up to an hour: what the phases before the failure measured is kept (the
        # JSON, as if the later phases had been skipped), with what stopped it.
        results["failed"] = f"{type(err).__name__}: {err}"
        raise
    finally:
        for process in reversed(workers):
            process.stop()
        server.stop()
        results["seconds"] = time.perf_counter() - started
        results["machine"]["load_after"] = measure.load_average()
        if created and not options.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        elif options.keep or not created:
            progress(f"Data folder kept: {data_dir}")
        if options.json_path:
            options.json_path.write_text(json.dumps(results, indent=2, default=str))
            if "failed" in results:
                progress(f"What was measured before it stopped is in {options.json_path}")
    return results
