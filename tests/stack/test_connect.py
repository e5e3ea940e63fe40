"""A worker or the API started beside Temporal (a compose stack, a machine booting) waits for the
server to answer instead of dying because it came up first; a one-off wait has an end."""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from repatriation.ports import free_port
from repatriation.temporal import connect_patiently
from tests.conftest import binary, make_settings


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

