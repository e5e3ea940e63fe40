"""Which failures of a render are the document's fault and which the machine's.

A document's fault (a template that names a field that does not exist, a template gone missing,
data the template cannot print) fails the same way on every retry: the render activity fails
it for good after a few attempts, and a supervisor decides (activities/paperwork.py). The
machine's fault (a disk, a font file, memory) may pass: it is retried as any other. No
WeasyPrint here, so the worker can tell them apart without importing the renderer."""

from __future__ import annotations

from jinja2 import TemplateError


def is_document_error(err: BaseException) -> bool:
    if isinstance(err, TemplateError):  # TemplateNotFound is an OSError too: still the document's
        return True
    return not isinstance(err, (OSError, MemoryError))
