"""Need to know, checked on every read and write (not only on lists).

- a caseworker sees the cases of their organisation; a supervisor all of their organisation's;
- a liaison sees only cases of their own countries' nationals whose survivor consented to
  disclosure to that embassy, and only what consular work needs: of the profile, the identity
  and the travel documents held, not the shelter, phone, recruitment or vulnerabilities; of the
  case, its stages and decisions, not its costs, funding, flight options, booking or the free text
  written about it (holds, interventions, failures, reasons for closing); of its documents,
  those the embassy is sent.
A case outside one's scope is reported as not found, as if it did not exist; so is a document
outside one's scope.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, false

from access.actor import Actor
from contracts.messages import DocType
from contracts.state import DECISION_ROLE, CaseState, DecisionKind, Role, Stage
from database.models import Case

# Fields of the survivor profile a liaison never sees: not needed for consular work.
HIDDEN_FROM_LIAISON = ("shelter", "phone", "recruitment", "compound", "vulnerabilities")
# The documents a liaison may read: those the embassy is sent. The intake form and the identity
# report carry the shelter, the phone and how the survivor was trafficked; the funding and
# travel paperwork, costs, escorts and medical clearance.
LIAISON_DOC_TYPES = frozenset(
    {
        DocType.nationality_request,
        DocType.etd_application,
        DocType.embassy_request,
        DocType.embassy_daily_list,
    }
)
# Of a case's timeline a liaison reads the details of the consular stages, except the free text
# people wrote (a supervisor's justification) and the errors of failed steps (which may quote
# the data); of the other stages, what happened and when, without details.
CONSULAR_STAGES = frozenset({Stage.travel_documents, Stage.embassy})
FREE_TEXT_EVENTS = frozenset({"intervention", "failed"})
WITHHELD = "(not shown to the embassy)"


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


def visible_document(actor: Actor, doc_type: str) -> bool:
    return actor.role != Role.liaison or doc_type in LIAISON_DOC_TYPES


def visible_state(actor: Actor, state: CaseState) -> CaseState:
    """The case's state as the actor may read it: whole, or for a liaison what consular work
    needs (the module's docstring)."""
    if actor.role != Role.liaison:
        return state
    history = [
        e
        if e.stage in CONSULAR_STAGES and e.event not in FREE_TEXT_EVENTS
        else e.model_copy(update={"detail": None})
        for e in state.history
    ]
    identity = state.identity.model_copy(update={"duplicates": []}) if state.identity else None
    blocked = state.blocked.model_copy(update={"error": WITHHELD}) if state.blocked else None
    return state.model_copy(
        update={
            "history": history,
            "identity": identity,
            "estimate": None,
            "funding": None,
            "flight_options": [],
            "booking": None,
            "documents": [d for d in state.documents if visible_document(actor, d.doc_type)],
            "hold_reason": None,
            "blocked": blocked,
            "outcome_reason": None,
        }
    )
