"""RepatriationWorkflow: one durable journey per case, from intake to closure.

The stages live in their own modules (intake, identity, consular, funding, travel, closure);
this class holds the order they run in, the Updates through which people decide, and the
query that tells where the case is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.decisions import (
        ArrivalConfirmation,
        ConsentWithdrawal,
        Decision,
        DepartureConfirmation,
        DuplicateResolution,
        EtdDecision,
        FlightChoice,
        FundingDecision,
        IdentityAttestation,
        NationalityDecision,
    )
    from contracts.interventions import Intervention
    from contracts.messages import (
        CaseStart,
        CommitFunds,
        DecisionReceipt,
        DecisionRecord,
        EmbassyRequestSent,
        ReadModelSync,
    )
    from contracts.state import (
        DECISION_ROLE,
        DECISION_STAGE,
        CaseState,
        DecisionKind,
        EtdRecord,
        Outcome,
    )

from workflows import calls, closure, consular, funding, identity, intake, interventions, rules, travel
from workflows.journey import ACCEPTANCE, CaseStopped, Journey

# A decision (or a supervisor's intervention) takes effect only once Temporal has recorded the
# Update as accepted. The read model's bookkeeping runs as local activities (v3), inside the
# workflow task that runs the handler, before that task completes; if the worker then dies and
# the server restarts, an Update it had not yet recorded is gone (the person is told it failed),
# but its effects would already be in the read model, which would then show the decision taken
# and the case moved on while the workflow still waits for it: a case stuck for ever, with the
# decision nobody sees pending any more. So the handler first waits on a timer of a
# millisecond: the workflow task that accepts the Update completes (acceptance recorded) before
# anything changes, and the decision is then applied and recorded in the next one.
# v6 (journey.V6) keeps the guarantee without the second task: the decision takes effect at
# once, and no local activity with an effect outside the workflow runs in that task.
DURABLE_DECISIONS = "v3-decisions-applied-once-accepted"
# A second flight choice while the first is being booked is refused (from v8 on, and in the
# cases opened before it that reach the check on this code); histories recorded before the rule
# took such a choice, and replay it so.
ONE_FLIGHT_CHOICE = "v7-one-flight-choice-at-a-time"


def workflow_id_for(case_id: str) -> str:
    return f"repatriation-{case_id}"


@workflow.defn
class RepatriationWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self.j = Journey(start)

    @workflow.run
    async def run(self, start: CaseStart) -> CaseState:
        j = self.j
        try:
            await intake.run(j)
            await j.hold_point()
            await identity.run(j)
            await j.hold_point()
            # Funding does not wait for the embassy: both branches run side by side.
            results = await asyncio.gather(consular.run(j), funding.run(j), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException) and not isinstance(result, CaseStopped):
                    raise result
            j.check_stop()
            await j.hold_point()
            j.check_stop()
            await travel.run(j)
        except CaseStopped:
            pass
        await j.records_done()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await closure.run(j)
        return j.state

    @workflow.query
    def state(self) -> CaseState:
        return self.j.state

    @workflow.query
    def read_model(self) -> ReadModelSync:
        """What the read model should hold: the service writes it once a decision's Update has
        returned (v6: the workflow's own write of it waits for the case's next task)."""
        return self.j.read_model()

    @workflow.signal
    def embassy_request_sent(self, sent: EmbassyRequestSent) -> None:
        """From the embassy's batcher (workflows/embassy_requests.py): the consolidated request
        naming this case went out, or why this case could not be named in it."""
        self.j.embassy_answer = sent

    # -- the shared path of every decision ---------------------------------------------------
    def _validate(self, kind: DecisionKind, rule: Callable[[], None]) -> None:
        # Stopping, or closing after the return (closure.py: until its report exists).
        closing = self.j.stop[0] if self.j.stop is not None else self.j.state.closing
        if closing is not None:
            raise rules.DecisionRejected(
                f"case {self.j.state.reference} is closing ({closing}); no further decisions are taken"
            )
        if self.j.state.on_hold:
            raise rules.DecisionRejected(
                f"case {self.j.state.reference} is on hold ({self.j.state.hold_reason}); "
                "a supervisor resumes it"
            )
        if kind in self.j.deciding or kind in self.j.decisions:
            raise rules.DecisionRejected(f"a {kind} decision is already being applied")
        rule()

    def _apply(self, kind: DecisionKind, d: Decision) -> str:
        """The facts a decision sets at once (so the next validator sees them); its summary."""
        state = self.j.state
        match d:
            case DuplicateResolution():
                self.j.duplicate_open = False
                return f"duplicate: {d.action}"
            case IdentityAttestation():
                state.identity_verified = d.verified
                return "identity attested" if d.verified else "identity could not be attested"
            case NationalityDecision():
                state.nationality_confirmed = d.confirmed
                return "nationality confirmed" if d.confirmed else "nationality refused"
            case EtdDecision():
                if not d.issued:
                    return "ETD refused"
                assert d.document_number and d.expires_on
                state.etd = EtdRecord(document_number=d.document_number, expires_on=d.expires_on)
                return f"ETD issued, valid until {d.expires_on}"
            case FlightChoice():
                return f"flight {d.option_id} chosen"
            case DepartureConfirmation():
                state.departed_at = d.departed_at or workflow.now()
                return "departure confirmed"
            case ArrivalConfirmation():
                state.arrived_at = d.arrived_at or workflow.now()
                return f"arrival confirmed, received by {d.reception_organisation}"
            case ConsentWithdrawal():
                self.j.halt(Outcome.withdrawn, f"consent withdrawn: {d.reason}")
                return "consent withdrawn"
        raise ValueError(f"no rule to apply {kind}")  # pragma: no cover

    async def _once_accepted(self, kind: DecisionKind | None, revalidate: Callable[[], None]) -> None:
        """Wait until the Update is recorded as accepted (``DURABLE_DECISIONS``), then check it
        again: another decision or a supervisor may have acted meanwhile (``kind`` is held as
        being applied in between, so a second decision of the same kind is refused at once).
        Cases whose histories predate it carry on as they were recorded; cases opened from v5 on
        (journey.V5) have it without a marker of their own.

        v6 (journey.V6): no timer, no second task. The validator ran in this very task, but
        another Update of the same task may have taken effect since (two sent at once), so the
        decision is checked again before it takes effect; and the task is marked as one that
        took a decision, so that nothing outside the workflow sees it before Temporal has
        recorded the acceptance (``Journey.settled``)."""
        if self.j.v6:
            self._revalidate(revalidate)
            self.j.took_decision()
            return
        if not (self.j.v3 and (self.j.v5 or workflow.patched(DURABLE_DECISIONS))):
            return
        if kind is not None:
            self.j.deciding.add(kind)
        try:
            await workflow.sleep(ACCEPTANCE)
        finally:
            if kind is not None:
                self.j.deciding.discard(kind)
        self._revalidate(revalidate)

    @staticmethod
    def _revalidate(revalidate: Callable[[], None]) -> None:
        try:
            revalidate()
        except rules.DecisionRejected as err:
            raise ApplicationError(str(err), type="DecisionRejected", non_retryable=True) from None

    async def _accept(self, kind: DecisionKind, decision: Decision, summary: str) -> DecisionReceipt:
        """Record the decision (database and timeline) and hand it to the waiting stage."""
        info = workflow.current_update_info()
        stage = DECISION_STAGE.get(kind, self.j.state.stage)
        self.j.state.pending = [p for p in self.j.state.pending if p.kind != kind]
        self.j.event(stage, "decision", f"{summary} (by {decision.decided_by})")
        if kind != DecisionKind.consent_withdrawal:
            self.j.decisions[kind] = decision
        decision_id = info.id if info else f"{kind}-{workflow.now().isoformat()}"
        seq = await self.j.record_decision(
            DecisionRecord(
                case_id=self.j.start.case_id,
                decision_id=decision_id,
                kind=kind,
                role=DECISION_ROLE[kind],
                decided_by=decision.decided_by,
                decided_at=workflow.now(),
                payload=decision.model_dump(mode="json"),
            )
        )
        return DecisionReceipt(case_id=self.j.start.case_id, decision_id=decision_id, kind=kind, seq=seq)

    async def _decide(
        self, kind: DecisionKind, d: Decision, validator: Callable[[Any], None]
    ) -> DecisionReceipt:
        await self._once_accepted(kind, lambda: validator(d))
        return await self._accept(kind, d, self._apply(kind, d))

    # -- identity ----------------------------------------------------------------------------
    @workflow.update
    async def resolve_duplicate(self, d: DuplicateResolution) -> DecisionReceipt:
        return await self._decide(DecisionKind.duplicate_resolution, d, self._v_duplicate)

    @resolve_duplicate.validator
    def _v_duplicate(self, d: DuplicateResolution) -> None:
        self._validate(DecisionKind.duplicate_resolution, lambda: rules.duplicate_resolution(self.j.state, d))

    @workflow.update
    async def attest_identity(self, d: IdentityAttestation) -> DecisionReceipt:
        return await self._decide(DecisionKind.identity_attestation, d, self._v_identity)

    @attest_identity.validator
    def _v_identity(self, d: IdentityAttestation) -> None:
        self._validate(
            DecisionKind.identity_attestation,
            lambda: rules.identity_attestation(self.j.state, d, self.j.duplicate_open),
        )

    # -- embassy -----------------------------------------------------------------------------
    @workflow.update
    async def decide_nationality(self, d: NationalityDecision) -> DecisionReceipt:
        return await self._decide(DecisionKind.nationality, d, self._v_nationality)

    @decide_nationality.validator
    def _v_nationality(self, d: NationalityDecision) -> None:
        self._validate(DecisionKind.nationality, lambda: rules.nationality(self.j.state, d))

    @workflow.update
    async def decide_etd(self, d: EtdDecision) -> DecisionReceipt:
        return await self._decide(DecisionKind.etd, d, self._v_etd)

    @decide_etd.validator
    def _v_etd(self, d: EtdDecision) -> None:
        self._validate(DecisionKind.etd, lambda: rules.etd(self.j.state, d, workflow.now(), self.j.start))

    # -- funding -----------------------------------------------------------------------------
    @workflow.update
    async def decide_funding(self, d: FundingDecision) -> DecisionReceipt:
        kind = DecisionKind.funding
        await self._once_accepted(kind, lambda: self._v_funding(d))
        self.j.deciding.add(kind)
        try:
            if d.approved:
                assert d.source_id and d.amount
                info = workflow.current_update_info()
                key = f"{self.j.start.case_id}:funding:{info.id if info else d.source_id}"
                taken = self.j.decisions_taken  # this approval's among them (journey.V10)
                try:
                    self.j.state.funding = await calls.commit_funds(
                        CommitFunds(
                            case_id=self.j.start.case_id,
                            source_id=d.source_id,
                            amount=d.amount,
                            currency=d.currency,
                            idempotency_key=key,
                        )
                    )
                except ActivityError as err:
                    cause = err.cause
                    message = cause.message if isinstance(cause, ApplicationError) else str(err)
                    raise ApplicationError(
                        f"funding not approved: {message}", type="DecisionRejected", non_retryable=True
                    ) from err
                self.j.settled_by(taken)
                verdict = f"funding approved: {d.currency} {d.amount} from {d.source_id}"
            else:
                verdict = "funding rejected"
            return await self._accept(kind, d, verdict)
        finally:
            self.j.deciding.discard(kind)

    @decide_funding.validator
    def _v_funding(self, d: FundingDecision) -> None:
        self._validate(DecisionKind.funding, lambda: rules.funding(self.j.state, d))

    # -- travel ------------------------------------------------------------------------------
    @workflow.update
    async def choose_flight(self, d: FlightChoice) -> DecisionReceipt:
        return await self._decide(DecisionKind.flight_choice, d, lambda d: self._flight(d, in_handler=True))

    @choose_flight.validator
    def _v_flight(self, d: FlightChoice) -> None:
        self._flight(d, in_handler=False)

    def _flight(self, d: FlightChoice, in_handler: bool) -> None:
        def rule() -> None:
            rules.flight_choice(self.j.state, d, self.j.start, self.j.opened_at)
            # Between a choice and its booking the options stay on show: a second choice then
            # would be kept for later and taken, unasked, after a refused booking. Checked again
            # in the handler (replayed) only where the case took no such choice before this rule
            # came (ONE_FLIGHT_CHOICE); a validator is never replayed.
            if self.j.state.pending_of(DecisionKind.flight_choice) is None and (
                not in_handler or self.j.v8 or workflow.patched(ONE_FLIGHT_CHOICE)
            ):
                raise rules.DecisionRejected(
                    "option_id: no flight choice is awaited now (the chosen flight is being booked)"
                )

        self._validate(DecisionKind.flight_choice, rule)

    @workflow.update
    async def confirm_departure(self, d: DepartureConfirmation) -> DecisionReceipt:
        return await self._decide(DecisionKind.departure, d, self._v_departure)

    @confirm_departure.validator
    def _v_departure(self, d: DepartureConfirmation) -> None:
        self._validate(DecisionKind.departure, lambda: rules.departure(self.j.state, d))

    @workflow.update
    async def confirm_arrival(self, d: ArrivalConfirmation) -> DecisionReceipt:
        return await self._decide(DecisionKind.arrival, d, self._v_arrival)

    @confirm_arrival.validator
    def _v_arrival(self, d: ArrivalConfirmation) -> None:
        self._validate(DecisionKind.arrival, lambda: rules.arrival(self.j.state, d))

    # -- consent -----------------------------------------------------------------------------
    @workflow.update
    async def withdraw_consent(self, d: ConsentWithdrawal) -> DecisionReceipt:
        return await self._decide(DecisionKind.consent_withdrawal, d, self._v_withdraw)

    @withdraw_consent.validator
    def _v_withdraw(self, d: ConsentWithdrawal) -> None:
        # Withdrawal is the survivor's right: accepted even while the case is on hold.
        if self.j.stop is not None:
            raise rules.DecisionRejected(f"case {self.j.state.reference} is closing ({self.j.stop[0]})")
        rules.consent_withdrawal(self.j.state, d)

    # -- supervisors' interventions ----------------------------------------------------------
    @workflow.update
    async def intervene(self, i: Intervention) -> CaseState:
        await self._once_accepted(None, lambda: interventions.validate(self.j, i))
        stage, summary = interventions.apply(self.j, i, self._override_decision)
        self.j.event(
            stage, "intervention", f"{summary} (by {i.decided_by}): {getattr(i, 'justification', '')}"
        )
        await self.j.sync(wait=True)
        return self.j.state

    @intervene.validator
    def _v_intervene(self, i: Intervention) -> None:
        interventions.validate(self.j, i)

    def _override_decision(self, kind: DecisionKind, d: Decision) -> str:
        summary = self._apply(kind, d)
        self.j.state.pending = [p for p in self.j.state.pending if p.kind != kind]
        self.j.decisions[kind] = d
        return summary
