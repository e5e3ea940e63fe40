"""What made the server schedule each workflow task, read from a history (bench/histories.py)."""

from __future__ import annotations

from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import WorkflowHistory

from bench import histories


def _history(*names: str) -> WorkflowHistory:
    events = []
    for number, name in enumerate(names, start=1):
        event = HistoryEvent(event_id=number)
        getattr(event, f"{name}_event_attributes").SetInParent()
        events.append(event)
    return WorkflowHistory("wf", list(History(events=events).events))


def _task(*commands: str, trigger: str | None = None) -> list[str]:
    before = [trigger] if trigger else []
    return [*before, "workflow_task_scheduled", "workflow_task_started", "workflow_task_completed", *commands]


def test_each_task_is_counted_under_the_event_that_asked_for_it() -> None:
    history = _history(
        "workflow_execution_started",
        *_task("activity_task_scheduled", "timer_started"),
        # The timer fires while the activity runs: one task each.
        *_task("marker_recorded", trigger="timer_fired"),
        "activity_task_started",
        *_task(trigger="activity_task_completed"),
        # An Update is seen after the task that accepted it, and caused it.
        *_task("workflow_execution_update_accepted", "workflow_execution_update_completed"),
        # A task nothing in the history asked for (a query came while one was in flight).
        *_task(),
        # A signal and a completion together: one task, under the first of them.
        "workflow_execution_signaled",
        "activity_task_started",
        *_task("workflow_execution_completed", trigger="activity_task_completed"),
    )
    causes = histories.task_causes(history)
    assert causes == {"start": 1, "timer": 1, "activity": 1, "update": 1, "nothing new": 1, "signal": 1}
    profile = histories.profile([history, history])
    assert profile["workflow_tasks"] == 6
    assert profile["task_causes"] == dict(causes)  # per workflow: the same for two alike


def test_an_update_with_a_completion_counts_once_under_the_completion() -> None:
    history = _history(
        "workflow_execution_started",
        *_task("activity_task_scheduled"),
        "activity_task_started",
        *_task("workflow_execution_update_accepted", trigger="activity_task_completed"),
    )
    assert histories.task_causes(history) == {"start": 1, "activity": 1}


def test_a_failed_task_is_retried_and_counted_as_such() -> None:
    history = _history(
        "workflow_execution_started",
        "workflow_task_scheduled",
        "workflow_task_started",
        "workflow_task_failed",
        *_task("activity_task_scheduled"),
    )
    assert histories.task_causes(history) == {"start": 1, "retry": 1}
