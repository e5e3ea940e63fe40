"""Identity verification: the automated checks, and duplicate detection among the cases of the
same organisation. Another organisation's cases are out of the caseworker's scope: naming one as
a possible duplicate (its reference, that this person is registered there) would tell them what
they may not see, and a merge would cross into a case they cannot open."""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from temporalio import activity

from activities.deps import Deps
from activities.profiles import load_case, parse_profile
from checks.identity import OtherCase, run_identity_checks
from contracts.messages import IdentityCheckInput
from contracts.state import IdentityReport
from database.models import Case
from repatriation.logs import get_logger


class IdentityActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="run_identity_checks")
    def run_identity_checks(self, request: IdentityCheckInput) -> IdentityReport:
        with self.deps.db.reading() as session:
            case = load_case(session, request.case_id)
            profile = parse_profile(case)
            # Only a registration made before this one can be what this one duplicates: two
            # registrations of one person opened together must not each merge into the other.
            earlier = or_(
                Case.opened_at < case.opened_at,
                and_(Case.opened_at == case.opened_at, Case.id < case.id),
            )
            rows = session.execute(
                select(Case.id, Case.reference, Case.profile).where(
                    Case.date_of_birth == profile.date_of_birth,
                    Case.organisation == case.organisation,
                    Case.id != request.case_id,
                    earlier,
                    or_(Case.outcome.is_(None), Case.outcome != "duplicate_merged"),
                )
            ).all()
        others = [
            OtherCase(
                case_id=row.id,
                reference=row.reference,
                date_of_birth=profile.date_of_birth,
                given_names=row.profile.get("given_names", ""),
                family_name=row.profile.get("family_name", ""),
                native_name=row.profile.get("native_name"),
            )
            for row in rows
        ]
        report = run_identity_checks(profile, request.today, others)
        get_logger(case_id=request.case_id, stage="identity").info(
            "identity checks", failed=len(report.failed), duplicates=len(report.duplicates)
        )
        return report
