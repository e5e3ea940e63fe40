"""Stuck flags: why a case cannot move on by itself, kept in the `stuck_flags` table.

- `overdue`, `failed` and `on_hold` follow from the workflow's state and are rewritten with the
  read model at every change;
- `failing`: an automatic step failed again and again (the booking provider or the mail server
  down); set by an activity interceptor after the configured number of attempts, with the
  attempt count and the last error, and cleared when the step succeeds;
- `workflow_task_failing`: the workflow itself cannot make progress (e.g. after a bad deploy);
  found by a sweep (:func:`sweep_workflow_tasks`) over the workflows the Temporal server reports
  with problems, or, on a server that reports none, over every open case.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.deps import RenderFailed
from contracts.state import CaseState, Stage
from database.engine import Database
from database.models import Case, StuckFlag
from repatriation.logs import get_logger

DERIVED = ("overdue", "failed", "on_hold")


def _upsert(session: Session, case_id: str, reason: str, **values: Any) -> None:
    flag = session.get(StuckFlag, (case_id, reason))
    if flag is None:
        session.add(StuckFlag(case_id=case_id, reason=reason, **values))
        return
    for key, value in values.items():
        if key != "since":  # a flag keeps the time it was first raised
            setattr(flag, key, value)


def derived_flags(state: CaseState) -> dict[str, dict[str, Any]]:
    """The flags that follow from the workflow's state, by reason (none for a closed case)."""
    wanted: dict[str, dict[str, Any]] = {}
    if state.outcome is not None:
        return wanted
    overdue = sorted((p for p in state.pending if p.overdue), key=lambda p: p.deadline)
    if overdue:
        p = overdue[0]
        wanted["overdue"] = dict(
            stage=p.stage,
            since=p.deadline,
            awaited=p.assignee or p.role,
            step=p.kind,
            detail=f"{p.kind} awaited from the {p.role}",
        )
    if state.blocked is not None:
        b = state.blocked
        wanted["failed"] = dict(
            stage=b.stage,
            since=b.since,
            step=b.step,
            last_error=b.error[:2000],
            awaited="supervisor",
            # A step of the closure is retried or skipped; the case is closing already.
            detail="failed for good: retry or override"
            if b.stage == Stage.closed
            else "failed for good: retry, override or cancel",
        )
    if state.on_hold:
        wanted["on_hold"] = dict(
            stage=state.stage,
            since=state.held_since or datetime.now(UTC),
            awaited="supervisor",
            detail=state.hold_reason,
        )
    return wanted


def replace_derived_flags(session: Session, states: Sequence[CaseState]) -> None:
    """Rewrite the flags that follow from these cases' states (inside the read model's write).

    A group of cases costs a read of their flags and a statement per kind of change, whatever its
    size: in a mass release nearly every case has none and keeps none, and then nothing is
    written. A closed case loses every flag, the failing steps' too."""
    if not states:
        return
    table = StuckFlag.__table__
    ids = [s.case_id for s in states]
    closed = [s.case_id for s in states if s.outcome is not None]
    existing = {
        (case_id, reason)
        for case_id, reason in session.execute(
            select(table.c.case_id, table.c.reason).where(
                table.c.case_id.in_(ids), table.c.reason.in_(DERIVED)
            )
        )
    }
    wanted = {s.case_id: derived_flags(s) for s in states}
    stale: dict[str, list[str]] = {}
    for case_id, reason in existing:
        if reason not in wanted[case_id]:
            stale.setdefault(reason, []).append(case_id)
    for reason, cases in stale.items():
        session.execute(delete(table).where(table.c.reason == reason, table.c.case_id.in_(cases)))
    if closed:
        session.execute(delete(table).where(table.c.case_id.in_(closed)))
    for case_id, flags in wanted.items():
        for reason, values in flags.items():
            _upsert(session, case_id, reason, **values)


def _case_ids(args: Sequence[Any]) -> list[str]:
    """The cases an activity works for: one, or a batch (an embassy's consolidated request)."""
    for arg in args:
        batch = getattr(arg, "case_ids", None)
        if isinstance(batch, list):
            return [c for c in batch if isinstance(c, str)]
        case_id = getattr(arg, "case_id", None) or getattr(getattr(arg, "state", None), "case_id", None)
        if isinstance(case_id, str):
            return [case_id]
    return []


def flag_failing(db: Database, case_id: str, step: str, attempts: int, error: str) -> None:
    with db.session() as session:
        case = session.get(Case, case_id)
        if case is None or case.outcome is not None:
            return
        _upsert(
            session,
            case_id,
            "failing",
            stage=case.stage,
            since=datetime.now(UTC),
            step=step,
            attempts=attempts,
            last_error=error[:2000],
            awaited="automatic retries",
            detail=f"{step} has failed {attempts} times; retries go on",
        )


def clear_failing(db: Database, case_id: str, step: str) -> None:
    with db.session() as session:
        session.execute(
            delete(StuckFlag).where(
                StuckFlag.case_id == case_id, StuckFlag.reason == "failing", StuckFlag.step == step
            )
        )


class StuckInterceptor(Interceptor):
    """Flags a case when one of its activities keeps failing; clears it when the step succeeds."""

    def __init__(self, db: Database, after_attempts: int) -> None:
        self.db = db
        self.after_attempts = after_attempts

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _FailingSteps(next, self)


