"""Supervisors' interventions on a case: whether one fits (the validator) and what it does.

retry a step that failed for good; extend a decision's deadline; reassign the caseworker or
liaison; override a stage (skip a failed step, or take a waiting decision that needs no data
only the embassy or the ledger can give) with a written justification; hold and resume; cancel.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import decisions as d
    from contracts.interventions import (
        Cancel,
        ExtendDeadline,
        Hold,
        Intervention,
        Override,
        Reassign,
        Resume,
        Retry,
    )
    from contracts.state import DECISION_STAGE, DecisionKind, Outcome, Stage, StageStatus

from workflows.journey import Journey
from workflows.rules import DecisionRejected

# Decisions a supervisor may take in someone's place; the rest need data only others hold.
OVERRIDABLE = (
    DecisionKind.duplicate_resolution,
    DecisionKind.identity_attestation,
    DecisionKind.nationality,
    DecisionKind.departure,
    DecisionKind.arrival,
)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise DecisionRejected(message)


def _override_target(j: Journey, stage: Stage) -> DecisionKind | None:
    waiting = [p.kind for p in j.state.pending if p.stage == stage]
    return next((k for k in waiting if k in OVERRIDABLE), None)


def validate(j: Journey, i: Intervention) -> None:
    state = j.state
    # A step of the closure that failed for good (the closure report) is retried or skipped like
    # any other; nothing else is done to a case that is closing (a hold or a reassignment would
    # outlive it).
    closure_step = j.in_closure and state.blocked is not None and isinstance(i, (Retry, Override))
    _require(
        closure_step or (state.outcome is None and j.stop is None and not j.in_closure),
        f"case {state.reference} is closed or closing",
    )
    match i:
        case Retry():
            _require(
                state.blocked is not None,
                "nothing to retry: no step failed for good (failing steps are retried automatically)",
            )
        case ExtendDeadline():
            _require(state.pending_of(i.kind) is not None, f"kind: no {i.kind} decision is awaited")
        case Override():
            _require(state.stages[i.stage] == StageStatus.active, f"stage: {i.stage} is not in progress")
            blocked = state.blocked
            if blocked is not None and blocked.stage == i.stage:
                _require(j.blocked_skippable, f"stage: the failed step '{blocked.step}' cannot be skipped")
                return
            waiting = [p.kind for p in state.pending if p.stage == i.stage]
            _require(bool(waiting), f"stage: nothing in {i.stage} waits for a person or a retry")
            _require(
                _override_target(j, i.stage) is not None,
                f"stage: {', '.join(waiting)} needs data only the embassy, the ledger or the caseworker "
                "holds; record the decision instead of overriding it",
            )
        case Hold():
            _require(not state.on_hold, "the case is already on hold")
        case Resume():
            _require(state.on_hold, "the case is not on hold")
        case Cancel():
            _require(state.departed_at is None, "the survivor has departed; confirm the arrival instead")
        case Reassign():
            pass


def apply(j: Journey, i: Intervention, take: Callable[[DecisionKind, d.Decision], str]) -> tuple[Stage, str]:
    """Carry out an intervention; ``take`` applies a decision taken in someone's place."""
    state = j.state
    now = workflow.now()
    match i:
        case Retry():
            assert state.blocked is not None
            j.blocked_action = "retry"
            return state.blocked.stage, f"retry of {state.blocked.step}"
        case ExtendDeadline():
            pending = state.pending_of(i.kind)
            assert pending is not None
            pending.deadline = max(pending.deadline, now) + timedelta(days=i.days)
            pending.overdue = False
            j.rearm_timers()
            return pending.stage, f"{i.kind} deadline moved to {pending.deadline:%Y-%m-%d %H:%M}Z"
        case Reassign():
            state.assignees[i.role] = i.to
            for pending in state.pending:
                if pending.role == i.role:
                    pending.assignee = i.to
            return state.stage, f"{i.role} work reassigned to {i.to}"
        case Override():
            if state.blocked is not None and state.blocked.stage == i.stage:
                j.blocked_action = "override"
                return i.stage, f"override: {state.blocked.step} skipped"
            kind = _override_target(j, i.stage)
            assert kind is not None
            decision = _decision_in_place(kind, i)
            return DECISION_STAGE[kind], "override: " + take(kind, decision)
        case Hold():
            state.on_hold, state.hold_reason, state.held_since = True, i.justification, now
            j.rearm_timers()
            return state.stage, "case put on hold"
        case Resume():
            state.on_hold, state.hold_reason, state.held_since = False, None, None
            j.rearm_timers()
            return state.stage, "case resumed"
        case Cancel():
            j.halt(Outcome.cancelled, f"cancelled by a supervisor: {i.justification}")
            return state.stage, "case cancelled"
    raise ValueError(f"unknown intervention {i!r}")  # pragma: no cover


def _decision_in_place(kind: DecisionKind, i: Override) -> d.Decision:
    who = {"decided_by": i.decided_by, "note": f"override: {i.justification}"}
    match kind:
        case DecisionKind.duplicate_resolution:
            return d.DuplicateResolution(action="dismiss", **who)
        case DecisionKind.identity_attestation:
            return d.IdentityAttestation(verified=True, **who)
        case DecisionKind.nationality:
            return d.NationalityDecision(confirmed=True, **who)
        case DecisionKind.departure:
            return d.DepartureConfirmation(**who)
        case DecisionKind.arrival:
            return d.ArrivalConfirmation(reception_organisation="recorded by override", **who)
    raise ValueError(f"{kind} cannot be overridden")  # pragma: no cover
