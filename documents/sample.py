"""Specimens of every case document, made from a synthetic survivor: no database, no Temporal.

:func:`render_samples` walks one invented survivor (:mod:`repatriation.synthetic`) through a
plausible case and renders each document type with the facts the workflow would hold at that
point (the identity checks of :mod:`checks.identity`, the estimate of :mod:`activities.funding`, a
flight of the simulated provider's timetable, an ETD, a funding commitment, the outcome). Each
PDF is written as ``<doc_type>.pdf`` with a PNG of its first page beside it (``pdftoppm``, from
poppler-utils).

Specimens carry a watermark and a notice that they are valid for nothing. Their verification
codes are computed as for real documents but stored nowhere, so ``/verify`` does not know them.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from activities.funding import estimate as estimate_costs
from booking.provider import DESTINATION_AIRPORT, ORIGIN
from booking.simulated import ROUTES, TICKET_PREFIX, flight_numbers, option_from_id, option_id
from checks.identity import run_identity_checks
from contracts.messages import MULTI_CASE_DOC_TYPES, DocType
from contracts.state import Booking, CostEstimate, EtdRecord, FundingCommitment
from contracts.survivor import SurvivorProfile, country_name
from documents.context import CaseMeta, build_context, normalise_language, verify_url
from documents.renderer import Renderer, get_renderer
from documents.store import input_hash, verification_code
from repatriation.settings import Settings, get_settings
from repatriation.synthetic import survivors

DEFAULT_NATIONALITY = "VNM"
PNG_RESOLUTION = 70
CASE_ID = "sample-case"
CASEWORKER = "Sophea Chan (caseworker, sample)"
SUPERVISOR = "Dara Kim (supervisor, sample)"

# Days after the case opened on which each document is issued, in the workflow's order.
ISSUE_DAY: dict[DocType, int] = {
    DocType.intake_consent: 0,
    DocType.identity_report: 3,
    DocType.etd_application: 4,
    DocType.nationality_request: 4,
    DocType.funding_request: 4,
    DocType.funding_memo: 7,
    DocType.exit_clearance: 22,
    DocType.itinerary: 24,
    DocType.travel_letter: 24,
    DocType.closure_report: 31,
}
FLIGHT_DAY = 29
CASE_AGE_DAYS = 35  # the case opened this many days before today, so it is closed by now


def choose_survivor(language: str | None, today: date) -> SurvivorProfile:
    """The synthetic survivor whose first language is ``language``; else the Vietnamese one.

    A language no synthetic survivor speaks gives the Vietnamese survivor speaking only that
    language (the consent form then falls back to English when the catalogue lacks it).
    """
    group = survivors(today)
    fallback = next(s for s in group if s["nationality"] == DEFAULT_NATIONALITY)
    if language is None:
        return SurvivorProfile.model_validate(fallback)
    wanted = normalise_language(language)
    for survivor in group:
        if normalise_language(survivor["languages"][0]) == wanted:
            return SurvivorProfile.model_validate(survivor)
    return SurvivorProfile.model_validate({**fallback, "languages": [language]})


def _digits(seed: str, count: int) -> str:
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return f"{number % 10**count:0{count}d}"


def _booking(profile: SurvivorProfile, day: date) -> Booking | None:
    destination = DESTINATION_AIRPORT.get(profile.nationality)
    route = ROUTES.get(destination or "")
    if destination is None or route is None:
        return None
    carrier = route.carriers[0]
    number = flight_numbers(carrier, destination)[0]
    option = option_from_id(option_id(ORIGIN, destination, day, carrier, number))
    prefix = TICKET_PREFIX.get(carrier, "999")
    seed = f"{profile.nationality}{day}"
    return Booking(
        booking_ref="S" + hashlib.sha256(seed.encode()).hexdigest()[:5].upper(),
        ticket_number=f"{prefix}-{_digits(seed, 10)}",
        option=option,
    )


def _funding(estimate: CostEstimate) -> FundingCommitment:
    # The supervisor commits the estimate rounded up to the next hundred.
    amount = (estimate.total / 100).quantize(Decimal(1), rounding=ROUND_CEILING) * 100
    return FundingCommitment(
        commitment_id=f"FC-{_digits(str(estimate.total), 5)}",
        source_id="sample-fund",
        source_name="Assisted Return Fund",
        amount=amount,
        currency=estimate.currency,
    )


def sample_facts(profile: SurvivorProfile, opened: date) -> dict[DocType, dict[str, Any]]:
    """The facts each document would be rendered with, as the workflow passes them."""
    identity = run_identity_checks(profile, opened + timedelta(days=ISSUE_DAY[DocType.identity_report]), [])
    estimate = estimate_costs(profile, opened + timedelta(days=ISSUE_DAY[DocType.funding_request]))
    funding = _funding(estimate)
    flight_day = opened + timedelta(days=FLIGHT_DAY)
    booking = _booking(profile, flight_day)
    evidence = profile.evidence
    holds_passport = bool(
        evidence.passport_held and evidence.passport_expiry and evidence.passport_expiry > flight_day
    )
    etd = (
        None
        if holds_passport
        else EtdRecord(
            document_number=f"ETD-{profile.nationality}-{_digits(profile.nationality, 6)}",
            expires_on=flight_day + timedelta(days=60),
        )
    )
    escort = any(line.item == "escort" for line in estimate.lines)
    reception = f"National reception centre, {country_name(profile.nationality)}"
    estimate_json = estimate.model_dump(mode="json")
    funding_json = funding.model_dump(mode="json")
    booking_json = booking.model_dump(mode="json") if booking else None
    travel = {
        "booking": booking_json,
        "etd": etd.model_dump(mode="json") if etd else None,
        "escort_required": escort,
    }
    departed_at: datetime | None = booking.option.departs_at if booking else None
    arrived_at: datetime | None = booking.option.arrives_at if booking else None
    return {
        DocType.intake_consent: {},
        DocType.identity_report: {
            "identity": identity.model_dump(mode="json"),
            "identity_verified": True,
            "attested_by": CASEWORKER,
        },
        DocType.etd_application: {},
        DocType.nationality_request: {},
        DocType.funding_request: {"estimate": estimate_json},
        DocType.funding_memo: {
            "estimate": estimate_json,
            "funding": funding_json,
            "approved_by": SUPERVISOR,
        },
        DocType.exit_clearance: {"estimate": estimate_json, "overstay_days": estimate.overstay_days},
        DocType.itinerary: travel,
        DocType.travel_letter: travel,
        DocType.closure_report: {
            "outcome": "repatriated",
            "outcome_reason": "Returned home as planned.",
            "reception_organisation": reception,
            "departed_at": departed_at.isoformat() if departed_at else None,
            "arrived_at": arrived_at.isoformat() if arrived_at else None,
            "funding": funding_json,
            "booking": booking_json,
            "escort_required": None,
        },
    }


def _three_survivors(profile: SurvivorProfile) -> list[SurvivorProfile]:
    """This survivor and two more of the same nationality, for the documents naming several."""
    return [
        profile,
        *(
            profile.model_copy(
                update={
                    "given_names": f"{profile.given_names} {suffix}",
                    "date_of_birth": profile.date_of_birth - timedelta(days=400 * n),
                }
            )
            for n, suffix in enumerate(("B", "C"), start=1)
        ),
    ]


def _sample_consolidated(
    doc_type: DocType, profile: SurvivorProfile, today: date, settings: Settings, renderer: Any
) -> bytes:
    """The embassy's daily list or consolidated request, naming three survivors."""
    from datetime import UTC, datetime

    from documents.embassy_list import ListEntry, RequestEntry, list_context, request_context

    code = verification_code(f"sample:{doc_type.value}", doc_type.value, 1, "sample")
    url = verify_url(settings.public_url, code)
    people = _three_survivors(profile)
    if doc_type == DocType.embassy_daily_list:
        since = datetime.combine(today - timedelta(days=3), datetime.min.time(), tzinfo=UTC)
        entries = [ListEntry(f"RP-SAMPLE{n}", p, since, ["nationality", "etd"]) for n, p in enumerate(people)]
        context = list_context(profile.nationality, today, entries, settings.organisation, code, url, 1)
    else:
        requests = [
            RequestEntry(f"RP-SAMPLE{n}", p, verification_code(f"sample-{n}", "etd_application", 1, "sample"))
            for n, p in enumerate(people)
        ]
        reference = f"REQ-{profile.nationality}-{today:%Y%m%d}-SAMPLE"
        context = request_context(
            reference, profile.nationality, today, requests, settings.organisation, code, url
        )
    context["specimen"] = True
    return renderer.render(doc_type, context).pdf


