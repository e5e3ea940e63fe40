"""Build the template context of a case document.

``build_context`` takes the survivor's profile (read from the case database by the render
activity), the case metadata (:class:`CaseMeta`) and the workflow's ``facts`` (JSON-mode dumps of
the contract models) and returns a dict of plain, already formatted values: strings, numbers,
booleans, lists and dicts. Templates only lay values out; they never format or decide.

Data minimisation is applied here, per document type: a value that is not in the context cannot
leak into a document. Medical notes reach only the travel letter and the itinerary, and only
when the survivor consented to sharing them; the shelter, phone number, recruitment story and
compound appear only in the intake record and the internal identity report; the funding request
and memo name no one.

Facts that are absent (or ``None``, or an empty string) render as an em dash. A fact that is
present but cannot be parsed into its contract model raises :class:`FactError`: printing a dash
for a booking that exists would be a silent error on an official document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import pycountry
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from contracts.messages import DocType
from contracts.state import (
    Booking,
    CheckOutcome,
    CostEstimate,
    EtdRecord,
    FundingCommitment,
    IdentityReport,
    Outcome,
)
from contracts.survivor import Sex, SurvivorProfile, country_name
from repatriation.settings import get_settings

DASH = "—"
ADULT_AGE = 18
CATALOGUE_PATH = Path(__file__).parent / "catalogues" / "consent.json"
REFERENCE_LANGUAGE = "en"

DOC_TITLES: dict[DocType, str] = {
    DocType.intake_consent: "Intake record and informed consent",
    DocType.identity_report: "Identity verification report",
    DocType.nationality_request: "Request for verification of nationality",
    DocType.etd_application: "Application for an emergency travel document",
    DocType.funding_request: "Request for repatriation funding",
    DocType.funding_memo: "Funding approval memorandum",
    DocType.exit_clearance: "Request for exit clearance and waiver of overstay fine",
    DocType.itinerary: "Travel itinerary",
    DocType.travel_letter: "Travel assistance letter",
    DocType.closure_report: "Case closure report",
    DocType.embassy_daily_list: "Consolidated nationality verification list",
    DocType.embassy_request: "Request for verification of nationality and emergency travel documents",
}

OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.repatriated: "Repatriated",
    Outcome.not_repatriable: "Not repatriable",
    Outcome.identity_not_established: "Identity could not be established",
    Outcome.duplicate_merged: "Duplicate case, merged into another case",
    Outcome.withdrawn: "Consent withdrawn by the survivor",
    Outcome.cancelled: "Cancelled by a supervisor",
}

CHECK_LABELS: dict[CheckOutcome, str] = {
    CheckOutcome.passed: "Passed",
    CheckOutcome.failed: "Failed",
    CheckOutcome.warning: "Warning",
    CheckOutcome.not_applicable: "Not applicable",
}

SEX_LABELS: dict[Sex, str] = {
    Sex.female: "Female",
    Sex.male: "Male",
    Sex.unspecified: "Unspecified (X)",
}

# Consent purposes in the order the form lists them: (Consent attribute, catalogue key, optional).
CONSENT_PURPOSES: tuple[tuple[str, str, bool], ...] = (
    ("repatriation", "consent_repatriation", False),
    ("disclosure_to_embassy", "consent_disclosure_to_embassy", False),
    ("data_processing", "consent_data_processing", False),
    ("share_medical_with_authorities", "consent_share_medical", True),
)

# Language codes that pycountry cannot map to a two-letter code the catalogue uses.
_LANGUAGE_ALIASES = {"fil": "tl", "zho": "zh", "chi": "zh", "bur": "my", "mya": "my"}
# BCP 47 tags for the lang attribute, so the right glyph variants and shaping are chosen.
_LANG_TAGS = {"zh": "zh-Hans"}

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

_M = TypeVar("_M", bound=BaseModel)
_BOOL = TypeAdapter(bool)
_INT = TypeAdapter(int)
_DECIMAL = TypeAdapter(Decimal)
_DATETIME = TypeAdapter(datetime)


class CaseMeta(BaseModel):
    """What every document of a case prints in its header, besides the title."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    case_id: str = Field(min_length=1)
    reference: str = Field(min_length=1, max_length=40, description="e.g. RP-2026-0001A")
    organisation: str = Field(min_length=1, max_length=200, description="The issuer.")
    issued_on: date
    verification_code: str = Field(min_length=1, max_length=64)
    version: int = Field(1, ge=1)
    verify_url: str = Field(
        min_length=1,
        max_length=300,
        description="Where the code is checked, printed as a QR code on every page: see verify_url().",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_verify_url(cls, data: Any) -> Any:
        # Callers should pass verify_url (built from Settings.public_url); without it the link is
        # built from the process settings, so a document never goes out without its QR code.
        if isinstance(data, Mapping) and not data.get("verify_url") and data.get("verification_code"):
            code = str(data["verification_code"]).strip()
            data = {**data, "verify_url": verify_url(get_settings().public_url, code)}
        return data

    @model_validator(mode="after")
    def _link_names_this_code(self) -> CaseMeta:
        parts = urlsplit(self.verify_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("verify_url must be an absolute http(s) URL")
        if not parts.path.endswith("/" + quote(self.verification_code, safe="")):
            raise ValueError("verify_url must end with the document's verification code")
        return self


def verify_url(public_url: str, code: str) -> str:
    """``{public_url}/verify/{code}``: the link a document's QR code carries."""
    return f"{public_url.strip().rstrip('/')}/verify/{quote(code.strip(), safe='')}"


class FactError(ValueError):
    """A fact is present but is not what its key promises."""

    def __init__(self, key: str, expected: str, detail: str) -> None:
        super().__init__(f"facts[{key!r}] is not a valid {expected}: {detail}")
        self.key = key


# --------------------------------------------------------------------------- formatting


def format_date(value: date | None) -> str:
    """``3 March 2026``: unambiguous in every reader's convention."""
    if value is None:
        return DASH
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return DASH
    text = f"{format_date(value.date())}, {value:%H:%M}"
    offset = value.utcoffset()
    if offset is not None:
        minutes = int(offset.total_seconds()) // 60
        if minutes == 0:
            return f"{text} UTC"
        sign = "+" if minutes > 0 else "-"
        hours, rest = divmod(abs(minutes), 60)
        text += f" (UTC{sign}{hours:02d}:{rest:02d})"
    return text


def format_money(amount: Decimal | None, currency: str | None) -> str:
    if amount is None:
        return DASH
    return f"{(currency or '').upper()} {amount:,.2f}".strip()


def yes_no(value: bool | None) -> str:
    if value is None:
        return DASH
    return "Yes" if value else "No"


def text_or_dash(value: Any) -> str:
    if value is None:
        return DASH
    text = str(value).strip()
    return text or DASH


def _humanise(name: str) -> str:
    words = name.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else DASH


# --------------------------------------------------------------------------- facts


class _Facts:
    """Typed, lenient-on-absence and strict-on-garbage access to the workflow's facts."""

    def __init__(self, raw: Mapping[str, Any] | None) -> None:
        self._raw = dict(raw or {})

    def _get(self, key: str) -> Any:
        value = self._raw.get(key)
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def model(self, key: str, model: type[_M]) -> _M | None:
        value = self._get(key)
        if value is None:
            return None
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            raise FactError(key, model.__name__, _first_error(exc)) from None

    def _adapt(self, key: str, adapter: TypeAdapter[Any], expected: str) -> Any:
        value = self._get(key)
        if value is None:
            return None
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            raise FactError(key, expected, _first_error(exc)) from None

    def boolean(self, key: str) -> bool | None:
        return self._adapt(key, _BOOL, "boolean")

    def integer(self, key: str) -> int | None:
        return self._adapt(key, _INT, "integer")

    def decimal(self, key: str) -> Decimal | None:
        return self._adapt(key, _DECIMAL, "amount")

    def datetime(self, key: str) -> datetime | None:
        return self._adapt(key, _DATETIME, "date and time")

    def text(self, key: str) -> str:
        return text_or_dash(self._get(key))

    def outcome(self) -> Outcome | None:
        value = self._get("outcome")
        if value is None:
            return None
        try:
            return Outcome(value)
        except ValueError:
            choices = ", ".join(o.value for o in Outcome)
            raise FactError("outcome", f"Outcome (one of {choices})", repr(value)) from None

    def raw(self, key: str) -> Any:
        return self._get(key)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "value"
    return f"{where}: {err.get('msg', 'invalid')}"


# --------------------------------------------------------------------------- catalogue


@lru_cache(maxsize=1)
def load_catalogue() -> dict[str, Any]:
    """The consent form's strings; ``languages[code]`` has ``review_status`` and ``strings``."""
    return json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))


