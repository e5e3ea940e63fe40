"""The consolidated list: one document per embassy per day naming every survivor awaiting that
embassy's decisions, so that a mass release does not mean hundreds of single letters."""

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


def list_reference(nationality: str, day: date) -> str:
    return f"LIST-{nationality}-{day:%Y%m%d}"


def list_context(
    nationality: str,
    day: date,
    entries: list[ListEntry],
    organisation: str,
    verification_code: str,
    verify_url: str,
    version: int,
) -> dict[str, Any]:
    title = DOC_TITLES[DocType.embassy_daily_list]
    reference = list_reference(nationality, day)
    rows = []
    for number, entry in enumerate(entries, start=1):
        p = entry.profile
        rows.append(
            {
                "number": number,
                "reference": entry.reference,
                "family_name": text_or_dash(p.family_name),
                "given_names": p.given_names,
                "native_name": text_or_dash(p.native_name),
                "name_lang": lang_tag(p.language),
                "date_of_birth": format_date(p.date_of_birth),
                "sex": SEX_LABELS[p.sex],
                "evidence": _evidence(p),
                "minor": yes_no(p.age_on(day) < 18),
                "waiting_since": format_date(entry.waiting_since.date()),
                "days_waiting": (day - entry.waiting_since.date()).days,
                "awaiting": ", ".join(
                    {"nationality": "nationality", "etd": "travel document"}.get(a, a) for a in entry.awaiting
                ),
            }
        )
    return {
        "doc_type": DocType.embassy_daily_list.value,
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
