"""A simulated booking provider: deterministic schedules, bookings kept in the ``bookings`` table.

Schedules are derived from hashes, never from the wall clock: the same search returns the same
options, and an option id ("PNH-CGK-20261130-QZ-241") is enough to re-derive the option.
Bookings live in the app database, so ``book`` and ``cancel`` are idempotent across worker
processes and restarts, also when calls race.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from booking.provider import ORIGIN, BookingRejected, ProviderUnavailable
from contracts.state import Booking, FlightOption
from database.engine import Database
from database.models import BookingRow

HELD = "held"
TICKETED = "ticketed"
CANCELLED = "cancelled"

MAX_SEARCH_DAYS = 60
PNH_TZ = timezone(timedelta(hours=7), "ICT")
_REF_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Route:
    """A destination served from Phnom Penh (direct or with one connection)."""

    carriers: tuple[str, ...]
    hours: float  # typical total travel time, connections included
    base_fare: int  # USD, one-way economy
    utc_offset: float  # the destination's offset from UTC, hours


ROUTES: dict[str, Route] = {
    "ACC": Route(("ET", "EK", "QR"), 22.0, 1250, 0),
    "ADD": Route(("ET",), 11.0, 850, 3),
    "BKK": Route(("TG", "PG", "FD", "K6"), 1.2, 110, 7),
    "CGK": Route(("QZ", "SQ", "MH"), 4.5, 280, 7),
    "CMB": Route(("UL", "MH", "TG"), 6.5, 410, 5.5),
    "DAC": Route(("BG", "BS", "MH"), 6.5, 380, 6),
    "DEL": Route(("AI", "6E", "TG"), 7.5, 420, 5.5),
    "EBB": Route(("ET", "QR", "EK"), 17.0, 980, 3),
    "GRU": Route(("EK", "QR", "ET"), 30.0, 1650, -3),
    "HKG": Route(("CX", "UO"), 2.5, 230, 8),
    "ICN": Route(("KE", "OZ", "7C"), 5.5, 390, 9),
    "ISB": Route(("PK", "TG", "EK"), 9.0, 520, 5),
    "KTM": Route(("RA", "TG", "MH"), 7.0, 430, 5.75),
    "KUL": Route(("MH", "AK", "OD"), 2.0, 140, 8),
    "LOS": Route(("ET", "EK", "QR"), 20.0, 1150, 1),
    "MNL": Route(("PR", "5J", "Z2"), 3.0, 250, 8),
    "NBO": Route(("KQ", "ET", "QR"), 15.0, 920, 3),
    "NRT": Route(("NH", "JL", "ZG"), 6.5, 520, 9),
    "PEK": Route(("CA", "CZ", "MU"), 5.5, 420, 8),
    "RGN": Route(("8M", "TG"), 4.0, 260, 6.5),
    "SGN": Route(("VN", "K6", "QH"), 1.0, 120, 7),
    "SIN": Route(("SQ", "TR", "3K"), 2.0, 150, 8),
    "TPE": Route(("CI", "BR"), 3.5, 300, 8),
    "VTE": Route(("QV", "VN"), 1.5, 170, 7),
}

# Three-digit airline accounting codes that start a ticket number (others are derived).
TICKET_PREFIX: dict[str, str] = {
    "AI": "098", "BR": "695", "CA": "999", "CI": "297", "CX": "160", "CZ": "784", "EK": "176",
    "ET": "071", "JL": "131", "KE": "180", "KQ": "706", "MH": "232", "MU": "781", "NH": "205",
    "OZ": "988", "PK": "214", "PR": "079", "QR": "157", "SQ": "618", "TG": "217", "UL": "603",
    "VN": "738",
}  # fmt: skip


def _hash(*parts: object) -> int:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _utc(moment: datetime) -> datetime:
    """Aware UTC; naive values (SQLite hands them back) are taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def flight_numbers(carrier: str, destination: str) -> tuple[str, str]:
    """The carrier's two daily flights from Phnom Penh to the destination."""
    base = 100 + _hash("flight", carrier, destination) % 800
    return str(base), str(base + 2)


def option_id(origin: str, destination: str, day: date, carrier: str, number: str) -> str:
    return f"{origin}-{destination}-{day:%Y%m%d}-{carrier}-{number}"