def render_samples(outdir: Path, language: str | None = None, settings: Settings | None = None) -> list[Path]:
    """Render a specimen of every document type into ``outdir``; return the PDFs and PNGs.

    ``language`` picks the survivor (see :func:`choose_survivor`) and so the language of the
    consent form. Issuer and verification links come from ``settings`` (default: the
    environment's).
    """
    settings = settings or get_settings()
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        raise RuntimeError("pdftoppm not found: install poppler-utils (./dev setup does)")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    today = date.today()
    opened = today - timedelta(days=CASE_AGE_DAYS)
    profile = choose_survivor(language, today)
    facts = sample_facts(profile, opened)
    reference = f"RP-SAMPLE-{profile.nationality}"
    # An organisation's own templates (REPATRIATION_TEMPLATES_DIR) previewed as they will print.
    renderer = Renderer(settings.templates_dir) if settings.templates_dir else get_renderer()
    paths: list[Path] = []
    converting: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for doc_type in DocType:
            if doc_type in MULTI_CASE_DOC_TYPES:
                pdf = outdir / f"{doc_type.value}.pdf"
                pdf.write_bytes(_sample_consolidated(doc_type, profile, today, settings, renderer))
                png = pdf.with_suffix(".png")
                command = [pdftoppm, "-png", "-r", str(PNG_RESOLUTION), "-f", "1", "-l", "1", "-singlefile"]
                process = subprocess.Popen(
                    [*command, str(pdf), str(png.with_suffix(""))], stderr=subprocess.PIPE
                )
                converting.append((process, png))
                paths += [pdf, png]
                continue
            issued_on = opened + timedelta(days=ISSUE_DAY[doc_type])
            digest = input_hash(
                {
                    "doc_type": doc_type.value,
                    "issued_on": issued_on.isoformat(),
                    "profile": profile.model_dump(mode="json"),
                    "facts": facts[doc_type],
                }
            )
            code = verification_code(CASE_ID, doc_type.value, 1, digest)
            meta = CaseMeta(
                case_id=CASE_ID,
                reference=reference,
                organisation=settings.organisation,
                issued_on=issued_on,
                verification_code=code,
                verify_url=verify_url(settings.public_url, code),
            )
            context = build_context(doc_type, profile, meta, facts[doc_type])
            context["specimen"] = True
            pdf = outdir / f"{doc_type.value}.pdf"
            pdf.write_bytes(renderer.render(doc_type, context).pdf)
            png = pdf.with_suffix(".png")
            # The page image is drawn while the next document renders.
            command = [pdftoppm, "-png", "-r", str(PNG_RESOLUTION), "-f", "1", "-l", "1", "-singlefile"]
            process = subprocess.Popen([*command, str(pdf), str(png.with_suffix(""))], stderr=subprocess.PIPE)
            converting.append((process, png))
            paths += [pdf, png]
    finally:
        failures = []
        for process, png in converting:
            _, stderr = process.communicate()
            if process.returncode != 0:
                failures.append(f"{png.name}: {stderr.decode(errors='replace').strip()}")
    if failures:
        raise RuntimeError("pdftoppm failed for " + "; ".join(failures))
    return paths
