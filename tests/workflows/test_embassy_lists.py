"""One consolidated list per embassy per day, instead of hundreds of single letters."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from sqlalchemy import func, select
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.deps import RENDER_ATTEMPTS
from activities.embassy_lists import EmbassyListActivities
from activities.outbox import open_mail, outbox_mails
from contracts.messages import DocType, EmbassyList, EmbassyListsRequest
from contracts.state import DecisionKind
from database.models import AuditEntry, Case, Document
from tests.conftest import ORG, SUPERVISOR, Harness, harness_for, pdf_text
from tests.journeys import HOA, open_case, through_embassy, through_identity
from tests.workflows.test_unrenderable import templates_with_a_mistake
from workflows.embassy_lists import GIVES_UP_AFTER, EmbassyListsWorkflow


async def send_lists(h: Harness) -> dict[str, EmbassyList]:
    lists = await h.env.client.execute_workflow(
        EmbassyListsWorkflow.run, id=f"lists-{uuid.uuid4()}", task_queue=h.settings.task_queue
    )
    return {item.nationality: EmbassyList.model_validate(item) for item in lists}


async def test_daily_list_per_embassy(harness: Harness) -> None:
    h = harness
    lan = await open_case(h, 0)
    hoa = await open_case(h, 0, **HOA)
    budi = await open_case(h, 1)
    for case_id in (lan, hoa, budi):
        await through_identity(h, case_id)
        await h.wait_pending(case_id, DecisionKind.nationality)

    first = await send_lists(h)
    assert {k: v.cases for k, v in first.items()} == {"VNM": 2, "IDN": 1}
    assert all(v.mailed and v.version == 1 for v in first.values())
    with h.db.session() as s:
        doc = s.get(Document, first["VNM"].document_id)
    text = pdf_text(h.deps.sealer, doc.path)
    flat = "".join(text.split())  # names wrap inside the table's narrow cells
    needles = [h.service.resolve(c).reference for c in (lan, hoa)]
    for needle in (*needles, "Nguyễn Thị Lan", "Trần Thị Hoa", "art. 8", doc.verification_code):
        assert "".join(needle.split()) in flat, needle
    assert h.service.resolve(budi).reference not in text  # each embassy sees its own nationals only
    lists = [p for p in outbox_mails(h.settings.outbox_dir) if p.name.startswith("list-")]
    mails = sorted(h.deps.sealer.read(p).decode(errors="replace") for p in lists)
    assert len(mails) == 2 and any("consular.vnm@" in m for m in mails)
    # A supervisor opens the VNM list's mail: the read is in the trail of each survivor it names.
    vnm = next(p for p in lists if "VNM" in p.name)
    name, opened = h.service.outbox_mail(SUPERVISOR, vnm.name.split(".")[0])
    assert name == vnm.name and opened["To"].startswith("consular.vnm@")
    with h.db.reading() as s:
        read = select(AuditEntry.case_id).where(
            AuditEntry.action == "outbox.read", AuditEntry.detail == f"mail {name}"
        )
        assert sorted(s.scalars(read)) == sorted([lan, hoa])

    again = await send_lists(h)  # a retry, or a second run the same day: nothing new
    assert again["VNM"].document_id == first["VNM"].document_id and not again["VNM"].mailed

    await through_embassy(h, lan)  # decided: Lan leaves tomorrow's... today's updated list
    await h.wait_for(lan, lambda s: s.stages["embassy"] == "done", "embassy done")
    updated = await send_lists(h)
    assert updated["VNM"].cases == 1 and updated["VNM"].version == 2 and updated["VNM"].mailed
    with h.db.session() as s:
        assert s.get(Document, first["VNM"].document_id).superseded


async def test_a_case_with_invalid_data_is_left_out_and_flagged(harness: Harness) -> None:
    h = harness
    lan = await open_case(h, 0)
    hoa = await open_case(h, 0, **HOA)
    budi = await open_case(h, 1)
    for case_id in (lan, hoa, budi):
        await through_identity(h, case_id)
        await h.wait_pending(case_id, DecisionKind.nationality)
    with h.db.session() as s:  # someone's edit broke Hoa's stored profile
        case = s.get(Case, hoa)
        good_birth = case.profile["date_of_birth"]
        case.profile = {**case.profile, "date_of_birth": "31/02/1990"}

    with structlog.testing.capture_logs() as logs:
        first = await send_lists(h)
    # Every embassy's list still goes, without the case that cannot be put on it.
    assert {k: (v.cases, v.mailed) for k, v in first.items()} == {"VNM": (1, True), "IDN": (1, True)}
    with h.db.session() as s:
        doc = s.get(Document, first["VNM"].document_id)
    flat = "".join(pdf_text(h.deps.sealer, doc.path).split())
    assert h.service.resolve(lan).reference in flat and h.service.resolve(hoa).reference not in flat
    lists = [p for p in outbox_mails(h.settings.outbox_dir) if p.name.startswith("list-")]
    assert len(lists) == 2
    # Left out visibly: a warning about the case (nothing personal in it), and a stuck flag.
    warnings = [e for e in logs if e["event"] == "left out of the embassy list"]
    assert [(w["log_level"], w["case_id"], w["error"]) for w in warnings] == [
        ("warning", hoa, "InvalidCaseData")
    ]
    assert set(warnings[0]) == {"event", "log_level", "case_id", "stage", "step", "error"}
    flags = h.service.stuck_for(SUPERVISOR, reason="failing")
    assert [(f.case_id, f.step, f.stage) for f in flags] == [(hoa, "send_embassy_lists", "embassy")]
    assert "date_of_birth" in flags[0].last_error and "31/02/1990" not in flags[0].last_error

    with h.db.session() as s:  # fixed: Hoa joins the day's list, and the flag goes
        case = s.get(Case, hoa)
        case.profile = {**case.profile, "date_of_birth": good_birth}
    fixed = await send_lists(h)
    assert fixed["VNM"].cases == 2 and fixed["VNM"].version == 2 and fixed["VNM"].mailed
    assert h.service.stuck_for(SUPERVISOR, reason="failing") == []


async def test_a_list_that_cannot_render_fails_the_day_s_run_and_the_others_go(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A template error in one embassy's list: the other embassies still get theirs, and the
    run fails for good after a few attempts (the Schedule's next mornings are not held behind
    it). Once mended, `repatriation embassy lists` sends the missing one."""
    broken = '{% if country == "Indonesia" %}{{ no_such_field }}{% endif %}\n'
    templates, _ = templates_with_a_mistake(tmp_path, DocType.embassy_daily_list, broken)
    async with harness_for(time_env, tmp_path, templates_dir=templates) as h:
        lan = await open_case(h, 0)
        budi = await open_case(h, 1)
        for case_id in (lan, budi):
            await through_identity(h, case_id)
            await h.wait_pending(case_id, DecisionKind.nationality)

        run_id = f"lists-{uuid.uuid4()}"
        with pytest.raises(WorkflowFailureError) as failed:
            await h.env.client.execute_workflow(
                EmbassyListsWorkflow.run, id=run_id, task_queue=h.settings.task_queue
            )
        today = (await h.env.get_current_time()).date()
        message = str(failed.value.cause.cause)  # the activity's error, under "activity task failed"
        assert "the daily list for IDN (UndefinedError) could not be rendered (attempt 3)" in message
        # Really tried three times (RENDER_ATTEMPTS), not failed for good at once.
        history = await h.env.client.get_workflow_handle(run_id).fetch_history()
        started = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
        assert [e.activity_task_started_event_attributes.attempt for e in started] == [RENDER_ATTEMPTS]
        lists = [p.name for p in outbox_mails(h.settings.outbox_dir) if p.name.startswith("list-")]
        assert len(lists) == 1 and "VNM" in lists[0]
        # The supervisors are told which list did not go and what to do, once a day: the day's
        # run tried again (by hand, or a retry) mails them no second time.
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, attempt=RENDER_ATTEMPTS)
        with pytest.raises(ApplicationError):
            again = EmbassyListsRequest(list_date=today)
            await env.run(EmbassyListActivities(h.deps).send_embassy_lists, again)
        mails = [open_mail(h.deps.sealer, p) for p in outbox_mails(h.settings.outbox_dir)]
        (told,) = [m for m in mails if m["To"] == h.settings.supervisors_email]
        assert told["Subject"] == f"Daily embassy lists of {today.isoformat()} not sent: IDN (UndefinedError)"
        body = told.get_content()
        assert "The other embassies' lists went." in body and "`repatriation embassy lists`" in body
        with h.db.reading() as s:
            made = select(func.count()).select_from(Document).where(Document.doc_type == "embassy_daily_list")
            assert s.scalar(made) == 1

    # The command a person runs once the template is mended (here: the project's own).
    env = {**os.environ, "REPATRIATION_DATA_DIR": str(h.settings.data_dir), "REPATRIATION_ORGANISATION": ORG}
    env.pop("REPATRIATION_TEMPLATES_DIR", None)
    done = subprocess.run(
        [sys.executable, "-m", "repatriation.cli", "embassy", "lists"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == [
        "IDN: 1 survivor(s), list v1 mailed",
        "VNM: 1 survivor(s), list v1 already mailed",
    ]


async def test_a_run_that_cannot_mail_gives_up_before_the_next_morning(
    own_time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The mail cannot go all day (here: the outbox unwritable; a relay down is the same to the
    activity, a fault of the machine, retried): the morning's run is retried, then gives up
    within GIVES_UP_AFTER, so that the Schedule, which skips a run while the last still goes,
    starts the next morning's. (Twenty hours of retries skipped: on a server of its own.)"""
    async with harness_for(own_time_env, tmp_path) as h:
        case_id = await open_case(h, 0)
        await through_identity(h, case_id)
        await h.wait_pending(case_id, DecisionKind.nationality)
        outbox = h.settings.outbox_dir
        shutil.rmtree(outbox)
        outbox.write_text("not a folder")  # every mail's write fails: FileExistsError
        try:
            run_id = f"lists-{uuid.uuid4()}"
            with pytest.raises(WorkflowFailureError) as failed:
                await h.env.client.execute_workflow(
                    EmbassyListsWorkflow.run, id=run_id, task_queue=h.settings.task_queue
                )
        finally:
            outbox.unlink()
        activity_failed = failed.value.cause
        # Failed because retrying would outlast GIVES_UP_AFTER, with the last attempt's error.
        assert isinstance(activity_failed, ActivityError)
        assert activity_failed.retry_state == RetryState.TIMEOUT
        assert isinstance(activity_failed.cause, ApplicationError)
        assert activity_failed.cause.type == "FileExistsError"
        history = await h.env.client.get_workflow_handle(run_id).fetch_history()
        (scheduled,) = [e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")]
        attributes = scheduled.activity_task_scheduled_event_attributes
        assert attributes.schedule_to_close_timeout.ToTimedelta() == GIVES_UP_AFTER
        (ended,) = [e for e in history.events if e.HasField("activity_task_failed_event_attributes")]
        tried_for = ended.event_time.ToDatetime() - scheduled.event_time.ToDatetime()
        assert timedelta(hours=1) < tried_for <= GIVES_UP_AFTER  # retried, and over before the next morning
        # Retried all along, as any fault of the machine (not failed for good as a document's is).
        (started,) = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
        assert started.activity_task_started_event_attributes.attempt > RENDER_ATTEMPTS
