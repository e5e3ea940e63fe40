"""Run the `repatriation` command as a user does: a subprocess on its own data folder and ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from database.engine import Database
from repatriation.ports import free_port as free_port  # the tests' servers take their ports here


def reserved_port() -> socket.socket:
    """A port held, bound but not listening, until the socket is closed: connecting to it is
    refused, and no other process (another test process among them) is given it meanwhile. For a
    port chosen when a test module is collected and used minutes later; close it just before
    binding the port for real."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    return held


def processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(proc.name) != os.getpid():
            found.append(int(proc.name))
    return found


@dataclass
class Cli:
    data_dir: Path
    env: dict[str, str]
    running: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def exe(self) -> str:
        return str(Path(sys.executable).with_name("repatriation"))

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([self.exe, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"repatriation {' '.join(args)} failed: {result.stderr}")
        return result

    def start(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [self.exe, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.running.append(process)
        return process

    def read_until(self, process: subprocess.Popen[str], text: str, timeout: float = 120) -> str:
        """Read the process's output until a line contains ``text``."""
        assert process.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            seen.append(line)
            if text in line:
                return "".join(seen)
        raise AssertionError(f"never saw {text!r}; output:\n{''.join(seen)}")

    def interrupt(self, process: subprocess.Popen[str]) -> int:
        """Ctrl-C; the exit code, after checking the command said it stopped cleanly."""
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        assert "every process this command started has stopped" in rest, rest
        return process.returncode

    def database(self) -> Database:
        return Database(f"sqlite:///{self.data_dir / 'app.db'}")


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    data_dir = tmp_path / "var"
    env = {
        **os.environ,
        "REPATRIATION_DATA_DIR": str(data_dir),
        "REPATRIATION_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "REPATRIATION_TEMPORAL_UI_PORT": str(free_port()),
        "REPATRIATION_HTTP_PORT": str(free_port()),
        "REPATRIATION_ORGANISATION": "Stack Test Shelter",
        "REPATRIATION_EMBASSY_REQUEST_WINDOW_SECONDS": "1",
    }
    env.pop("REPATRIATION_DATABASE_URL", None)
    c = Cli(data_dir=data_dir, env=env)
    yield c
    for process in c.running:
        if process.poll() is None:
            process.kill()
            process.wait()
    for pid in processes_mentioning(str(data_dir)):
        os.kill(pid, signal.SIGKILL)
