"""Check a printed document by its verification code, without revealing who it is about.

Every page of a case document carries its verification code and a QR code of
``{public_url}/verify/{code}``. Whoever holds the paper (an embassy, an airline, immigration,
a border officer) can ask :func:`verify` whether the code belongs to a document this system
issued, which type and version it is, who issued it and when, and whether a later version has
replaced it. The answer never contains the case id, the case reference, the survivor's name or
anything else about the person: a code found on a lost or stolen page leads nowhere.

Codes are ten characters of the base32 alphabet (A-Z, 2-7; see :mod:`documents.store`) and are
printed without separators. :func:`normalise_code` forgives what people do when they type a
code: surrounding blanks, lower case, spaces or hyphens between groups of characters, and the
digits 0, 1 and 8 for the letters O, I and B (the alphabet has no such digits, so the reading
is unambiguous). Anything else is refused before the database is asked.
"""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from contracts.messages import DocType
from database.engine import Database
from database.models import Document
from documents.context import DOC_TITLES, verify_url
from documents.store import CODE_ALPHABET, CODE_LENGTH

__all__ = ["Verification", "normalise_code", "verify", "verify_url"]

# Longer input is refused unread (a code with a separator between every character is 19 long).
_MAX_INPUT = 40
# Separators people put between groups are dropped; digits outside the alphabet read as the
# letters they are mistaken for.
_TYPED = str.maketrans({" ": None, "-": None, "\t": None, "0": "O", "1": "I", "8": "B"})
_CODE = re.compile(f"[{re.escape(CODE_ALPHABET)}]{{{CODE_LENGTH}}}")


class Verification(BaseModel):
    """What a reader of a printed document may learn from its code: the document, not the person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    genuine: bool = Field(description="The code belongs to a document this system issued.")
    code: str = Field(description="The code as stored (upper case, no separators).")
    doc_type: str
    title: str = Field(description="Human name of the document type.")
    issuer: str
    issued_on: date
    version: int
    superseded: bool
    superseded_by_version: int | None = Field(
        None, description="The version now in force, when a later one replaced this one."
    )


def normalise_code(code: object) -> str | None:
    """The code in its stored form, or ``None`` when it cannot be a verification code."""
    if not isinstance(code, str) or len(code) > _MAX_INPUT or not code.isascii():
        return None
    normal = code.strip().upper().translate(_TYPED)
    return normal if _CODE.fullmatch(normal) else None


def _title(doc_type: str) -> str:
    try:
        return DOC_TITLES[DocType(doc_type)]
    except ValueError:
        return doc_type.replace("_", " ").capitalize()


def verify(db: Database, code: str) -> Verification | None:
    """The document that ``code`` verifies, or ``None`` (malformed or unknown code).

    A malformed code is refused without a database query.
    """
    normal = normalise_code(code)
    if normal is None:
        return None
    with db.session() as session:
        row = session.scalar(select(Document).where(Document.verification_code == normal))
        if row is None:
            return None
        if row.case_id is not None:
            same = Document.case_id == row.case_id
        else:  # about several cases (an embassy's request or daily list): known by its subject
            same = Document.case_id.is_(None) & (Document.subject == row.subject)
        latest = session.scalar(
            select(func.max(Document.version)).where(same, Document.doc_type == row.doc_type)
        )
        # Copy what is returned while the row is at hand; case_id stays here.
        doc_type, version, issuer, issued_on = row.doc_type, row.version, row.issuer, row.issued_on
        flagged = bool(row.superseded)
    newer = latest if latest is not None and latest > version else None
    return Verification(
        genuine=True,
        code=normal,
        doc_type=doc_type,
        title=_title(doc_type),
        issuer=issuer,
        issued_on=issued_on,
        version=version,
        superseded=flagged or newer is not None,
        superseded_by_version=newer,
    )
