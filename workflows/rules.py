"""Whether a decision fits the case: the Update validators' rules, pure functions of the state.

Each raises ``DecisionRejected`` with a message a person can act on. A rejected decision never
reaches the workflow's history.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.decisions import (
        ArrivalConfirmation,
        ConsentWithdrawal,
        DepartureConfirmation,
        DuplicateResolution,
        EtdDecision,
        FlightChoice,
        FundingDecision,
        IdentityAttestation,
        NationalityDecision,
    )
    from contracts.messages import CaseStart
    from contracts.state import CaseState, Stage, StageStatus


class DecisionRejected(ValueError):
    pass


# How far ahead of the workflow's clock a departure or an arrival may be recorded: the clock of
# whoever types it may run a few minutes fast.
CLOCK_SKEW = timedelta(minutes=5)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise DecisionRejected(message)


def _not_closed(state: CaseState) -> None:
    _require(
        state.outcome is None,
        f"case {state.reference} is closed ({state.outcome}); no further decisions are taken",
    )


def earliest_flight(now: datetime, start: CaseStart) -> date:
    return (now + timedelta(days=start.policy.min_flight_lead_days)).date()


def duplicate_resolution(state: CaseState, d: DuplicateResolution) -> None:
    _not_closed(state)
    _require(state.identity is not None, "identity checks have not run yet")
    assert state.identity is not None
    _require(bool(state.identity.duplicates), "no possible duplicate is held for this case")
    _require(state.identity_verified is None, "identity was already attested")
    if d.action == "merge":
        known = {c.case_id for c in state.identity.duplicates}
        _require(
            d.duplicate_of in known,
            f"duplicate_of: {d.duplicate_of!r} is not one of the possible duplicates found",
        )


def identity_attestation(state: CaseState, d: IdentityAttestation, duplicate_open: bool) -> None:
    _not_closed(state)
    _require(state.identity_verified is None, "identity was already attested")
    _require(
        state.stages[Stage.identity] == StageStatus.active and state.identity is not None,
        f"identity is not awaiting attestation (the case is in stage {state.stage})",
    )
    _require(
        not duplicate_open,
        "a possible duplicate case is held: merge or dismiss it before attesting identity",
    )


def nationality(state: CaseState, d: NationalityDecision) -> None:
    _not_closed(state)
    _require(state.nationality_confirmed is None, "nationality was already decided")
    _require(
        state.stages[Stage.embassy] == StageStatus.active,
        f"the embassy has not been asked yet (the case is in stage {state.stage})",
    )


def etd(state: CaseState, d: EtdDecision, now: datetime, start: CaseStart) -> None:
    _not_closed(state)
    _require(state.etd is None, "an ETD decision was already recorded")
    _require(
        state.nationality_confirmed is True,
        "nationality must be confirmed before an ETD is issued or refused",
    )
    if d.issued:
        assert d.expires_on is not None
        first = earliest_flight(now, start)
        _require(
            d.expires_on >= first,
            f"expires_on: the ETD expires on {d.expires_on}, before the earliest possible flight on {first}",
        )


def funding(state: CaseState, d: FundingDecision) -> None:
    _not_closed(state)
    _require(state.funding is None, "funding was already approved")
    _require(
        state.stages[Stage.funding] == StageStatus.active and state.estimate is not None,
        f"no funding request is awaiting a decision (the case is in stage {state.stage})",
    )
    assert state.estimate is not None
    if d.approved:
        assert d.amount is not None
        _require(
            d.currency == state.estimate.currency,
            f"currency: the estimate is in {state.estimate.currency}, not {d.currency}",
        )
        _require(
            d.amount >= state.estimate.total,
            f"amount: {d.currency} {d.amount} is below the cost estimate "
            f"{state.estimate.currency} {state.estimate.total}",
        )


def flight_choice(state: CaseState, d: FlightChoice, start: CaseStart, opened: datetime) -> None:
    _not_closed(state)
    _require(state.booking is None, "a flight is already booked")
    _require(bool(state.flight_options), "no flight options are offered yet")
    option = next((o for o in state.flight_options if o.option_id == d.option_id), None)
    _require(option is not None, f"option_id: {d.option_id!r} is not one of the offered flights")
    assert option is not None
    expiry = state.etd.expires_on if state.etd else start.travel_document_expiry
    if expiry is not None:
        _require(
            option.departs_at.date() <= expiry,
            f"option_id: departs {option.departs_at.date()}, after the travel document expires on {expiry}",
        )
    if start.pregnant_weeks:
        weeks = start.pregnant_weeks + (option.departs_at - opened).days // 7
        _require(
            weeks <= start.policy.max_pregnancy_weeks_to_fly,
            f"option_id: the survivor would be {weeks} weeks pregnant on departure; airlines "
            f"accept up to {start.policy.max_pregnancy_weeks_to_fly}",
        )


def _new_decision(now: datetime | None) -> datetime | None:
    """The workflow's time, to check a decision's times against; None while replaying.

    Validators do not run on replay, but a decision is checked again as it takes effect, and that
    runs on replay too: a time a case accepted before it was checked (a departure in the future)
    takes effect again as it was recorded, instead of being refused, which would make the case
    wait for ever for a decision it has in its history. Nothing a decision accepted by these
    checks is measured against changes before it takes effect (time only moves on, the departure
    is confirmed once), so leaving them out on replay refuses nothing they accepted."""
    if workflow.unsafe.is_replaying():
        return None
    return now or workflow.now()


def _utc(at: datetime) -> datetime:
    """A time without a zone is taken as UTC, the zone of every time the case keeps."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def departure(state: CaseState, d: DepartureConfirmation, now: datetime | None = None) -> None:
    """``now``: the workflow's time (default: workflow.now())."""
    _not_closed(state)
    _require(state.departed_at is None, "departure was already confirmed")
    _require(state.booking is not None, "no flight is booked yet")
    now = _new_decision(now)
    if d.departed_at is not None and now is not None:
        departed = _utc(d.departed_at)
        _require(
            departed <= now + CLOCK_SKEW,
            f"departed_at: {departed:%Y-%m-%d %H:%M} UTC is in the future; "
            "confirm a departure once it has happened",
        )


def arrival(state: CaseState, d: ArrivalConfirmation, now: datetime | None = None) -> None:
    """``now``: the workflow's time (default: workflow.now())."""
    _not_closed(state)
    _require(state.arrived_at is None, "arrival was already confirmed")
    _require(state.departed_at is not None, "departure has not been confirmed yet")
    assert state.departed_at is not None
    now = _new_decision(now)
    if d.arrived_at is not None and now is not None:
        arrived, departed = _utc(d.arrived_at), _utc(state.departed_at)
        _require(
            arrived >= departed,
            f"arrived_at: {arrived:%Y-%m-%d %H:%M} UTC is before the departure at "
            f"{departed:%Y-%m-%d %H:%M} UTC",
        )
        _require(
            arrived <= now + CLOCK_SKEW,
            f"arrived_at: {arrived:%Y-%m-%d %H:%M} UTC is in the future; "
            "confirm an arrival once it has happened",
        )


def consent_withdrawal(state: CaseState, d: ConsentWithdrawal) -> None:
    _not_closed(state)
    _require(
        state.departed_at is None,
        "the survivor has departed; consent can be withdrawn only before departure",
    )
