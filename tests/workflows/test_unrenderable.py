"""A document that cannot be rendered (a template or the case's data at fault) is retried a few
times, then fails for good and waits for a supervisor, who mends it and retries (or overrides):
it is not retried for ever in silence."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.deps import RENDER_ATTEMPTS, Deps, RenderProcessLost
from activities.embassy_requests import EmbassyRequestActivities
from activities.paperwork import PaperworkActivities
from contracts.messages import DocType, EmbassyRequestBatch, RenderRequest
from contracts.state import DecisionKind
from database.models import Document, DocumentCase
from documents.renderer import TEMPLATES_DIR
from tests.conftest import ORG, SUPERVISOR, Harness, harness_for, make_settings
from tests.journeys import HOA, open_case, person, through_identity

ROOT = Path(__file__).resolve().parents[2]
BROKEN = "<p>{{ no_such_field }}</p>\n"  # a customised template naming a field that does not exist
# One whose error's text would quote the survivor ("'dict object' has no attribute 'Nguyen'").
QUOTING = "<p>{{ {}[survivor.family_name] }}</p>\n"


def templates_with_a_mistake(tmp_path: Path, doc_type: DocType, line: str = BROKEN) -> tuple[Path, str]:
    """A copy of the project's templates, as an organisation keeps its own, with one broken."""
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, folder)
    template = folder / f"{doc_type.value}.html"
    good = template.read_text(encoding="utf-8")
    template.write_text(good.replace("{% endblock %}", line + "{% endblock %}", 1), encoding="utf-8")
    assert template.read_text(encoding="utf-8") != good
    return folder, good


async def mended_and_retried(h: Harness, case_id: str, templates: Path, doc_type: DocType, good: str) -> None:
    """The broken template put right, then a supervisor's retry: the case waits for the embassy."""
    (templates / f"{doc_type.value}.html").write_text(good, encoding="utf-8")
    await h.service.intervene(case_id, {"action": "retry", "justification": "template mended"}, SUPERVISOR)
    state = await h.wait_pending(case_id, DecisionKind.nationality)
    assert state.blocked is None


def documents_of(db, case_id: str, doc_type: DocType) -> int:  # noqa: ANN001
    with db.session() as s:
        return s.scalar(
            select(func.count())
            .select_from(Document)
            .where(Document.case_id == case_id, Document.doc_type == doc_type.value)
        )


