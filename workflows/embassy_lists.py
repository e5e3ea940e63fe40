"""EmbassyListsWorkflow: started each morning by a Temporal Schedule; sends every embassy the
consolidated list of the survivors awaiting it (one activity, idempotent per embassy and day)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.messages import EmbassyList, EmbassyListsRequest

from workflows.calls import HEARTBEAT, RENDER, RETRY

SCHEDULE_ID = "embassy-daily-lists"


@workflow.defn
class EmbassyListsWorkflow:
    @workflow.run
    async def run(self) -> list[EmbassyList]:
        return await workflow.execute_activity(
            "send_embassy_lists",
            EmbassyListsRequest(list_date=workflow.now().date()),
            result_type=list[EmbassyList],
            start_to_close_timeout=RENDER * 10,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
