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

Fonts cost the most in Chinese, Japanese and Korean names: WeasyPrint embeds a subset of every
font a document uses, and the Noto CJK collection is a 19 MB file of 65,000 glyphs. Subset with
HarfBuzz (``libharfbuzz-subset`` 4.1 or later) it costs about 10 ms a document; WeasyPrint's
fallback, fontTools, re-reads and re-subsets the whole collection for every document (2.8 s for
a one-page letter naming a Chinese survivor, 11 s for a bilingual Chinese consent form, measured
on the benchmark machine). :func:`font_subsetter` says which one is in use and the
:class:`Renderer` warns once when it is fontTools (see BENCHMARKS.md).

:func:`serve_renders` is the loop of a *render process*: a kept-warm renderer in a process of its
own, so that several documents render at once on several cores (WeasyPrint's layout is pure
Python: threads share one core). ``activities.deps.RenderPool`` starts and feeds them.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import io
import logging
import os
import select
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import qrcode
from jinja2 import Environment, FileSystemLoader, StrictUndefined, meta, select_autoescape
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from contracts.messages import DocType
from documents.errors import is_document_error

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
        # Fail at start-up, not in the middle of a case, when a template is missing or broken:
        # one per document type, and every other in the folder (base.html, which they extend,
        # is compiled only when a document is rendered otherwise).
        names = {self.template_name(doc_type) for doc_type in DocType}
        names |= set(self.env.list_templates(extensions=["html"]))
        for name in sorted(names):
            self.env.get_template(name)
            # What it extends or includes, which Jinja would look for only when rendering.
            source = self.env.loader.get_source(self.env, name)[0]  # type: ignore[union-attr]
            for referenced in meta.find_referenced_templates(self.env.parse(source)):
                if referenced is not None:
                    self.env.get_template(referenced)
        _warn_if_slow_subsetting()
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


@lru_cache(maxsize=1)
def font_subsetter() -> str:
    """The library WeasyPrint subsets embedded fonts with: ``"HarfBuzz"`` or ``"fontTools"``."""
    from weasyprint.pdf import fonts
    from weasyprint.text.ffi import harfbuzz

    if fonts.harfbuzz_subset and harfbuzz.hb_version_atleast(4, 1, 0):
        return "HarfBuzz"
    return "fontTools"


@lru_cache(maxsize=1)
def _warn_if_slow_subsetting() -> None:
    if font_subsetter() != "HarfBuzz":
        logging.getLogger(__name__).warning(
            "fonts are subset with fontTools, not HarfBuzz: a document naming a survivor in Chinese, "
            "Japanese or Korean script takes seconds to render; install libharfbuzz-subset0 (HarfBuzz "
            "4.1 or later)"
        )


# -- render processes (see activities.deps.RenderPool) ------------------------------------------
from documents.frames import read_frame, write_frame  # noqa: E402 - the render processes' protocol

IDLE_TRIM_SECONDS = 2.0
# Every so many documents the render process thaws what it froze and collects it all once, so
# that a cache entry dropped since (a cycle among frozen objects) is not kept for ever.
THAW_EVERY = 500


class CollectBetweenDocuments:
    """Python's cyclic garbage collector, run once after each document instead of during it.

    Left to itself the collector ran in the middle of layouts, when the document's boxes were
    alive and had been promoted to the oldest generation, so its full collections walked the
    whole half-built document again and again: 15 % of a render process's CPU in a mass
    release (BENCHMARKS.md). Here it is off while a document renders; after each one, what the
    document left is collected (its boxes are garbage by then, and what outlives them, the
    warm caches, is frozen: ``gc.freeze`` keeps it out of every later collection). A document's
    garbage waits at most for the end of that document.
    """

    def __init__(self, thaw_every: int = THAW_EVERY) -> None:
        self.thaw_every = thaw_every
        self.documents = 0
        gc.collect()
        gc.freeze()  # the imports, templates and fonts: never garbage
        gc.disable()

    def after_document(self) -> None:
        self.documents += 1
        if self.documents % self.thaw_every == 0:
            gc.unfreeze()
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        gc.unfreeze()
        gc.enable()


def _release_free_memory() -> None:
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def serve_renders(nice: int = 0, templates_dir: str | None = None) -> None:
    """Render documents read from stdin, answer on stdout, until stdin closes (the parent is gone).

    Started by ``activities.deps.RenderPool`` as ``python -c "...serve_renders()"``: it imports
    only the renderer (no Temporal, no database), builds one :class:`Renderer` and keeps it warm.
    Anything printed goes to stderr, so stdout carries nothing but answers. ``nice``: lower this
    process's CPU priority by that much first (the pool's ``nice``). ``templates_dir``: the
    organisation's own templates instead of the project's (``Settings.templates_dir``).
    """
    if nice:
        os.nice(nice)
    source = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    sink = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="render process: %(message)s")
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    try:
        renderer = Renderer(Path(templates_dir)) if templates_dir else get_renderer()
    except Exception as err:  # noqa: BLE001 - shown; the templates' fault said instead of "ready"
        logging.getLogger(__name__).exception("the renderer could not start")
        if is_document_error(err):  # else (a font file, memory) the process ends: tried again
            write_frame(sink, ("broken", f"{type(err).__name__}: {err}"))
        return
    collector = CollectBetweenDocuments()
    write_frame(sink, ("ready", os.getpid()))
    while True:
        # One request at a time (the parent waits for each answer), so nothing waits in the
        # reader's buffer when the pipe itself has nothing to read.
        if not select.select([source], [], [], IDLE_TRIM_SECONDS)[0]:
            # Idle: give the memory freed by the last documents back to the system (glibc keeps
            # it otherwise: about 50 MB a process after a few dozen documents).
            _release_free_memory()
            select.select([source], [], [], None)
        try:
            doc_type, context = read_frame(source)
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("ok", renderer.render(doc_type, context).pdf)
        except Exception as err:  # noqa: BLE001 - reported to the activity (documents/errors.py)
            answer = ("error" if is_document_error(err) else "fault", f"{type(err).__name__}: {err}")
        try:
            write_frame(sink, answer)
        except BrokenPipeError:
            return
        del answer, context
        collector.after_document()  # while the worker reads the answer
