"""Render a case document to PDF/A-3b with WeasyPrint.

The Jinja2 environment, the stylesheet and the font configuration are loaded once, when the
:class:`Renderer` is built; :func:`get_renderer` keeps one per process. Autoescaping is on for
``.html`` templates, so text typed by a caseworker (``<script>``, ``</div><h1>``) is printed as
text. The renderer fetches nothing: only ``data:`` URLs are allowed.

The PDF's metadata carries the document title and case reference (``/Title``), the document
type (``/Subject``) and the issuing organisation (``/Author``), never the survivor's name.

Every page's running header carries a QR code of the document's verification link
(``case.verify_url``, see :mod:`documents.verify`) beside the printed verification code. The QR
code is made here, offline, as a small greyscale PNG ``data:`` URL (one pixel per module, drawn
without interpolation, so it prints sharp at any size); the same link always gives the same
bytes, so rendering stays deterministic.
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import qrcode
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from contracts.messages import DocType

TEMPLATES_DIR = Path(__file__).parent / "templates"
STYLESHEET = "style.css"
PDF_VARIANT = "pdf/a-3b"
# Modules of light margin inside the QR image; the header's white space around it adds more.
QR_BORDER = 2
QR_MAX_DATA = 512


@lru_cache(maxsize=512)
def qr_png(data: str) -> bytes:
    """The QR code of ``data`` as an 8-bit greyscale PNG, one pixel per module.

    Error correction level M (15 %) survives a fold, a smudge or a poor photocopy. Deterministic:
    the same data always gives the same bytes.
    """
    if not data or len(data) > QR_MAX_DATA:
        raise ValueError(f"QR data must be 1 to {QR_MAX_DATA} characters")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=1, border=QR_BORDER)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    image = Image.new("L", (size, size), 255)
    image.putdata([0 if dark else 255 for row in matrix for dark in row])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_data_url(data: str) -> str:
    """``data:image/png;base64,...`` of :func:`qr_png`, for an ``<img src>`` (Jinja filter)."""
    return "data:image/png;base64," + base64.b64encode(qr_png(str(data))).decode("ascii")


@dataclass(frozen=True)
class RenderedDocument:
    pdf: bytes
    html: str
    title: str


class Renderer:
    """Renders :class:`DocType` templates; build once, call :meth:`render` many times."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        self.templates_dir = Path(templates_dir or TEMPLATES_DIR)
        self.env = Environment(
            loader=FileSystemLoader(self.templates_dir),
            autoescape=select_autoescape(enabled_extensions=("html",), default=True),
            undefined=StrictUndefined,
            trim_blocks=False,
            lstrip_blocks=False,
            keep_trailing_newline=True,
        )
        self.env.filters["qr_data_url"] = qr_data_url
        # Fail at start-up, not in the middle of a case, when a template is missing or broken.
        for doc_type in DocType:
            self.env.get_template(self.template_name(doc_type))
        self.font_config = FontConfiguration()
        self._url_fetcher = URLFetcher(allowed_protocols={"data"})
        self.stylesheet = CSS(
            string=(self.templates_dir / STYLESHEET).read_text(encoding="utf-8"),
            font_config=self.font_config,
            url_fetcher=self._url_fetcher,
        )
        self._base_url = self.templates_dir.resolve().as_uri() + "/"
        # Pango and fontconfig objects are shared by every render: one render at a time.
        self._lock = threading.Lock()

    @staticmethod
    def template_name(doc_type: DocType) -> str:
        return f"{DocType(doc_type).value}.html"

    def render_html(self, doc_type: DocType, context: dict[str, Any]) -> str:
        doc_type = DocType(doc_type)
        declared = context.get("doc_type")
        if declared != doc_type.value:
            raise ValueError(f"context was built for {declared!r}, not for {doc_type.value!r}")
        return self.env.get_template(self.template_name(doc_type)).render(context)

    def render(self, doc_type: DocType, context: dict[str, Any]) -> RenderedDocument:
        """The document as PDF/A-3b bytes, its HTML source and its title."""
        html = self.render_html(doc_type, context)
        document = HTML(string=html, base_url=self._base_url, url_fetcher=self._url_fetcher)
        with self._lock:
            pdf = document.write_pdf(
                stylesheets=[self.stylesheet],
                font_config=self.font_config,
                pdf_variant=PDF_VARIANT,
            )
        return RenderedDocument(pdf=pdf, html=html, title=str(context["pdf_title"]))


@lru_cache(maxsize=1)
def get_renderer() -> Renderer:
    """The process-wide renderer (templates, stylesheet and fonts loaded once)."""
    return Renderer()
