"""`repatriation bench`: the mass-release benchmark (see BENCHMARKS.md).

    repatriation bench [--cases N] [--waiting N] [--waiting-real N] [--quick] [--skip-bare]
                       [--skip-scale] [--data-dir DIR] [--keep] [--report PATH] [--json PATH]

It runs on the embedded stack (Temporal dev server with SQLite, the app database in SQLite, a
worker process as deployed) on a fresh temporary data folder and free ports, never on ./var;
prints every figure beside its target and writes them, with the machine, the date and the
command, into BENCHMARKS.md. The phases live in the bench/ folder of the source tree.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import shlex
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _bench_module(name: str) -> Any:
    """``bench.<name>`` from the source tree (the bench/ folder is not installed with the app)."""
    if not (ROOT / "bench" / "__init__.py").exists():
        raise SystemExit("repatriation bench runs from a source checkout: the bench/ folder is missing")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"bench.{name}")


def _nice(value: str) -> int:
    try:
        nice = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--render-nice must be a whole number, not {value!r}") from None
    if not 0 <= nice <= 19:
        raise argparse.ArgumentTypeError(f"--render-nice must be between 0 and 19, not {nice}")
    return nice


def add_commands(sub: Any) -> None:
    """Add the benchmark subcommand to the CLI's subparsers."""
    p = sub.add_parser(
        "bench",
        help="benchmark a mass release on the embedded stack; writes BENCHMARKS.md",
        description=(
            "Open N synthetic survivors at once and drive them to closure with robot deciders; measure "
            "the same shape on bare Temporal and bare paperwork; fill the stack with open cases waiting "
            "on people; print every figure beside its target and write BENCHMARKS.md. Runs on a fresh "
            "temporary data folder and free ports."
        ),
    )
    p.add_argument("--cases", type=int, help="survivors opened at once (default 1000; --quick: 16)")
    p.add_argument("--quick", action="store_true", help="a run of a minute or two with small numbers")
    p.add_argument(
        "--waiting", type=int, help="open cases waiting on people for the scale part (default 10000)"
    )
    p.add_argument(
        "--waiting-real",
        type=int,
        help="of those, real workflows opened through the service (default 1500, the worker's cache; "
        "the rest are database rows cloned from a real one and bare waiting workflows on the server)",
    )
    p.add_argument("--skip-bare", action="store_true", help="skip bare Temporal and bare paperwork")
    p.add_argument("--skip-scale", action="store_true", help="skip the open cases waiting on people")
    p.add_argument("--skip-cjk", action="store_true", help="skip the Chinese-script document")
    p.add_argument(
        "--paperwork-share",
        type=float,
        help="share of the journey's documents bare paperwork renders, the rest extrapolated "
        "(default 0.25; --quick: 1)",
    )
    p.add_argument(
        "--render-processes",
        type=int,
        help="render processes of the worker (default one per core; 0: threads)",
    )
    p.add_argument(
        "--render-nice",
        type=_nice,
        help="how much lower the render processes' CPU priority is (nice, 0-19; default: the worker's)",
    )
    p.add_argument("--cache", type=int, help="the worker's max cached workflows (default: the worker's)")
    p.add_argument(
        "--workflow-tasks",
        type=int,
        help="the worker's max concurrent workflow tasks (default: 8 per core, at most 100)",
    )
    p.add_argument(
        "--full-sandbox", action="store_true", help="the worker reloads the workflows package per workflow"
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        dest="bench_data_dir",
        help="an empty folder to run in, kept afterwards (default: a temporary one, removed)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    p.add_argument(
        "--report",
        metavar="PATH",
        help="where to write the report (default BENCHMARKS.md; --quick: BENCHMARKS.quick.md)",
    )
    p.add_argument("--no-report", action="store_true", help="print the figures only")
    p.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    p.add_argument(
        "--embassy-window",
        type=float,
        help="seconds a consolidated embassy request gathers cases (default: the setting's, 60)",
    )
    p.add_argument("--timeout", type=float, default=4 * 3600, help="give up on the journey after this (s)")
    p.set_defaults(func=cmd_bench)


def _command() -> str:
    if sys.argv[1:2] == ["bench"]:
        return "repatriation " + shlex.join(sys.argv[1:])
    return "repatriation bench"


def options_from(args: argparse.Namespace) -> Any:
    runner = _bench_module("runner")
    changes: dict[str, Any] = {
        "skip_bare": args.skip_bare,
        "skip_scale": args.skip_scale,
        "skip_cjk": args.skip_cjk,
        "keep": args.keep,
        "render_processes": args.render_processes,
        "render_nice": args.render_nice,
        "cache": args.cache,
        "workflow_tasks": args.workflow_tasks,
        "full_sandbox": args.full_sandbox,
        "timeout": args.timeout,
        "command": _command(),
    }
    for name in ("cases", "waiting", "waiting_real", "paperwork_share", "embassy_window"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.bench_data_dir:
        changes["data_dir"] = Path(args.bench_data_dir)
    if args.json:
        changes["json_path"] = Path(args.json)
    if args.no_report:
        changes["report"] = None
    elif args.report:
        changes["report"] = Path(args.report)
    elif args.quick:
        changes["report"] = Path("BENCHMARKS.quick.md")
    options = runner.Options.quick_run(**changes) if args.quick else runner.Options(**changes)
    return options


def cmd_bench(args: argparse.Namespace) -> int:
    from repatriation.logs import configure_logging

    configure_logging("development", "WARNING")
    options = options_from(args)
    runner = _bench_module("runner")
    report = _bench_module("report")
    try:
        results = asyncio.run(runner.run(options, progress=lambda line: print(line, flush=True)))
    except KeyboardInterrupt:
        print("\nstopped; every process the benchmark started has stopped", file=sys.stderr)
        return 130
    print(report.console(results))
    if options.report is not None:
        report.write(options.report, results)
        print(f"\nWritten to {options.report}")
    return 0
