"""The figures beside their targets: on the console and in BENCHMARKS.md.

BENCHMARKS.md is rewritten by every run, except its hand-written section "What each change
gained" (and whatever follows it), which is kept as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import histories

KEPT_HEADING = "## What each change gained"

# name -> (target text, test of the measured value)
TARGET_RATIO = 1.25
TARGET_EMBASSY_SECONDS = 180.0
TARGET_EMBASSY_CASES = 1000
TARGET_STUCK_P95_MS = 100.0
TARGET_STUCK_CASES = 10_000
TARGET_WORKER_MB = 400.0
TARGET_CJK_RATIO = 2.0


# The ratio compares phases run one after the other: it is judged only when they ran at one speed.
SPEED_TOLERANCE = 0.10  # a bare phase at most 10 % slower or faster than the journey's (speed probe)


def phase_speeds(results: dict[str, Any]) -> dict[str, float] | None:
    """The speed probe's seconds around each phase (the mean of the readings before and after
    it; larger is slower), or None when the run did not take them all."""
    probe = results.get("speed") or {}
    marks = ("before the journey", "after the journey", "after bare Temporal", "after bare paperwork")
    if not all(probe.get(m) for m in marks):
        return None
    before, journey, temporal, paperwork = (probe[m] for m in marks)
    return {
        "journey": (before + journey) / 2,
        "bare Temporal": (journey + temporal) / 2,
        "bare paperwork": (temporal + paperwork) / 2,
    }


def render_multiple(results: dict[str, Any]) -> float | None:
    """The render processes' CPU in the journey ÷ bare paperwork's for the same documents."""
    journey = (results.get("journey") or {}).get("cpu_journey") or {}
    bare = (results.get("bare_paperwork") or {}).get("cpu") or {}
    inside, alone = journey.get("render processes"), bare.get("render processes")
    return inside / alone if inside and alone else None


def speed_drift(results: dict[str, Any]) -> str | None:
    """Why the journey's ratio to the bare runs is the hour's, not the code's: the speed probe
    read a bare phase more than :data:`SPEED_TOLERANCE` away from the journey's. None when it
    did not, or when the run has no probe.

    The render processes' CPU in the journey against bare paperwork's (:func:`render_multiple`)
    is no such test: with the machine's speed steady by the probe, two render processes side by
    side, as bare paperwork runs them, were seen to cost 10 % more CPU a document than beside the
    worker and the server (BENCHMARKS.md, 2026-12-03 evening)."""
    reasons = []
    speeds = phase_speeds(results)
    if speeds:
        for phase in ("bare Temporal", "bare paperwork"):
            change = speeds[phase] / speeds["journey"] - 1
            if abs(change) > SPEED_TOLERANCE:
                reasons.append(
                    f"the machine ran {abs(change):.0%} {'slower' if change > 0 else 'faster'} "
                    f"in {phase} than in the journey (speed probe)"
                )
    return "; ".join(reasons) or None


def corrected_ratio(results: dict[str, Any]) -> float | None:
    """The ratio with each bare time scaled to the journey's speed (speed probe): an estimate,
    for reading a run whose phases ran at different speeds, never a verdict."""
    speeds = phase_speeds(results)
    journey = results.get("journey")
    if not (speeds and journey and results.get("ratio")):
        return None
    temporal = results["bare_temporal"]["seconds"] * speeds["journey"] / speeds["bare Temporal"]
    paperwork = results["bare_paperwork"]["estimated_seconds"] * speeds["journey"] / speeds["bare paperwork"]
    return float(journey["seconds"] / (temporal + paperwork))


def ratio_verdict(results: dict[str, Any], ratio: float, cases: int) -> str:
    """The ratio's verdict, judged only at 1,000 cases and one speed."""
    if cases < TARGET_EMBASSY_CASES:
        # A few cases are bound by the steps' latency (a person's turnaround, the embassy's
        # batching window), not by the work the ratio compares.
        return f"not comparable ({cases} cases)"
    if phase_speeds(results) is None:
        return "not judged: no speed probe"
    if speed_drift(results):
        return "not judged: the machine's speed changed between the phases"
    return _verdict(ratio <= TARGET_RATIO)