def normalise_language(code: str) -> str:
    """Map ISO 639-1/-2/-3 codes to the two-letter code the catalogue uses where one exists."""
    code = code.strip().lower()
    if code in _LANGUAGE_ALIASES:
        return _LANGUAGE_ALIASES[code]
    if len(code) == 2:
        return code
    language = pycountry.languages.get(alpha_3=code)
    if language is None:
        try:
            language = pycountry.languages.get(bibliographic=code)
        except (KeyError, LookupError):
            language = None
    alpha_2 = getattr(language, "alpha_2", None) if language is not None else None
    return alpha_2 or code


def language_name(code: str) -> str:
    code = normalise_language(code)
    entry = load_catalogue()["languages"].get(code)
    if entry is not None:
        return entry["name"]
    language = pycountry.languages.get(alpha_2=code) if len(code) == 2 else None
    if language is None and len(code) == 3:
        language = pycountry.languages.get(alpha_3=code)
    return language.name if language is not None else code


def lang_tag(code: str) -> str:
    code = normalise_language(code)
    return _LANG_TAGS.get(code, code)


# --------------------------------------------------------------------------- building blocks


def _survivor(profile: SurvivorProfile, case: CaseMeta) -> dict[str, Any]:
    age = profile.age_on(case.issued_on)
    guardian = profile.guardian
    return {
        "full_name": profile.full_name,
        "given_names": profile.given_names,
        "family_name": text_or_dash(profile.family_name),
        "native_name": text_or_dash(profile.native_name),
        "has_native_name": bool(profile.native_name),
        "name_lang": lang_tag(profile.language),
        "date_of_birth": format_date(profile.date_of_birth),
        "age": age,
        "is_minor": age < ADULT_AGE,
        "sex": SEX_LABELS[profile.sex],
        "nationality_code": profile.nationality,
        "nationality": country_name(profile.nationality),
        "languages": ", ".join(language_name(code) for code in profile.languages),
        "first_language": language_name(profile.language),
        "guardian": (
            {
                "name": guardian.name,
                "relationship": guardian.relationship,
                "organisation": text_or_dash(guardian.organisation),
            }
            if guardian is not None
            else None
        ),
    }