def option_from_id(value: str) -> FlightOption:
    """Re-derive an option from its id; BookingRejected when no such flight exists."""
    parts = value.split("-")
    if len(parts) != 5:
        raise BookingRejected(f"option {value} does not exist (malformed option id)")
    origin, destination, day_text, carrier, number = parts
    route = ROUTES.get(destination)
    if origin != ORIGIN or route is None:
        raise BookingRejected(f"option {value} does not exist (no route {origin}-{destination})")
    if carrier not in route.carriers or number not in flight_numbers(carrier, destination):
        raise BookingRejected(f"option {value} does not exist (no flight {carrier}{number})")
    try:
        day = datetime.strptime(day_text, "%Y%m%d").date()
    except ValueError:
        raise BookingRejected(f"option {value} does not exist (bad date {day_text})") from None
    return _option(destination, day, carrier, number)


def _option(destination: str, day: date, carrier: str, number: str) -> FlightOption:
    route = ROUTES[destination]
    # The same flight number leaves at the same time every day, between 06:00 and 22:55.
    minute_of_day = 6 * 60 + 5 * (_hash("departure", carrier, number, destination) % 204)
    departs = datetime.combine(day, time(), PNH_TZ) + timedelta(minutes=minute_of_day)
    minutes = round(route.hours * 60) + 10 * (_hash("duration", carrier, number) % 7 - 3)
    arrives = (departs + timedelta(minutes=max(minutes, 45))).astimezone(
        timezone(timedelta(hours=route.utc_offset))
    )
    ident = option_id(ORIGIN, destination, day, carrier, number)
    factor = Decimal(85 + _hash("fare", ident) % 51) / 100  # 0.85 .. 1.35 of the base fare
    fare = (Decimal(route.base_fare) * factor).quantize(Decimal(1)).quantize(Decimal("0.01"))
    return FlightOption(
        option_id=ident,
        carrier=carrier,
        flight_number=f"{carrier}{number}",
        origin=ORIGIN,
        destination=destination,
        departs_at=departs,
        arrives_at=arrives,
        fare=fare,
        currency="USD",
    )


def _to_booking(row: BookingRow) -> Booking:
    return Booking(
        booking_ref=row.booking_ref,
        ticket_number=row.ticket_number or "",
        option=FlightOption.model_validate(row.option),
        status=row.status,
    )