def _f(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{unit}"


def _verdict(ok: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "–"}[ok]


def figures(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, verdict) rows."""
    rows: list[tuple[str, str, str, str]] = []
    options = results.get("options", {})
    journey = results.get("journey")
    if journey:
        n = journey["cases"]
        rows.append(("Cases per second (whole journey)", _f(journey["cases_per_second"], digits=2), "–", "–"))
        ratio = results.get("ratio")
        if ratio is not None:
            rows.append(
                (
                    "Journey time ÷ (bare Temporal + bare paperwork)",
                    f"{_f(journey['seconds'], ' s')} ÷ ({_f(results['bare_temporal']['seconds'], ' s')} + "
                    # Three decimals: 1.253 is a miss that two would print as 1.25.
                    f"{_f(results['bare_paperwork']['estimated_seconds'], ' s')}) = **{ratio:.3f}**",
                    f"≤ {TARGET_RATIO} for {TARGET_EMBASSY_CASES:,}",
                    ratio_verdict(results, ratio, n),
                )
            )
        out = journey.get("embassy_all_out_seconds")
        ok = None
        if out is not None and journey["embassy_requests"] >= journey["embassy_needed"]:
            ok = out <= TARGET_EMBASSY_SECONDS if n >= TARGET_EMBASSY_CASES else None
        rows.append(
            (
                f"Every embassy request out, {n} survivors opened at once",
                f"**{_f(out, ' s')}** ({journey['embassy_requests']} of {journey['embassy_needed']} needed)",
                f"≤ {TARGET_EMBASSY_SECONDS:.0f} s for {TARGET_EMBASSY_CASES:,}",
                _verdict(ok) if n >= TARGET_EMBASSY_CASES else f"not comparable ({n} cases)",
            )
        )
        rows.append(
            (
                "Worker peak memory during the journey",
                f"worker {_f(journey['peak_worker_mb'], ' MB', 0)}; worker and its render processes "
                f"{_f(journey['peak_worker_total_mb'], ' MB', 0)}",
                "–",
                "–",
            )
        )
    scale = results.get("scale")
    if scale:
        waiting = scale["waiting"]
        comparable = waiting >= TARGET_STUCK_CASES
        p95 = scale["stuck_ms"].get("p95")
        rows.append(
            (
                f"Stuck list p95, {waiting:,} open cases ({scale['stuck_cases']:,} stuck)",
                f"**{_f(p95, ' ms')}**",
                f"≤ {TARGET_STUCK_P95_MS:.0f} ms with {TARGET_STUCK_CASES:,}",
                _verdict(p95 <= TARGET_STUCK_P95_MS) if comparable and p95 is not None else "not comparable",
            )
        )
        warm = scale["worker_mb"] + scale["render_processes_mb"]
        idle = scale["worker_mb_after_idle"]
        stopped = scale["render_processes_after_idle"] == 0
        rows.append(
            (
                f"Worker resident memory, {waiting:,} cases waiting ({scale['real']:,} real workflows), "
                "idle render processes stopped",
                f"**{_f(idle, ' MB', 0)}**"
                + ("" if stopped else f" ({scale['render_processes_after_idle']} render processes still up)"),
                f"< {TARGET_WORKER_MB:.0f} MB with {TARGET_STUCK_CASES:,}",
                _verdict(idle < TARGET_WORKER_MB) if comparable else "not comparable",
            )
        )
        rows.append(
            (
                "Same, right after the last case began waiting (render processes still warm)",
                f"**{_f(warm, ' MB', 0)}** (worker {_f(scale['worker_mb'], ' MB', 0)} + render processes "
                f"{_f(scale['render_processes_mb'], ' MB', 0)})",
                "–",
                # Transient: the render processes stop after a minute without a document, so
                # while the cases wait on people the row above is what the worker holds.
                "– (for a minute)",
            )
        )
    cjk = results.get("cjk")
    if cjk:
        letter = cjk["etd_application"]
        rows.append(
            (
                "ETD application naming a survivor in Chinese ÷ the same in Latin script",
                f"{_f(letter['chinese_ms'], ' ms', 0)} ÷ {_f(letter['latin_ms'], ' ms', 0)} = "
                f"**{letter['ratio']:.2f}**",
                f"≤ {TARGET_CJK_RATIO:.0f}",
                _verdict(letter["ratio"] <= TARGET_CJK_RATIO),
            )
        )
    _ = options
    return rows


def _table(header: list[str], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def console(results: dict[str, Any]) -> str:
    width = max((len(r[0]) for r in figures(results)), default=10)
    lines = ["", "Figure".ljust(width) + "  measured  |  target  |  verdict"]
    for name, value, target, verdict in figures(results):
        lines.append(
            f"{name.ljust(width)}  {value.replace('**', '')}  |  {target}  |  {verdict.replace('**', '')}"
        )
    journey = results.get("journey")
    if journey and journey.get("stage_latency"):
        lines.append("\nPer stage (seconds, from the cases' timelines): p50 / p95")
        for stage, p in journey["stage_latency"].items():
            lines.append(f"  {stage:<17} {_f(p['p50'], digits=2):>8} / {_f(p['p95'], digits=2)}")
    return "\n".join(lines)


def _cpu(used: dict[str, float]) -> str:
    """``render processes 175 s, worker 100 s, …`` (CPU-seconds per group)."""
    return ", ".join(f"{name} {_f(v, ' s', 0)}" for name, v in used.items())


def cpu_paragraph(journey: dict[str, Any]) -> list[str]:
    """Where the machine's time went during the journey, and how long tasks queued on the server."""
    lines: list[str] = []
    whole = journey.get("cpu_journey") or {}
    burst = journey.get("cpu_until_requests_out") or {}
    n = journey.get("cores") or 1
    if whole:
        text = (
            "Where the machine's time went (CPU-seconds per process group, from `/proc`, sampled every 2 s): "
        )
        out = journey.get("embassy_all_out_seconds")
        if burst and out:
            total = sum(burst.values())
            text += (
                f"until every embassy request was out ({_f(out, ' s')}), {_cpu(burst)}: "
                f"{_f(total, ' s', 0)} of the {_f(out * n, ' s', 0)} the {n} cores had "
                f"({total / (out * n):.0%}); "
            )
        total = sum(whole.values())
        text += (
            f"over the whole journey, {_cpu(whole)}: {_f(total, ' s', 0)} of "
            f"{_f(journey['seconds'] * n, ' s', 0)} ({total / (journey['seconds'] * n):.0%})."
        )
        lines += [text, ""]
    backlog = journey.get("backlog_journey")
    if backlog:
        text = (
            "Workflow tasks waiting on the Temporal server (`DescribeTaskQueue` every 5 s), the most at "
            f"once and the oldest: {backlog['max_count']:,} and {_f(backlog['max_age_seconds'], ' s')} "
            "over the whole journey"
        )
        early = journey.get("backlog_until_requests_out")
        if early:
            text += (
                f", {early['max_count']:,} and {_f(early['max_age_seconds'], ' s')} until every "
                "request was out"
            )
        lines += [text + " (a case waits about that long for each of its workflow tasks).", ""]
    lines += server_paragraph(journey)
    return lines


def _asked(work: dict[str, Any]) -> str:
    """One phase's persistence operations per workflow, in words."""
    busiest = ", ".join(f"{name} {n:.1f}" for name, n in list(work["by_operation"].items())[:5])
    return (
        f"{work['operations_per_workflow']:,.1f} operations a case, {work['writes_per_workflow']:.1f} of "
        f"them updates of a workflow's state (`UpdateWorkflowExecution`, {_f(work['write_ms'], ' ms')} "
        f"each on average, its wait for SQLite included); the most asked: {busiest}"
    )


def server_paragraph(journey: dict[str, Any]) -> list[str]:
    """What the Temporal server's persistence was asked (its own metrics, bench.server_work)."""
    whole = journey.get("server_journey")
    if not whole:
        return []
    text = (
        "What the Temporal server's persistence (its SQLite) was asked, from its own metrics (every "
        "case's workflows, the embassies' batchers and the server's own housekeeping, per case): "
    )
    early = journey.get("server_until_requests_out")
    if early:
        text += f"until every embassy request was out, {_asked(early)}; "
    return [text + f"over the whole journey, {_asked(whole)}.", ""]


def server_limit_line(results: dict[str, Any]) -> list[str]:
    """The journey's persistence operations per case beside bare Temporal's per workflow."""
    journey = (results.get("journey") or {}).get("server_journey")
    bare = (results.get("bare_temporal") or {}).get("server")
    if not journey or not bare or not bare["operations_per_workflow"]:
        return []
    multiple = journey["operations_per_workflow"] / bare["operations_per_workflow"]
    return [
        "- **The server's persistence, journey ÷ bare Temporal**: "
        f"{journey['operations_per_workflow']:,.1f} operations a case ÷ "
        f"{bare['operations_per_workflow']:,.1f} a bare workflow = {multiple:.2f} (updates of a "
        f"workflow's state {journey['writes_per_workflow']:.1f} ÷ {bare['writes_per_workflow']:.1f}). "
        "Counts move far less with the machine's speed than seconds do; the server's housekeeping, "
        "which grows with a phase's length, is counted in both."
    ]


def speed_line(results: dict[str, Any]) -> list[str]:
    """The speed probe's readings, for the run's description."""
    probe = results.get("speed")
    if not probe:
        return []
    readings = ", ".join(f"{_f(v * 1000, ' ms', 0)} {k}" for k, v in probe.items())
    return [
        "- **Speed probe** (a fixed pure-Python workload, best of three, on the idle stack; "
        f"larger is slower): {readings}"
    ]


def drift_line(results: dict[str, Any]) -> list[str]:
    """Whether the journey and the bare runs ran at one speed, and the ratio corrected if not."""
    if results.get("ratio") is None:
        return []
    multiple = render_multiple(results)
    rendering = (
        f" The render processes used {multiple:.2f} times bare paperwork's CPU for the same documents."
        if multiple is not None
        else ""
    )
    why = speed_drift(results)
    if why is None:
        if phase_speeds(results) is None:  # a run from before the probe
            return [f"- **Speed**: not probed, so the ratio is not judged.{rendering}"]
        within = f"within {SPEED_TOLERANCE:.0%} of the journey's speed"
        return [f"- **One speed**: the bare runs ran {within} (speed probe).{rendering}"]
    corrected = corrected_ratio(results)
    return [
        f"- **Not one speed**: {why}, so the ratio above measures the hour, not the code, and is not "
        "judged against its target."
        + rendering
        + (
            f" Scaled to the journey's speed by the probe, the ratio would read about {corrected:.2f}."
            if corrected is not None
            else ""
        )
    ]


def limit_cpu_line(results: dict[str, Any]) -> list[str]:
    """The journey's CPU against the bare runs': more work, as against the same work done slower."""
    journey = results.get("journey") or {}
    whole = journey.get("cpu_journey")
    bare_t = results.get("bare_temporal", {}).get("cpu")
    bare_p = results.get("bare_paperwork", {}).get("cpu")
    if not (whole and bare_t and bare_p):
        return []
    j, t, p = sum(whole.values()), sum(bare_t.values()), sum(bare_p.values())
    return [
        f"- **CPU, journey ÷ limit**: the journey used {_f(j, ' s', 0)} of CPU; bare Temporal "
        f"{_f(t, ' s', 0)} ({_cpu(bare_t)}), bare paperwork {_f(p, ' s', 0)} (its render processes, "
        f"extrapolated to every document): {_f(j, ' s', 0)} ÷ {_f(t + p, ' s', 0)} = "
        f"{j / (t + p):.3f} (the ratio of time above also counts the cores left idle).",
    ]


def history_section(results: dict[str, Any]) -> list[str]:
    """What the Temporal server keeps of a case against a bare journey of the same shape."""
    real = (results.get("journey") or {}).get("history")
    if not real:
        return []
    bare = (results.get("bare_temporal") or {}).get("history") or {}
    columns = ["Per workflow", "journey: events", "KB"] + (["bare Temporal: events", "KB"] if bare else [])
    rows: list[tuple[Any, ...]] = []
    for kind, label in [*histories.KINDS.items(), ("other", "other")]:
        a = real["by_kind"].get(kind)
        b = bare.get("by_kind", {}).get(kind) if bare else None
        if a is None and b is None:
            continue
        row: tuple[Any, ...] = (label, _f((a or {}).get("events", 0)), _f((a or {}).get("kb", 0)))
        if bare:
            row += (_f((b or {}).get("events", 0)), _f((b or {}).get("kb", 0)))
        rows.append(row)
    total: tuple[Any, ...] = ("**all**", f"**{_f(real['events'])}**", f"**{_f(real['kb'])}**")
    if bare:
        total += (f"**{_f(bare['events'])}**", f"**{_f(bare['kb'])}**")
    rows.append(total)
    text = (
        "What the Temporal server keeps of a case (its history: every event written once, handed to "
        "the worker and replayed to a worker that lost the case from its cache), on average over "
        f"{real['workflows']:,} cases, with {_f(real['workflow_tasks'])} workflow tasks each"
    )
    if bare:
        text += (
            f"; bare Temporal over {bare['workflows']:,} of its journeys, with "
            f"{_f(bare['workflow_tasks'])} workflow tasks each"
        )
    lines = [text + " (KB: the events as stored, payloads encrypted):", "", _table(columns, rows), ""]
    causes = _task_causes_line(real, bare)
    return lines + ([causes, ""] if causes else [])


def _causes(profile: dict[str, Any]) -> str:
    return ", ".join(f"{cause} {_f(n)}" for cause, n in profile.get("task_causes", {}).items())


def _task_causes_line(real: dict[str, Any], bare: dict[str, Any]) -> str:
    """What made the server schedule each workflow task (bench/histories.py, ``task_causes``)."""
    if not real.get("task_causes"):
        return ""
    text = (
        "What made the server schedule each workflow task, per workflow (the first new event since "
        "the task before; an Update counts for the task that accepted it; nothing new: a query that "
        f"came while a task was in flight, or the SDK's own): journey {_causes(real)}"
    )
    if bare.get("task_causes"):
        text += f"; bare Temporal {_causes(bare)}"
    return text + "."


def markdown(results: dict[str, Any], kept: str) -> str:
    m = results["machine"]
    o = results["options"]
    journey = results.get("journey")
    parts = [
        "# Benchmarks",
        "",
        "Written by `repatriation bench` (see `repatriation bench --help`; `--quick` runs in a minute or "
        "two). Everything runs on the embedded stack on a fresh temporary data folder and free ports: the "
        "Temporal dev server (SQLite), the app database (SQLite), and a worker process as deployed "
        "(`python worker.py`: documents render in kept-warm render processes, one per core). Robot "
        "caseworkers, liaisons and supervisors take every decision the moment it is pending, through "
        "the service layer. Speed is measured here, never by a timed test.",
        "",
        "## The run",
        "",
        f"- **Date**: {results['date']}",
        f"- **Command**: `{results['command']}` (took {results['seconds'] / 60:.1f} min)",
        f"- **Machine**: {m['cpu']}, {m['memory']}; {m['os']}; load average before the run "
        f"{m['load_before']}, after it {m.get('load_after', '?')} (other work on the machine counts)",
        f"- **Software**: Python {m['python']}; {m['packages']}; {m['fonts']}",
        *speed_line(results),
        f"- **Settings**: {o['render_processes']} render processes"
        + (f" at nice {o['render_nice']}" if o.get("render_nice") else "")
        + f", {o['activity_threads']} "
        "activity threads, "
        f"{o['cache'] or 'default'} cached workflows, "
        + (f"{o['workflow_tasks']} workflow tasks at once, " if o.get("workflow_tasks") else "")
        + "embassy requests gathered for "
        f"{o.get('embassy_window', 60):g} s"
        + (f"; bare paperwork on a {o['paperwork_share']:.0%} sample" if o["paperwork_share"] < 1 else ""),
        "",
        _table(["Figure", "Measured", "Target", ""], figures(results)),
        "",
    ]
    if journey:
        parts += [
            "## The journey",
            "",
            f"{journey['cases']:,} synthetic survivors (seven nationalities, names in Latin, "
            "Vietnamese, Chinese, "
            "Thai, Burmese and Lao script; minors, pregnancies, medical needs; a few holding their passport) "
            f"opened at once ({_f(journey['open_seconds'], ' s')} to open them all), then driven to closure: "
            f"{_f(journey['seconds'], ' s')} in all, {journey['decisions']:,} decisions, "
            f"{journey['documents']:,} documents "
            f"({journey.get('documents_by_type', {}).get('embassy_request', 0):,} of them consolidated "
            f"embassy requests, mailed as {journey.get('embassy_letters', 0):,} letters), "
            f"{_f(journey.get('activities_per_case'), digits=1)} activities and "
            f"{_f(journey.get('updates_per_case'), digits=1)} Updates per case. Outcomes: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(journey["outcomes"].items()))
            + ".",
            "",
            "Per stage, from each case's timeline (a stage's first event to the event that ended it; the "
            "stages with a person's decision include the robots' turnaround, "
            f"p50 {_f(journey['robot_turnaround'].get('p50'), ' s', 2)}, "
            f"p95 {_f(journey['robot_turnaround'].get('p95'), ' s', 2)}):",
            "",
            _table(
                ["Stage", "p50", "p95", "max"],
                [
                    (s, _f(p["p50"], " s", 2), _f(p["p95"], " s", 2), _f(p["max"], " s", 2))
                    for s, p in journey["stage_latency"].items()
                ]
                + [
                    (
                        "whole case",
                        _f(journey["case_latency"]["p50"], " s", 2),
                        _f(journey["case_latency"]["p95"], " s", 2),
                        _f(journey["case_latency"]["max"], " s", 2),
                    ),
                    (
                        "opened → embassy request mailed",
                        _f(journey["embassy_latency"]["p50"], " s", 2),
                        _f(journey["embassy_latency"]["p95"], " s", 2),
                        _f(journey["embassy_latency"]["max"], " s", 2),
                    ),
                    (
                        "request mailed → the case told (the batcher's signal)",
                        _f(journey.get("embassy_told_latency", {}).get("p50"), " s", 2),
                        _f(journey.get("embassy_told_latency", {}).get("p95"), " s", 2),
                        _f(journey.get("embassy_told_latency", {}).get("max"), " s", 2),
                    ),
                ],
            ),
            "",
            *cpu_paragraph(journey),
        ]
    if "bare_temporal" in results:
        bt, bp = results["bare_temporal"], results["bare_paperwork"]
        sampled = bp["documents"] < bp["all_documents"]
        parts += [
            "## The limit on this machine",
            "",
            f"- **Bare Temporal**: {bt['workflows']:,} workflows, each with the activities and "
            "Updates its case "
            f"had (no-op activities, a deadline timer per wait), on a worker process with the same options: "
            f"{_f(bt['seconds'], ' s')} ({bt['per_second']:.1f} workflows/s).",
            f"- **Bare paperwork**: {bp['documents']:,} "
            + (f"of the {bp['all_documents']:,} " if sampled else "")
            + f"documents of the journey rendered with nothing else (same render processes, no database, "
            f"no Temporal): {_f(bp['seconds'], ' s')}"
            + (f", so {_f(bp['estimated_seconds'], ' s')} for all of them (extrapolated)" if sampled else "")
            + f"; {bp['documents_per_second']:.2f} documents/s.",
            f"- **Journey ÷ limit**: {_f(journey['seconds'] if journey else None, ' s')} ÷ "
            f"{_f(results['limit_seconds'], ' s')} = {results['ratio']:.3f}.",
            *limit_cpu_line(results),
            *server_limit_line(results),
            *drift_line(results),
            "",
            "Mean time per document, by type (bare paperwork, including waiting for a free render process):",
            "",
            _table(["Document", "ms"], [(k, _f(v, digits=0)) for k, v in bp["per_document_ms"].items()]),
            "",
        ]
    parts += history_section(results)
    scale = results.get("scale")
    if scale:
        filled = scale["waiting"] - scale["real"]
        parts += [
            "## Scale: open cases waiting on people",
            "",
            f"- {scale['real']:,} real cases opened through the service: each ran its identity checks, had "
            "its consent form rendered and waits at identity attestation "
            f"({_f(scale['real_seconds'], ' s', 0)}).",
        ]
        if filled:
            parts.append(
                f"- {filled:,} more open cases written straight into the database, cloned from a "
                "real waiting "
                "case (own survivor, own opening time over the last ten days, so those past the seven-day "
                "deadline are overdue, and one in 97 has a failing step), and "
                + (
                    f"{scale['temporal_fill']:,} workflows waiting on an Update with a deadline "
                    "timer started "
                    "on the Temporal server (bare workflows, served by the bare worker)."
                    if scale["temporal_fill"]
                    else "no workflows on the server for them."
                )
            )
        parts += [
            "- Stuck list, timed once the server had no workflow task left to hand out (every case "
            f"at rest, waiting), as a supervisor (`CaseService.stuck_for`: all reasons, overdue, a stage, a "
            f"nationality; up to 500 items, {scale['stuck_items_returned']} returned): p50 "
            f"{_f(scale['stuck_ms']['p50'], ' ms')}, p95 {_f(scale['stuck_ms']['p95'], ' ms')}, max "
            f"{_f(scale['stuck_ms']['max'], ' ms')}. The case list's first page: p95 "
            f"{_f(scale['list_ms']['p95'], ' ms')}.",
            "- Worker resident memory (VmRSS from /proc): right after the last real case began waiting, "
            f"{_f(scale['worker_mb'], ' MB', 0)} for the worker process and "
            f"{_f(scale['render_processes_mb'], ' MB', 0)} for its render processes, still warm; with "
            f"every case waiting, {_f(scale['worker_mb_after_idle'], ' MB', 0)} in all once idle "
            f"({scale['render_processes_after_idle']} render processes left).",
            "",
        ]
    cjk = results.get("cjk")
    if cjk:
        parts += [
            "## Chinese script",
            "",
            "The same document for the same survivor, with the name in Chinese script (王小明) and in Latin "
            "script only; medians of warm renders in one render process, and the first render in a fresh "
            "process (after one Latin document, as in a worker):",
            "",
            _table(
                ["Document", "Latin", "Chinese", "ratio", "first Latin", "first Chinese", "ratio"],
                [
                    (
                        name,
                        _f(c["latin_ms"], " ms", 0),
                        _f(c["chinese_ms"], " ms", 0),
                        f"{c['ratio']:.2f}",
                        _f(c["first_latin_ms"], " ms", 0),
                        _f(c["first_chinese_ms"], " ms", 0),
                        f"{c['first_ratio']:.2f}",
                    )
                    for name, c in cjk.items()
                ],
            ),
            "",
            "(The consent form is bilingual: the Chinese one carries the whole form in Chinese "
            "too, the Latin "
            "twin is in English only, so it is a different document; the ETD application, which the embassy "
            "receives for each survivor, is the target's.)",
            "",
        ]
    parts.append(kept.rstrip() + "\n" if kept else KEPT_HEADING + "\n\n(Not written yet.)\n")
    return "\n".join(parts)


def kept_section(path: Path) -> str:
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    at = text.find(KEPT_HEADING)
    return text[at:] if at >= 0 else ""


def write(path: Path, results: dict[str, Any]) -> None:
    text = markdown(results, kept_section(path))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
