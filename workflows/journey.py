"""The case's working memory inside the workflow, and the moves every stage makes: begin and
finish a stage, wait for a person's decision (with its deadline and reminder), make a document,
mirror the state to the read model."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from contracts.decisions import Decision
    from contracts.messages import (
        CaseStart,
        DecisionRecord,
        DocType,
        EmbassyRequestSent,
        Notice,
        ReadModelSync,
        RenderRequest,
    )
    from contracts.state import (
        DECISION_ROLE,
        DECISION_STAGE,
        STAGE_ORDER,
        BlockedStep,
        CaseState,
        DecisionKind,
        DocumentRef,
        Outcome,
        PendingDecision,
        Role,
        Stage,
        StageEvent,
        StageStatus,
    )

from workflows import calls

T = TypeVar("T")

# Custom search attributes, registered on the server (see repatriation/stack.py), so operators
# find the same cases in the Temporal Web UI.
STAGE_KEY = SearchAttributeKey.for_keyword("RepatriationStage")
NATIONALITY_KEY = SearchAttributeKey.for_keyword("Nationality")
STUCK_KEY = SearchAttributeKey.for_bool("Stuck")
DEADLINE_KEY = SearchAttributeKey.for_datetime("NextDeadline")

# The third version of the journey, made for mass releases (BENCHMARKS.md): the read model's
# bookkeeping as local activities, documents on the paperwork queue by priority, the records
# nobody waits for rendered beside the case's progress, and the embassy asked by consolidated
# requests instead of a letter per survivor. Cases opened before it (tests/workflows/histories,
# v1 and v2) replay and carry on along the path they started on.
V3 = "v3-paperwork-queue-and-consolidated-embassy-requests"
# The fifth (BENCHMARKS.md): a case is marked once, when it opens, and what the earlier markers
# guarded (V3, repatriation.DURABLE_DECISIONS, the closure notice) holds for it without a marker
# of its own; and it keeps no NextDeadline search attribute. Each marker costs the server an
# upsert of TemporalChangeVersion and each change of the next deadline another (nine a case):
# eleven writes of its visibility store a case, for a search that the stuck view answers from the
# read model, current to the second. Cases opened before it replay and carry on as they began.
V5 = "v5-one-marker-and-no-deadline-search-attribute"
# The sixth (BENCHMARKS.md): a person's decision takes effect in the workflow task that accepts
# its Update, and the Update completes there: one workflow task a decision instead of two (v4
# and v5 applied it only after a timer, in a second task, so that nothing outside the workflow
# saw a decision before Temporal had recorded it). What made that timer necessary were the
# local activities, which run before their workflow task completes; so now no local activity
# with an effect outside the workflow runs in a task that took a decision (``settled``): the
# read model's write waits for the case's next task, and the service, once the Update has
# returned (recorded by Temporal), writes the decision and the state after it from the
# workflow's ``read_model`` query. Cases opened before it replay and carry on as they began.
V6 = "v6-decisions-take-effect-in-the-task-that-accepts-them"
# The seventh: as v6, and the case's own write of a decision does not wait for whatever task
# comes next, which after some decisions is days away (a departure confirmed, then nothing until
# the arrival's reminder): a timer started with the decision wakes the case within
# READ_MODEL_BACKSTOP if nothing else has, and is cancelled by any task that comes sooner (most
# do: a document, the next decision), so it costs two history events, and a workflow task only
# where nothing else happens within it (1.4 a case in the benchmark, BENCHMARKS.md). The
# service's write after the Update (v6) is what people see at once; this bounds how long the read
# model stays behind when that write failed (the process died, the database refused it).
V7 = "v7-a-decision-written-by-the-case-within-a-backstop"
READ_MODEL_BACKSTOP = timedelta(seconds=30)
# The eighth: which workflow task took a decision is counted by the case itself, not read from the
# history's length. v6 and v7 compared workflow.info().get_current_history_length() with its value
# when the decision was taken; a worker that rebuilt a case from its history (restarted, or the
# case evicted from its cache) could see that length change at another point than the worker
# that ran it, and so start or cancel a timer in another order: a case of the fault test
# (tests/stack/test_faults.py) failed every workflow task from then on ("TimerMachine in state
# StartCommandCreated ... TimerCanceled"). Now a decision raises a counter, and a case that must
# wait for its decision's task to be recorded waits for a timer of a millisecond started after
# it (ACCEPTANCE): its firing is a later task by construction, whatever the worker saw. Its cost:
# the task of that timer after each decision the case writes itself (the service writes it
# first, v6). Cases opened before it replay and carry on as they began.
V8 = "v8-a-decision-s-task-counted-by-the-case"
# The ninth: a reminder or an overdue notice is mailed beside the wait for the decision, not in
# it. Until v8 the wait stopped until the mail had gone, and the mail is retried for as long as
# the mail server refuses it: a decision, or a withdrawal of consent, taken during an outage then
# had no effect until the server was back (the case did not move on, nor close, nor release its
# funds), and the stale "awaits your decision" went out afterwards. Now the wait goes on while
# the notice is mailed, and a notice still unsent when the decision comes is cancelled. Cases
# opened before it replay and carry on as they began.
V9 = "v9-notices-mailed-beside-the-wait"
# The tenth: a funding approval's decision is settled by the commitment of its funds. Its Update
# is accepted in one workflow task, which schedules the ledger's commitment (an activity), and the
# decision is recorded in the task where that activity's completion arrives: an activity is handed
# out only once the task that scheduled it is recorded, so that task proves the acceptance
# recorded, as the settling timer's firing does (v8), and the case writes its read model there.
# Until v9 the case then started the settling timer all the same, and wrote in that timer's task:
# one workflow task, three writes of the server, a case (BENCHMARKS.md, 2026-12-04). Cases opened
# before it replay and carry on as they began.
V10 = "v10-a-funding-approval-settled-by-its-commitment"
# The eleventh: a case runs one local activity at a time (:meth:`Journey.in_turn`). Its steps run
# side by side (the read model's writer beside the identity checks, the cost estimate and the
# embassy request), and the SDK hands a workflow its local activities' results in the order they
# completed when it runs them, but in the order they were scheduled when it rebuilds the case
# from its history (temporalio/sdk-python#1578). Two steps whose local activities completed out
# of order could then resume in another order on replay and schedule their next commands in
# another order: a worker restarted, or the case evicted from its cache, and every workflow task
# of the case failed from then on ("Activity type of recorded marker 'sync_read_model' does not
# match activity type of local activity command 'join_embassy_request'", met once in CI with no
# workflow cache). One at a time, their results come in the order they were scheduled either
# way. Cases opened before it replay and carry on as they began.
V11 = "v11-one-local-activity-at-a-time"
# The twelfth: a decision that asks for a document is settled by that document. Most decisions
# a case writes itself were followed by the settling timer's workflow task (v8), 5.7 of a case's
# 27 in a mass release (BENCHMARKS.md). But the identity attestation asks for the ETD application
# and the identity report in the very task that accepts it, the ETD issued for the exit clearance,
# the flight chosen for its booking, the arrival for the closure report; a document or a booking
# is made by an activity, handed out only once the task that scheduled it is recorded, so its
# result, when the server hands it back, proves that task recorded, as the timer's firing does
# (v10 does the same with the funding approval's commitment; ``Journey.settling``). The case's
# own write after such a decision waits for it (the service has written the decision and the state
# after it meanwhile, v6), with a timer of READ_MODEL_BACKSTOP in case it is slow (a mass
# release's queue); what a person waits on (an intervention's answer, the closure's last write)
# still takes the millisecond's timer. Cases opened before it replay and carry on as they began.
V12 = "v12-a-decision-settled-by-the-document-it-asks-for"
# A timer that lets a workflow task complete before what follows it (v4 to v6, above).
ACCEPTANCE = timedelta(milliseconds=1)


class CaseStopped(Exception):
    """Raised inside a stage when the case must stop (refusal, withdrawal, merge)."""


class Journey:
    def __init__(self, start: CaseStart) -> None:
        self.start = start
        self.state = CaseState(
            case_id=start.case_id,
            reference=start.reference,
            organisation=start.organisation,
            nationality=start.nationality,
        )
        self.opened_at: datetime = workflow.now()
        self.decisions: dict[DecisionKind, Decision] = {}
        self.deciding: set[DecisionKind] = set()
        self.stop: tuple[Outcome, str] | None = None
        self.duplicate_open = False
        self.reception_organisation: str | None = None
        self.timers_version = 0
        self.blocked_action: str | None = None
        self.blocked_skippable = False
        self._seq = 0
        self.v12 = workflow.patched(V12)
        self.v11 = self.v12 or workflow.patched(V11)
        self.v10 = self.v11 or workflow.patched(V10)
        self.v9 = self.v10 or workflow.patched(V9)
        self.v8 = self.v9 or workflow.patched(V8)
        self.v7 = self.v8 or workflow.patched(V7)
        self.v6 = self.v7 or workflow.patched(V6)
        self.v5 = self.v6 or workflow.patched(V5)
        self.v3 = self.v5 or workflow.patched(V3)
        self.paperwork_queue = start.policy.paperwork_task_queue if self.v3 else None
        self._records: list[asyncio.Task[None]] = []
        self._blocking = asyncio.Lock()  # one failed step at a time before a supervisor
        self._local_turn = asyncio.Lock()  # v11: one local activity at a time
        self._resolved = 0
        self._writer: asyncio.Task[None] | None = None
        self._written = 0
        self._upserted: tuple[str, bool, datetime | None] | None = None
        self._unrecorded: list[DecisionRecord] = []  # v6: decisions the writer has yet to write
        self._decided_in: int | None = None  # v6, v7: the workflow task that took the last decision
        self._decisions_taken = 0  # v8: decisions (and interventions) taken so far
        self._decisions_settled = 0  # v8: of them, those whose task Temporal has recorded
        self._settling: asyncio.Task[None] | None = None  # v8: the timer that settles them
        self._settlers: list[int] = []  # v12: decisions taken when each document rendering was asked for
        self._awaiting_settler: asyncio.Task[None] | None = None  # v12: the wait for one of them
        self.embassy_answer: EmbassyRequestSent | None = None
        # Set once the closure runs (closure.py): a step of the closure that fails for good waits
        # for a supervisor's retry or override even though the case is stopping, since the stop
        # is what is being carried out.
        self.in_closure = False

    @property
    def needs_escort(self) -> bool:
        start = self.start
        return start.is_minor or start.has_medical_needs or bool(start.pregnant_weeks)

    # -- timeline ---------------------------------------------------------------------------
    def event(self, stage: Stage, event: str, detail: str | None = None) -> None:
        self.state.history.append(StageEvent(stage=stage, event=event, at=workflow.now(), detail=detail))

    def _refresh_stage(self) -> None:
        active = [s for s in STAGE_ORDER if self.state.stages[s] == StageStatus.active]
        if active:
            self.state.stage = active[0]

    def begin(self, stage: Stage) -> None:
        self.state.stages[stage] = StageStatus.active
        self._refresh_stage()
        self.event(stage, "started")

    def finish(self, stage: Stage, detail: str | None = None) -> None:
        self.state.stages[stage] = StageStatus.done
        self._refresh_stage()
        self.event(stage, "completed", detail)

    def halt(self, outcome: Outcome, reason: str) -> None:
        """Stop the case: every waiting stage wakes and raises CaseStopped."""
        if self.stop is None:
            self.stop = (outcome, reason)
            self.state.closing = outcome  # for the read model: nothing is sent about it any more

    def check_stop(self) -> None:
        if self.stop is not None:
            raise CaseStopped(self.stop[0])

    # -- read model --------------------------------------------------------------------------
    @property
    def stuck(self) -> bool:
        return (
            self.state.on_hold or self.state.blocked is not None or any(p.overdue for p in self.state.pending)
        )

    async def sync(self, wait: bool = False) -> None:
        """Mirror the state to the read model and the search attributes.

        v3: one background writer per case takes the latest state each time it writes, so the
        changes a case makes back to back (a stage finished, the next begun) go in one write, and
        the busier the worker the more of them each write carries. ``wait``: until this state is
        written, for an Update's handler, so that what a person reads right after acting (a list,
        the stuck view) shows it. The case's last write is always waited for (closure)."""
        self._seq += 1
        if not self.v3:  # cases opened before v3: a write per change, as they were recorded
            self._upsert_search_attributes(always=True)
            await calls.sync_read_model(ReadModelSync(state=self.state, seq=self._seq))
            return
        wanted = self._seq
        self._start_writer()
        if wait:
            await self.after_decision_task()
            await workflow.wait_condition(lambda: self._written >= wanted)

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_latest())

    # -- v6: nothing outside the workflow sees a decision before Temporal has recorded it ------
    def took_decision(self) -> None:
        """Called as a decision (or an intervention) takes effect: this workflow task completes
        with the Update's acceptance, and until it has, no local activity with an effect outside
        the workflow may run (:meth:`settled`)."""
        if self.v8:
            self._decisions_taken += 1
            return
        self._decided_in = workflow.info().get_current_history_length()

    @property
    def decisions_taken(self) -> int:
        """v8: decisions (and interventions) taken so far: read before scheduling an activity that
        is to settle them (:meth:`settled_by`)."""
        return self._decisions_taken

    def settled_by(self, taken: int) -> None:
        """v10: an activity scheduled once ``taken`` decisions had been taken has completed. It was
        handed out only once the task that scheduled it was recorded, so the tasks that took those
        decisions are recorded too; a decision taken since is not settled by it."""
        if self.v10:
            self._decisions_settled = max(self._decisions_settled, taken)

    def settled(self) -> bool:
        """True unless a decision was taken in a workflow task that Temporal may not have
        recorded yet. v8: unless a decision came after the last timer started for it fired (a
        timer fires in a later task than the one that started it, so that one is recorded); v6
        and v7: unless the history's length is still what it was when the decision was taken."""
        if self.v8:
            return self._decisions_settled >= self._decisions_taken
        return self._decided_in is None or workflow.info().get_current_history_length() != self._decided_in

    async def _settle(self, prompt: bool = True) -> None:
        """v8: until every decision's task is recorded, each waiter sharing one timer at a time.
        v12: a waiter that is not ``prompt`` (the read model's writer) waits for a document asked
        for since the last decision instead, when there is one (``V12``), once the rest of this
        task's steps have asked for theirs (the stages after a decision start as tasks of their
        own, which run after the writer's)."""
        if not prompt and self.v12 and not self.settled():
            await workflow.wait_condition(lambda: True)
        while not self.settled():
            if not prompt and self.v12 and self._settler_for(self._decisions_taken):
                if self._awaiting_settler is None or self._awaiting_settler.done():
                    self._awaiting_settler = asyncio.create_task(self._await_settler())
                await self._awaiting_settler
                continue
            if self._settling is None or self._settling.done():
                self._settling = asyncio.create_task(self._settle_once())
            await self._settling

    def _settler_for(self, taken: int) -> bool:
        """v12: a document is rendering that was asked for once ``taken`` decisions were taken."""
        return any(t >= taken for t in self._settlers)

    async def _await_settler(self) -> None:
        """v12: until that document comes back (``settled_by``), it is no longer rendering (the
        case cancelled it: no proof), or READ_MODEL_BACKSTOP has passed (the timer's firing is a
        later task, so it settles them too)."""
        taken = self._decisions_taken
        try:
            await workflow.wait_condition(
                lambda: self._decisions_settled >= taken or not self._settler_for(taken),
                timeout=READ_MODEL_BACKSTOP,
            )
        except TimeoutError:
            self._decisions_settled = max(self._decisions_settled, taken)

    async def settling(self, activity: Awaitable[T]) -> T:
        """v12: await an activity (not a local one) that settles the decisions taken before it was
        scheduled once the server hands back its result, completed or failed (not one the case
        cancelled, which the SDK may resolve at once)."""
        if not self.v12:
            return await activity
        taken = self._decisions_taken
        self._settlers.append(taken)
        try:
            result = await activity
        except ActivityError as err:
            if not isinstance(err.cause, CancelledError):
                self.settled_by(taken)
            raise
        finally:
            self._settlers.remove(taken)
        self.settled_by(taken)
        return result

    async def _settle_once(self) -> None:
        taken = self._decisions_taken
        await workflow.sleep(ACCEPTANCE)
        self._decisions_settled = max(self._decisions_settled, taken)

    async def after_decision_task(self) -> None:
        """Before a local activity with an effect outside the workflow that the case waits for:
        if this task took a decision, a timer of a millisecond lets the task complete first."""
        if self.v8:
            await self._settle()
        elif not self.settled():
            await workflow.sleep(ACCEPTANCE)

    async def _next_task(self) -> None:
        if self.v8:
            await self._settle(prompt=False)
            return
        if not self.v7:
            await workflow.wait_condition(self.settled)
            return
        try:
            await workflow.wait_condition(self.settled, timeout=READ_MODEL_BACKSTOP)
        except TimeoutError:
            pass  # the timer's own task: settled now

    async def record_decision(self, record: DecisionRecord) -> int:
        """Keep a person's decision, and the state after it (v3 to v5: in one write, before the
        Update returns; before v3: a decision, then the read model; v6: with the writer's next
        write, in a later task, and by the service once the Update has returned). Returns the
        read model's sequence number that carries it."""
        if not self.v3:
            await calls.record_decision(record)
            seq = self._seq + 1  # the one this sync takes, at once
            await self.sync()
            return seq
        if self.v6:  # written with the next state, in a later task (and by the service, sooner)
            self._unrecorded.append(record)
            self._seq += 1
            self._start_writer()
            return self._seq
        self._seq += 1
        seq = self._seq
        with_state = record.model_copy(update={"read_model": ReadModelSync(state=self.state, seq=seq)})
        await calls.record_decision(with_state, local=True)
        self._written = max(self._written, seq)
        return seq

    def read_model(self) -> ReadModelSync:
        """What the read model should hold now: the state, its sequence number and (v6) the
        decisions not yet written."""
        return ReadModelSync(state=self.state, seq=self._seq, decisions=list(self._unrecorded))

    async def _write_latest(self) -> None:
        while self._written < self._seq or self._unrecorded:
            # Let the rest of this workflow task's changes in first (no command, no timer).
            await workflow.wait_condition(lambda: True)
            # v6: not in a task that took a decision; the write waits for the case's next task
            # (the service has written it meanwhile), or for a timer if someone waits for it;
            # v7: for READ_MODEL_BACKSTOP at most; v8: for the settling timer's task; v12: for the
            # task of a document the decision asked for, if there is one (within READ_MODEL_BACKSTOP).
            if not self.settled():
                await self._next_task()
            async with self._turn():
                if self.v11 and not self.settled():
                    continue  # a decision came while another step had the turn: its task first
                sync = self.read_model()
                self._upsert_search_attributes()
                await calls.sync_read_model(sync, local=True)
            self._written = max(self._written, sync.seq)
            del self._unrecorded[: len(sync.decisions)]

    # -- v11: one local activity at a time -------------------------------------------------------
    def _turn(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._local_turn if self.v11 else contextlib.nullcontext()

    async def in_turn(self, run: Callable[[], Awaitable[T]], settled: bool = False) -> T:
        """Run a step that is a local activity once no other local activity of the case is running
        (v11, see ``V11``); in the order the steps asked, since the lock wakes its waiters in turn.
        ``settled``: a step with an effect outside the workflow, which must not run in a task
        that took a decision (:meth:`after_decision_task`), nor in one that took a decision while
        the step waited for its turn."""
        while True:
            if settled:
                await self.after_decision_task()
            async with self._turn():
                if settled and self.v11 and not self.settled():
                    continue
                return await run()

    def _upsert_search_attributes(self, always: bool = False) -> None:
        """v3 upserts only what changed: each upsert is a write to the server's visibility store.
        v5 keeps no NextDeadline (see ``V5``)."""
        if not self.start.policy.search_attributes:
            return
        deadlines = [p.deadline for p in self.state.pending] if not self.v5 else []
        values = (str(self.state.stage), self.stuck, min(deadlines) if deadlines else None)
        if not always and values == self._upserted:
            return
        self._upserted = values
        stage, stuck, deadline = values
        updates = [
            STAGE_KEY.value_set(stage),
            NATIONALITY_KEY.value_set(self.start.nationality),
            STUCK_KEY.value_set(stuck),
        ]
        if not self.v5:
            updates.append(DEADLINE_KEY.value_set(deadline) if deadline else DEADLINE_KEY.value_unset())
        workflow.upsert_search_attributes(updates)

    # -- paperwork ---------------------------------------------------------------------------
    async def render(self, stage: Stage, doc_type: DocType, **facts: Any) -> DocumentRef | None:
        request = RenderRequest(
            case_id=self.start.case_id, doc_type=doc_type, issued_on=workflow.now().date(), facts=facts
        )
        ref = await self.guarded(
            stage,
            f"render {doc_type}",
            lambda: self.settling(calls.render_document(request, self.paperwork_queue, self.v3)),
            True,
        )
        if ref is None:
            return None
        self.add_document(stage, ref)
        return ref

    def add_document(self, stage: Stage, ref: DocumentRef) -> None:
        self.state.documents = [d for d in self.state.documents if d.doc_type != ref.doc_type]
        self.state.documents.append(ref)
        self.event(stage, "document", f"{ref.doc_type} v{ref.version}")

    async def render_record(self, stage: Stage, doc_type: DocType, **facts: Any) -> None:
        """A document for the case file that nobody's next step waits on (the intake and consent
        form, the identity report): rendered beside the case's progress, at the lowest priority,
        so that in a mass release the embassy requests go out first. The case closes only once
        every record exists (:meth:`records_done`). Cases opened before v3 wait for it here."""
        if not self.v3:
            await self.render(stage, doc_type, **facts)
            return

        async def make() -> None:
            if await self.render(stage, doc_type, **facts) is not None:
                await self.sync()

        self._records.append(asyncio.create_task(make()))

    async def records_done(self) -> None:
        """Wait for the records still rendering; a stop wakes a record that waits for a person."""
        if not self._records:
            return
        results = await asyncio.gather(*self._records, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, CaseStopped):
                raise result

    def document_ids(self, *types: DocType) -> list[str]:
        return [d.document_id for d in self.state.documents if d.doc_type in types]

    # -- human decisions ---------------------------------------------------------------------
    def _decided(self, kind: DecisionKind) -> bool:
        return kind in self.decisions or self.stop is not None

    async def await_decision(self, kind: DecisionKind) -> Decision:
        """Wait for a person's decision; remind part-way, flag overdue at the deadline.

        A supervisor may move the deadline or put the case on hold at any time: the timers are
        re-armed from the pending decision each time round.
        """
        await self.hold_point()
        self.check_stop()
        if kind not in self.decisions:
            stage, role = DECISION_STAGE[kind], DECISION_ROLE[kind]
            now = workflow.now()
            pending = PendingDecision(
                kind=kind,
                role=role,
                stage=stage,
                since=now,
                deadline=now + timedelta(seconds=self.start.policy.deadlines[kind]),
                assignee=self.state.assignees.get(role),
            )
            self.state.pending.append(pending)
            self.event(stage, "waiting", f"{kind} by {role} until {pending.deadline:%Y-%m-%d %H:%M}Z")
            await self.sync()
            mailing: list[asyncio.Task[None]] = []  # v9: notices mailed beside the wait
            while not self._decided(kind):
                now = workflow.now()
                remind_at = (
                    pending.since + (pending.deadline - pending.since) * self.start.policy.reminder_fraction
                )
                if not self.state.on_hold and pending.reminders_sent == 0 and now >= remind_at:
                    await self._notify(self._reminder(pending), mailing)
                    continue
                if not self.state.on_hold and not pending.overdue and now >= pending.deadline:
                    await self._notify(self._overdue(pending), mailing)
                    continue
                wake = None
                if not self.state.on_hold:
                    wake = remind_at if pending.reminders_sent == 0 else None
                    wake = wake or (pending.deadline if not pending.overdue else None)
                version = self.timers_version
                try:
                    await workflow.wait_condition(
                        lambda: self._decided(kind) or self.timers_version != version,  # noqa: B023
                        timeout=None if wake is None else max(wake - now, timedelta(milliseconds=1)),
                    )
                except TimeoutError:
                    pass
            for notice in mailing:
                if not notice.done():  # about a decision that is taken now: not to be mailed
                    notice.cancel()
            self.state.pending = [p for p in self.state.pending if p.kind != kind]
        self.check_stop()
        return self.decisions.pop(kind)

    async def hold_point(self) -> None:
        """While a supervisor holds the case, nothing moves on (decisions are refused too)."""
        if self.state.on_hold:
            await workflow.wait_condition(lambda: not self.state.on_hold or self.stop is not None)

    def rearm_timers(self) -> None:
        self.timers_version += 1

    # -- automatic steps that fail for good -----------------------------------------------------
    async def guarded(
        self, stage: Stage, step: str, run: Callable[[], Awaitable[T]], skippable: bool
    ) -> T | None:
        """Run an activity; if it fails for good (a non-retryable error), the case waits for a
        supervisor to retry it (after fixing the data), override it (if skippable) or cancel.

        ``run`` may also raise a non-retryable ApplicationError itself, for a step that another
        workflow carries out (the embassy's consolidated request).

        Steps run side by side (a record rendering beside the identity checks, the embassy
        beside the funding), so two may fail at once, often for the same bad data: they are shown
        to the supervisor one at a time, and a step whose turn comes after another was resolved
        is tried again first, since the fix may have mended it too."""
        while True:
            resolved = self._resolved
            try:
                return await run()
            except (ActivityError, ApplicationError) as err:
                cause = err.cause if isinstance(err, ActivityError) else err
                if not isinstance(cause, ApplicationError) or not cause.non_retryable:
                    raise
                # (Cases opened before v3 replay as they ran: without taking turns.)
                async with self._blocking if self.v3 else contextlib.nullcontext():
                    if self.v3 and self._resolved != resolved:
                        continue
                    action = await self._wait_for_a_person(stage, step, cause.message, skippable)
                if action == "override":
                    self.event(stage, "skipped", f"{step} skipped by a supervisor's override")
                    await self.sync()
                    return None
                self.event(stage, "retry", f"{step} retried")

    async def _wait_for_a_person(self, stage: Stage, step: str, error: str, skippable: bool) -> str:
        self.state.blocked = BlockedStep(stage=stage, step=step, error=error, since=workflow.now())
        self.event(stage, "failed", f"{step}: {error}")
        self.blocked_action = None
        self.blocked_skippable = skippable
        await self.sync()
        await workflow.wait_condition(
            lambda: self.blocked_action is not None or (self.stop is not None and not self.in_closure)
        )
        action, self.blocked_action = self.blocked_action, None
        self.state.blocked = None
        self._resolved += 1
        if not self.in_closure:
            self.check_stop()
        assert action is not None
        return action

    def _recipient_docs(self, kind: DecisionKind) -> list[str]:
        if kind in (DecisionKind.nationality, DecisionKind.etd):
            # The consolidated request names the others awaiting the same embassy: the reminder
            # about one survivor carries that survivor's own application only.
            return self.document_ids(DocType.nationality_request, DocType.etd_application)
        if kind == DecisionKind.funding:
            return self.document_ids(DocType.funding_request)
        return []

    def _notice_id(self, pending: PendingDecision, kind: str) -> str:
        """The idempotency key of a reminder or an overdue notice (activities/notices.py sends a
        notice once per id). It names the deadline as well as the wait: a supervisor who extends
        the deadline moves ``deadline`` but not ``since``, and the escalation against the new
        deadline is a new notice, to be mailed, while a retry of the same one is not."""
        since, deadline = pending.since.isoformat(), pending.deadline.isoformat()
        return f"{self.start.case_id}:{pending.kind}:{since}:{kind}:{deadline}"

    def _reminder(self, pending: PendingDecision) -> Notice:
        pending.reminders_sent += 1
        self.event(pending.stage, "reminder", f"{pending.kind} reminder to {pending.role}")
        return Notice(
            case_id=self.start.case_id,
            notice_id=self._notice_id(pending, "reminder"),
            kind="reminder",
            to_role=pending.role,
            subject=f"Reminder: case {self.state.reference} awaits your decision ({pending.kind})",
            body=(
                f"Case {self.state.reference} has awaited a decision ({pending.kind}) since "
                f"{pending.since:%Y-%m-%d %H:%M} UTC. The deadline is "
                f"{pending.deadline:%Y-%m-%d %H:%M} UTC."
            ),
            attachments=self._recipient_docs(pending.kind),
        )

    def _overdue(self, pending: PendingDecision) -> Notice:
        pending.overdue = True
        self.event(pending.stage, "overdue", f"{pending.kind} by {pending.role} is overdue")
        return Notice(
            case_id=self.start.case_id,
            notice_id=self._notice_id(pending, "overdue"),
            kind="overdue",
            to_role=Role.supervisor,
            subject=f"Overdue: case {self.state.reference} ({pending.kind})",
            body=(
                f"Case {self.state.reference} has awaited {pending.kind} from the "
                f"{pending.role} since {pending.since:%Y-%m-%d %H:%M} UTC; the deadline "
                f"{pending.deadline:%Y-%m-%d %H:%M} UTC has passed."
            ),
        )

    async def _notify(self, notice: Notice, mailing: list[asyncio.Task[None]]) -> None:
        """Mail a notice of the wait: v9 beside it (into ``mailing``), before it in the wait."""
        if self.v9:
            mailing.append(asyncio.create_task(_mail_unless_cancelled(notice)))
        else:
            await calls.send_notice(notice)
        await self.sync()


async def _mail_unless_cancelled(notice: Notice) -> None:
    """A notice mailed beside a wait; cancelled when the decision it is about comes first (the SDK
    then resolves the activity as failed, cancelled). Nobody awaits the task: a notice that fails
    for good is logged, and the case goes on."""
    try:
        await calls.send_notice(notice)
    except asyncio.CancelledError:
        pass
    except ActivityError as err:
        if not isinstance(err.cause, CancelledError):
            workflow.logger.warning("notice not mailed: %s", notice.kind)
