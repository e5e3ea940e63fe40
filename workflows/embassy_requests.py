"""EmbassyRequestsWorkflow: one per embassy (nationality) and organisation, collecting the cases
ready for that embassy into consolidated requests.

A case whose ETD application is ready joins through the ``join_embassy_request`` activity
(signal-with-start: the batcher starts with its first case and ends after an idle hour). The
first case waiting opens a batch; it closes when no other case has joined for
``quiet_seconds`` (the end of a wave of cases), when it has waited ``window_seconds`` (a long
wave is sent in parts), or as soon as ``max_cases`` are waiting. Then one request naming them
all is rendered and mailed with their ETD applications (``send_embassy_request``, idempotent per
request reference), and every case named is told by a signal, so it starts waiting for the
embassy's decisions. A case whose data could
not be put in the request is told why and waits for a supervisor; a case closed meanwhile is
left out. During a mass release an embassy gets a request a minute at most, instead of a letter
per survivor.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.messages import (
        EmbassyBatchStart,
        EmbassyRequestBatch,
        EmbassyRequestEntry,
        EmbassyRequestResult,
        EmbassyRequestSent,
    )

from workflows import calls

IDLE = timedelta(hours=1)
BATCHES_PER_RUN = 100  # then continue-as-new, with the cases still waiting


def request_reference(nationality: str, day: str, suffix: str) -> str:
    """``REQ-VNM-20261201-3F9A2C``: what the embassy quotes back."""
    return f"REQ-{nationality}-{day}-{suffix.upper()}"


@workflow.defn
class EmbassyRequestsWorkflow:
    @workflow.init
    def __init__(self, start: EmbassyBatchStart) -> None:
        self.start = start
        self.waiting: dict[str, EmbassyRequestEntry] = {e.case_id: e for e in start.waiting}
        self.batches_sent = start.batches_sent

    @workflow.signal
    def add(self, entry: EmbassyRequestEntry) -> None:
        self.waiting.setdefault(entry.case_id, entry)

    @workflow.query
    def waiting_cases(self) -> list[str]:
        return list(self.waiting)

    @workflow.run
    async def run(self, start: EmbassyBatchStart) -> int:
        for _ in range(BATCHES_PER_RUN):
            try:
                await workflow.wait_condition(lambda: bool(self.waiting), timeout=IDLE)
            except TimeoutError:
                return self.batches_sent  # idle: the next case ready starts a new run
            await self._gather()
            await self._send(list(self.waiting.values())[: start.max_cases])
            if workflow.info().is_continue_as_new_suggested():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            start.model_copy(
                update={"waiting": list(self.waiting.values()), "batches_sent": self.batches_sent}
            )
        )

    async def _gather(self) -> None:
        """Until the batch is full, quiet for ``quiet_seconds``, or ``window_seconds`` old.

        One timer per quiet period, not one per case joining: in a mass release cases join many
        times a second, and a timer reset for each was most of this workflow's history."""
        start = self.start
        closes = workflow.now() + timedelta(seconds=start.window_seconds)
        quiet = timedelta(seconds=start.quiet_seconds or start.window_seconds)
        while True:
            left = closes - workflow.now()
            if left <= timedelta(0):
                return
            size = len(self.waiting)
            try:
                await workflow.wait_condition(
                    lambda: len(self.waiting) >= start.max_cases, timeout=min(quiet, left)
                )
                return  # full
            except TimeoutError:
                if len(self.waiting) == size:
                    return  # nobody joined for a while: the wave is over

    async def _send(self, batch: list[EmbassyRequestEntry]) -> None:
        start = self.start
        reference = request_reference(
            start.nationality, workflow.now().strftime("%Y%m%d"), workflow.uuid4().hex[:6]
        )
        result: EmbassyRequestResult = await calls.send_embassy_request(
            EmbassyRequestBatch(
                request_reference=reference,
                nationality=start.nationality,
                organisation=start.organisation,
                issued_on=workflow.now().date(),
                case_ids=[e.case_id for e in batch],
            ),
            start.paperwork_task_queue,
        )
        self.batches_sent += 1
        for entry in batch:
            self.waiting.pop(entry.case_id, None)
        answers = []
        for entry in batch:
            if entry.case_id in result.sent:
                answer = EmbassyRequestSent(request_reference=reference, document=result.document)
            elif entry.case_id in result.earlier:
                earlier = result.earlier[entry.case_id]
                answer = EmbassyRequestSent(request_reference=earlier.reference, document=earlier.document)
            elif entry.case_id in result.failed:
                answer = EmbassyRequestSent(request_reference=reference, error=result.failed[entry.case_id])
            else:
                continue  # closed meanwhile: nobody waits for an answer
            handle = workflow.get_external_workflow_handle(entry.workflow_id)
            answers.append(handle.signal("embassy_request_sent", answer))
        # A case that closed between the request and its answer cannot be signalled: ignored.
        await asyncio.gather(*answers, return_exceptions=True)
