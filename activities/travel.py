"""Travel: flight search, booking and cancellation through the booking provider."""

from __future__ import annotations

from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import Deps
from booking.provider import DESTINATION_AIRPORT, ORIGIN, BookingRejected
from contracts.messages import BookFlight, CancelBooking, FlightSearch
from contracts.state import Booking, FlightOption
from database.models import Case
from repatriation.logs import get_logger


class TravelActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def _destination(self, case_id: str) -> str:
        with self.deps.db.reading() as session:
            nationality = session.scalar(select(Case.nationality).where(Case.id == case_id)) or ""
        return DESTINATION_AIRPORT.get(nationality, "BKK")

    @activity.defn(name="search_flights")
    def search_flights(self, request: FlightSearch) -> list[FlightOption]:
        try:
            return self.deps.provider.search(
                request.case_id,
                ORIGIN,
                self._destination(request.case_id),
                request.not_before,
                request.not_after,
            )
        except BookingRejected as err:  # no route at all: a person must look at it
            raise ApplicationError(str(err), type="BookingRejected", non_retryable=True) from err

    @activity.defn(name="book_flight")
    def book_flight(self, request: BookFlight) -> Booking:
        try:
            booking = self.deps.provider.book(request.case_id, request.option, request.idempotency_key)
        except BookingRejected as err:
            raise ApplicationError(str(err), type="BookingRejected", non_retryable=True) from err
        get_logger(case_id=request.case_id, stage="travel").info("flight booked", booking=booking.booking_ref)
        return booking

    @activity.defn(name="cancel_booking")
    def cancel_booking(self, request: CancelBooking) -> Booking:
        try:
            booking = self.deps.provider.cancel(request.booking_ref, request.idempotency_key)
        except BookingRejected as err:  # the provider will never cancel it: a person decides
            raise ApplicationError(str(err), type="BookingRejected", non_retryable=True) from err
        get_logger(case_id=request.case_id, stage="travel").info(
            "booking cancelled", booking=booking.booking_ref
        )
        return booking
