"""The person (or robot) acting, as every entry point hands it to the service layer."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.state import Role


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role
    organisation: str
    source: str = "cli"
    countries: tuple[str, ...] = field(default=())


def every_country() -> tuple[str, ...]:
    import pycountry

    return tuple(sorted(c.alpha_3 for c in pycountry.countries))


def operator(name: str, role: Role, organisation: str, source: str) -> Actor:
    """The local operator (CLI on the server) or the demo's robots: any country's cases of the
    organisation; for a liaison, consent to disclosure still gates every case."""
    countries = every_country() if role == Role.liaison else ()
    return Actor(name=name, role=role, organisation=organisation, source=source, countries=countries)
