"""Settings at start-up: a wrong value stops it with one line per bad setting naming its variable,
a .env file in the working directory is read, and the README documents every setting."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from repatriation import ops
from repatriation.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No REPATRIATION_* variable from the caller's environment, and no .env but the test's."""
    for name in list(os.environ):
        if name.upper().startswith("REPATRIATION_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def stopped(capsys: pytest.CaptureFixture[str]) -> tuple[ops.InvalidSettings, str]:
    with pytest.raises(SystemExit) as exit_info:
        ops.load_settings()
    assert exit_info.value.code == 2
    assert isinstance(exit_info.value, ops.InvalidSettings)
    return exit_info.value, capsys.readouterr().err


def test_a_port_out_of_range_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REPATRIATION_HTTP_PORT", "70000")
    error, stderr = stopped(capsys)
    assert str(error) == "REPATRIATION_HTTP_PORT: Input should be less than or equal to 65535"
    assert (
        "configuration error: REPATRIATION_HTTP_PORT: Input should be less than or equal to 65535" in stderr
    )


def test_a_rate_above_one_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REPATRIATION_BOOKING_FAILURE_RATE", "2")
    error, _ = stopped(capsys)
    assert str(error) == "REPATRIATION_BOOKING_FAILURE_RATE: Input should be less than or equal to 1"


def test_every_bad_setting_gets_its_own_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REPATRIATION_HTTP_PORT", "http")
    monkeypatch.setenv("REPATRIATION_ENVIRONMENT", "staging")
    monkeypatch.setenv("REPATRIATION_DEADLINE_DAYS", '{"etd": "soon"}')
    error, stderr = stopped(capsys)
    lines = error.lines
    assert len(lines) == 3 and len(stderr.strip().splitlines()) == 3
    assert any(line.startswith("REPATRIATION_HTTP_PORT: Input should be a valid integer") for line in lines)
    assert any(
        line.startswith("REPATRIATION_ENVIRONMENT: Input should be 'development' or 'production'")
        for line in lines
    )
    assert any(
        line.startswith("REPATRIATION_DEADLINE_DAYS (etd): Input should be a valid number") for line in lines
    )


def test_a_value_that_is_not_json_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REPATRIATION_DEADLINE_DAYS", "{nationality: 21")
    error, _ = stopped(capsys)
    assert str(error).startswith("REPATRIATION_DEADLINE_DAYS: not a valid value for this setting")


def test_a_dotenv_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "REPATRIATION_ORGANISATION=Dotenv Shelter\nREPATRIATION_HTTP_PORT=8123\nUNRELATED=1\n",
        encoding="utf-8",
    )
    settings = ops.load_settings()
    assert settings.organisation == "Dotenv Shelter"
    assert settings.http_port == 8123


def test_the_environment_wins_over_the_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("REPATRIATION_HTTP_PORT=8123\n", encoding="utf-8")
    monkeypatch.setenv("REPATRIATION_HTTP_PORT", "8124")
    assert ops.load_settings().http_port == 8124


def test_a_bad_value_in_the_dotenv_file_is_named_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".env").write_text("REPATRIATION_REMINDER_FRACTION=1.5\n", encoding="utf-8")
    error, _ = stopped(capsys)
    assert str(error) == "REPATRIATION_REMINDER_FRACTION: Input should be less than 1"


def test_a_misspelt_variable_is_reported_but_does_not_stop_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REPATRIATION_HTTP_PROT", "9000")
    monkeypatch.setenv("REPATRIATION_DEADLINE_DAYS__NATIONALITY", "21")  # a nested setting: known
    settings = ops.load_settings()
    assert settings.http_port == 8000
    err = capsys.readouterr().err
    assert "warning: REPATRIATION_HTTP_PROT is not a setting; it is ignored" in err
    assert "DEADLINE_DAYS" not in err


def test_overrides_are_validated_as_well(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        ops.load_settings(http_port=0)
    assert str(exit_info.value) == "REPATRIATION_HTTP_PORT: Input should be greater than or equal to 1"


def test_describe_hides_secrets() -> None:
    settings = Settings(secret_key="s3cret", database_url="postgresql://app:pw-123@db:5432/app")
    shown = dict(ops.describe(settings))
    assert shown["REPATRIATION_SECRET_KEY"] == "(set, hidden)"
    if "payload_keys" in Settings.model_fields:
        keys = Settings(payload_keys={"k1": "c2VjcmV0"})
        assert dict(ops.describe(keys))["REPATRIATION_PAYLOAD_KEYS"] == "(set, hidden)"
    assert (
        "pw-123" not in shown["REPATRIATION_DATABASE_URL"]
        and "db:5432/app" in shown["REPATRIATION_DATABASE_URL"]
    )
    assert set(shown) == {f"REPATRIATION_{name.upper()}" for name in Settings.model_fields}


def test_the_readme_documents_every_setting_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Configuration\n(.*?)^## ", readme, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no '## Configuration' section"
    rows = {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"^\| `(REPATRIATION_\w+)` \| ([^|]*) \|", section.group(1), re.MULTILINE)
    }
    for name in Settings.model_fields:
        variable = f"REPATRIATION_{name.upper()}"
        assert variable in rows, f"README.md, Configuration: add a row for {variable} (with its default)"
        assert rows[variable], f"README.md, Configuration: {variable} has no default"


def test_the_workflow_task_cap_reaches_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """REPATRIATION_WORKFLOW_TASKS bounds the workflow tasks a worker takes at once; unset, eight
    per core (at most the SDK's 100); the benchmark's own cap (WorkerTuning) wins over it; 1 is
    refused."""
    from activities.deps import available_cores
    from repatriation.temporal import WorkerTuning, worker_options

    unset = worker_options(Settings())["max_concurrent_workflow_tasks"]
    assert unset == min(100, 8 * available_cores())
    monkeypatch.setenv("REPATRIATION_WORKFLOW_TASKS", "16")
    settings = ops.load_settings()
    assert worker_options(settings)["max_concurrent_workflow_tasks"] == 16
    tuned = WorkerTuning(max_concurrent_workflow_tasks=8)
    assert worker_options(settings, tuned)["max_concurrent_workflow_tasks"] == 8
    monkeypatch.setenv("REPATRIATION_WORKFLOW_TASKS", "1")
    with pytest.raises(SystemExit):
        ops.load_settings()
