"""The document store: PDFs in the data folder, sealed (encrypted, documents/sealed.py), one row
per version in the database.

A document is identified by (case, type, version). Its *input hash* covers everything that
went into it (the profile, the workflow's facts, the issue date); rendering again with the same
input returns the stored version (a retried activity never makes a second document), while a
change of data makes a new version and marks the previous one superseded.

Concurrency: within one process, stores of the same (case, type) take turns, so a retry that
overlaps its first attempt renders nothing. Across processes the database decides: the
unique (case, type, version) constraint lets one row in, the other attempt returns that row when
it had the same input, and raises (so the activity retries and makes the next version) when it
had another. The PDF is written to a private temporary file and moved into place only by the
attempt whose row went in, so the file on disk always matches the row's ``sha256`` (of the PDF,
once opened).

The verification code is what a reader types or scans to check a printed document (see
:mod:`documents.verify`): ten characters of the RFC 4648 base32 alphabet (A-Z, 2-7), printed
as they are.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from contracts.state import DocumentRef
from database.engine import Database
from database.models import Document, DocumentCase
from documents.sealed import SUFFIX, Sealer

DOCUMENT_NAMESPACE = uuid.UUID("5b7f3c1e-2f0a-4c39-9d8e-6a1d2c3b4a59")
CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32
CODE_LENGTH = 10  # 50 bits
_LOCK_STRIPES = 64


def input_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def verification_code(case_id: str, doc_type: str, version: int, digest: str) -> str:
    """Ten characters, deterministic for one version, revealing nothing about the person."""
    raw = hashlib.sha256(f"{case_id}|{doc_type}|{version}|{digest}".encode()).digest()
    return base64.b32encode(raw).decode()[:CODE_LENGTH]


def ref_of(row: Document | Row[Any]) -> DocumentRef:
    return DocumentRef(
        document_id=row.id,
        doc_type=row.doc_type,
        version=row.version,
        sha256=row.sha256,
        verification_code=row.verification_code,
        path=row.path,
    )


def _same_document(case_id: str | None, doc_type: str, subject: str) -> list[Any]:
    owner = Document.case_id.is_(None) if case_id is None else Document.case_id == case_id
    return [owner, Document.doc_type == doc_type, Document.subject == subject]


def _latest(db: Database, case_id: str | None, doc_type: str, subject: str = "") -> Document | None:
    with db.reading() as session:
        return session.scalar(
            select(Document)
            .where(*_same_document(case_id, doc_type, subject))
            .order_by(Document.version.desc())
            .limit(1)
        )


# The store's look-up and supersede run on every document (nine a case in a journey): their
# statements are built once, with parameters, and run as Core, without the ORM's unit of work.
# Building the clauses and flushing rows cost more CPU than SQLite's work on them. One statement
# of each for a case's documents, one for those about several cases (no case: ``IS NULL``).
_DOCUMENTS = Document.__table__
_INSERT_DOCUMENT = insert(_DOCUMENTS)
_INSERT_NAMED = insert(DocumentCase.__table__)


def _owned(of_case: bool) -> list[Any]:
    owner = _DOCUMENTS.c.case_id == bindparam("of_case") if of_case else _DOCUMENTS.c.case_id.is_(None)
    return [
        owner,
        _DOCUMENTS.c.doc_type == bindparam("of_type"),
        _DOCUMENTS.c.subject == bindparam("of_subject"),
    ]


_LATEST = {
    of_case: select(
        _DOCUMENTS.c.id,
        _DOCUMENTS.c.doc_type,
        _DOCUMENTS.c.version,
        _DOCUMENTS.c.input_hash,
        _DOCUMENTS.c.sha256,
        _DOCUMENTS.c.verification_code,
        _DOCUMENTS.c.path,
    )
    .where(*_owned(of_case))
    .order_by(_DOCUMENTS.c.version.desc())
    .limit(1)
    for of_case in (True, False)
}
_SUPERSEDE = {
    of_case: update(_DOCUMENTS)
    .where(*_owned(of_case), _DOCUMENTS.c.version < bindparam("below"))
    .values(superseded=True)
    for of_case in (True, False)
}


def _same(case_id: str | None, doc_type: str, subject: str) -> dict[str, Any]:
    """The parameters that pick one document's versions."""
    return {"of_case": case_id, "of_type": doc_type, "of_subject": subject}


def _latest_row(db: Database, case_id: str | None, doc_type: str, subject: str) -> Row[Any] | None:
    with db.reading() as session:
        return session.execute(_LATEST[case_id is not None], _same(case_id, doc_type, subject)).first()