def _identity_rows(profile: SurvivorProfile, case: CaseMeta) -> list[tuple[str, str]]:
    s = _survivor(profile, case)
    return [
        ("Family name", s["family_name"]),
        ("Given names", s["given_names"]),
        ("Name in native script", s["native_name"]),
        ("Date of birth", f"{s['date_of_birth']} (age {s['age']})"),
        ("Sex", s["sex"]),
        ("Nationality (claimed)", f"{s['nationality']} ({s['nationality_code']})"),
        ("Languages", s["languages"]),
    ]


def _evidence_rows(profile: SurvivorProfile) -> list[tuple[str, str]]:
    ev = profile.evidence
    return [
        ("Passport number", text_or_dash(ev.passport_number)),
        ("Passport valid until", format_date(ev.passport_expiry)),
        ("Original passport in hand", yes_no(ev.passport_held)),
        ("Copy of passport", yes_no(ev.passport_copy)),
        ("National identity number", text_or_dash(ev.national_id_number)),
        ("Birth certificate", yes_no(ev.birth_certificate)),
        ("Contact with family established", yes_no(ev.family_contact)),
        ("Caseworker interview completed", yes_no(ev.interview_done)),
    ]


def _mrz_lines(profile: SurvivorProfile) -> list[str]:
    mrz = profile.evidence.passport_mrz
    return [line.strip() for line in mrz.splitlines() if line.strip()] if mrz else []


