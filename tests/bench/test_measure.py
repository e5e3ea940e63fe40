"""The benchmark's CPU accounting, on real processes: what a group of processes used, including
one that has ended, and how much of it fell before a moment of the run."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from bench.measure import CpuWatch, cpu_seconds

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {seconds}: pass\n"


def _burner(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", BURN.format(seconds=seconds)])


def test_cpu_seconds_of_a_running_process_then_none_once_it_is_gone() -> None:
    # Burns 0.4 s of CPU, then sleeps: alive, with its CPU used.
    burner = subprocess.Popen([sys.executable, "-c", BURN.format(seconds=0.4) + "time.sleep(30)\n"])
    try:
        used = cpu_seconds(burner.pid)
        assert used is not None and used < 0.4  # still burning, or starting up
        deadline = time.monotonic() + 20
        previous = -1.0
        while time.monotonic() < deadline:  # until the burn is over: two readings alike
            time.sleep(0.2)
            used = cpu_seconds(burner.pid) or 0.0
            if used >= 0.4 and used == previous:
                break
            previous = used
        assert 0.4 <= used < 1.5, used  # its burn and its start-up; nothing while it sleeps
        assert used == previous, "still burning after 20 s"
    finally:
        burner.kill()
        burner.wait(timeout=10)
    assert cpu_seconds(burner.pid) is None  # reaped: gone from /proc


def test_a_group_keeps_what_an_ended_process_used() -> None:
    burner_started = 0.0

    async def scenario() -> CpuWatch:
        procs: list[subprocess.Popen[bytes]] = []
        watch = CpuWatch({"burners": lambda: [p.pid for p in procs if p.poll() is None]}, every=0.05)
        watch.start()
        await asyncio.sleep(0.1)
        nonlocal burner_started
        burner_started = time.perf_counter() - watch._started
        procs.append(_burner(0.6))
        while procs[0].poll() is None:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        await watch.stop()
        return watch

    watch = asyncio.run(scenario())
    used = watch.used()["burners"]
    # The burner used 0.6 s of CPU; the watch saw it to within its last sample (50 ms apart)
    # plus the interpreter's start-up, and kept it after the process ended.
    assert 0.3 <= used <= 2.0, used
    # Nothing before the burner started; all of it by the end.
    before = [totals["burners"] for t, totals in watch.samples if t < burner_started]
    assert before and all(v == 0 for v in before)
    assert watch.used(until=watch.samples[-1][0])["burners"] == used


def test_used_until_interpolates_between_samples() -> None:
    watch = CpuWatch({"a": lambda: []})
    watch.samples = [(0.0, {"a": 10.0}), (10.0, {"a": 20.0}), (20.0, {"a": 40.0})]
    assert watch.used(until=5.0) == {"a": 5.0}
    assert watch.used(until=15.0) == {"a": 20.0}
    assert watch.used(until=99.0) == {"a": 30.0}
    assert watch.used() == {"a": 30.0}
