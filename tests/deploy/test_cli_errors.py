"""The `repatriation` command as a user runs it, given a bad file or a Temporal or a database that
does not answer: one line naming the file or the server and what became of the action, a non-zero
status, never a traceback."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from repatriation.synthetic import survivors

EXE = str(Path(sys.executable).with_name("repatriation"))

@pytest.fixture
def refused() -> Iterator[str]:
    """An address where nothing listens: a port held bound but not listening, so a connection to it
    is refused and no other process is given it meanwhile."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{held.getsockname()[1]}"
    finally:
        held.close()


@pytest.fixture
def env(tmp_path: Path, refused: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("REPATRIATION_")}
    return {
        **clean,
        "REPATRIATION_DATA_DIR": str(tmp_path / "var"),
        "REPATRIATION_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "REPATRIATION_TEMPORAL_ADDRESS": refused,
    }


@pytest.fixture
def survivor(tmp_path: Path) -> Path:
    path = tmp_path / "survivor.json"
    path.write_text(json.dumps(survivors(datetime.now(UTC).date())[1]), encoding="utf-8")
    return path


def run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def failed(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The one error line of stderr (the rest is the log: the migrations of a new database), after
    checking the status and that no traceback came."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def cases(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "app.db") as db:
        return db.execute("SELECT count(*) FROM cases").fetchone()[0]


# -- the survivor file -------------------------------------------------------------------------
def test_case_open_with_a_utf16_file_says_it_is_not_utf8(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "survivor-utf16.json"
    path.write_text('{"survivor": {}}', encoding="utf-16")
    line = failed(run(env, "case", "open", "--file", str(path), cwd=tmp_path), 2)
    assert line == f"error: {path}: not UTF-8 text (byte 0xff at position 0); save it as UTF-8"


@pytest.mark.parametrize(
    ("content", "held", "extra"),
    [
        ("null", "null", []),
        ("[1, 2]", "a list", []),
        ('["survivor"]', "a list", ["--reference", "SHELTER-1"]),
        ("42", "a number", []),
        ('"a survivor"', "a string", []),
    ],
    ids=["null", "list", "list-with-reference", "number", "string"],
)
def test_case_open_with_json_that_is_not_an_object_says_what_the_file_must_hold(
    env: dict[str, str], tmp_path: Path, content: str, held: str, extra: list[str]
) -> None:
    path = tmp_path / "survivor.json"
    path.write_text(content, encoding="utf-8")
    line = failed(run(env, "case", "open", "--file", str(path), *extra, cwd=tmp_path), 2)
    assert line == (
        f"error: {path}: the file must hold a JSON object with a 'survivor' (or the survivor itself); "
        f"it holds {held}"
    )


# -- Temporal ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["case", "open", "--file", "survivor.json"],
        ["identity", "attest", "RP-00000000"],
        ["intervene", "RP-00000000", "hold", "--why", "a test"],
    ],
    ids=["case-open", "decision", "intervention"],
)
def test_with_nothing_listening_at_the_temporal_address_nothing_is_recorded(
    env: dict[str, str], tmp_path: Path, survivor: Path, refused: str, command: list[str]
) -> None:
    result = run(env, *command, cwd=tmp_path)
    line = failed(result, 5)
    assert line.startswith(f"error: Temporal does not answer at {refused} (")
    assert line.endswith("; nothing was recorded; start the stack with `repatriation up`")


def test_a_case_open_temporal_refuses_is_not_recorded(
    local_env: WorkflowEnvironment, env: dict[str, str], tmp_path: Path, survivor: Path
) -> None:
    """A real server, asked for a namespace it does not have: the case's row is taken back."""
    address = local_env.client.service_client.config.target_host
    env = {**env, "REPATRIATION_TEMPORAL_ADDRESS": address, "REPATRIATION_TEMPORAL_NAMESPACE": "no-such-ns"}
    line = failed(run(env, "case", "open", "--file", str(survivor), cwd=tmp_path), 1)
    assert line == (
        f"error: Temporal at {address} refused it (NOT_FOUND: Namespace no-such-ns is not found.); "
        "nothing was recorded"
    )
    assert cases(tmp_path) == 0


# -- the database ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "code", "after"),
    [
        (["case", "open", "--file", "survivor.json"], 5, "; nothing was recorded"),
        (["embassy", "nationality", "RP-1", "--confirm"], 5, "; nothing was recorded"),
        (["case", "list"], 5, ""),
    ],
    ids=["case-open", "decision", "case-list"],
)
def test_with_the_database_not_answering_the_command_says_so(
    local_env: WorkflowEnvironment,
    env: dict[str, str],
    tmp_path: Path,
    survivor: Path,
    refused: str,
    command: list[str],
    code: int,
    after: str,
) -> None:
    """Temporal answers, the PostgreSQL server does not; its password is not shown."""
    env = {
        **env,
        "REPATRIATION_TEMPORAL_ADDRESS": local_env.client.service_client.config.target_host,
        "REPATRIATION_DATABASE_URL": f"postgresql://app:s3cret@{refused}/cases",
    }
    line = failed(run(env, *command, cwd=tmp_path), code)
    shown = f"postgresql://app:***@{refused}/cases"
    assert line.startswith(f"error: the case database does not answer ({shown}: connection failed: ")
    assert "Connection refused" in line
    assert line.endswith(f"){after}")
    assert "s3cret" not in line
