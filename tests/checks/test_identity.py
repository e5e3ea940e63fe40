"""The identity report: MRZ, passport number, dates, evidence and duplicate detection."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from checks.identity import OtherCase, find_duplicates, run_identity_checks
from checks.mrz import compose_td3
from checks.names import latin_tokens
from contracts.state import CheckOutcome, CheckResult, IdentityReport
from contracts.survivor import SurvivorProfile

TODAY = date(2025, 6, 1)
DOB = date(1998, 3, 14)
NUMBER = "C1234567"
NATIONAL_ID = "079198001234"
MRZ = compose_td3(
    issuing_state="VNM",
    surname="NGUYEN",
    given_names="THI ANH",
    document_number=NUMBER,
    nationality="VNM",
    birth_date=DOB,
    sex="F",
    expiry=date(2031, 7, 1),
)
BASE_CHECKS = [
    "mrz",
    "passport_number",
    "date_of_birth",
    "minor",
    "passport_expiry",
    "entry_date",
    "visa_dates",
]
MRZ_CHECKS = [
    "mrz_date_of_birth",
    "mrz_expiry",
    "mrz_nationality",
    "mrz_sex",
    "mrz_document_number",
]


def make_profile(**overrides: Any) -> SurvivorProfile:
    data: dict[str, Any] = {
        "given_names": "Thị Ánh",
        "family_name": "Nguyễn",
        "native_name": "Nguyễn Thị Ánh",
        "date_of_birth": DOB,
        "sex": "F",
        "nationality": "VNM",
        "consent": {"repatriation": True, "disclosure_to_embassy": True, "data_processing": True},
    }
    data.update(overrides)
    return SurvivorProfile.model_validate(data)


def full_evidence(**overrides: Any) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "passport_number": NUMBER,
        "passport_expiry": date(2031, 7, 1),
        "passport_mrz": MRZ,
        "passport_held": True,
        "national_id_number": NATIONAL_ID,
        "family_contact": True,
        "interview_done": True,
    }
    evidence.update(overrides)
    return evidence


def other(
    given: str,
    family: str,
    dob: date = DOB,
    native: str | None = None,
    ref: str = "KH-2025-0001",
) -> OtherCase:
    return OtherCase(
        case_id=f"id-{ref}",
        reference=ref,
        date_of_birth=dob,
        given_names=given,
        family_name=family,
        native_name=native,
    )


def check(report: IdentityReport, name: str) -> CheckResult:
    matches = [c for c in report.checks if c.name == name]
    assert len(matches) == 1, [c.name for c in report.checks]
    return matches[0]


def test_complete_case_passes_every_check() -> None:
    report = run_identity_checks(make_profile(evidence=full_evidence()), TODAY, [])
    names = [c.name for c in report.checks]
    assert names == BASE_CHECKS + MRZ_CHECKS + ["evidence", "duplicates"]
    outcomes = {c.name: c.outcome for c in report.checks}
    assert outcomes["mrz"] == CheckOutcome.passed
    assert outcomes["passport_number"] == CheckOutcome.passed
    assert all(outcomes[n] == CheckOutcome.passed for n in MRZ_CHECKS)
    assert outcomes["evidence"] == CheckOutcome.passed
    assert outcomes["duplicates"] == CheckOutcome.passed
    assert report.failed == []
    assert report.duplicates == []


def test_without_mrz_the_mrz_checks_are_not_applicable_or_absent() -> None:
    report = run_identity_checks(make_profile(), TODAY, [])
    assert [c.name for c in report.checks] == BASE_CHECKS + ["evidence", "duplicates"]
    assert check(report, "mrz").outcome == CheckOutcome.not_applicable
    assert check(report, "passport_number").outcome == CheckOutcome.not_applicable


def test_corrupted_mrz_fails_naming_the_wrong_check_digit() -> None:
    first, second = MRZ.split("\n")
    corrupted = second[:2] + ("9" if second[2] != "9" else "8") + second[3:]
    evidence = full_evidence(passport_mrz=f"{first}\n{corrupted}")
    report = run_identity_checks(make_profile(evidence=evidence), TODAY, [])
    result = check(report, "mrz")
    assert result.outcome == CheckOutcome.failed
    assert "document number check digit is wrong" in result.detail
    assert "composite check digit is wrong" in result.detail
    assert "date of birth check digit" not in result.detail
    assert check(report, "mrz_document_number").outcome == CheckOutcome.failed
    assert result in report.failed


def test_unreadable_mrz_fails_with_the_format_problem() -> None:
    evidence = full_evidence(passport_mrz=MRZ[:-1])
    report = run_identity_checks(make_profile(evidence=evidence), TODAY, [])
    result = check(report, "mrz")
    assert result.outcome == CheckOutcome.failed
    assert result.detail == "MRZ unreadable: MRZ line 2 has 43 characters, expected 44"
    assert not any(c.name.startswith("mrz_") for c in report.checks)


def test_implausible_passport_number_fails() -> None:
    profile = make_profile(evidence={"passport_number": "ABCDEFGH"})
    report = run_identity_checks(profile, TODAY, [])
    result = check(report, "passport_number")
    assert result.outcome == CheckOutcome.failed
    assert result.detail == "passport number contains no digit"


@pytest.mark.parametrize(
    ("evidence", "outcome", "detail"),
    [
        ({}, CheckOutcome.warning, "no identity evidence recorded"),
        (
            {"interview_done": True},
            CheckOutcome.warning,
            "only the interview; no documents or family contact",
        ),
        (
            {"passport_copy": True, "family_contact": True, "interview_done": True},
            CheckOutcome.passed,
            "passport copy, family contact, interview done",
        ),
        (
            {"passport_number": NUMBER, "birth_certificate": True},
            CheckOutcome.passed,
            "passport details only, birth certificate",
        ),
        (
            {"passport_held": True, "passport_number": NUMBER, "national_id_number": NATIONAL_ID},
            CheckOutcome.passed,
            "passport original, national ID number",
        ),
    ],
)
def test_evidence_summary(evidence: dict[str, Any], outcome: CheckOutcome, detail: str) -> None:
    result = check(run_identity_checks(make_profile(evidence=evidence), TODAY, []), "evidence")
    assert (result.outcome, result.detail) == (outcome, detail)


def test_vietnamese_name_without_diacritics_is_a_duplicate() -> None:
    profile = make_profile(native_name=None)
    report = run_identity_checks(profile, TODAY, [other("Thi Anh", "NGUYEN")])
    assert len(report.duplicates) == 1
    candidate = report.duplicates[0]
    assert (candidate.case_id, candidate.reference) == ("id-KH-2025-0001", "KH-2025-0001")
    assert candidate.score == 1.0
    assert candidate.reason == "same date of birth, Latin name similarity 1.00"
    result = check(report, "duplicates")
    assert result.outcome == CheckOutcome.warning
    assert "KH-2025-0001" in result.detail


def test_swapped_given_and_family_names_are_a_duplicate() -> None:
    duplicates = find_duplicates(make_profile(), [other("Nguyen", "Thi Anh")])
    assert [d.score for d in duplicates] == [1.0]


def test_different_date_of_birth_never_matches() -> None:
    others = [
        other("Thị Ánh", "Nguyễn", dob=date(1998, 3, 15), native="Nguyễn Thị Ánh"),
        other("Thị Ánh", "Nguyễn", dob=date(1999, 3, 14), ref="KH-2025-0002"),
    ]
    report = run_identity_checks(make_profile(), TODAY, others)
    assert report.duplicates == []
    assert check(report, "duplicates").outcome == CheckOutcome.passed


def test_different_names_with_same_birth_date_do_not_match() -> None:
    assert find_duplicates(make_profile(), [other("Van Hung", "Tran")]) == []


def test_chinese_native_names_match_despite_different_romanisation() -> None:
    profile = make_profile(
        given_names="Xiaoming", family_name="Wang", native_name="王小明", nationality="CHN"
    )
    same = other("Hsiao-ming", "Ong", native="王小明 ")
    different = other("Dawei", "Li", native="李大伟", ref="KH-2025-0002")
    duplicates = find_duplicates(profile, [same, different])
    assert [d.reference for d in duplicates] == ["KH-2025-0001"]
    assert duplicates[0].reason == "same date of birth, native-script name similarity 1.00"


def test_native_names_are_compared_only_when_both_exist() -> None:
    profile = make_profile(given_names="Xiaoming", family_name="Wang", native_name="王小明")
    assert find_duplicates(profile, [other("Hsiao-ming", "Ong", native=None)]) == []


@pytest.mark.parametrize(
    ("native", "matching", "not_matching"),
    [
        ("สมชาย ใจดี", "ใจดี  สมชาย", "สมศักดิ์ รักไทย"),
        ("សុខ ចាន់ថា", "សុខ\u200bចាន់ថា", "ហេង សុភាព"),
    ],
)
def test_thai_and_khmer_native_names(native: str, matching: str, not_matching: str) -> None:
    profile = make_profile(given_names="Chantha", family_name="Sok", native_name=native)
    others = [
        other("Jantha", "Sokh", native=matching, ref="KH-2025-0001"),
        other("Sophea", "Heng", native=not_matching, ref="KH-2025-0002"),
    ]
    duplicates = find_duplicates(profile, others)
    assert [d.reference for d in duplicates] == ["KH-2025-0001"]
    assert duplicates[0].score == 1.0


def test_both_similarities_are_reported_and_candidates_sorted_by_score() -> None:
    others = [
        other("Thi Ahn", "Nguyen", ref="KH-2025-0003"),
        other("Thi Anh", "Nguyen", native="Nguyễn Thị Ánh", ref="KH-2025-0002"),
    ]
    duplicates = find_duplicates(make_profile(), others)
    assert [d.reference for d in duplicates] == ["KH-2025-0002", "KH-2025-0003"]
    assert duplicates[0].reason == (
        "same date of birth, Latin name similarity 1.00, native-script name similarity 1.00"
    )
    assert 0.85 <= duplicates[1].score < 1.0
    assert re.fullmatch(r"same date of birth, Latin name similarity 0\.\d\d", duplicates[1].reason)


def test_threshold_controls_matching() -> None:
    near = [other("Van Anh", "Nguyen")]
    assert find_duplicates(make_profile(), near) == []
    assert len(find_duplicates(make_profile(), near, threshold=0.75)) == 1


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.01])
def test_threshold_out_of_range_is_rejected(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        run_identity_checks(make_profile(), TODAY, [], threshold=threshold)


def test_others_may_be_a_one_shot_iterator() -> None:
    def generate() -> Iterator[OtherCase]:
        yield other("Thi Anh", "Nguyen")

    report = run_identity_checks(make_profile(), TODAY, generate())
    assert len(report.duplicates) == 1


def _secrets(profile: SurvivorProfile) -> list[str]:
    """Names (as written and without diacritics), document numbers and the MRZ lines."""
    evidence = profile.evidence
    values = [profile.full_name, profile.given_names, profile.family_name, profile.native_name]
    values += [evidence.passport_number, evidence.national_id_number]
    values += profile.full_name.split() + latin_tokens(profile.full_name)
    values += (evidence.passport_mrz or "").split()
    return list(dict.fromkeys(v for v in values if v))


def _leaks(text: str, secrets: list[str]) -> list[str]:
    folded = text.casefold()
    return [s for s in secrets if re.search(rf"(?<!\w){re.escape(s.casefold())}(?!\w)", folded)]


def test_details_and_reasons_never_contain_names_or_numbers() -> None:
    first, second = MRZ.split("\n")
    scenarios = [
        make_profile(evidence=full_evidence()),
        make_profile(evidence=full_evidence(passport_mrz=f"{first}\n{second[:5]}0{second[6:]}")),
        make_profile(evidence=full_evidence(passport_mrz=MRZ + "<")),
        make_profile(
            sex="M",
            nationality="IDN",
            date_of_birth=date(2010, 1, 1),
            evidence=full_evidence(passport_number="C7654321", passport_expiry=date(2020, 1, 1)),
        ),
        make_profile(evidence={"passport_number": "ABCDEFGH", "interview_done": True}),
    ]
    others = [
        other("Thi Anh", "Nguyen", native="Nguyễn Thị Ánh"),
        other("Nguyen", "Thi Ahn", ref="KH-2025-0002"),
        other("Thi Anh", "Nguyen", dob=date(2010, 1, 1), ref="KH-2025-0003"),
    ]
    texts_checked = 0
    for profile in scenarios:
        report = run_identity_checks(profile, TODAY, others)
        secrets = _secrets(profile) + ["Thi Ahn", "Ahn"]
        texts = [c.detail for c in report.checks] + [d.reason for d in report.duplicates]
        for text in texts:
            assert _leaks(text, secrets) == [], text
            texts_checked += 1
    assert texts_checked > 60


def test_leak_detector_detects_a_leak() -> None:
    secrets = _secrets(make_profile(evidence=full_evidence()))
    assert _leaks(f"number {NUMBER} held", secrets) == [NUMBER]
    assert _leaks("name: NGUYEN", secrets) == ["nguyen"]
    assert _leaks("name: Nguyễn", secrets) == ["Nguyễn"]
    assert _leaks(f"id {NATIONAL_ID}", secrets) == [NATIONAL_ID]
    assert _leaks("this thing", secrets) == []