class _FailingSteps(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: StuckInterceptor) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        case_ids = _case_ids(input.args)
        try:
            result = await super().execute_activity(input)
        except Exception as err:
            permanent = isinstance(err, ApplicationError) and err.non_retryable
            if case_ids and permanent and info.attempt > 1:
                # Failed for good: the case now waits for a supervisor (``failed``), not for retries.
                for case_id in case_ids:
                    await asyncio.to_thread(clear_failing, self.owner.db, case_id, info.activity_type)
            if case_ids and not permanent and info.attempt >= self.owner.after_attempts:
                # A renderer's text may quote the survivor it was rendering: its type only.
                message = f"{type(err).__name__}: {err}"
                if isinstance(err, RenderFailed):
                    message = f"RenderFailed ({err.kind})"
                for case_id in case_ids:
                    await asyncio.to_thread(
                        flag_failing, self.owner.db, case_id, info.activity_type, info.attempt, message
                    )
                    get_logger(case_id=case_id, stage=None).warning(
                        "step failing",
                        step=info.activity_type,
                        attempts=info.attempt,
                        error=type(err).__name__,
                    )
            raise
        if info.attempt > 1:
            for case_id in case_ids:
                await asyncio.to_thread(clear_failing, self.owner.db, case_id, info.activity_type)
        return result


# The server's own flag for a workflow whose task failed or timed out this many times in a row
# (a server recent enough to keep it, 1.32 say, when its dynamic config
# ``system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute`` is set: the embedded stack
# and deploy/temporal/dynamicconfig.yaml set it to this). The sweep flags a case at the same count.
TASK_PROBLEMS_AFTER = 2
PROBLEMS_QUERY = "TemporalReportedProblems IS NOT NULL AND ExecutionStatus = 'Running'"
# Without that flag (an older server) the sweep asks about each open case, at most this many a
# second, so that 10,000 open cases cost the server a steady trickle, not a burst every round.
DESCRIBES_PER_SECOND = 25.0


async def server_reports_problems(client: Client) -> bool:
    """Whether the server keeps ``TemporalReportedProblems`` (its namespace's capabilities say)."""
    answer = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace)
    )
    return answer.namespace_info.capabilities.reported_problems_search_attribute


async def sweep_workflow_tasks(
    client: Client, db: Database, after_attempts: int = TASK_PROBLEMS_AFTER, reported: bool | None = None
) -> int:
    """Flag open cases whose workflow task keeps failing; clear those that recovered.

    Which cases are looked at: where the server reports problems (``reported``; None: ask it),
    those it lists with ``TemporalReportedProblems`` and those flagged by an earlier sweep, so a
    round costs one query and a description per case in trouble, whatever the number of open
    cases; elsewhere every open case, paced at ``DESCRIBES_PER_SECOND``. Each case looked at is
    described, and flagged or cleared by its workflow task's attempt count. Returns the number
    of cases flagged."""
    if reported is None:
        reported = await server_reports_problems(client)
    if reported:
        troubled = [w.id async for w in client.list_workflows(PROBLEMS_QUERY)]
        cases = await asyncio.to_thread(cases_to_sweep, db, troubled)
        known = {workflow_id for _, workflow_id, _ in cases}
        for workflow_id in troubled:
            if workflow_id not in known:  # an embassy's batcher, say: no case to flag, but say so
                get_logger(component="sweep").warning("workflow task failing", workflow_id=workflow_id)
        pace = 0.0
    else:
        cases = await asyncio.to_thread(cases_to_sweep, db, None)
        pace = 1 / DESCRIBES_PER_SECOND
    flagged = 0
    for case_id, workflow_id, stage in cases:
        try:
            description = await client.get_workflow_handle(workflow_id).describe()
        except Exception:  # noqa: BLE001 - a case whose workflow cannot be described is skipped
            continue
        raw = description.raw_description
        task = raw.pending_workflow_task if raw.HasField("pending_workflow_task") else None
        attempts = task.attempt if task is not None else 0
        failing = attempts >= after_attempts
        flagged += failing
        await asyncio.to_thread(_set_workflow_task_flag, db, case_id, stage, attempts if failing else None)
        if pace:
            await asyncio.sleep(pace)
    return flagged


def cases_to_sweep(db: Database, workflow_ids: list[str] | None) -> list[tuple[str, str, str]]:
    """(case id, workflow id, stage) of the open cases with these workflows and of those flagged
    already; None: of every open case."""
    with db.reading() as session:
        query = select(Case.id, Case.workflow_id, Case.stage).where(Case.outcome.is_(None))
        if workflow_ids is not None:
            flagged = select(StuckFlag.case_id).where(StuckFlag.reason == "workflow_task_failing")
            query = query.where(Case.workflow_id.in_(workflow_ids) | Case.id.in_(flagged))
        return [(c, w, s) for c, w, s in session.execute(query)]


def _set_workflow_task_flag(db: Database, case_id: str, stage: str, attempts: int | None) -> None:
    """Raise the case's ``workflow_task_failing`` flag at ``attempts``, or clear it (None)."""
    with db.session() as session:
        if attempts is not None:
            _upsert(
                session,
                case_id,
                "workflow_task_failing",
                stage=stage,
                since=datetime.now(UTC),
                step="workflow task",
                attempts=attempts,
                awaited="operators (a deploy or a bug)",
                detail="the workflow cannot make progress; see its history in the Temporal Web UI",
            )
        else:
            session.execute(
                delete(StuckFlag).where(
                    StuckFlag.case_id == case_id, StuckFlag.reason == "workflow_task_failing"
                )
            )
