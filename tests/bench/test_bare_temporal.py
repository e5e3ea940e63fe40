"""Bare Temporal runs the journey's shape and nothing else: the activities, local activities,
Updates and signals a case had, and a deadline timer for every decision awaited (started, then
cancelled by the decision), as the real journey's waits do."""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench import histories
from bench.bare_temporal import BareJourney, Shape, drive, nothing


async def test_a_bare_journey_has_the_shape_it_was_given(local_env: WorkflowEnvironment) -> None:
    shape = Shape(activities=3, updates=2, local_activities=5, signals=1)
    queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    prefix = f"bare-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            local_env.client,
            task_queue=queue,
            workflows=[BareJourney],
            activities=[nothing],
            activity_executor=executor,
        ):
            done = await drive(local_env.client, [shape, shape], prefix, task_queue=queue)
    assert done["workflows"] == 2
    for index in range(2):
        history = await local_env.client.get_workflow_handle(f"{prefix}-{index}").fetch_history()
        kinds = Counter(e.event_type for e in history.events)
        markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
        assert kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] == shape.activities
        assert len(markers) == shape.local_activities
        assert kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED] == shape.updates
        assert kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED] == shape.signals
        # A deadline per decision awaited, each cancelled by the decision, as in a real case.
        assert kinds[EventType.EVENT_TYPE_TIMER_STARTED] == shape.updates
        assert kinds[EventType.EVENT_TYPE_TIMER_CANCELED] == shape.updates
        assert kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED] == 1
        # The history's profile counts every event once, under the kind it belongs to.
        counted = histories.profile([history])
        assert counted["events"] == len(history.events)
        assert counted["by_kind"]["marker_recorded"]["events"] == shape.local_activities
        assert counted["by_kind"]["workflow_execution_update"]["events"] == 2 * shape.updates
        assert counted["by_kind"]["timer"]["events"] == 2 * shape.updates
        assert counted["workflow_tasks"] == kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
        # Every task is counted once, under one cause. The deadlines were all cancelled by the
        # Updates, so no timer caused one (an Update or a signal may share a task with an
        # activity's completion, so their own counts vary from run to run).
        causes = histories.task_causes(history)
        assert sum(causes.values()) == kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED]
        assert causes["start"] == 1
        assert causes["timer"] == 0
        assert set(causes) <= {"start", "activity", "update", "signal", "nothing new", "retry"}
        assert counted["kb"] * 1024 == sum(e.ByteSize() for e in history.events)
