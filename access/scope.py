"""Need to know, checked on every read and write (not only on lists).

- a caseworker sees the cases of their organisation; a supervisor all of their organisation's;
- a liaison sees only cases of their own countries' nationals whose survivor consented to
  disclosure to that embassy, and only the fields consular work needs.
A case outside one's scope is reported as not found, as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, false

from access.actor import Actor
from contracts.state import DECISION_ROLE, DecisionKind, Role
from database.models import Case

# Fields of the survivor profile a liaison never sees: not needed for consular work.
HIDDEN_FROM_LIAISON = ("shelter", "phone", "recruitment", "compound", "vulnerabilities")


def consented_to_embassy(case: Case) -> bool:
    return bool(((case.profile or {}).get("consent") or {}).get("disclosure_to_embassy"))


def can_see(actor: Actor, case: Case) -> bool:
    if actor.role == Role.liaison:
        return case.nationality in actor.countries and consented_to_embassy(case)
    return case.organisation == actor.organisation


def restrict(actor: Actor, query: Select[Any]) -> Select[Any]:
    """The same rule as ``can_see``, as a filter on a query of cases."""
    if actor.role == Role.liaison:
        if not actor.countries:
            return query.where(false())
        consent = Case.profile["consent"]["disclosure_to_embassy"].as_boolean()
        return query.where(and_(Case.nationality.in_(actor.countries), consent.is_(True)))
    return query.where(Case.organisation == actor.organisation)


def may_decide(actor: Actor, kind: DecisionKind) -> bool:
    return DECISION_ROLE[kind] == actor.role


def visible_profile(actor: Actor, profile: dict[str, Any]) -> dict[str, Any]:
    if actor.role != Role.liaison:
        return profile
    return {k: v for k, v in profile.items() if k not in HIDDEN_FROM_LIAISON}
