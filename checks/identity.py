"""The identity checks the identity activity runs: one report, no names or numbers in details."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from checks.dates import date_checks
from checks.mrz import MrzData, MrzFormatError, parse_mrz, passport_number_problems
from checks.names import native_similarity, similarity
from contracts.state import CheckOutcome, CheckResult, DuplicateCandidate, IdentityReport
from contracts.survivor import IdentityEvidence, SurvivorProfile

DEFAULT_THRESHOLD = 0.85


@dataclass(frozen=True)
class OtherCase:
    """Another case already registered (any organisation), as loaded for duplicate detection."""

    case_id: str
    reference: str
    date_of_birth: date
    given_names: str
    family_name: str
    native_name: str | None


def _result(name: str, outcome: CheckOutcome, detail: str) -> CheckResult:
    return CheckResult(name=name, outcome=outcome, detail=detail)


def _parse(evidence: IdentityEvidence, today: date) -> tuple[MrzData | None, CheckResult]:
    if not evidence.passport_mrz:
        return None, _result("mrz", CheckOutcome.not_applicable, "no MRZ recorded")
    try:
        mrz = parse_mrz(evidence.passport_mrz, today)
    except MrzFormatError as error:
        return None, _result("mrz", CheckOutcome.failed, f"MRZ unreadable: {error}")
    if mrz.problems:
        return mrz, _result("mrz", CheckOutcome.failed, "; ".join(mrz.problems))
    return mrz, _result("mrz", CheckOutcome.passed, "MRZ format and all check digits valid")


def passport_number_check(evidence: IdentityEvidence) -> CheckResult:
    """Format plausibility of the recorded passport number."""
    if not evidence.passport_number:
        return _result("passport_number", CheckOutcome.not_applicable, "no passport number")
    problems = passport_number_problems(evidence.passport_number)
    if problems:
        return _result("passport_number", CheckOutcome.failed, "; ".join(problems))
    return _result("passport_number", CheckOutcome.passed, "passport number format plausible")


def _evidence_held(evidence: IdentityEvidence) -> list[str]:
    held = [
        ("passport original", evidence.passport_held),
        ("passport copy", evidence.passport_copy),
        (
            "passport details only",
            not (evidence.passport_held or evidence.passport_copy)
            and bool(evidence.passport_number or evidence.passport_mrz),
        ),
        ("national ID number", bool(evidence.national_id_number)),
        ("birth certificate", evidence.birth_certificate),
        ("family contact", evidence.family_contact),
        ("interview done", evidence.interview_done),
    ]
    return [label for label, present in held if present]


def evidence_check(evidence: IdentityEvidence) -> CheckResult:
    """Which evidence is held; a warning when there is nothing beyond the interview."""
    held = _evidence_held(evidence)
    if not held:
        return _result("evidence", CheckOutcome.warning, "no identity evidence recorded")
    if held == ["interview done"]:
        return _result(
            "evidence", CheckOutcome.warning, "only the interview; no documents or family contact"
        )
    return _result("evidence", CheckOutcome.passed, ", ".join(held))


def _candidate(
    profile: SurvivorProfile, other: OtherCase, threshold: float
) -> DuplicateCandidate | None:
    if other.date_of_birth != profile.date_of_birth:
        return None
    reasons = ["same date of birth"]
    scores: list[float] = []
    latin = similarity(profile.full_name, f"{other.given_names} {other.family_name}")
    if latin >= threshold:
        reasons.append(f"Latin name similarity {latin:.2f}")
        scores.append(latin)
    if profile.native_name and other.native_name:
        native = native_similarity(profile.native_name, other.native_name)
        if native >= threshold:
            reasons.append(f"native-script name similarity {native:.2f}")
            scores.append(native)
    if not scores:
        return None
    return DuplicateCandidate(
        case_id=other.case_id,
        reference=other.reference,
        score=round(max(scores), 4),
        reason=", ".join(reasons),
    )


def find_duplicates(
    profile: SurvivorProfile, others: Iterable[OtherCase], threshold: float = DEFAULT_THRESHOLD
) -> list[DuplicateCandidate]:
    """Cases with the same date of birth and a similar Latin or native name, best first."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    found = [c for o in others if (c := _candidate(profile, o, threshold)) is not None]
    return sorted(found, key=lambda c: (-c.score, c.reference, c.case_id))


def duplicates_check(duplicates: list[DuplicateCandidate]) -> CheckResult:
    """A warning when candidates exist: a caseworker resolves them (not an automatic failure)."""
    if not duplicates:
        return _result("duplicates", CheckOutcome.passed, "no possible duplicate case found")
    references = ", ".join(c.reference for c in duplicates)
    detail = (
        f"{len(duplicates)} possible duplicate case(s), best score {duplicates[0].score:.2f}: "
        f"{references}"
    )
    return _result("duplicates", CheckOutcome.warning, detail)


def run_identity_checks(
    profile: SurvivorProfile,
    today: date,
    others: Iterable[OtherCase],
    threshold: float = DEFAULT_THRESHOLD,
) -> IdentityReport:
    """Run every identity check on the profile against the other registered cases."""
    mrz, mrz_result = _parse(profile.evidence, today)
    duplicates = find_duplicates(profile, others, threshold)
    checks = [
        mrz_result,
        passport_number_check(profile.evidence),
        *date_checks(profile, today, mrz),
        evidence_check(profile.evidence),
        duplicates_check(duplicates),
    ]
    return IdentityReport(checks=checks, duplicates=duplicates)
