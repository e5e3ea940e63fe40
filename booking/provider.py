"""The booking provider interface, its errors, and where each nationality flies to."""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

from contracts.state import Booking, FlightOption

ORIGIN = "PNH"  # Phnom Penh; every repatriation departs from here.

# ISO 3166-1 alpha-3 nationality -> IATA code of the country's main international airport.
DESTINATION_AIRPORT: dict[str, str] = {
    "BGD": "DAC",  # Dhaka
    "BRA": "GRU",  # Sao Paulo-Guarulhos
    "CHN": "PEK",  # Beijing Capital
    "ETH": "ADD",  # Addis Ababa Bole
    "GHA": "ACC",  # Accra Kotoka
    "HKG": "HKG",  # Hong Kong
    "IDN": "CGK",  # Jakarta Soekarno-Hatta
    "IND": "DEL",  # Delhi Indira Gandhi
    "JPN": "NRT",  # Tokyo Narita
    "KEN": "NBO",  # Nairobi Jomo Kenyatta
    "KOR": "ICN",  # Seoul Incheon
    "LAO": "VTE",  # Vientiane Wattay
    "LKA": "CMB",  # Colombo Bandaranaike
    "MMR": "RGN",  # Yangon
    "MYS": "KUL",  # Kuala Lumpur
    "NGA": "LOS",  # Lagos Murtala Muhammed
    "NPL": "KTM",  # Kathmandu Tribhuvan
    "PAK": "ISB",  # Islamabad
    "PHL": "MNL",  # Manila Ninoy Aquino
    "SGP": "SIN",  # Singapore Changi
    "THA": "BKK",  # Bangkok Suvarnabhumi
    "TWN": "TPE",  # Taipei Taoyuan
    "UGA": "EBB",  # Entebbe
    "VNM": "SGN",  # Ho Chi Minh City Tan Son Nhat
}


class ProviderUnavailable(Exception):
    """A transient fault (outage, timeout): retry the same call with the same idempotency key."""


class BookingRejected(Exception):
    """A permanent refusal (the option no longer exists, the fare class is sold out, ...).

    The message says why; retrying the same call will not succeed.
    """


@runtime_checkable
class BookingProvider(Protocol):
    """Searches flights, books (holds a seat, then tickets it) and cancels bookings.

    ``book`` and ``cancel`` are idempotent by their idempotency key: a repeated call returns the
    same booking and changes nothing more.
    """

    def search(
        self, case_id: str, origin: str, destination: str, not_before: date, not_after: date
    ) -> list[FlightOption]:
        """Flights from ``origin`` to ``destination`` departing on ``not_before``..``not_after``."""
        ...

    def book(self, case_id: str, option: FlightOption, idempotency_key: str) -> Booking:
        """Hold a seat on the option and ticket it."""
        ...

    def cancel(self, booking_ref: str, idempotency_key: str) -> Booking:
        """Cancel the booking (cancelling a cancelled booking returns it)."""
        ...
