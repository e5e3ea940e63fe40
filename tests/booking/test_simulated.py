"""The simulated booking provider: deterministic search, idempotent booking and cancelling."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from booking.provider import (
    DESTINATION_AIRPORT,
    ORIGIN,
    BookingProvider,
    BookingRejected,
    ProviderUnavailable,
)
from booking.simulated import PNH_TZ, ROUTES, SimulatedProvider, option_from_id
from contracts.state import Booking, FlightOption
from database.engine import Database
from database.models import BookingRow
from tests.db_fixtures import db  # noqa: F401

NOT_BEFORE = date(2026, 11, 28)
NOT_AFTER = date(2026, 12, 4)


class Clock:
    """A settable clock for hold expiry."""

    def __init__(self) -> None:
        self.at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(db: Database, clock: Clock) -> SimulatedProvider:  # noqa: F811
    return SimulatedProvider(db, now=clock)


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One SQLite database for the tests that only search (search never writes)."""
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('search') / 'app.db'}")
    yield database
    database.dispose()


def an_option(provider: SimulatedProvider, destination: str = "CGK") -> FlightOption:
    return provider.search("case-1", ORIGIN, destination, NOT_BEFORE, NOT_AFTER)[0]


def rows(db: Database) -> list[BookingRow]:  # noqa: F811
    with db.session() as session:
        return list(session.scalars(select(BookingRow)).all())


def test_destinations_are_served() -> None:
    for nationality in (
        "IDN", "VNM", "THA", "CHN", "MMR", "LAO", "PHL", "IND", "KOR", "MYS", "BGD", "NPL",
        "LKA", "PAK", "UGA", "KEN", "ETH", "NGA", "BRA", "TWN", "JPN",
    ):  # fmt: skip
        assert DESTINATION_AIRPORT[nationality] in ROUTES
    assert all(code in ROUTES for code in DESTINATION_AIRPORT.values())


def test_is_a_booking_provider(provider: SimulatedProvider) -> None:
    assert isinstance(provider, BookingProvider)


@pytest.mark.parametrize("destination", sorted(ROUTES))
def test_search_is_deterministic_and_within_the_window(destination: str, sqlite_db: Database) -> None:
    # Two providers (as in two worker processes) find the same options for the same inputs.
    provider = SimulatedProvider(sqlite_db)
    other = SimulatedProvider(sqlite_db, rng=random.Random(9))
    options = provider.search("case-1", ORIGIN, destination, NOT_BEFORE, NOT_AFTER)
    assert options == provider.search("case-1", ORIGIN, destination, NOT_BEFORE, NOT_AFTER)
    assert options == other.search("case-2", ORIGIN, destination, NOT_BEFORE, NOT_AFTER)
    assert 3 <= len(options) <= 5
    assert len({o.option_id for o in options}) == len(options)
    assert options == sorted(options, key=lambda o: o.departs_at)
    for option in options:
        assert NOT_BEFORE <= option.departs_at.astimezone(PNH_TZ).date() <= NOT_AFTER
        assert option.arrives_at > option.departs_at
        assert option.origin == ORIGIN and option.destination == destination
        assert option.fare > 0 and option.currency == "USD"
        assert re.fullmatch(rf"PNH-{destination}-\d{{8}}-[A-Z0-9]{{2}}-\d{{3}}", option.option_id)
        assert option_from_id(option.option_id) == option


def test_search_edges(provider: SimulatedProvider) -> None:
    one_day = provider.search("c", ORIGIN, "SGN", NOT_BEFORE, NOT_BEFORE)
    assert 3 <= len(one_day) <= 5
    assert all(o.departs_at.astimezone(PNH_TZ).date() == NOT_BEFORE for o in one_day)
    assert provider.search("c", ORIGIN, "SGN", NOT_AFTER, NOT_BEFORE) == []
    with pytest.raises(BookingRejected, match="XXX"):
        provider.search("c", ORIGIN, "XXX", NOT_BEFORE, NOT_AFTER)
    with pytest.raises(BookingRejected):
        provider.search("c", "REP", "SGN", NOT_BEFORE, NOT_AFTER)


def test_fares_are_plausible_by_distance(provider: SimulatedProvider) -> None:
    near = provider.search("c", ORIGIN, "BKK", NOT_BEFORE, NOT_AFTER)
    far = provider.search("c", ORIGIN, "GRU", NOT_BEFORE, NOT_AFTER)
    assert max(o.fare for o in near) < min(o.fare for o in far)


def test_option_from_unknown_id_is_rejected() -> None:
    for bad in ("nonsense", "PNH-CGK-20261130-XX-241", "PNH-ZZZ-20261130-QZ-241",
                "PNH-CGK-20261399-QZ-241"):  # fmt: skip
        with pytest.raises(BookingRejected, match="does not exist"):
            option_from_id(bad)


def test_book_tickets_and_is_idempotent(db: Database, provider: SimulatedProvider) -> None:  # noqa: F811
    option = an_option(provider)
    first = provider.book("case-1", option, "book-1")
    assert first.status == "ticketed"
    assert re.fullmatch(r"[A-Z0-9]{6}", first.booking_ref)
    assert re.fullmatch(r"\d{13}", first.ticket_number)
    assert first.option == option
    assert provider.book("case-1", option, "book-1") == first
    # A restarted worker (a new provider on the same database) returns the same booking.
    assert SimulatedProvider(db).book("case-1", option, "book-1") == first
    assert len(rows(db)) == 1
    second = provider.book("case-2", option, "book-2")
    assert second.booking_ref != first.booking_ref
    assert len(rows(db)) == 2


