"""The QR code of the verification link is on every page, beside the printed code."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
import qrcode
from PIL import Image
from pydantic import ValidationError
from qrcode.constants import ERROR_CORRECT_M

from contracts.messages import DocType
from documents.context import build_context, verify_url
from documents.renderer import QR_BORDER, Renderer, qr_data_url, qr_png
from documents.store import verification_code
from tests.documents.conftest import PROFILES, make_case, make_facts

pytestmark = pytest.mark.skipif(
    shutil.which("pdfimages") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdfimages, pdftotext) not installed",
)

PUBLIC_URL = "https://verify.shelter.example/repatriation/"
CODE = verification_code("case-0001", "intake_consent", 1, "0" * 64)
URL = f"https://verify.shelter.example/repatriation/verify/{CODE}"


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, check=True, text=True).stdout


def _expected_modules(data: str) -> list[list[bool]]:
    """The module matrix of ``data``, built here independently of the renderer."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=1, border=QR_BORDER)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


@pytest.fixture(scope="module")
def rendered(renderer: Renderer, tmp_path_factory: pytest.TempPathFactory):
    profile = PROFILES["vietnamese"]()  # the consent form runs over several pages
    case = make_case(verification_code=CODE, verify_url=verify_url(PUBLIC_URL, CODE))
    context = build_context(DocType.intake_consent, profile, case, make_facts(profile))
    doc = renderer.render(DocType.intake_consent, context)
    path = tmp_path_factory.mktemp("qr") / "intake_consent.pdf"
    path.write_bytes(doc.pdf)
    pages = int(
        next(line for line in _run("pdfinfo", str(path)).splitlines() if line.startswith("Pages:")).split()[1]
    )
    return doc, path, pages


def test_the_link_is_the_verify_url(rendered) -> None:
    doc, _, _ = rendered
    assert verify_url(PUBLIC_URL, CODE) == URL
    assert URL in doc.html
    assert qr_data_url(URL) in doc.html


def test_every_page_carries_one_qr_image(rendered) -> None:
    _, path, pages = rendered
    assert pages >= 2
    rows = [line.split() for line in _run("pdfimages", "-list", str(path)).splitlines()[2:]]
    size = len(_expected_modules(URL))
    assert [int(row[0]) for row in rows] == list(range(1, pages + 1))  # one image per page
    for row in rows:
        assert (row[2], int(row[3]), int(row[4]), row[5]) == ("image", size, size, "gray")
        assert row[9] == "no"  # drawn without interpolation: sharp modules
    assert len({row[10] for row in rows}) == 1  # one image object, shared by every page


def test_every_page_prints_the_code(rendered) -> None:
    _, path, pages = rendered
    for page in range(1, pages + 1):
        text = _run("pdftotext", "-f", str(page), "-l", str(page), "-enc", "UTF-8", str(path), "-")
        assert CODE in text, page


def test_the_qr_image_encodes_the_link(rendered, tmp_path: Path) -> None:
    _, path, pages = rendered
    _run("pdfimages", "-png", "-f", str(pages), "-l", str(pages), str(path), str(tmp_path / "qr"))
    (extracted,) = sorted(tmp_path.glob("qr-*.png"))
    image = Image.open(extracted).convert("L")
    modules = _expected_modules(URL)
    assert image.size == (len(modules), len(modules))
    pixels = image.load()
    for y, row in enumerate(modules):
        for x, dark in enumerate(row):
            assert (pixels[x, y] < 128) == dark, (x, y)


def test_qr_png_is_deterministic_and_small() -> None:
    png = qr_png(URL)
    assert png == qr_png(URL)
    assert png.startswith(b"\x89PNG")
    assert len(png) < 1024
    assert Image.open(io.BytesIO(png)).mode == "L"
    assert qr_png(URL + "X") != png
    with pytest.raises(ValueError):
        qr_png("")


def test_the_link_must_name_the_code() -> None:
    with pytest.raises(ValidationError, match="verification code"):
        make_case(verification_code=CODE, verify_url="https://verify.shelter.example/verify/ABCDEFGHIJ")
    with pytest.raises(ValidationError, match="absolute"):
        make_case(verification_code=CODE, verify_url=f"/verify/{CODE}")
    # Without a link, the process settings' public URL is used (REPATRIATION_PUBLIC_URL).
    assert make_case(verification_code=CODE).verify_url.endswith(f"/verify/{CODE}")
