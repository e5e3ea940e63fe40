"""Synthetic survivors, case metadata and workflow facts for the document tests.

Every person here is invented. The profiles cover the scripts the documents must print
(Vietnamese Latin with diacritics, Thai, Simplified Chinese, Burmese), a minor with a guardian,
a pregnancy without consent to share medical notes and medical needs with that consent.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from contracts.state import (
    Booking,
    CheckOutcome,
    CheckResult,
    CostEstimate,
    CostLine,
    DuplicateCandidate,
    EtdRecord,
    FlightOption,
    FundingCommitment,
    IdentityReport,
)
from contracts.survivor import (
    Consent,
    Guardian,
    IdentityEvidence,
    Sex,
    SurvivorProfile,
    Vulnerabilities,
)
from documents.context import CaseMeta
from documents.renderer import Renderer, get_renderer

ISSUED_ON = date(2026, 3, 12)
REFERENCE = "RP-2026-0001A"
VERIFICATION_CODE = "VX7K-3PQ9-M2TD"
ORGANISATION = "Phnom Penh Shelter Network"
ICT = timezone(timedelta(hours=7))

ALL_CONSENTS = Consent(repatriation=True, disclosure_to_embassy=True, data_processing=True)


def vietnamese_woman() -> SurvivorProfile:
    """Pregnant, with medical notes, but no consent to share them with airline staff."""
    return SurvivorProfile(
        given_names="Thi Lan",
        family_name="Nguyen",
        native_name="Nguyễn Thị Lan",
        date_of_birth=date(1998, 5, 14),
        sex=Sex.female,
        nationality="VNM",
        languages=["vi", "en"],
        shelter="Women's shelter, Phnom Penh",
        phone="+855 12 345 678",
        recruitment="Offered a hotel receptionist job through a social media advert.",
        compound="Compound near Sihanoukville",
        entered_host_country_on=date(2025, 6, 2),
        visa_valid_until=date(2025, 7, 1),
        evidence=IdentityEvidence(
            passport_number="C1234567",
            passport_copy=True,
            national_id_number="001198012345",
            family_contact=True,
            interview_done=True,
        ),
        vulnerabilities=Vulnerabilities(
            pregnant_weeks=22, medical_needs="Gestational diabetes; carries an insulin pen."
        ),
        consent=ALL_CONSENTS,
    )


def indonesian_man() -> SurvivorProfile:
    """Holds his passport; medical needs shared with his consent."""
    return SurvivorProfile(
        given_names="Budi",
        family_name="Santoso",
        date_of_birth=date(1990, 3, 15),
        sex=Sex.male,
        nationality="IDN",
        languages=["id"],
        shelter="Men's shelter, Phnom Penh",
        compound="Compound in Bavet",
        entered_host_country_on=date(2025, 9, 10),
        visa_valid_until=date(2025, 10, 9),
        evidence=IdentityEvidence(
            passport_number="B9876543",
            passport_expiry=date(2030, 1, 1),
            passport_held=True,
            passport_mrz=(
                "P<IDNSANTOSO<<BUDI<<<<<<<<<<<<<<<<<<<<<<<<<<\nB98765432IDN9003157M3001018<<<<<<<<<<<<<<<04"
            ),
            interview_done=True,
        ),
        vulnerabilities=Vulnerabilities(medical_needs="Asthma; keep his inhaler within reach."),
        consent=ALL_CONSENTS.model_copy(update={"share_medical_with_authorities": True}),
    )


def thai_minor() -> SurvivorProfile:
    return SurvivorProfile(
        given_names="Pimchanok",
        family_name="Srisuk",
        native_name="พิมพ์ชนก ศรีสุข",
        date_of_birth=date(2009, 8, 20),
        sex=Sex.female,
        nationality="THA",
        languages=["th"],
        evidence=IdentityEvidence(birth_certificate=True, family_contact=True),
        consent=ALL_CONSENTS,
        guardian=Guardian(
            name="Ratana Chaiyaporn",
            relationship="Appointed guardian",
            organisation="Phnom Penh Shelter Network",
        ),
    )


def chinese_man() -> SurvivorProfile:
    return SurvivorProfile(
        given_names="Xiaoming",
        family_name="Wang",
        native_name="王小明",
        date_of_birth=date(1995, 11, 2),
        sex=Sex.male,
        nationality="CHN",
        languages=["zh"],
        evidence=IdentityEvidence(national_id_number="110101199511020000"),
        consent=ALL_CONSENTS,
    )


def burmese_man() -> SurvivorProfile:
    return SurvivorProfile(
        given_names="Maung Maung",
        native_name="မောင်မောင်",
        date_of_birth=date(1993, 1, 9),
        sex=Sex.male,
        nationality="MMR",
        languages=["my"],
        consent=ALL_CONSENTS,
    )


PROFILES = {
    "vietnamese": vietnamese_woman,
    "indonesian": indonesian_man,
    "thai_minor": thai_minor,
    "chinese": chinese_man,
    "burmese": burmese_man,
}

FLIGHTS = {
    "VNM": ("Vietnam Airlines", "VN 920", "SGN"),
    "IDN": ("Garuda Indonesia", "GA 847", "CGK"),
    "THA": ("Thai Airways", "TG 585", "BKK"),
    "CHN": ("China Southern", "CZ 324", "CAN"),
    "MMR": ("Myanmar Airways International", "8M 402", "RGN"),
}

RECEPTION = {
    "VNM": "Peace House Shelter, Ho Chi Minh City",
    "IDN": "Social Affairs Office, Soekarno-Hatta Airport",
}


def make_case(**changes: Any) -> CaseMeta:
    values: dict[str, Any] = {
        "case_id": "case-0001",
        "reference": REFERENCE,
        "organisation": ORGANISATION,
        "issued_on": ISSUED_ON,
        "verification_code": VERIFICATION_CODE,
        "version": 1,
    }
    values.update(changes)
    return CaseMeta(**values)


def make_facts(profile: SurvivorProfile) -> dict[str, Any]:
    """Everything the workflow may know by the end of a case, as JSON-mode dumps."""
    carrier, flight_number, destination = FLIGHTS[profile.nationality]
    identity = IdentityReport(
        checks=[
            CheckResult(name="mrz_checksum", outcome=CheckOutcome.passed, detail="Both lines valid"),
            CheckResult(
                name="passport_expiry",
                outcome=CheckOutcome.warning,
                detail="Only a copy of the passport is held",
            ),
            CheckResult(
                name="age_consistency",
                outcome=CheckOutcome.failed,
                detail="Stated age differs from the copy by one year",
            ),
        ],
        duplicates=[
            DuplicateCandidate(
                case_id="case-0002",
                reference="RP-2026-0002B",
                score=0.82,
                reason="Same date of birth, similar name",
            )
        ],
    )
    estimate = CostEstimate(
        currency="USD",
        lines=[
            CostLine(item="Air fare", amount=Decimal("185.00"), note=f"PNH to {destination}"),
            CostLine(item="Overstay fine", amount=Decimal("250.00"), note="25 days"),
            CostLine(item="Escort", amount=Decimal("420.00"), note="Return ticket and per diem"),
            CostLine(item="Emergency travel document fee", amount=Decimal("25.00")),
        ],
        overstay_days=25,
    )
    option = FlightOption(
        option_id="opt-1",
        carrier=carrier,
        flight_number=flight_number,
        origin="PNH",
        destination=destination,
        departs_at=datetime(2026, 3, 20, 10, 15, tzinfo=ICT),
        arrives_at=datetime(2026, 3, 20, 11, 25, tzinfo=ICT),
        fare=Decimal("185.00"),
    )
    return {
        "identity": identity.model_dump(mode="json"),
        "identity_verified": True,
        "attested_by": "Sophea Chan (caseworker)",
        "estimate": estimate.model_dump(mode="json"),
        "funding": FundingCommitment(
            commitment_id="FC-88231",
            source_id="arf",
            source_name="Assisted Return Fund",
            amount=Decimal("900.00"),
            currency="USD",
        ).model_dump(mode="json"),
        "approved_by": "Dara Kim (supervisor)",
        "etd": EtdRecord(
            document_number=f"ETD-{profile.nationality}-204417", expires_on=date(2026, 4, 30)
        ).model_dump(mode="json"),
        "booking": Booking(booking_ref="QX7PLM", ticket_number="738-2400012345", option=option).model_dump(
            mode="json"
        ),
        "outcome": "repatriated",
        "outcome_reason": "Returned home as planned.",
        "reception_organisation": RECEPTION.get(profile.nationality, "National reception centre"),
        "departed_at": datetime(2026, 3, 20, 10, 20, tzinfo=ICT).isoformat(),
        "arrived_at": datetime(2026, 3, 20, 11, 30, tzinfo=ICT).isoformat(),
        "escort_required": True,
        "overstay_days": 25,
        "overstay_fine": "250.00",
    }


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    return get_renderer()


@pytest.fixture
def case() -> CaseMeta:
    return make_case()


@pytest.fixture
def vietnamese() -> SurvivorProfile:
    return vietnamese_woman()


@pytest.fixture
def indonesian() -> SurvivorProfile:
    return indonesian_man()


@pytest.fixture
def minor() -> SurvivorProfile:
    return thai_minor()


@pytest.fixture
def chinese() -> SurvivorProfile:
    return chinese_man()


@pytest.fixture
def burmese() -> SurvivorProfile:
    return burmese_man()