def _stay_rows(profile: SurvivorProfile) -> list[tuple[str, str]]:
    return [
        ("Entered Cambodia on", format_date(profile.entered_host_country_on)),
        ("Visa valid until", format_date(profile.visa_valid_until)),
    ]


def _travel_document(profile: SurvivorProfile, etd: EtdRecord | None) -> str:
    if etd is not None:
        return (
            f"Emergency travel document No. {etd.document_number}, valid until {format_date(etd.expires_on)}"
        )
    ev = profile.evidence
    if ev.passport_held and ev.passport_number:
        return f"Passport No. {ev.passport_number}, valid until {format_date(ev.passport_expiry)}"
    return DASH


def _flight(booking: Booking | None) -> dict[str, Any]:
    if booking is None:
        keys = (
            "booking_ref", "ticket_number", "status", "carrier", "flight_number", "origin",
            "destination", "departs_at", "arrives_at", "fare", "route",
        )  # fmt: skip
        return {"known": False, **{key: DASH for key in keys}}
    option = booking.option
    return {
        "known": True,
        "booking_ref": booking.booking_ref,
        "ticket_number": booking.ticket_number,
        "status": _humanise(booking.status),
        "carrier": option.carrier,
        "flight_number": option.flight_number,
        "origin": option.origin,
        "destination": option.destination,
        "route": f"{option.origin} → {option.destination}",
        "departs_at": format_datetime(option.departs_at),
        "arrives_at": format_datetime(option.arrives_at),
        "fare": format_money(option.fare, option.currency),
    }


def _medical(profile: SurvivorProfile) -> dict[str, Any] | None:
    """Medical notes, or None when the survivor did not consent to sharing them."""
    if not profile.consent.share_medical_with_authorities:
        return None
    v = profile.vulnerabilities
    rows: list[tuple[str, str]] = []
    if v.pregnant_weeks:
        rows.append(("Pregnancy", f"{v.pregnant_weeks} weeks (as recorded at assessment)"))
    if v.medical_needs and v.medical_needs.strip():
        rows.append(("Medical needs", v.medical_needs.strip()))
    if v.disability and v.disability.strip():
        rows.append(("Disability or mobility", v.disability.strip()))
    return {"rows": rows}


def _estimate(estimate: CostEstimate | None) -> dict[str, Any]:
    if estimate is None:
        return {"known": False, "lines": [], "total": DASH, "currency": DASH, "overstay_days": DASH}
    return {
        "known": True,
        "currency": estimate.currency,
        "lines": [
            {
                "item": _humanise(line.item),
                "note": text_or_dash(line.note),
                "amount": format_money(line.amount, estimate.currency),
            }
            for line in estimate.lines
        ],
        "total": format_money(estimate.total, estimate.currency),
        "overstay_days": str(estimate.overstay_days),
    }


def _funding(funding: FundingCommitment | None) -> dict[str, Any]:
    if funding is None:
        keys = ("commitment_id", "source_id", "source_name", "amount", "status")
        return {"known": False, **{key: DASH for key in keys}}
    return {
        "known": True,
        "commitment_id": funding.commitment_id,
        "source_id": funding.source_id,
        "source_name": funding.source_name,
        "amount": format_money(funding.amount, funding.currency),
        "status": _humanise(funding.status),
    }


def _embassy(profile: SurvivorProfile) -> str:
    country = pycountry.countries.get(alpha_3=profile.nationality)
    official = getattr(country, "official_name", None) if country is not None else None
    if official:
        return f"Embassy of the {official}"
    return f"Embassy of {country_name(profile.nationality)}"


