"""Date plausibility checks and agreement between the MRZ and the recorded profile.

Details name fields and rules only: never the survivor's name, document number or birth date.
"""

from __future__ import annotations

from datetime import date

from checks.mrz import FILLER, MrzData
from contracts.state import CheckOutcome, CheckResult
from contracts.survivor import SurvivorProfile

MAX_AGE = 120
ADULT_AGE = 18


def _result(name: str, outcome: CheckOutcome, detail: str) -> CheckResult:
    return CheckResult(name=name, outcome=outcome, detail=detail)


def _birth_plausible(profile: SurvivorProfile, today: date) -> bool:
    return profile.date_of_birth < today and profile.age_on(today) <= MAX_AGE


def birth_date_check(profile: SurvivorProfile, today: date) -> CheckResult:
    """The date of birth is in the past and gives an age of 0-120 years."""
    if profile.date_of_birth >= today:
        return _result("date_of_birth", CheckOutcome.failed, "date of birth is not in the past")
    age = profile.age_on(today)
    if age > MAX_AGE:
        return _result(
            "date_of_birth", CheckOutcome.failed, f"date of birth gives an age of {age} years"
        )
    return _result("date_of_birth", CheckOutcome.passed, f"age {age} years")


def minor_check(profile: SurvivorProfile, today: date) -> CheckResult:
    """Minors are flagged, saying whether a guardian or representative is recorded."""
    if not _birth_plausible(profile, today):
        return _result("minor", CheckOutcome.not_applicable, "no plausible date of birth")
    age = profile.age_on(today)
    if age >= ADULT_AGE:
        return _result("minor", CheckOutcome.passed, "adult")
    guardian = (
        "guardian or representative recorded"
        if profile.guardian is not None
        else "no guardian or representative recorded; one is required"
    )
    return _result("minor", CheckOutcome.warning, f"minor aged {age}; {guardian}")


def passport_expiry_check(
    profile: SurvivorProfile, today: date, mrz: MrzData | None
) -> CheckResult:
    """An expired passport is a warning only: it still evidences identity and nationality."""
    expiry = profile.evidence.passport_expiry
    source = "recorded"
    if expiry is None and mrz is not None and mrz.expiry is not None:
        expiry, source = mrz.expiry, "from the MRZ"
    if expiry is None:
        return _result("passport_expiry", CheckOutcome.not_applicable, "no passport expiry date")
    if expiry < today:
        days = (today - expiry).days
        return _result(
            "passport_expiry",
            CheckOutcome.warning,
            f"passport expired {days} days ago ({source}); still evidence of identity",
        )
    days = (expiry - today).days
    return _result(
        "passport_expiry", CheckOutcome.passed, f"passport valid for {days} more days ({source})"
    )


def entry_date_check(profile: SurvivorProfile, today: date) -> CheckResult:
    """Entry into the host country is after birth and not in the future."""
    entry = profile.entered_host_country_on
    if entry is None:
        return _result("entry_date", CheckOutcome.not_applicable, "no entry date recorded")
    if entry > today:
        return _result("entry_date", CheckOutcome.failed, "entry date is in the future")
    if entry < profile.date_of_birth:
        return _result("entry_date", CheckOutcome.failed, "entry date is before the date of birth")
    return _result("entry_date", CheckOutcome.passed, f"entered {(today - entry).days} days ago")


def visa_dates_check(profile: SurvivorProfile, today: date) -> CheckResult:
    """The visa ends after the entry date; an ended visa is reported as the overstay start."""
    entry, visa_end = profile.entered_host_country_on, profile.visa_valid_until
    if visa_end is None:
        return _result("visa_dates", CheckOutcome.not_applicable, "no visa end date recorded")
    if entry is None:
        return _result("visa_dates", CheckOutcome.not_applicable, "no entry date to compare with")
    if visa_end < entry:
        return _result("visa_dates", CheckOutcome.failed, "visa end date is before the entry date")
    if visa_end < today:
        days = (today - visa_end).days
        return _result(
            "visa_dates", CheckOutcome.passed, f"visa ended {days} days ago (overstay since then)"
        )
    return _result("visa_dates", CheckOutcome.passed, "visa still valid")


def _agreement(name: str, label: str, mrz_value: object, recorded: object) -> CheckResult:
    if mrz_value is None:
        return _result(name, CheckOutcome.not_applicable, f"MRZ {label} could not be read")
    if recorded is None:
        return _result(name, CheckOutcome.not_applicable, f"no {label} recorded to compare with")
    if mrz_value != recorded:
        return _result(name, CheckOutcome.failed, f"MRZ {label} differs from the recorded {label}")
    return _result(name, CheckOutcome.passed, f"MRZ {label} matches the recorded {label}")


def _coded(name: str, label: str, mrz_value: str, recorded: str) -> CheckResult:
    if mrz_value != recorded:
        shown = mrz_value or "(empty)"
        detail = f"MRZ {label} {shown} differs from the recorded {label} {recorded}"
        return _result(name, CheckOutcome.failed, detail)
    return _result(name, CheckOutcome.passed, f"MRZ {label} matches the recorded {label}")


def _document_number(value: str | None) -> str | None:
    return value.strip().strip(FILLER).upper() if value else None


def mrz_agreement_checks(profile: SurvivorProfile, mrz: MrzData) -> list[CheckResult]:
    """The MRZ's birth date, expiry, nationality, sex and number agree with the profile."""
    evidence = profile.evidence
    return [
        _agreement("mrz_date_of_birth", "date of birth", mrz.birth_date, profile.date_of_birth),
        _agreement("mrz_expiry", "expiry date", mrz.expiry, evidence.passport_expiry),
        _coded("mrz_nationality", "nationality", mrz.nationality, profile.nationality),
        _coded("mrz_sex", "sex", mrz.sex, profile.sex.value),
        _agreement(
            "mrz_document_number",
            "document number",
            _document_number(mrz.document_number),
            _document_number(evidence.passport_number),
        ),
    ]


def date_checks(profile: SurvivorProfile, today: date, mrz: MrzData | None) -> list[CheckResult]:
    """All date checks; the MRZ agreement checks are added only when an MRZ was parsed."""
    results = [
        birth_date_check(profile, today),
        minor_check(profile, today),
        passport_expiry_check(profile, today, mrz),
        entry_date_check(profile, today),
        visa_dates_check(profile, today),
    ]
    if mrz is not None:
        results += mrz_agreement_checks(profile, mrz)
    return results
