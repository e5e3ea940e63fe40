"""render_samples: a specimen of every document type, without a database or Temporal."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from contracts.messages import DocType
from documents.sample import choose_survivor, render_samples
from repatriation.settings import Settings

pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdftoppm, pdftotext) not installed",
)


def _text(path: Path) -> str:
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    return " ".join(out.split())


def test_every_type_is_rendered_with_a_png_beside_it(tmp_path: Path) -> None:
    settings = Settings(organisation="Sample Shelter Network", public_url="https://verify.shelter.example")
    outdir = tmp_path / "samples"
    paths = render_samples(outdir, language="id", settings=settings)
    assert len(paths) == 2 * len(DocType)
    assert set(paths) == {outdir / f"{t.value}.{ext}" for t in DocType for ext in ("pdf", "png")}
    for doc_type in DocType:
        pdf = outdir / f"{doc_type.value}.pdf"
        png = outdir / f"{doc_type.value}.png"
        assert pdf.read_bytes().startswith(b"%PDF-")
        with Image.open(png) as image:
            assert image.format == "PNG"
            # A4 at 70 dpi: about 579 x 819 pixels.
            assert abs(image.size[0] - 579) <= 2 and abs(image.size[1] - 819) <= 2
    assert not list(outdir.glob("*-1.png"))  # -singlefile: no page suffix

    consent = _text(outdir / "intake_consent.pdf")
    assert "Sample Shelter Network" in consent
    assert "Budi" in consent  # the Indonesian survivor, whose first language is id
    assert "Bahasa Indonesia" in consent or "Indonesian" in consent
    assert "not a valid document" in consent
    assert "https://verify.shelter.example/verify/" in consent
    memo = _text(outdir / "funding_memo.pdf")
    assert "Budi" not in memo and "Santoso" not in memo
    assert "Fully covered" in memo
    itinerary = _text(outdir / "itinerary.pdf")
    assert "PNH" in itinerary and "CGK" in itinerary
    closure = _text(outdir / "closure_report.pdf")
    assert "Repatriated" in closure and "Handed over to" in closure


@pytest.mark.parametrize(
    ("language", "nationality", "languages"),
    [
        (None, "VNM", ["vi"]),
        ("vi", "VNM", ["vi"]),
        ("zh", "CHN", ["zh"]),
        ("zho", "CHN", ["zh"]),
        ("fil", "PHL", ["tl"]),
        ("th", "THA", ["th"]),
        ("km", "VNM", ["km"]),  # nobody speaks Khmer first: the Vietnamese survivor does
        ("ru", "VNM", ["ru"]),
    ],
)
def test_the_survivor_follows_the_language(
    language: str | None, nationality: str, languages: list[str]
) -> None:
    profile = choose_survivor(language, date(2026, 3, 12))
    assert profile.nationality == nationality
    assert profile.languages == languages