def _overstay_fine(facts: _Facts, estimate: CostEstimate | None) -> str:
    raw = facts.raw("overstay_fine")
    currency = estimate.currency if estimate is not None else "USD"
    if isinstance(raw, Mapping):
        try:
            amount = _DECIMAL.validate_python(raw.get("amount"))
        except ValidationError as exc:
            raise FactError("overstay_fine", "amount", _first_error(exc)) from None
        return format_money(amount, str(raw.get("currency") or currency))
    amount = facts.decimal("overstay_fine")
    if amount is not None:
        return format_money(amount, currency)
    if estimate is not None:
        for line in estimate.lines:
            if "overstay" in line.item.lower():
                return format_money(line.amount, estimate.currency)
    return DASH


def _overstay_days(facts: _Facts, estimate: CostEstimate | None) -> str:
    days = facts.integer("overstay_days")
    if days is None and estimate is not None:
        days = estimate.overstay_days
    return DASH if days is None else str(days)


# --------------------------------------------------------------------------- per document


def _intake_consent(profile: SurvivorProfile, case: CaseMeta, facts: _Facts) -> dict[str, Any]:
    catalogue = load_catalogue()["languages"]
    reference = catalogue[REFERENCE_LANGUAGE]
    code = normalise_language(profile.language)
    translation = catalogue.get(code) if code != REFERENCE_LANGUAGE else None
    survivor = _survivor(profile, case)
    statements = []
    for attribute, key, optional in CONSENT_PURPOSES:
        statements.append(
            {
                "purpose": attribute,
                "reference": reference["strings"][key],
                "translated": translation["strings"][key] if translation else None,
                "given": bool(getattr(profile.consent, attribute)),
                "optional": optional,
            }
        )

    def pair(key: str) -> dict[str, str | None]:
        return {
            "reference": reference["strings"][key],
            "translated": translation["strings"][key] if translation else None,
        }

    labels = {
        key: pair(key)
        for key in (
            "title", "intro", "withdrawal", "agree", "disagree", "signature_survivor",
            "signature_guardian", "signature_caseworker", "signature_interpreter", "date",
        )
    }  # fmt: skip
    return {
        "record_rows": [
            *_identity_rows(profile, case),
            ("Current shelter", text_or_dash(profile.shelter)),
            ("Phone", text_or_dash(profile.phone)),
            ("Guardian or representative", _guardian_line(survivor)),
        ],
        "consent_form": {
            "bilingual": translation is not None,
            "translated_lang": lang_tag(code) if translation else None,
            "translated_language": translation["name"] if translation else None,
            "translated_language_native": translation["native_name"] if translation else None,
            "review_status": translation["review_status"] if translation else None,
            "requested_language": language_name(profile.language),
            "fallback": translation is None and code != REFERENCE_LANGUAGE,
            "statements": statements,
            "labels": labels,
            "guardian_required": survivor["is_minor"],
        },
    }


def _guardian_line(survivor: dict[str, Any]) -> str:
    guardian = survivor["guardian"]
    if guardian is None:
        return DASH
    line = f"{guardian['name']} ({guardian['relationship']})"
    if guardian["organisation"] != DASH:
        line += f", {guardian['organisation']}"
    return line


def _identity_report(profile: SurvivorProfile, case: CaseMeta, facts: _Facts) -> dict[str, Any]:
    report = facts.model("identity", IdentityReport)
    verified = facts.boolean("identity_verified")
    checks = [
        {
            "name": _humanise(check.name),
            "outcome": CHECK_LABELS.get(check.outcome, str(check.outcome)),
            "outcome_class": check.outcome.value,
            "detail": text_or_dash(check.detail),
        }
        for check in (report.checks if report else [])
    ]
    duplicates = [
        {
            "reference": dup.reference,
            "score": f"{dup.score:.0%}",
            "reason": text_or_dash(dup.reason),
        }
        for dup in (report.duplicates if report else [])
    ]
    summary = DASH
    if report is not None:
        failed = len(report.failed)
        summary = f"{len(report.checks)} checks, {failed} failed, {len(duplicates)} possible duplicates"
    return {
        "identity_rows": _identity_rows(profile, case),
        "evidence_rows": _evidence_rows(profile),
        "mrz_lines": _mrz_lines(profile),
        "background_rows": [
            ("Current shelter", text_or_dash(profile.shelter)),
            ("Compound (released from)", text_or_dash(profile.compound)),
            ("How recruited", text_or_dash(profile.recruitment)),
            *_stay_rows(profile),
        ],
        "checks_known": report is not None,
        "checks": checks,
        "duplicates": duplicates,
        "summary": summary,
        "verification_rows": [
            ("Identity verified", {True: "Verified", False: "Not verified"}.get(verified, DASH)),
            ("Attested by", facts.text("attested_by")),
        ],
    }