def test_racing_books_with_one_key_make_one_booking(
    db: Database,  # noqa: F811
    provider: SimulatedProvider,
) -> None:
    option = an_option(provider, "MNL")
    barrier = threading.Barrier(8)

    def book(_i: int) -> Booking:
        barrier.wait()
        return provider.book("case-1", option, "race-key")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(book, range(8)))
    assert len({(b.booking_ref, b.ticket_number) for b in results}) == 1
    assert all(b.status == "ticketed" for b in results)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(BookingRow)) == 1


def test_cancel_is_idempotent(db: Database, provider: SimulatedProvider) -> None:  # noqa: F811
    booking = provider.book("case-1", an_option(provider), "book-1")
    cancelled = provider.cancel(booking.booking_ref, "cancel-1")
    assert cancelled.status == "cancelled"
    assert cancelled.ticket_number == booking.ticket_number
    cancelled_at = rows(db)[0].cancelled_at
    assert provider.cancel(booking.booking_ref, "cancel-1") == cancelled
    assert provider.cancel(booking.booking_ref, "cancel-2") == cancelled
    assert rows(db)[0].cancelled_at == cancelled_at
    # Booking again with the spent key returns the cancelled booking, not a new one.
    assert provider.book("case-1", booking.option, "book-1").status == "cancelled"
    assert len(rows(db)) == 1
    with pytest.raises(BookingRejected, match="unknown booking"):
        provider.cancel("NOPE00", "cancel-3")


def test_failure_injection_with_a_seeded_rng(db: Database, clock: Clock) -> None:  # noqa: F811
    probe = random.Random(1)
    assert probe.random() < 0.5 <= probe.random()  # seed 1: the first call fails, the next not
    provider = SimulatedProvider(db, failure_rate=0.5, rng=random.Random(1), now=clock)
    with pytest.raises(ProviderUnavailable, match="simulated outage"):
        provider.search("c", ORIGIN, "CGK", NOT_BEFORE, NOT_AFTER)
    assert provider.search("c", ORIGIN, "CGK", NOT_BEFORE, NOT_AFTER)

    always = SimulatedProvider(db, failure_rate=1.0, now=clock)
    option = SimulatedProvider(db, now=clock).search("c", ORIGIN, "CGK", NOT_BEFORE, NOT_AFTER)[0]
    for call in (
        lambda: always.book("c", option, "k"),
        lambda: always.cancel("ABCDEF", "k"),
        lambda: always.search("c", ORIGIN, "CGK", NOT_BEFORE, NOT_AFTER),
    ):
        with pytest.raises(ProviderUnavailable):
            call()
    assert rows(db) == []  # an outage changes nothing


def test_expired_hold_is_reheld_before_ticketing(
    db: Database,  # noqa: F811
    provider: SimulatedProvider,
    clock: Clock,
) -> None:
    option = an_option(provider)
    held = provider.hold_seat("case-1", option, "book-1")
    assert held.status == "held" and held.ticket_number == ""
    first_expiry = rows(db)[0].hold_expires_at
    assert first_expiry is not None

    clock.at += timedelta(minutes=31)  # the worker died between holding and ticketing
    booking = provider.book("case-1", option, "book-1")
    assert booking.booking_ref == held.booking_ref
    assert booking.status == "ticketed"
    row = rows(db)[0]
    assert row.hold_expires_at is not None
    expiry = row.hold_expires_at.replace(tzinfo=row.hold_expires_at.tzinfo or UTC)
    assert expiry == clock.at + timedelta(minutes=30)


def test_live_hold_is_ticketed_as_it_is(
    db: Database,  # noqa: F811
    provider: SimulatedProvider,
    clock: Clock,
) -> None:
    option = an_option(provider)
    provider.hold_seat("case-1", option, "book-1")
    before = rows(db)[0].hold_expires_at
    clock.at += timedelta(minutes=10)
    assert provider.book("case-1", option, "book-1").status == "ticketed"
    assert rows(db)[0].hold_expires_at == before


def test_stale_departed_or_reused_options_are_rejected(
    db: Database,  # noqa: F811
    provider: SimulatedProvider,
    clock: Clock,
) -> None:
    option = an_option(provider)
    with pytest.raises(BookingRejected, match="changed"):
        provider.book("case-1", option.model_copy(update={"fare": option.fare - 50}), "k1")
    provider.book("case-1", option, "k2")
    other = provider.search("case-1", ORIGIN, "CGK", NOT_BEFORE, NOT_AFTER)[1]
    with pytest.raises(BookingRejected, match="another case or option"):
        provider.book("case-1", other, "k2")
    clock.at = option.departs_at.astimezone(UTC) + timedelta(minutes=1)
    with pytest.raises(BookingRejected, match="departed"):
        provider.book("case-1", option, "k3")
    # ... but the booking made before departure is still returned for its key.
    assert provider.book("case-1", option, "k2").status == "ticketed"
    assert len(rows(db)) == 1
