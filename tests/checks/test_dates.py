"""Date plausibility and MRZ/profile agreement."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from checks.dates import date_checks
from checks.mrz import compose_td3, parse_mrz
from contracts.state import CheckOutcome, CheckResult
from contracts.survivor import SurvivorProfile

TODAY = date(2025, 6, 1)
DOB = date(1998, 3, 14)
EXPIRY = date(2031, 7, 1)
NUMBER = "C1234567"


def make_profile(**overrides: Any) -> SurvivorProfile:
    data: dict[str, Any] = {
        "given_names": "Thị Ánh",
        "family_name": "Nguyễn",
        "date_of_birth": DOB,
        "sex": "F",
        "nationality": "VNM",
        "consent": {"repatriation": True, "disclosure_to_embassy": True, "data_processing": True},
    }
    data.update(overrides)
    return SurvivorProfile.model_validate(data)


def mrz_text(**overrides: Any) -> str:
    fields: dict[str, Any] = {
        "issuing_state": "VNM",
        "surname": "NGUYEN",
        "given_names": "THI ANH",
        "document_number": NUMBER,
        "nationality": "VNM",
        "birth_date": DOB,
        "sex": "F",
        "expiry": EXPIRY,
    }
    fields.update(overrides)
    return compose_td3(**fields)


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    names = [r.name for r in results]
    assert len(names) == len(set(names)), names
    return {r.name: r for r in results}


def run(profile: SurvivorProfile, mrz: str | None = None) -> dict[str, CheckResult]:
    parsed = parse_mrz(mrz, TODAY) if mrz else None
    return by_name(date_checks(profile, TODAY, parsed))


def test_plausible_adult_without_mrz() -> None:
    results = run(make_profile())
    assert set(results) == {"date_of_birth", "minor", "passport_expiry", "entry_date", "visa_dates"}
    assert results["date_of_birth"].outcome == CheckOutcome.passed
    assert results["date_of_birth"].detail == "age 27 years"
    assert results["minor"].outcome == CheckOutcome.passed
    assert results["passport_expiry"].outcome == CheckOutcome.not_applicable
    assert results["entry_date"].outcome == CheckOutcome.not_applicable
    assert results["visa_dates"].outcome == CheckOutcome.not_applicable


@pytest.mark.parametrize("dob", [TODAY, date(2026, 1, 1)])
def test_birth_date_must_be_in_the_past(dob: date) -> None:
    results = run(make_profile(date_of_birth=dob))
    assert results["date_of_birth"].outcome == CheckOutcome.failed
    assert "not in the past" in results["date_of_birth"].detail
    assert results["minor"].outcome == CheckOutcome.not_applicable


def test_age_over_120_fails_and_120_passes() -> None:
    too_old = run(make_profile(date_of_birth=date(1904, 6, 1)))
    assert too_old["date_of_birth"].outcome == CheckOutcome.failed
    assert "121" in too_old["date_of_birth"].detail
    oldest = run(make_profile(date_of_birth=date(1904, 6, 2)))
    assert oldest["date_of_birth"].outcome == CheckOutcome.passed


def test_minor_without_guardian_is_flagged() -> None:
    results = run(make_profile(date_of_birth=date(2009, 6, 2)))
    assert results["minor"].outcome == CheckOutcome.warning
    assert "minor aged 15" in results["minor"].detail
    assert "no guardian" in results["minor"].detail


def test_minor_with_guardian_is_still_flagged() -> None:
    guardian = {"name": "Le Van Binh", "relationship": "uncle"}
    results = run(make_profile(date_of_birth=date(2009, 6, 1), guardian=guardian))
    assert results["minor"].outcome == CheckOutcome.warning
    assert "minor aged 16; guardian or representative recorded" == results["minor"].detail
    assert "Binh" not in results["minor"].detail


def test_eighteenth_birthday_is_adult() -> None:
    assert run(make_profile(date_of_birth=date(2007, 6, 1)))["minor"].outcome == CheckOutcome.passed


def test_expired_passport_is_a_warning_not_a_failure() -> None:
    profile = make_profile(evidence={"passport_expiry": date(2025, 5, 1)})
    result = run(profile)["passport_expiry"]
    assert result.outcome == CheckOutcome.warning
    assert "expired 31 days ago" in result.detail
    assert "evidence of identity" in result.detail


def test_valid_passport_passes() -> None:
    result = run(make_profile(evidence={"passport_expiry": TODAY}))["passport_expiry"]
    assert result.outcome == CheckOutcome.passed


def test_expiry_taken_from_mrz_when_not_recorded() -> None:
    result = run(make_profile(), mrz_text(expiry=date(2020, 1, 1)))["passport_expiry"]
    assert result.outcome == CheckOutcome.warning
    assert "from the MRZ" in result.detail


@pytest.mark.parametrize(
    ("entry", "outcome", "text"),
    [
        (date(2024, 2, 1), CheckOutcome.passed, "entered"),
        (date(2025, 6, 2), CheckOutcome.failed, "in the future"),
        (date(1998, 3, 13), CheckOutcome.failed, "before the date of birth"),
        (TODAY, CheckOutcome.passed, "entered 0 days ago"),
    ],
)
def test_entry_date(entry: date, outcome: CheckOutcome, text: str) -> None:
    result = run(make_profile(entered_host_country_on=entry))["entry_date"]
    assert result.outcome == outcome
    assert text in result.detail


def test_visa_end_before_entry_fails() -> None:
    profile = make_profile(entered_host_country_on=date(2024, 2, 1), visa_valid_until=date(2024, 1, 31))
    result = run(profile)["visa_dates"]
    assert result.outcome == CheckOutcome.failed
    assert "before the entry date" in result.detail


def test_ended_visa_reports_overstay() -> None:
    profile = make_profile(entered_host_country_on=date(2024, 2, 1), visa_valid_until=date(2025, 5, 2))
    result = run(profile)["visa_dates"]
    assert result.outcome == CheckOutcome.passed
    assert "ended 30 days ago" in result.detail


def test_visa_without_entry_cannot_be_compared() -> None:
    result = run(make_profile(visa_valid_until=date(2025, 5, 2)))["visa_dates"]
    assert result.outcome == CheckOutcome.not_applicable


def test_visa_still_valid() -> None:
    profile = make_profile(entered_host_country_on=date(2025, 5, 1), visa_valid_until=date(2025, 6, 30))
    assert run(profile)["visa_dates"].detail == "visa still valid"


def test_mrz_agreeing_with_profile() -> None:
    profile = make_profile(evidence={"passport_number": NUMBER, "passport_expiry": EXPIRY})
    results = run(profile, mrz_text())
    names = ("mrz_date_of_birth", "mrz_expiry", "mrz_nationality", "mrz_sex", "mrz_document_number")
    for name in names:
        assert results[name].outcome == CheckOutcome.passed, results[name]


def test_mrz_disagreeing_with_profile_fails() -> None:
    profile = make_profile(
        sex="M",
        nationality="IDN",
        evidence={"passport_number": "C7654321", "passport_expiry": date(2030, 1, 1)},
    )
    results = run(profile, mrz_text())
    assert results["mrz_date_of_birth"].outcome == CheckOutcome.passed
    assert results["mrz_expiry"].outcome == CheckOutcome.failed
    assert results["mrz_nationality"].outcome == CheckOutcome.failed
    assert results["mrz_nationality"].detail == (
        "MRZ nationality VNM differs from the recorded nationality IDN"
    )
    assert results["mrz_sex"].outcome == CheckOutcome.failed
    assert results["mrz_document_number"].outcome == CheckOutcome.failed
    assert "C7654321" not in results["mrz_document_number"].detail
    assert NUMBER not in results["mrz_document_number"].detail


def test_mrz_birth_date_disagreement_fails_without_showing_dates() -> None:
    results = run(make_profile(), mrz_text(birth_date=date(1998, 4, 14)))
    result = results["mrz_date_of_birth"]
    assert result.outcome == CheckOutcome.failed
    assert "1998" not in result.detail and "980414" not in result.detail


def test_mrz_comparisons_without_recorded_values_are_not_applicable() -> None:
    results = run(make_profile(), mrz_text())
    assert results["mrz_expiry"].outcome == CheckOutcome.not_applicable
    assert results["mrz_document_number"].outcome == CheckOutcome.not_applicable
    assert results["mrz_date_of_birth"].outcome == CheckOutcome.passed


def test_recorded_number_with_fillers_matches_mrz() -> None:
    profile = make_profile(evidence={"passport_number": f"{NUMBER}<"})
    assert run(profile, mrz_text())["mrz_document_number"].outcome == CheckOutcome.passed


def test_unspecified_sex_matches_mrz_filler() -> None:
    results = run(make_profile(sex="X"), mrz_text(sex="X"))
    assert results["mrz_sex"].outcome == CheckOutcome.passed