class SimulatedProvider:
    """A ``BookingProvider`` backed by the ``bookings`` table, with optional injected outages."""

    def __init__(
        self,
        db: Database,
        failure_rate: float = 0.0,
        hold_minutes: int = 30,
        rng: random.Random | None = None,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be within 0..1")
        self._db = db
        self.failure_rate = failure_rate
        self.hold_duration = timedelta(minutes=hold_minutes)
        self._rng = rng or random.Random()
        self._now = now

    # -- the BookingProvider interface ------------------------------------------------------

    def search(
        self, case_id: str, origin: str, destination: str, not_before: date, not_after: date
    ) -> list[FlightOption]:
        """3-5 options departing within the window, the same ones for the same inputs."""
        self._maybe_fail("search")
        route = ROUTES.get(destination)
        if origin != ORIGIN or route is None:
            raise BookingRejected(f"no flights from {origin} to {destination}")
        if not_after < not_before:
            return []
        days = min((not_after - not_before).days + 1, MAX_SEARCH_DAYS)
        candidates = [
            (not_before + timedelta(days=offset), carrier, number)
            for offset in range(days)
            for carrier in route.carriers
            for number in flight_numbers(carrier, destination)
        ]
        rng = random.Random(_hash("search", origin, destination, not_before.isoformat()))
        picks = rng.sample(candidates, min(rng.randint(3, 5), len(candidates)))
        options = [_option(destination, day, carrier, number) for day, carrier, number in picks]
        return sorted(options, key=lambda o: (o.departs_at, o.option_id))

    def book(self, case_id: str, option: FlightOption, idempotency_key: str) -> Booking:
        """Hold a seat, then ticket it; the same key always returns the same booking."""
        self._maybe_fail("book")
        held = self._hold(case_id, option, idempotency_key)
        if held.status != HELD:
            return _to_booking(held)
        return _to_booking(self._ticket(held.booking_ref))

    def cancel(self, booking_ref: str, idempotency_key: str) -> Booking:
        """Cancel the booking; a cancelled booking is returned as it is.

        Cancelling is idempotent by the booking ref; the key is accepted for the interface.
        """
        self._maybe_fail("cancel")
        with self._db.session() as session:
            row = session.get(BookingRow, booking_ref, with_for_update=True)
            if row is None:
                raise BookingRejected(f"unknown booking {booking_ref}")
            if row.status != CANCELLED:
                row.status = CANCELLED
                row.cancelled_at = _utc(self._now())
            return _to_booking(row)

    # -- helpers -----------------------------------------------------------------------------

    def option_from_id(self, value: str) -> FlightOption:
        """The option an id names (for callers that carry only the id)."""
        return option_from_id(value)

    def hold_seat(self, case_id: str, option: FlightOption, idempotency_key: str) -> Booking:
        """Only the first step of ``book``: a held, unticketed booking (ticket number "")."""
        self._maybe_fail("hold")
        return _to_booking(self._hold(case_id, option, idempotency_key))

    def _maybe_fail(self, operation: str) -> None:
        if self.failure_rate > 0 and self._rng.random() < self.failure_rate:
            raise ProviderUnavailable(f"simulated outage during {operation}")

    def _bookable(self, option: FlightOption) -> FlightOption:
        current = option_from_id(option.option_id)
        if current.fare != option.fare or current.departs_at != option.departs_at:
            raise BookingRejected(
                f"option {option.option_id} changed: departs {current.departs_at:%Y-%m-%d %H:%M}"
                f", fare USD {current.fare}"
            )
        if _utc(current.departs_at) <= _utc(self._now()):
            raise BookingRejected(f"flight {current.flight_number} has already departed")
        return current

    def _hold(self, case_id: str, option: FlightOption, idempotency_key: str) -> BookingRow:
        for _attempt in range(5):
            try:
                with self._db.session() as session:
                    now = _utc(self._now())
                    row = session.scalars(
                        select(BookingRow)
                        .where(BookingRow.idempotency_key == idempotency_key)
                        .with_for_update()
                    ).first()
                    if row is None:
                        current = self._bookable(option)
                        row = BookingRow(
                            booking_ref=self._new_ref(),
                            idempotency_key=idempotency_key,
                            case_id=case_id,
                            option_id=current.option_id,
                            option=current.model_dump(mode="json"),
                            status=HELD,
                            ticket_number=None,
                            hold_expires_at=now + self.hold_duration,
                            created_at=now,
                        )
                        session.add(row)
                        session.flush()
                        return row
                    if row.case_id != case_id or row.option_id != option.option_id:
                        raise BookingRejected(
                            f"idempotency key {idempotency_key} was used for booking "
                            f"{row.booking_ref} ({row.option_id}) of another case or option"
                        )
                    self._rehold_if_expired(row, now)
                    return row
            except IntegrityError:
                continue  # a racing call with the same key won, or the ref collided: look again
        raise ProviderUnavailable(f"could not hold a seat for key {idempotency_key}")

    def _rehold_if_expired(self, row: BookingRow, now: datetime) -> None:
        expires = row.hold_expires_at
        if row.status == HELD and (expires is None or _utc(expires) <= now):
            self._bookable(FlightOption.model_validate(row.option))
            row.hold_expires_at = now + self.hold_duration

    def _ticket(self, booking_ref: str) -> BookingRow:
        with self._db.session() as session:
            row = session.get(BookingRow, booking_ref, with_for_update=True)
            if row is None:  # pragma: no cover - held rows are never deleted
                raise BookingRejected(f"unknown booking {booking_ref}")
            if row.status == HELD:
                self._rehold_if_expired(row, _utc(self._now()))
                row.status = TICKETED
                row.ticket_number = self._ticket_number(row.option["carrier"])
            return row

    @staticmethod
    def _new_ref() -> str:
        return "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))

    @staticmethod
    def _ticket_number(carrier: str) -> str:
        prefix = TICKET_PREFIX.get(carrier, f"{100 + _hash('prefix', carrier) % 900:03d}")
        return prefix + f"{secrets.randbelow(10**10):010d}"
