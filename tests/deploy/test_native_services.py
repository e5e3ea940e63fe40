"""The compose stack's services, run natively as CI runs them (no Docker engine here): a Temporal
dev server with the custom search attributes, `repatriation db upgrade` on a fresh PostgreSQL
database, `python worker.py` and `repatriation serve` as separate processes, and one case driven to closure
through the service layer by the robots. Everything is bounded in time and stopped at the end."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from access import users
from access.actor import Actor
from contracts.state import Role
from database import ledger, migrate
from database.engine import Database
from documents.sealed import Sealer
from repatriation.robots import decide_pending
from repatriation.service import CaseService
from repatriation.settings import Settings
from repatriation.synthetic import open_request, survivors
from repatriation.temporal import connect
from tests.deploy.conftest import free_port
from workflows.embassy_lists import SCHEDULE_ID

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
BUDGET_S = 90
SEARCH_ATTRIBUTES = [
    "RepatriationStage=Keyword",
    "Nationality=Keyword",
    "Stuck=Bool",
    "NextDeadline=Datetime",
]

def executable(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class Processes:
    """Processes started in their own session, each logging to a file; all stopped at the end."""

    def __init__(self, logs: Path, deadline: float) -> None:
        self.logs = logs
        self.deadline = deadline
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"over the {BUDGET_S} s budget; logs:\n{self.tails()}")
        return left

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                args,
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.running[name] = process
        return process

    def check_alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.tails()}")

    def tails(self) -> str:
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-25:]
            parts.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(logs, time.monotonic() + BUDGET_S)
    try:
        yield procs
    finally:
        procs.stop_all()


def http_get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - a local test URL
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_until(processes: Processes, what: str, probe, interval: float = 0.3):  # type: ignore[no-untyped-def]
    while True:
        processes.remaining()
        processes.check_alive()
        with contextlib.suppress(Exception):
            result = probe()
            if result:
                return result
        time.sleep(interval)


async def drive_case_to_closure(settings: Settings, db: Database, processes: Processes) -> str:
    client = await connect(settings)
    service = CaseService(settings, client, db)
    caseworker = Actor("ci-caseworker", Role.caseworker, settings.organisation, source="ci")
    person = survivors(datetime.now(UTC).date())[1]
    opened = await service.open_case(open_request(person, "native-ci-1"), caseworker)
    assert opened.created
    while True:
        processes.remaining()
        processes.check_alive()
        case = service.resolve(opened.case_id)
        if case.outcome is not None:
            return opened.case_id
        await decide_pending(service, settings.organisation)
        await asyncio.sleep(0.2)


async def scheduled_daily_lists(settings: Settings) -> str:
    client = await connect(settings)
    return (await client.get_schedule_handle(SCHEDULE_ID).describe()).id


def test_the_services_run_natively_and_a_case_goes_through(
    postgres_url: str, processes: Processes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temporal_port, api_port, metrics_port = free_port(), free_port(), free_port()
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPATRIATION_")}
    env.update(
        {
            "REPATRIATION_DATABASE_URL": postgres_url,
            "REPATRIATION_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
            "REPATRIATION_TASK_QUEUE": f"native-{temporal_port}",
            "REPATRIATION_DATA_DIR": str(data_dir),
            "REPATRIATION_ENVIRONMENT": "production",
            "REPATRIATION_ORGANISATION": "Native CI Shelter",
            "REPATRIATION_SEARCH_ATTRIBUTES": "true",
            "REPATRIATION_EMBASSY_REQUEST_WINDOW_SECONDS": "1",
            "REPATRIATION_HTTP_HOST": "127.0.0.1",
            "REPATRIATION_HTTP_PORT": str(api_port),
            "REPATRIATION_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
            "REPATRIATION_SECRET_KEY": "native-ci-secret",
            # One key for every process (each would otherwise race to generate its own).
            "REPATRIATION_PAYLOAD_KEYS": json.dumps({"ci1": base64.b64encode(os.urandom(32)).decode()}),
        }
    )

    # 1. Migrations, as the compose stack's `migrate` service runs them.
    upgraded = subprocess.run(
        [executable("repatriation"), "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=processes.remaining(),
    )
    assert upgraded.returncode == 0, upgraded.stderr
    migrate.check_current(postgres_url)

    # 2. Temporal, with the search attributes the compose stack's `temporal-init` registers.
    server = [executable("temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
    server += [
        "--port",
        str(temporal_port),
        "--db-filename",
        str(tmp_path / "temporal.db"),
        "--log-level",
        "warn",
    ]
    for spec in SEARCH_ATTRIBUTES:
        server += ["--search-attribute", spec]
    processes.start("temporal", server, env)

    # 3. The worker and the API, as the compose stack starts them.
    processes.start("worker", [sys.executable, str(ROOT / "worker.py")], env)
    processes.start("api", [executable("repatriation"), "serve"], env)

    # The worker polls (the compose health check, run here as there).
    def worker_polls() -> bool:
        check = subprocess.run(
            [executable("repatriation"), "health", "worker"],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
        )
        return check.returncode == 0

    wait_until(processes, "the worker to poll", worker_polls, interval=0.5)
    api = f"http://127.0.0.1:{api_port}"

    def api_healthy() -> tuple[int, bytes] | None:
        answer = http_get(f"{api}/healthz")
        return answer if answer[0] == 200 else None

    status, body = wait_until(processes, "the API", api_healthy)
    assert json.loads(body) == {"database": "ok", "temporal": "ok"}

    # 4. One case, opened and decided through the service layer (in this process) to closure.
    for name, value in env.items():
        if name.startswith("REPATRIATION_"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    db = Database(postgres_url)
    try:
        ledger.ensure_sources(db, ledger.DEFAULT_SOURCES)
        case_id = asyncio.run(drive_case_to_closure(settings, db, processes))
        service = CaseService(settings, None, db)  # type: ignore[arg-type]
        case = service.resolve(case_id)
        assert case.outcome == "repatriated", case.state
        documents = {doc.doc_type: doc for doc in service.documents(case_id) if not doc.superseded}
        assert "closure_report" in documents and "travel_letter" in documents
        for doc in documents.values():  # written by the worker, relative to its working directory
            path = Path(doc.path) if Path(doc.path).is_absolute() else ROOT / doc.path
            assert path.is_file() and Sealer.for_settings(settings).read(path).startswith(b"%PDF"), doc.path

        # 5. The API reads the closed case from the same database.
        token = users.add_user(db, "ci-reader", Role.caseworker, settings.organisation).token
        status, body = http_get(f"{api}/api/cases/{case_id}", token)
        assert status == 200, body
        assert json.loads(body)["outcome"] == "repatriated"

        # 6. The API's process keeps the deployment's Schedule of the embassies' daily lists.
        assert asyncio.run(scheduled_daily_lists(settings)) == SCHEDULE_ID
    finally:
        db.dispose()

    # 7. Metrics, where the API and the worker serve them.
    status, body = http_get(f"{api}/metrics")
    assert status == 200 and b'repatriation_cases{stage="closed"} 1.0' in body
    status, body = http_get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert status == 200 and b"temporal_worker_task_slots_available" in body