async def test_a_document_that_cannot_render_waits_for_a_supervisor(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    templates, good = templates_with_a_mistake(tmp_path, DocType.etd_application, QUOTING)
    # Flagged `failing` from its first failed attempt, so that the flag is seen cleared once the
    # step has failed for good: the stuck list then shows it waiting for a person, not retries.
    async with harness_for(time_env, tmp_path, templates_dir=templates, stuck_after_attempts=1) as h:
        case_id = await open_case(h, 0)
        await through_identity(h, case_id)

        state = await h.wait_for(case_id, lambda s: s.blocked is not None, "the ETD application blocked")
        assert state.blocked.step == f"render {DocType.etd_application}"
        assert "UndefinedError" in state.blocked.error and f"attempt {RENDER_ATTEMPTS}" in state.blocked.error
        assert person(0)["family_name"] not in state.blocked.error  # the type, not the text
        assert documents_of(h.db, case_id, DocType.etd_application) == 0  # nothing half-written
        await h.wait_stuck(SUPERVISOR, [(case_id, "failed")])

        # The template mended, a supervisor's retry renders it, once, and the case goes on.
        await mended_and_retried(h, case_id, templates, DocType.etd_application, good)
        assert documents_of(h.db, case_id, DocType.etd_application) == 1


@pytest.mark.parametrize(
    ("render_processes", "mistake", "kind"),
    [
        (0, "undefined", "UndefinedError"),
        (1, "undefined", "UndefinedError"),
        (0, "missing", "TemplateNotFound"),
        (1, "missing", "TemplateNotFound"),
    ],
    ids=["in the worker", "in a render process", "gone missing, in the worker", "gone missing, in a process"],
)
async def test_a_render_error_is_retried_then_fails_for_good(
    time_env: WorkflowEnvironment, tmp_path: Path, render_processes: int, mistake: str, kind: str
) -> None:
    """The activity alone: a passing fault is retried as any other, a template error only
    ``RENDER_ATTEMPTS`` times; the error names the exception's type, not its text."""
    templates, _ = templates_with_a_mistake(tmp_path, DocType.funding_request)
    if mistake == "missing":  # deleted from a deployment's copy (the worker checked it at start)
        (templates / f"{DocType.funding_request.value}.html").unlink()
    async with harness_for(time_env, tmp_path) as h:
        case_id = await open_case(h, 1)
        await h.wait_for(case_id, lambda s: bool(s.documents), "intake document")
    # The same data folder and database as the harness's, with the broken templates.
    settings = make_settings(tmp_path, templates_dir=templates)
    deps = Deps.from_settings(settings, render_processes=render_processes)
    try:
        paperwork = PaperworkActivities(deps)
        request = RenderRequest(
            case_id=case_id,
            doc_type=DocType.funding_request,
            issued_on="2026-11-23",
            facts={"estimate": None},
        )
        env = ActivityEnvironment()
        for attempt in range(1, RENDER_ATTEMPTS + 1):
            env.info = dataclasses.replace(env.info, attempt=attempt)
            with pytest.raises(ApplicationError) as raised:
                env.run(paperwork.render_document, request)
            err = raised.value
            assert err.type == "DocumentUnrenderable" and f"({kind}, attempt {attempt})" in err.message
            assert err.non_retryable == (attempt == RENDER_ATTEMPTS), attempt
            assert "no_such_field" not in err.message and "funding_request.html" not in err.message
        assert documents_of(deps.db, case_id, DocType.funding_request) == 0
    finally:
        deps.close()
        deps.db.dispose()


@pytest.mark.parametrize(
    ("template", "kind"),
    [
        ("itinerary.html", "TemplateSyntaxError"),
        ("base.html", "TemplateSyntaxError"),
        ("base.html", "TemplateNotFound"),
    ],
    ids=["a document's own", "the base it extends", "the base missing"],
)
def test_a_template_that_does_not_compile_stops_the_worker_as_it_starts(
    tmp_path: Path, template: str, kind: str
) -> None:
    """Not a failure of every document later: the worker refuses to start, in one line. (It
    checks before it connects to Temporal, so no server is needed here.) base.html, which every
    document extends, is checked as well as the documents' own."""
    templates, _ = templates_with_a_mistake(tmp_path, DocType.itinerary)
    if kind == "TemplateNotFound":
        (templates / template).unlink()
    else:
        (templates / template).write_text("{% if %}\n", encoding="utf-8")
    env = {
        **os.environ,
        "REPATRIATION_DATA_DIR": str(tmp_path / "var"),
        "REPATRIATION_TEMPLATES_DIR": str(templates),
        "REPATRIATION_TEMPORAL_ADDRESS": "127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "worker.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3, done.stderr
    assert f"error: the document templates in {templates} could not be loaded" in done.stderr
    assert kind in done.stderr


async def test_a_render_process_lost_is_retried_however_many_attempts(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The machine's fault, not the document's: a render process killed mid-way is retried as
    any fault, for as long as it lasts, never failed for good."""
    async with harness_for(time_env, tmp_path) as h:
        case_id = await open_case(h, 1)
        await h.wait_for(case_id, lambda s: bool(s.documents), "intake document")
    deps = Deps.from_settings(make_settings(tmp_path), render_processes=1)
    try:
        deps.check_renderer()  # a warm render process, which is then killed
        (process,) = [p.process for p in deps.render_pool._free]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, attempt=RENDER_ATTEMPTS + 5)
        request = RenderRequest(
            case_id=case_id,
            doc_type=DocType.funding_request,
            issued_on="2026-11-23",
            facts={"estimate": None},
        )
        with pytest.raises(RenderProcessLost):
            env.run(PaperworkActivities(deps).render_document, request)
        # The pool replaced it: the next attempt renders.
        assert env.run(PaperworkActivities(deps).render_document, request).version == 1
    finally:
        deps.close()
        deps.db.dispose()


# The consolidated request to an embassy: one survivor's row fails (Hoa's family name, Tran).
ONE_ROW = (
    '{% for row in rows %}{% if row.family_name == "Tran" %}{{ {}[row.given_names] }}{% endif %}'
    "{% endfor %}\n"
)


async def queued_for_the_embassy(h: Harness, *cases: dict) -> list[str]:  # noqa: ANN001
    ids = [await open_case(h, 0, **changes) for changes in cases]
    for case_id in ids:
        await through_identity(h, case_id)
    for case_id in ids:
        await h.wait_for(case_id, lambda s: any(e.event == "queued" for e in s.history), "queued")
    return ids


def embassy_requests_of(db) -> list[Document]:  # noqa: ANN001
    with db.session() as s:
        return list(s.scalars(select(Document).where(Document.doc_type == DocType.embassy_request.value)))


@pytest.mark.parametrize(
    ("line", "fails"), [(BROKEN, "both"), (ONE_ROW, "hoa")], ids=["the template", "one survivor's data"]
)
async def test_an_embassy_request_that_cannot_render_goes_without_whom_it_cannot_name(
    time_env: WorkflowEnvironment, tmp_path: Path, line: str, fails: str
) -> None:
    """The batcher's activity: retried ``RENDER_ATTEMPTS`` times, then the request goes without
    the survivors it cannot render (every one, when the template is at fault), each answered as
    failed, so that their cases wait for a supervisor; the batcher never fails for it."""
    templates, _ = templates_with_a_mistake(tmp_path, DocType.embassy_request, line)
    quiet = {"embassy_request_window_seconds": 600, "embassy_request_quiet_seconds": 600}
    async with harness_for(time_env, tmp_path, **quiet) as h:
        lan, hoa = await queued_for_the_embassy(h, {}, HOA)
        deps = Deps.from_settings(make_settings(tmp_path, templates_dir=templates, **quiet))
        try:
            batch = EmbassyRequestBatch(
                request_reference="REQ-VNM-UNRENDERABLE-1",
                nationality="VNM",
                organisation=ORG,
                issued_on=date.today(),
                case_ids=[lan, hoa],
            )
            env = ActivityEnvironment()
            for attempt in range(1, RENDER_ATTEMPTS):
                env.info = dataclasses.replace(env.info, attempt=attempt)
                with pytest.raises(ApplicationError) as raised:
                    await env.run(EmbassyRequestActivities(deps).send_embassy_request, batch)
                assert raised.value.type == "DocumentUnrenderable" and not raised.value.non_retryable
                assert f"(UndefinedError, attempt {attempt})" in raised.value.message
                assert embassy_requests_of(h.db) == []  # nothing half-written

            env.info = dataclasses.replace(env.info, attempt=RENDER_ATTEMPTS)
            result = await env.run(EmbassyRequestActivities(deps).send_embassy_request, batch)
        finally:
            deps.close()
            deps.db.dispose()

        failed = {lan, hoa} if fails == "both" else {hoa}
        assert set(result.failed) == failed and set(result.sent) == {lan, hoa} - failed
        for reason in result.failed.values():
            assert f"(UndefinedError, attempt {RENDER_ATTEMPTS})" in reason and "then retry" in reason
            assert "Thi Hoa" not in reason and "Tran" not in reason  # the type, never the text
        stored = embassy_requests_of(h.db)
        if fails == "both":
            assert stored == [] and result.document is None and not result.mailed
        else:
            (request,) = stored
            assert result.document.document_id == request.id and result.mailed
            with h.db.session() as s:
                assert set(s.scalars(select(DocumentCase.case_id))) == {lan}


async def test_cases_left_out_of_an_unrenderable_request_wait_for_a_supervisor(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The whole way: the request's template is broken, so the case's embassy step fails for
    good after ``RENDER_ATTEMPTS`` and it is listed as failed (not retried for ever); the
    template mended, a supervisor's retry sends it in the next request."""
    templates, good = templates_with_a_mistake(tmp_path, DocType.embassy_request)
    async with harness_for(
        time_env, tmp_path, templates_dir=templates, embassy_request_window_seconds=3
    ) as h:
        case_id = await open_case(h, 0)
        await through_identity(h, case_id)
        state = await h.wait_for(case_id, lambda s: s.blocked is not None, "the request step blocked")
        assert state.blocked.step == "embassy request"
        assert f"(UndefinedError, attempt {RENDER_ATTEMPTS})" in state.blocked.error
        assert embassy_requests_of(h.db) == []
        await h.wait_stuck(SUPERVISOR, [(case_id, "failed")])

        await mended_and_retried(h, case_id, templates, DocType.embassy_request, good)
        (request,) = embassy_requests_of(h.db)
        with h.db.session() as s:
            assert list(s.scalars(select(DocumentCase.case_id))) == [case_id]
