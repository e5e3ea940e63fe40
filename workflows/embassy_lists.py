"""EmbassyListsWorkflow: started each morning by a Temporal Schedule; sends every embassy the
consolidated list of the survivors awaiting it (one activity, idempotent per embassy and day)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.messages import EmbassyList, EmbassyListsRequest

from workflows.calls import HEARTBEAT, RENDER, RETRY

SCHEDULE_ID = "embassy-daily-lists"
# A morning's run that cannot finish (the mail relay down all day) gives up before the next
# morning's: the Schedule skips a run while the last one is still going, so one held for ever
# would cost every later list. The next morning's list names everyone still waiting.
GIVES_UP_AFTER = timedelta(hours=20)


@workflow.defn
class EmbassyListsWorkflow:
    @workflow.run
    async def run(self) -> list[EmbassyList]:
        return await workflow.execute_activity(
            "send_embassy_lists",
            EmbassyListsRequest(list_date=workflow.now().date()),
            result_type=list[EmbassyList],
            start_to_close_timeout=RENDER * 10,
            schedule_to_close_timeout=GIVES_UP_AFTER,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
