"""A worker or the API started beside Temporal (a compose stack, a machine booting) waits for the
server to answer instead of dying because it came up first; a one-off wait has an end."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from repatriation.ports import free_port
from repatriation.temporal import connect_patiently
from tests.conftest import binary, make_settings

ROOT = Path(__file__).resolve().parents[2]


async def test_a_service_waits_for_a_temporal_that_is_still_starting(tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(tmp_path, temporal_address=f"127.0.0.1:{port}")
    server = subprocess.Popen(
        [binary("temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port)]
        + ["--db-filename", str(tmp_path / "temporal.db"), "--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Asked at once, before the server can be listening: refused, then tried again.
        with capture_logs() as logs:
            client = await connect_patiently(settings, patience=timedelta(seconds=60))
        assert any(entry["event"] == "waiting for Temporal" for entry in logs), logs
        assert (await client.workflow_service.get_system_info(GetSystemInfoRequest())).server_version
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


async def test_the_wait_has_an_end(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, temporal_address=f"127.0.0.1:{free_port()}")  # nobody there
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await connect_patiently(settings, patience=timedelta(seconds=1))
    assert time.monotonic() - started < 10



@contextlib.contextmanager
def _service(command: str, tmp_path: Path, **env: str) -> Iterator[subprocess.Popen]:
    """``python worker.py`` or ``repatriation serve``, pointed at a Temporal nobody runs; killed
    on the way out if the test left it running."""
    argv = [sys.executable, "worker.py"] if command == "worker" else [binary("repatriation"), "serve"]
    environment = {
        **os.environ,
        "REPATRIATION_DATA_DIR": str(tmp_path / "var"),
        "REPATRIATION_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "REPATRIATION_HTTP_PORT": str(free_port()),
        "REPATRIATION_ENVIRONMENT": "development",
        "REPATRIATION_LOG_LEVEL": "INFO",  # the wait is logged at INFO
        **env,
    }
    service = subprocess.Popen(
        argv, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        yield service
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(timeout=30)
        assert service.stderr is not None
        service.stderr.close()


def _stderr_lines(service: subprocess.Popen) -> queue.Queue[str | None]:
    """Its stderr, line by line, read by a thread (None once it closes): waited on with a bound."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert service.stderr is not None
        for line in service.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _read_until(lines: queue.Queue[str | None], text: str | None, timeout: float) -> str:
    """What the service wrote until a line containing ``text`` (None: until it closed stderr)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no {text!r} within {timeout} s:\n" + "".join(seen))
        if line is None:
            if text is None:
                return "".join(seen)
            pytest.fail(f"stderr closed before {text!r}:\n" + "".join(seen))
        seen.append(line)
        if text is not None and text in line:
            return "".join(seen)


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_service_that_temporal_never_answers_says_so_in_one_line(tmp_path: Path, command: str) -> None:
    with _service(command, tmp_path, REPATRIATION_TEMPORAL_CONNECT_SECONDS="1") as service:
        err = _read_until(_stderr_lines(service), None, timeout=120)
        assert service.wait(timeout=30) == 6, err
    assert "error: Temporal did not answer at 127.0.0.1:" in err and "within 1 s" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("command", "status"), [("worker", 0), ("serve", 130)])
def test_a_service_told_to_stop_while_it_waits_for_temporal_stops(
    tmp_path: Path, command: str, status: int
) -> None:
    """SIGTERM (compose or systemd stopping it) while it waits: it stops at once, cleanly, not
    after its patience (ten minutes here) nor with a traceback."""
    with _service(command, tmp_path, REPATRIATION_TEMPORAL_CONNECT_SECONDS="600") as service:
        lines = _stderr_lines(service)
        seen = _read_until(lines, "waiting for Temporal", timeout=120)
        asked = time.monotonic()
        service.send_signal(signal.SIGTERM)
        rest = _read_until(lines, None, timeout=60)
        assert service.wait(timeout=30) == status, seen + rest
        assert time.monotonic() - asked < 8  # not the ten seconds a command gives its work to end
    assert "Traceback" not in rest
