"""Render every document type and read the PDFs back with poppler (pdftotext, pdfinfo).

Text extraction of complex scripts: WeasyPrint embeds a ToUnicode map, so pdftotext returns
Chinese and Vietnamese exactly. Burmese comes back with the right code points in the right order
but pdftotext inserts a space between syllable clusters, so Burmese is compared with whitespace
removed. Thai loses below-base vowels (the U+0E38 in "ศรีสุข" is dropped by the extraction,
though the glyph is drawn), so for Thai the test checks the part of the name without such a
vowel, and the full name in the HTML.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from contracts.messages import CASE_DOC_TYPES, DocType
from contracts.survivor import SurvivorProfile
from documents.context import (
    DASH,
    DOC_TITLES,
    CaseMeta,
    FactError,
    build_context,
    load_catalogue,
)
from documents.renderer import RenderedDocument, Renderer, get_renderer
from tests.documents.conftest import (
    PROFILES,
    REFERENCE,
    VERIFICATION_CODE,
    make_case,
    make_facts,
)

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None,
    reason="poppler-utils (pdftotext, pdfinfo) not installed",
)

REQUIRED_LANGUAGES = {"en", "zh", "vi", "id", "th", "km", "my", "lo", "tl", "hi"}
MACHINE_DRAFTED = "machine-drafted, not reviewed by a native speaker"
HOSTILE_GIVEN = "<b>x</b><script>alert(1)</script>"
HOSTILE_FAMILY = "</div><h1>Injected</h1>"


@dataclass
class Readback:
    doc: RenderedDocument
    text: str
    info: dict[str, str]
    xmp: str

    @property
    def flat(self) -> str:
        """The text with runs of whitespace collapsed, for phrases that wrap across lines."""
        return " ".join(self.text.split())

    @property
    def dense(self) -> str:
        """The text without any whitespace."""
        return "".join(self.text.split())


def _read_back(doc: RenderedDocument, path: Path) -> Readback:
    path.write_bytes(doc.pdf)
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    info_out = subprocess.run(
        ["pdfinfo", "-enc", "UTF-8", str(path)], capture_output=True, check=True, text=True
    ).stdout
    info = {}
    for line in info_out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    xmp = subprocess.run(["pdfinfo", "-meta", str(path)], capture_output=True, check=True, text=True).stdout
    return Readback(doc=doc, text=text, info=info, xmp=xmp)


@pytest.fixture(scope="session")
def produce(renderer: Renderer, tmp_path_factory: pytest.TempPathFactory):
    """Render (doc type, survivor) with the standard facts once per session; custom renders
    (a profile or facts of the test's own) are not cached."""
    cache: dict[tuple[DocType, str], Readback] = {}
    folder = tmp_path_factory.mktemp("pdf")
    counter = iter(range(10_000))

    def produce(
        doc_type: DocType,
        who: str,
        *,
        profile: SurvivorProfile | None = None,
        facts: dict[str, Any] | None = None,
        case: CaseMeta | None = None,
    ) -> Readback:
        custom = profile is not None or facts is not None or case is not None
        if not custom and (doc_type, who) in cache:
            return cache[(doc_type, who)]
        person = profile or PROFILES[who]()
        context = build_context(
            doc_type,
            person,
            case or make_case(),
            make_facts(person) if facts is None else facts,
        )
        doc = renderer.render(doc_type, context)
        result = _read_back(doc, folder / f"{doc_type.value}-{who}-{next(counter)}.pdf")
        if not custom:
            cache[(doc_type, who)] = result
        return result

    return produce


# Content each document must carry, checked in the pdftotext output (whitespace collapsed).
EXPECTED: dict[DocType, list[str]] = {
    DocType.intake_consent: [
        "Informed consent",
        "I can withdraw any of these consents at any time before my departure",
        "Signature or thumbprint of the survivor",
    ],
    DocType.identity_report: [
        "Stated age differs from the copy by one year",
        "RP-2026-0002B",
        "Sophea Chan (caseworker)",
        "Verified",
    ],
    DocType.nationality_request: [
        "Palermo",
        "article 8",
        "without undue or unreasonable delay",
        "Photograph",
        "Embassy of the",
    ],
    DocType.etd_application: [
        "Palermo",
        "emergency travel document",
        "Photograph",
        "QX7PLM",
    ],
    DocType.funding_request: ["USD 880.00", "USD 250.00", "Total requested"],
    DocType.funding_memo: [
        "FC-88231",
        "Assisted Return Fund",
        "USD 900.00",
        "Dara Kim (supervisor)",
        "Fully covered (margin USD 20.00)",
    ],
    DocType.exit_clearance: [
        "General Department of Immigration",
        "Days of overstay 25",
        "Overstay fine USD 250.00",
        "Waiver of the overstay fine requested",
    ],
    DocType.itinerary: ["QX7PLM", "738-2400012345", "20 March 2026, 10:15 (UTC+07:00)"],
    DocType.travel_letter: ["To whom it may concern", "QX7PLM"],
    DocType.closure_report: ["Repatriated", "Handed over to", "Returned home as planned."],
}

FLIGHT = {"vietnamese": "VN 920", "indonesian": "GA 847"}
ETD = {"vietnamese": "ETD-VNM-204417", "indonesian": "ETD-IDN-204417"}
NAMES = {"vietnamese": ("Thi Lan", "Nguyen", "Nguyễn"), "indonesian": ("Budi", "Santoso")}
NATIONALITIES = ["vietnamese", "indonesian"]


@pytest.mark.parametrize("who", NATIONALITIES)
@pytest.mark.parametrize("doc_type", CASE_DOC_TYPES, ids=lambda d: d.value)
def test_every_document_renders(produce, doc_type: DocType, who: str) -> None:
    result = produce(doc_type, who)
    assert result.doc.pdf.startswith(b"%PDF-")
    assert result.doc.title == f"{DOC_TITLES[doc_type]} {REFERENCE}"
    # The header repeats the reference and the verification code on every page.
    pages = int(result.info["Pages"])
    assert result.text.count(REFERENCE) >= pages
    assert result.text.count(VERIFICATION_CODE) >= pages
    assert "Phnom Penh Shelter Network" in result.text
    for expected in EXPECTED[doc_type]:
        assert expected in result.flat, f"{expected!r} missing from {doc_type.value}"
    if doc_type in (DocType.itinerary, DocType.travel_letter, DocType.exit_clearance):
        assert FLIGHT[who] in result.flat
    if doc_type in (DocType.itinerary, DocType.travel_letter, DocType.exit_clearance):
        assert ETD[who] in result.flat


@pytest.mark.parametrize("who", NATIONALITIES)
@pytest.mark.parametrize("doc_type", CASE_DOC_TYPES, ids=lambda d: d.value)
def test_metadata_names_the_document_not_the_survivor(produce, doc_type: DocType, who: str) -> None:
    result = produce(doc_type, who)
    assert result.info["Title"] == f"{DOC_TITLES[doc_type]} {REFERENCE}"
    assert result.info["Subject"] == doc_type.value
    assert result.info["Author"] == "Phnom Penh Shelter Network"
    metadata = " ".join(result.info.values()) + result.xmp
    for name in NAMES[who]:
        assert name not in metadata


@pytest.mark.parametrize("doc_type", CASE_DOC_TYPES, ids=lambda d: d.value)
def test_pdfa_3b_is_claimed(produce, doc_type: DocType) -> None:
    xmp = produce(doc_type, "indonesian").xmp
    assert "pdfaid" in xmp
    assert re.search(r'pdfaid:part(="|>)3', xmp)
    assert re.search(r'pdfaid:conformance(="|>)B', xmp)


@pytest.mark.parametrize("doc_type", [DocType.funding_request, DocType.funding_memo])
@pytest.mark.parametrize("who", NATIONALITIES)
def test_funding_documents_name_no_one(produce, doc_type: DocType, who: str) -> None:
    result = produce(doc_type, who)
    for name in NAMES[who]:
        assert name not in result.text
        assert name not in result.doc.html


@pytest.mark.parametrize(
    ("who", "native"),
    [("vietnamese", "Nguyễn Thị Lan"), ("chinese", "王小明"), ("burmese", "မောင်မောင်")],
)
def test_consent_form_prints_the_native_name(produce, who: str, native: str) -> None:
    result = produce(DocType.intake_consent, who)
    assert native in result.doc.html
    if who == "burmese":
        assert native in result.dense  # pdftotext adds a space between clusters
    else:
        assert native in result.text


def test_consent_form_is_bilingual_in_the_first_language(produce) -> None:
    strings = load_catalogue()["languages"]
    vi = produce(DocType.intake_consent, "vietnamese")
    for key in ("title", "consent_repatriation", "withdrawal", "signature_survivor"):
        assert " ".join(strings["vi"]["strings"][key].split()) in vi.flat
        assert " ".join(strings["en"]["strings"][key].split()) in vi.flat
    assert MACHINE_DRAFTED in vi.flat
    zh = produce(DocType.intake_consent, "chinese")
    assert strings["zh"]["strings"]["title"] in zh.text
    assert strings["zh"]["strings"]["consent_repatriation"] in zh.dense


def test_minor_consent_form_has_guardian_lines(produce) -> None:
    result = produce(DocType.intake_consent, "thai_minor")
    assert "พิมพ์ชนก ศรีสุข" in result.doc.html
    assert "พิมพ์ชนก" in result.text  # see the module docstring about Thai extraction
    guardian_label = "Signature of the guardian or legal representative"
    # One guardian line per consent (four purposes), plus the guardian block.
    assert result.flat.count(guardian_label) == 4
    assert "Ratana Chaiyaporn" in result.text
    assert "Appointed guardian" in result.text
    adult = produce(DocType.intake_consent, "vietnamese")
    assert guardian_label not in adult.flat


def test_one_signature_line_per_consent(produce) -> None:
    result = produce(DocType.intake_consent, "indonesian")
    assert result.flat.count("Signature or thumbprint of the survivor") == 4


def test_consent_form_falls_back_to_english(produce) -> None:
    profile = PROFILES["indonesian"]().model_copy(update={"languages": ["ru"]})
    result = produce(DocType.intake_consent, "russian", profile=profile)
    assert "No written translation into Russian is available" in result.flat
    assert "Bahasa" not in result.text
    assert 'lang="id"' not in result.doc.html


def test_medical_notes_follow_consent(produce) -> None:
    # The Vietnamese survivor is pregnant with medical notes and did not consent to sharing.
    for doc_type in (DocType.travel_letter, DocType.itinerary):
        withheld = produce(doc_type, "vietnamese")
        for secret in ("Gestational diabetes", "insulin", "Pregnancy", "22 weeks"):
            assert secret not in withheld.text
            assert secret not in withheld.doc.html
        # The Indonesian survivor consented.
        shared = produce(doc_type, "indonesian")
        assert "Asthma; keep his inhaler within reach." in shared.flat


def test_medical_notes_with_consent_reach_travel_papers_only(produce) -> None:
    consenting = PROFILES["vietnamese"]()
    consenting = consenting.model_copy(
        update={"consent": consenting.consent.model_copy(update={"share_medical_with_authorities": True})}
    )
    letter = produce(DocType.travel_letter, "vietnamese-consenting", profile=consenting)
    assert "Gestational diabetes; carries an insulin pen." in letter.flat
    assert "22 weeks" in letter.flat
    for doc_type in CASE_DOC_TYPES:
        if doc_type in (DocType.travel_letter, DocType.itinerary):
            continue
        context = build_context(doc_type, consenting, make_case(), make_facts(consenting))
        assert "Gestational" not in json.dumps(context, ensure_ascii=False)


def test_hostile_input_is_printed_as_text(produce) -> None:
    profile = PROFILES["indonesian"]().model_copy(
        update={"given_names": HOSTILE_GIVEN, "family_name": HOSTILE_FAMILY}
    )
    result = produce(DocType.intake_consent, "hostile", profile=profile)
    assert "&lt;script&gt;" in result.doc.html
    assert "<script" not in result.doc.html
    assert "<h1>Injected" not in result.doc.html
    assert HOSTILE_GIVEN in result.dense
    assert HOSTILE_FAMILY in result.dense
    # The name never reaches the metadata either.
    assert "alert" not in result.info["Title"] + result.xmp

    facts = make_facts(profile)
    facts["attested_by"] = '<img src="http://tracker.invalid/x.png"> </td></tr></table>'
    report = produce(DocType.identity_report, "hostile", profile=profile, facts=facts)
    assert "&lt;img src=" in report.doc.html
    assert '<img src="http' not in report.doc.html
    assert '<imgsrc="http://tracker.invalid/x.png">' in report.dense


def test_missing_facts_render_as_dashes(produce) -> None:
    result = produce(DocType.closure_report, "indonesian", facts={})
    assert "Outcome —" in result.flat
    assert "Booking reference —" in result.flat
    assert "Funding source —" in result.flat
    itinerary = produce(DocType.itinerary, "indonesian", facts={})
    assert "Booking reference —" in itinerary.flat
    # Without an ETD, the held passport is the travel document.
    assert "Passport No. B9876543" in itinerary.flat


def test_chinese_documents_beyond_the_form(produce) -> None:
    letter = produce(DocType.travel_letter, "chinese")
    assert "CZ 324" in letter.flat
    assert "王小明" not in letter.text  # the letter prints the name in Latin script only
    request = produce(DocType.nationality_request, "chinese")
    assert "王小明" in request.text
    assert "Embassy of the People's Republic of China" in request.flat


def test_rendering_is_deterministic(renderer: Renderer) -> None:
    profile = PROFILES["indonesian"]()
    context = build_context(DocType.itinerary, profile, make_case(), make_facts(profile))
    assert renderer.render(DocType.itinerary, context).pdf == renderer.render(DocType.itinerary, context).pdf


def test_renderer_refuses_a_context_built_for_another_document(renderer: Renderer) -> None:
    profile = PROFILES["indonesian"]()
    context = build_context(DocType.itinerary, profile, make_case(), {})
    with pytest.raises(ValueError, match="itinerary"):
        renderer.render(DocType.travel_letter, context)


def test_get_renderer_is_a_singleton() -> None:
    assert get_renderer() is get_renderer()


# ----------------------------------------------------------------- context, without rendering


def test_malformed_fact_is_an_error() -> None:
    profile = PROFILES["indonesian"]()
    with pytest.raises(FactError, match=r"facts\['booking'\] is not a valid Booking"):
        build_context(DocType.itinerary, profile, make_case(), {"booking": {"booking_ref": 1}})
    with pytest.raises(FactError, match="outcome"):
        build_context(DocType.closure_report, profile, make_case(), {"outcome": "escaped"})


def test_overstay_falls_back_to_the_estimate() -> None:
    profile = PROFILES["vietnamese"]()
    facts = make_facts(profile)
    del facts["overstay_days"], facts["overstay_fine"]
    context = build_context(DocType.exit_clearance, profile, make_case(), facts)
    assert context["overstay_days"] == "25"
    assert context["overstay_fine"] == "USD 250.00"
    context = build_context(DocType.exit_clearance, profile, make_case(), {})
    assert context["overstay_days"] == DASH
    assert context["overstay_fine"] == DASH
    facts = {"overstay_fine": {"amount": "1230.5", "currency": "KHR"}}
    context = build_context(DocType.exit_clearance, profile, make_case(), facts)
    assert context["overstay_fine"] == "KHR 1,230.50"


def test_minor_is_judged_on_the_issue_date() -> None:
    profile = PROFILES["thai_minor"]()  # born 20 August 2009
    before = build_context(DocType.intake_consent, profile, make_case(), {})
    assert before["consent_form"]["guardian_required"] is True
    after = build_context(DocType.intake_consent, profile, make_case(issued_on=date(2027, 8, 20)), {})
    assert after["consent_form"]["guardian_required"] is False


@pytest.mark.parametrize(("code", "expected"), [("fil", "tl"), ("vie", "vi"), ("zh", "zh")])
def test_language_codes_are_normalised(code: str, expected: str) -> None:
    profile = PROFILES["indonesian"]().model_copy(update={"languages": [code]})
    form = build_context(DocType.intake_consent, profile, make_case(), {})["consent_form"]
    assert form["bilingual"] is True
    assert form["translated_lang"].split("-")[0] == expected


def test_context_is_plain_json() -> None:
    profile = PROFILES["vietnamese"]()
    for doc_type in CASE_DOC_TYPES:
        json.dumps(build_context(doc_type, profile, make_case(), make_facts(profile)))


def test_catalogue_is_complete_and_honest() -> None:
    languages = load_catalogue()["languages"]
    assert REQUIRED_LANGUAGES <= set(languages)
    reference = languages["en"]["strings"]
    for code, entry in languages.items():
        assert set(entry["strings"]) == set(reference), code
        assert all(value.strip() for value in entry["strings"].values()), code
        assert entry["name"] and entry["native_name"]
        if code != "en":
            assert entry["review_status"] == MACHINE_DRAFTED, code
            assert entry["strings"] != reference, code