def _embassy_request(profile: SurvivorProfile, case: CaseMeta, facts: _Facts) -> dict[str, Any]:
    survivor = _survivor(profile, case)
    return {
        "addressee": _embassy(profile),
        "identity_rows": _identity_rows(profile, case),
        "evidence_rows": _evidence_rows(profile),
        "mrz_lines": _mrz_lines(profile),
        "stay_rows": _stay_rows(profile),
        "disclosure_consented": profile.consent.disclosure_to_embassy,
        "guardian_line": _guardian_line(survivor) if survivor["is_minor"] else None,
        "identity_verified": yes_no(facts.boolean("identity_verified")),
        "attested_by": facts.text("attested_by"),
        "flight": _flight(facts.model("booking", Booking)),
        "escort_required": yes_no(facts.boolean("escort_required")),
    }


def _funding_request(profile: SurvivorProfile, case: CaseMeta, facts: _Facts) -> dict[str, Any]:
    survivor = _survivor(profile, case)
    return {
        "profile_rows": [
            ("Case reference", case.reference),
            ("Nationality", survivor["nationality"]),
            ("Sex", survivor["sex"]),
            ("Age", f"{survivor['age']}" + (" (minor)" if survivor["is_minor"] else "")),
            ("Escort required", yes_no(facts.boolean("escort_required"))),
        ],
        "estimate": _estimate(facts.model("estimate", CostEstimate)),
    }


def _funding_memo(profile: SurvivorProfile, case: CaseMeta, facts: _Facts) -> dict[str, Any]:
    estimate = facts.model("estimate", CostEstimate)
    funding = facts.model("funding", FundingCommitment)
    coverage = DASH
    if estimate is not None and funding is not None:
        if funding.currency.upper() == estimate.currency.upper():
            gap = funding.amount - estimate.total
            if gap >= 0:
                coverage = f"Fully covered (margin {format_money(gap, funding.currency)})"
            else:
                coverage = f"Shortfall of {format_money(-gap, funding.currency)}"
        else:
            coverage = "Not compared: the commitment and the estimate use different currencies"
    return {
        "estimate": _estimate(estimate),
        "funding": _funding(funding),
        "coverage": coverage,
        "approved_by": facts.text("approved_by"),
        "nationality": country_name(profile.nationality),
    }


def _exit_clearance(profile: SurvivorProfile, case: CaseMeta, facts: _Facts) -> dict[str, Any]:
    estimate = facts.model("estimate", CostEstimate)
    return {
        "identity_rows": [
            *_identity_rows(profile, case)[:5],
            ("Nationality", country_name(profile.nationality)),
            ("Travel document", _travel_document(profile, facts.model("etd", EtdRecord))),
        ],
        "stay_rows": _stay_rows(profile),
        "overstay_days": _overstay_days(facts, estimate),
        "overstay_fine": _overstay_fine(facts, estimate),
        "waiver_requested": True,
        "flight": _flight(facts.model("booking", Booking)),
    }


