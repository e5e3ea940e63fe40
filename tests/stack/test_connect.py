"""A worker or the API started beside Temporal (a compose stack, a machine booting) waits for the
server to answer instead of dying because it came up first; a one-off wait has an end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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



def _service(command: str, tmp_path: Path, **env: str) -> subprocess.Popen:
    """``python worker.py`` or ``repatriation serve``, pointed at a Temporal nobody runs."""
    argv = [sys.executable, "worker.py"] if command == "worker" else [binary("repatriation"), "serve"]
    environment = {
        **os.environ,
        "REPATRIATION_DATA_DIR": str(tmp_path / "var"),
        "REPATRIATION_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "REPATRIATION_HTTP_PORT": str(free_port()),
        "REPATRIATION_ENVIRONMENT": "development",
        **env,
    }
    return subprocess.Popen(
        argv, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_service_that_temporal_never_answers_says_so_in_one_line(tmp_path: Path, command: str) -> None:
    service = _service(command, tmp_path, REPATRIATION_TEMPORAL_CONNECT_SECONDS="1")
    _, err = service.communicate(timeout=120)
    assert service.returncode == 6, err
    assert "error: Temporal did not answer at 127.0.0.1:" in err and "within 1 s" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_service_told_to_stop_while_it_waits_for_temporal_stops(tmp_path: Path, command: str) -> None:
    """SIGTERM (compose or systemd stopping it) while it waits: it stops at once, cleanly, not
    after its minute of patience nor with a traceback."""
    service = _service(command, tmp_path, REPATRIATION_TEMPORAL_CONNECT_SECONDS="600")
    seen: list[str] = []
    assert service.stderr is not None
    for line in service.stderr:  # its log: the wait has begun
        seen.append(line)
        if "waiting for Temporal" in line:
            break
    else:
        pytest.fail("".join(seen))
    asked = time.monotonic()
    service.send_signal(signal.SIGTERM)
    _, rest = service.communicate(timeout=60)
    assert time.monotonic() - asked < 30
    assert service.returncode in (0, 130), "".join(seen) + rest
    assert "Traceback" not in rest
