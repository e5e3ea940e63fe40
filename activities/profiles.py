"""Loading a case's personal data inside an activity (it never travels through Temporal)."""

from __future__ import annotations

from pydantic import ValidationError
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


def parse_profile(case: Case) -> SurvivorProfile:
    """The stored profile; invalid data fails for good: a person must fix it, then retry."""
    try:
        return SurvivorProfile.model_validate(case.profile)
    except ValidationError as err:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in err.errors())
        raise ApplicationError(
            f"the case's stored data is invalid ({fields}); fix it, then retry",
            type="InvalidCaseData",
            non_retryable=True,
        ) from None


def load_profile(session: Session, case_id: str) -> SurvivorProfile:
    return parse_profile(load_case(session, case_id))
