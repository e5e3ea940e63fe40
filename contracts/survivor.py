"""The survivor's profile as a caseworker records it at intake (mapped to HTCDS 2.0 where a field exists)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import StrEnum
from typing import Annotated

import pycountry
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

Text = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]


def _iso3(value: str) -> str:
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code) or pycountry.countries.get(alpha_3=code) is None:
        raise ValueError(f"must be an ISO 3166-1 alpha-3 country code (e.g. IDN, VNM), got {value!r}")
    return code


Iso3 = Annotated[str, AfterValidator(_iso3)]


def _language(value: str) -> str:
    code = value.strip().lower()
    if not re.fullmatch(r"[a-z]{2,3}", code):
        raise ValueError(f"must be an ISO 639 language code (e.g. vi, id, zh), got {value!r}")
    return code


LanguageCode = Annotated[str, AfterValidator(_language)]


def _written_date(value: object) -> object:
    """A date as people write it (2026-03-12), never a number: pydantic reads 20300101 or 86400
    as seconds since 1970, which is refused with a puzzling message, or taken as a day of 1970."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"must be a date written YYYY-MM-DD, got the number {value!r}")
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError(f"must be a date written YYYY-MM-DD, got {value!r}")
    return value


Day = Annotated[date, BeforeValidator(_written_date)]


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_3=code)
    return country.name if country else code


class Sex(StrEnum):
    female = "F"
    male = "M"
    unspecified = "X"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Consent(Strict):
    """Consent is given separately for each purpose and can be withdrawn until departure."""

    repatriation: bool = Field(description="Consents to assisted return to the country of nationality.")
    disclosure_to_embassy: bool = Field(
        description="Consents to the embassy of nationality receiving the case (needed for an ETD)."
    )
    data_processing: bool = Field(description="Consents to the processing of personal data.")
    share_medical_with_authorities: bool = Field(
        default=False, description="Medical notes may appear in travel letters for airport staff."
    )


class Guardian(Strict):
    name: Text
    relationship: Text
    organisation: Annotated[str, Field(max_length=200)] | None = None


class Vulnerabilities(Strict):
    pregnant_weeks: Annotated[int, Field(ge=1, le=45)] | None = None
    medical_needs: LongText | None = Field(default=None, description="Medical notes (need to know).")
    disability: LongText | None = None


class IdentityEvidence(Strict):
    """What the survivor still holds, or what can be obtained. Most passports were confiscated."""

    passport_number: Annotated[str, Field(pattern=r"^[A-Z0-9<]{5,20}$")] | None = None
    passport_expiry: Day | None = None
    passport_mrz: Annotated[str, Field(max_length=100)] | None = Field(
        default=None, description="The data page's two 44-character MRZ lines, separated by a newline."
    )
    passport_held: bool = Field(default=False, description="The original passport is in hand (not a copy).")
    passport_copy: bool = False
    national_id_number: Annotated[str, Field(max_length=40)] | None = None
    birth_certificate: bool = False
    family_contact: bool = False
    interview_done: bool = False


class SurvivorProfile(Strict):
    given_names: Text
    family_name: Annotated[str, Field(max_length=200)] = ""
    native_name: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="Full name in the native script, as the survivor writes it."
    )
    date_of_birth: Day
    sex: Sex
    nationality: Iso3
    languages: list[LanguageCode] = Field(default_factory=lambda: ["en"], min_length=1)
    shelter: Annotated[str, Field(max_length=200)] | None = None
    phone: Annotated[str, Field(pattern=r"^\+?[0-9 ()-]{6,20}$")] | None = None
    recruitment: LongText | None = Field(default=None, description="How they were recruited.")
    compound: Annotated[str, Field(max_length=200)] | None = None
    entered_host_country_on: Day | None = Field(
        default=None, description="Entry into Cambodia; overstay is counted from the visa's end."
    )
    visa_valid_until: Day | None = None
    evidence: IdentityEvidence = Field(default_factory=IdentityEvidence)
    vulnerabilities: Vulnerabilities = Field(default_factory=Vulnerabilities)
    consent: Consent
    guardian: Guardian | None = None

    def age_on(self, day: date) -> int:
        years = day.year - self.date_of_birth.year
        if (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day):
            years -= 1
        return years

    @property
    def language(self) -> str:
        return self.languages[0]

    @property
    def full_name(self) -> str:
        return f"{self.given_names} {self.family_name}".strip()


class CaseOpenRequest(Strict):
    """What a caseworker submits to open a case. ``client_reference`` makes opening idempotent."""

    client_reference: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,80}$")] | None = None
    survivor: SurvivorProfile

    @model_validator(mode="after")
    def _consents(self) -> CaseOpenRequest:
        consent = self.survivor.consent
        if not consent.repatriation:
            raise ValueError("survivor.consent.repatriation: a case needs consent to repatriation")
        if not consent.data_processing:
            raise ValueError("survivor.consent.data_processing: a case needs consent to data processing")
        return self


def check_profile(profile: SurvivorProfile, today: date) -> list[str]:
    """Rules that need today's date; each message names the field and the rule."""
    errors: list[str] = []
    if profile.date_of_birth >= today:
        errors.append("survivor.date_of_birth: must be in the past")
    elif profile.age_on(today) > 120:
        errors.append("survivor.date_of_birth: gives an age over 120 years")
    elif profile.age_on(today) < 18 and profile.guardian is None:
        errors.append("survivor.guardian: a minor needs a guardian or representative")
    if profile.entered_host_country_on and profile.entered_host_country_on > today:
        errors.append("survivor.entered_host_country_on: must not be in the future")
    errors += _consistency(profile)
    return errors


# Embeddings, overrides and isolates: they reorder how a name is shown (a name that reads as
# another on a printed list). Joiners (ZWJ, ZWNJ) stay: some scripts need them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _consistency(profile: SurvivorProfile) -> list[str]:
    """What a typing slip at intake gives and no document can carry. Checked when a case is
    opened, not when a stored profile is read (a case opened before a rule came stays readable)."""
    errors: list[str] = []
    names = {"given_names": profile.given_names, "family_name": profile.family_name}
    names["native_name"] = profile.native_name or ""
    for field, value in names.items():
        if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in BIDI_CONTROLS for c in value):
            errors.append(
                f"survivor.{field}: must not contain control characters (a tab, a line break, NUL, "
                "a text direction override)"
            )
    born = profile.date_of_birth
    if profile.entered_host_country_on and profile.entered_host_country_on < born:
        errors.append("survivor.entered_host_country_on: is before the date of birth")
    if profile.evidence.passport_expiry and profile.evidence.passport_expiry < born:
        errors.append("survivor.evidence.passport_expiry: is before the date of birth")
    if profile.phone is not None and sum(c.isdigit() for c in profile.phone) < 6:
        errors.append("survivor.phone: needs at least 6 digits")
    return errors
