"""Synthetic survivors for the demo, the tests and the benchmark. Every person here is invented."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from contracts.survivor import CaseOpenRequest

CONSENT_ALL = {"repatriation": True, "disclosure_to_embassy": True, "data_processing": True}


def _born(today: date, years: int, days: int = 0) -> str:
    return (date(today.year - years, today.month, min(today.day, 28)) - timedelta(days=days)).isoformat()


def survivors(today: date) -> list[dict[str, Any]]:
    """A mixed group: several nationalities and scripts, a minor, a pregnancy, a passport held."""
    entered = (today - timedelta(days=240)).isoformat()
    return [
        {
            "given_names": "Thi Lan",
            "family_name": "Nguyen",
            "native_name": "Nguyễn Thị Lan",
            "date_of_birth": _born(today, 24, 40),
            "sex": "F",
            "nationality": "VNM",
            "languages": ["vi"],
            "shelter": "Shelter A, Phnom Penh",
            "phone": "+855 12 345 678",
            "recruitment": "Online job advert for a hotel receptionist",
            "compound": "Sihanoukville",
            "entered_host_country_on": entered,
            "evidence": {
                "family_contact": True,
                "interview_done": True,
                "national_id_number": "001234567890",
            },
            "consent": CONSENT_ALL,
        },
        {
            "given_names": "Budi",
            "family_name": "Santoso",
            "date_of_birth": _born(today, 31, 100),
            "sex": "M",
            "nationality": "IDN",
            "languages": ["id"],
            "shelter": "Shelter B",
            "recruitment": "Recruited by an agent in Medan",
            "entered_host_country_on": entered,
            "evidence": {"passport_copy": True, "interview_done": True},
            "vulnerabilities": {"medical_needs": "Untreated hand injury"},
            "consent": {**CONSENT_ALL, "share_medical_with_authorities": True},
        },
        {
            "given_names": "Somchai",
            "family_name": "Wongsa",
            "native_name": "สมชาย วงศ์สา",
            "date_of_birth": _born(today, 16, 10),
            "sex": "M",
            "nationality": "THA",
            "languages": ["th"],
            "shelter": "Shelter A",
            "entered_host_country_on": entered,
            "evidence": {"birth_certificate": True, "family_contact": True, "interview_done": True},
            "guardian": {"name": "Case guardian (shelter)", "relationship": "appointed representative"},
            "consent": CONSENT_ALL,
        },
        {
            "given_names": "Khin",
            "family_name": "Myat",
            "native_name": "ခင်မြတ်",
            "date_of_birth": _born(today, 27, 200),
            "sex": "F",
            "nationality": "MMR",
            "languages": ["my"],
            "shelter": "Shelter C",
            "entered_host_country_on": entered,
            "evidence": {"interview_done": True, "family_contact": True},
            "vulnerabilities": {"pregnant_weeks": 14},
            "consent": CONSENT_ALL,
        },
        {
            "given_names": "Maria",
            "family_name": "Dela Cruz",
            "date_of_birth": _born(today, 29, 5),
            "sex": "F",
            "nationality": "PHL",
            "languages": ["tl"],
            "shelter": "Shelter B",
            "entered_host_country_on": entered,
            "evidence": {
                "passport_held": True,
                "passport_number": "P1234567A",
                "passport_expiry": (today + timedelta(days=900)).isoformat(),
                "interview_done": True,
            },
            "consent": {**CONSENT_ALL, "disclosure_to_embassy": False},
        },
        {
            "given_names": "Xiaoming",
            "family_name": "Wang",
            "native_name": "王小明",
            "date_of_birth": _born(today, 35, 60),
            "sex": "M",
            "nationality": "CHN",
            "languages": ["zh"],
            "shelter": "Shelter C",
            "entered_host_country_on": entered,
            "evidence": {"national_id_number": "110101199001011234", "interview_done": True},
            "consent": CONSENT_ALL,
        },
    ]


def open_request(survivor: dict[str, Any], reference: str | None) -> CaseOpenRequest:
    return CaseOpenRequest.model_validate({"client_reference": reference, "survivor": survivor})