def _travel(profile: SurvivorProfile, case: CaseMeta, facts: _Facts) -> dict[str, Any]:
    survivor = _survivor(profile, case)
    return {
        "passenger_rows": [
            ("Passenger", survivor["full_name"]),
            ("Date of birth", survivor["date_of_birth"]),
            ("Nationality", survivor["nationality"]),
            ("Travel document", _travel_document(profile, facts.model("etd", EtdRecord))),
        ],
        "flight": _flight(facts.model("booking", Booking)),
        "escort_required": yes_no(facts.boolean("escort_required")),
        "reception_organisation": facts.text("reception_organisation"),
        "guardian_line": _guardian_line(survivor) if survivor["is_minor"] else None,
        "medical": _medical(profile),
        "languages": survivor["languages"],
    }


def _closure_report(profile: SurvivorProfile, case: CaseMeta, facts: _Facts) -> dict[str, Any]:
    outcome = facts.outcome()
    booking = facts.model("booking", Booking)
    arrived_at = facts.datetime("arrived_at")
    reception = facts.text("reception_organisation")
    handover = DASH
    if outcome == Outcome.repatriated and reception != DASH:
        where = f" at {booking.option.destination}" if booking else ""
        when = f" on {format_datetime(arrived_at)}" if arrived_at else ""
        handover = f"Handed over to {reception}{where}{when}."
    elif outcome is not None and outcome != Outcome.repatriated:
        handover = "No handover: the survivor did not travel under this case."
    return {
        "outcome": OUTCOME_LABELS[outcome] if outcome else DASH,
        "outcome_code": outcome.value if outcome else None,
        "outcome_reason": facts.text("outcome_reason"),
        "identity_rows": [
            *_identity_rows(profile, case)[:5],
            ("Nationality", country_name(profile.nationality)),
        ],
        "timeline_rows": [
            ("Departed", format_datetime(facts.datetime("departed_at"))),
            ("Arrived", format_datetime(arrived_at)),
            ("Reception organisation", reception),
        ],
        "handover": handover,
        "flight": _flight(booking),
        "travel_document": _travel_document(profile, facts.model("etd", EtdRecord)),
        "funding": _funding(facts.model("funding", FundingCommitment)),
    }


_BUILDERS = {
    DocType.intake_consent: _intake_consent,
    DocType.identity_report: _identity_report,
    DocType.nationality_request: _embassy_request,
    DocType.etd_application: _embassy_request,
    DocType.funding_request: _funding_request,
    DocType.funding_memo: _funding_memo,
    DocType.exit_clearance: _exit_clearance,
    DocType.itinerary: _travel,
    DocType.travel_letter: _travel,
    DocType.closure_report: _closure_report,
}


# Documents for funders: they identify the case by its reference, never by name.
_PSEUDONYMOUS = frozenset({DocType.funding_request, DocType.funding_memo})
_PSEUDONYMOUS_FIELDS = ("nationality", "nationality_code", "sex", "age", "is_minor")


def build_context(
    doc_type: DocType,
    profile: SurvivorProfile,
    case: CaseMeta,
    facts: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The template context of ``doc_type`` for this survivor and case.

    ``facts`` holds the workflow's knowledge as JSON-mode dumps (see the module docstring).
    Raises :class:`FactError` when a present fact cannot be parsed.
    """
    doc_type = DocType(doc_type)
    title = DOC_TITLES[doc_type]
    survivor = _survivor(profile, case)
    context: dict[str, Any] = {
        "doc_type": doc_type.value,
        "title": title,
        "pdf_title": f"{title} {case.reference}",
        "dash": DASH,
        "case": {
            "case_id": case.case_id,
            "reference": case.reference,
            "organisation": case.organisation,
            "issued_on": format_date(case.issued_on),
            "issued_on_iso": case.issued_on.isoformat(),
            "verification_code": case.verification_code,
            "verify_url": case.verify_url,
            "version": case.version,
        },
        # Set by documents.sample: a specimen carries a watermark and is valid for nothing.
        "specimen": False,
        "survivor": survivor,
    }
    if doc_type in _PSEUDONYMOUS:
        context["survivor"] = {key: survivor[key] for key in _PSEUDONYMOUS_FIELDS}
    context.update(_BUILDERS[doc_type](profile, case, _Facts(facts)))
    return context
