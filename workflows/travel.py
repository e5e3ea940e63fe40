"""Stage 6, travel: exit clearance, flight options, the caseworker's choice, booking,
itinerary and travel letter, then departure and arrival confirmed."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.decisions import ArrivalConfirmation, FlightChoice
    from contracts.messages import BookFlight, DocType, FlightSearch
    from contracts.state import DecisionKind, FlightOption, Stage

from workflows import calls
from workflows.journey import Journey
from workflows.rules import earliest_flight


async def _offer_flights(j: Journey) -> None:
    first = earliest_flight(workflow.now(), j.start)
    last = first + timedelta(days=j.start.policy.flight_search_days)
    expiry = j.state.etd.expires_on if j.state.etd else j.start.travel_document_expiry
    if expiry is not None and expiry < last:
        last = expiry
    search = FlightSearch(case_id=j.start.case_id, not_before=first, not_after=last)

    async def offered() -> list[FlightOption]:
        found = await calls.search_flights(search)
        if not found and j.v9:
            # Nothing to choose from (the travel document runs out before the earliest flight, or
            # no seat in the window): not a choice to wait for, a step for a supervisor to retry
            # once flights are offered, or to cancel.
            raise ApplicationError(
                f"no flight offered between {first:%Y-%m-%d} and {last:%Y-%m-%d}"
                + (f" (the travel document expires on {expiry:%Y-%m-%d})" if expiry == last else ""),
                type="NoFlightOffered",
                non_retryable=True,
            )
        return found

    options = await j.guarded(Stage.travel, "flight search", offered, False)
    j.state.flight_options = options or []
    j.event(Stage.travel, "options", f"{len(j.state.flight_options)} flight option(s) offered")
    await j.sync()


async def _book(j: Journey) -> None:
    while j.state.booking is None:
        await _offer_flights(j)
        choice = await j.await_decision(DecisionKind.flight_choice)
        assert isinstance(choice, FlightChoice)
        option = next((o for o in j.state.flight_options if o.option_id == choice.option_id), None)
        if option is None:  # a choice made against an earlier offer: asked again, not stuck
            refused = f"{choice.option_id} is no longer offered; choose another flight"
            j.event(Stage.travel, "booking_refused", refused)
            continue
        try:
            booking = BookFlight(
                case_id=j.start.case_id,
                option=option,
                idempotency_key=f"{j.start.case_id}:booking:{choice.option_id}",
            )
            # The booking settles the choice (journey.V12): the case writes it in the booking's task.
            j.state.booking = await j.settling(calls.book_flight(booking))
        except ActivityError as err:
            cause = err.cause
            if not isinstance(cause, ApplicationError) or not cause.non_retryable:
                raise
            j.event(Stage.travel, "booking_refused", f"{cause.message}; choose another flight")
    j.event(Stage.travel, "booked", f"booking {j.state.booking.booking_ref}")
    await j.sync()


async def run(j: Journey) -> None:
    j.begin(Stage.travel)
    await j.sync()
    estimate = j.state.estimate
    await j.render(
        Stage.travel,
        DocType.exit_clearance,
        estimate=estimate.model_dump(mode="json") if estimate else None,
        overstay_days=estimate.overstay_days if estimate else 0,
    )
    await _book(j)
    j.check_stop()
    assert j.state.booking is not None
    travel_facts = {
        "booking": j.state.booking.model_dump(mode="json"),
        "etd": j.state.etd.model_dump(mode="json") if j.state.etd else None,
        "escort_required": j.needs_escort,
    }
    await j.render(Stage.travel, DocType.itinerary, **travel_facts)
    await j.render(Stage.travel, DocType.travel_letter, **travel_facts)
    await j.sync()

    await j.await_decision(DecisionKind.departure)
    arrival = await j.await_decision(DecisionKind.arrival)
    assert isinstance(arrival, ArrivalConfirmation)
    j.reception_organisation = arrival.reception_organisation
    j.finish(Stage.travel, f"handed over to {arrival.reception_organisation}")
