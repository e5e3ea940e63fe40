"""Loading a case's personal data inside an activity (it never travels through Temporal)."""

from __future__ import annotations

from sqlalchemy.orm import Session
from temporalio.exceptions import ApplicationError

from contracts.survivor import SurvivorProfile
from database.models import Case


def load_case(session: Session, case_id: str) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        # The case row is written before the workflow starts; a retry will find it.
        raise ApplicationError(f"case {case_id} is not in the database yet", type="CaseNotFound")
    return case


def load_profile(session: Session, case_id: str) -> SurvivorProfile:
    return SurvivorProfile.model_validate(load_case(session, case_id).profile)