class DocumentStore:
    """``sealer`` encrypts each file it writes (documents/sealed.py); :meth:`read` opens one."""

    def __init__(self, db: Database, root: Path, sealer: Sealer) -> None:
        self.db = db
        self.root = root
        self.sealer = sealer
        # A fixed set of locks, picked by (case, type): bounded memory, no global serialisation.
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))

    def _lock(self, case_id: str, doc_type: str) -> threading.Lock:
        stripe = hashlib.sha256(f"{case_id}|{doc_type}".encode()).digest()[0] % _LOCK_STRIPES
        return self._locks[stripe]

    def store(
        self,
        *,
        case_id: str | None,
        doc_type: str,
        digest: str,
        issued_on: date,
        issuer: str,
        render: Callable[[int, str], bytes],
        subject: str = "",
        names: Sequence[str] = (),
    ) -> DocumentRef:
        """Return the document for this input, rendering it only if it does not exist yet.

        ``render(version, verification_code)`` returns the PDF bytes. A document about several
        cases has no ``case_id`` and a ``subject`` instead (an embassy's list: "VNM:2026-11-23"),
        and ``names`` the cases it names, stored in the same transaction as the document: a
        process killed in between cannot leave a request that names nobody.
        """
        with self._lock(case_id or subject, doc_type):
            return self._store(
                case_id=case_id,
                doc_type=doc_type,
                digest=digest,
                issued_on=issued_on,
                issuer=issuer,
                render=render,
                subject=subject,
                names=names,
            )

    def _store(
        self,
        *,
        case_id: str | None,
        doc_type: str,
        digest: str,
        issued_on: date,
        issuer: str,
        render: Callable[[int, str], bytes],
        subject: str,
        names: Sequence[str],
    ) -> DocumentRef:
        latest = _latest_row(self.db, case_id, doc_type, subject)
        if latest is not None and latest.input_hash == digest:
            return ref_of(latest)
        version = latest.version + 1 if latest else 1
        owner = case_id or f"list:{subject}"
        code = verification_code(owner, doc_type, version, digest)
        pdf = render(version, code)
        folder = self.root / case_id if case_id else self.root / "embassy-lists" / subject.replace(":", "-")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{doc_type}-v{version}.pdf{SUFFIX}"
        tmp = folder / f".{doc_type}-v{version}.{uuid.uuid4().hex}.tmp"
        tmp.write_bytes(self.sealer.seal(pdf))
        ref = DocumentRef(
            document_id=str(uuid.uuid5(DOCUMENT_NAMESPACE, f"{owner}:{doc_type}:{version}")),
            doc_type=doc_type,
            version=version,
            sha256=hashlib.sha256(pdf).hexdigest(),
            verification_code=code,
            path=str(path),
        )
        row = {
            "id": ref.document_id,
            "case_id": case_id,
            "doc_type": doc_type,
            "subject": subject,
            "version": version,
            "input_hash": digest,
            "sha256": ref.sha256,
            "path": ref.path,
            "verification_code": code,
            "issuer": issuer,
            "issued_on": issued_on,
            "superseded": False,
            "created_at": datetime.now(UTC),
        }
        try:
            with self.db.session() as session:
                if latest is not None:  # a first version supersedes nothing
                    session.execute(
                        _SUPERSEDE[case_id is not None],
                        {**_same(case_id, doc_type, subject), "below": version},
                    )
                # The constraints decide a race here; only the attempt whose row goes in writes
                # the file, so the file always matches the stored sha256.
                session.execute(_INSERT_DOCUMENT, [row])
                cases = [{"document_id": ref.document_id, "case_id": c} for c in dict.fromkeys(names)]
                if cases:
                    session.execute(_INSERT_NAMED, cases)
                os.replace(tmp, path)
        except IntegrityError:
            # Another attempt stored this version first: the one in the database stands.
            existing = _latest_row(self.db, case_id, doc_type, subject)
            if existing is None or existing.input_hash != digest:
                raise
            return ref_of(existing)
        finally:
            tmp.unlink(missing_ok=True)
        return ref

    def read(self, path: str | Path) -> bytes:
        """A stored document's PDF, opened (one stored before sealing is read as it is)."""
        return self.sealer.read(Path(path))

    def find(self, doc_type: str, subject: str) -> Document | None:
        """The latest version of a document about several cases, by its subject."""
        return _latest(self.db, None, doc_type, subject)

    def named_in(self, document_id: str) -> list[str]:
        with self.db.reading() as session:
            return list(
                session.scalars(select(DocumentCase.case_id).where(DocumentCase.document_id == document_id))
            )

    def get(self, document_id: str) -> Document | None:
        with self.db.reading() as session:
            return session.get(Document, document_id)

    def for_case(self, case_id: str) -> list[Document]:
        with self.db.reading() as session:
            return list(
                session.scalars(
                    select(Document)
                    .where(Document.case_id == case_id)
                    .order_by(Document.created_at, Document.version)
                )
            )
