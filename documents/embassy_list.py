"""The embassy's consolidated documents, each naming many survivors: the *request* (one per batch
of cases ready for the embassy, with their ETD applications attached) and the *daily list* (one
per embassy per day, every survivor still awaiting its decisions). A mass release means a few of
these, not hundreds of single letters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from contracts.messages import DocType
from contracts.survivor import SurvivorProfile, country_name
from documents.context import DOC_TITLES, SEX_LABELS, format_date, lang_tag, text_or_dash, yes_no


@dataclass(frozen=True)
class ListEntry:
    reference: str
    profile: SurvivorProfile
    waiting_since: datetime
    awaiting: list[str]
    case_id: str = ""


def _evidence(profile: SurvivorProfile) -> str:
    ev = profile.evidence
    held = [
        ("passport " + ev.passport_number) if ev.passport_number else None,
        "passport copy" if ev.passport_copy else None,
        ("national ID " + ev.national_id_number) if ev.national_id_number else None,
        "birth certificate" if ev.birth_certificate else None,
        "family contact" if ev.family_contact else None,
        "interview" if ev.interview_done else None,
    ]
    return ", ".join(h for h in held if h) or "none"


@dataclass(frozen=True)
class RequestEntry:
    reference: str
    profile: SurvivorProfile
    application_code: str  # the verification code of the ETD application attached


def list_reference(nationality: str, day: date) -> str:
    return f"LIST-{nationality}-{day:%Y%m%d}"


def survivor_row(number: int, reference: str, p: SurvivorProfile, day: date) -> dict[str, Any]:
    """The columns both documents print for one survivor: who they are and what proves it."""
    return {
        "number": number,
        "reference": reference,
        "family_name": text_or_dash(p.family_name),
        "given_names": p.given_names,
        "native_name": text_or_dash(p.native_name),
        "name_lang": lang_tag(p.language),
        "date_of_birth": format_date(p.date_of_birth),
        "sex": SEX_LABELS[p.sex],
        "evidence": _evidence(p),
        "minor": yes_no(p.age_on(day) < 18),
    }


def _consolidated(
    doc_type: DocType,
    reference: str,
    nationality: str,
    day: date,
    organisation: str,
    verification_code: str,
    verify_url: str,
    version: int,
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    title = DOC_TITLES[doc_type]
    return {
        "doc_type": doc_type.value,
        "title": title,
        "pdf_title": f"{title} {reference}",
        "dash": "—",
        "specimen": False,
        "case": {
            "case_id": "",
            "reference": reference,
            "organisation": organisation,
            "issued_on": format_date(day),
            "issued_on_iso": day.isoformat(),
            "verification_code": verification_code,
            "verify_url": verify_url,
            "version": version,
        },
        "embassy": f"Embassy of {country_name(nationality)}",
        "country": country_name(nationality),
        "rows": rows,
        "count": len(rows),
    }


def list_context(
    nationality: str,
    day: date,
    entries: list[ListEntry],
    organisation: str,
    verification_code: str,
    verify_url: str,
    version: int,
) -> dict[str, Any]:
    rows = []
    for number, entry in enumerate(entries, start=1):
        row = survivor_row(number, entry.reference, entry.profile, day)
        row["waiting_since"] = format_date(entry.waiting_since.date())
        row["days_waiting"] = (day - entry.waiting_since.date()).days
        row["awaiting"] = ", ".join(
            {"nationality": "nationality", "etd": "travel document"}.get(a, a) for a in entry.awaiting
        )
        rows.append(row)
    reference = list_reference(nationality, day)
    return _consolidated(
        DocType.embassy_daily_list,
        reference,
        nationality,
        day,
        organisation,
        verification_code,
        verify_url,
        version,
        rows,
    )


def request_context(
    reference: str,
    nationality: str,
    day: date,
    entries: list[RequestEntry],
    organisation: str,
    verification_code: str,
    verify_url: str,
    version: int = 1,
) -> dict[str, Any]:
    """The consolidated request: verify these survivors' nationality, issue their ETDs."""
    rows = []
    for number, entry in enumerate(entries, start=1):
        row = survivor_row(number, entry.reference, entry.profile, day)
        row["application_code"] = entry.application_code
        rows.append(row)
    return _consolidated(
        DocType.embassy_request,
        reference,
        nationality,
        day,
        organisation,
        verification_code,
        verify_url,
        version,
        rows,
    )
