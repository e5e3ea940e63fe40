"""DocumentStore: one render per input, a new version per change, one row per race (SQLite and
PostgreSQL)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from database.engine import Database
from database.models import Document, DocumentCase
from documents.sealed import Sealer
from documents.store import DocumentStore, input_hash, verification_code
from documents.verify import normalise_code
from tests.db_fixtures import db, make_case  # noqa: F401 - the db fixture

SEALER = Sealer({"test": bytes(range(32))}, "test")

ISSUED_ON = date(2026, 3, 12)
ISSUER = "Phnom Penh Shelter Network"


@pytest.fixture
def database(db: Database) -> Database:  # noqa: F811
    """On SQLite and on PostgreSQL: the races are decided by each one's constraints."""
    return db


class CountingRender:
    """A stand-in renderer: PDF bytes derived from its arguments, calls counted."""

    def __init__(self, label: str = "", barrier: threading.Barrier | None = None) -> None:
        self.calls: list[tuple[int, str]] = []
        self.label = label
        self.barrier = barrier
        self._lock = threading.Lock()

    def __call__(self, version: int, code: str) -> bytes:
        with self._lock:
            self.calls.append((version, code))
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        return f"%PDF-1.7 {self.label} v{version} {code}".encode()


def _store(store: DocumentStore, case_id: str, digest: str, render: Callable[[int, str], bytes]):
    return store.store(
        case_id=case_id,
        doc_type="travel_letter",
        digest=digest,
        issued_on=ISSUED_ON,
        issuer=ISSUER,
        render=render,
    )


def _rows(db: Database, case_id: str) -> list[Document]:  # noqa: F811
    with db.session() as session:
        return list(
            session.scalars(select(Document).where(Document.case_id == case_id).order_by(Document.version))
        )


def test_same_input_renders_once(database: Database, tmp_path: Path) -> None:
    case_id = make_case(database)
    store = DocumentStore(database, tmp_path / "documents", SEALER)
    render = CountingRender()
    digest = input_hash({"facts": {"booking_ref": "QX7PLM"}})
    first = _store(store, case_id, digest, render)
    again = _store(store, case_id, digest, render)
    assert len(render.calls) == 1
    assert again.document_id == first.document_id
    assert again.sha256 == first.sha256
    assert again.path == first.path
    assert again.verification_code == first.verification_code
    assert first.version == 1
    assert hashlib.sha256(store.read(first.path)).hexdigest() == first.sha256
    assert len(_rows(database, case_id)) == 1


def test_changed_input_makes_a_new_version(database: Database, tmp_path: Path) -> None:
    case_id = make_case(database)
    store = DocumentStore(database, tmp_path / "documents", SEALER)
    render = CountingRender()
    v1 = _store(store, case_id, input_hash({"facts": {"booking_ref": "QX7PLM"}}), render)
    v2 = _store(store, case_id, input_hash({"facts": {"booking_ref": "ZZ9TRW"}}), render)
    assert [call[0] for call in render.calls] == [1, 2]
    assert (v1.version, v2.version) == (1, 2)
    assert v1.document_id != v2.document_id and v1.path != v2.path
    assert v1.verification_code != v2.verification_code
    assert Path(v1.path).exists() and Path(v2.path).exists()
    rows = _rows(database, case_id)
    assert [(row.version, row.superseded) for row in rows] == [(1, True), (2, False)]
    # No temporary files are left behind.
    assert sorted(p.name for p in Path(v1.path).parent.iterdir()) == [
        "travel_letter-v1.pdf.sealed",
        "travel_letter-v2.pdf.sealed",
    ]


def test_verification_codes_are_deterministic_and_well_formed() -> None:
    code = verification_code("case-1", "itinerary", 1, "ab" * 32)
    assert code == verification_code("case-1", "itinerary", 1, "ab" * 32)
    assert code != verification_code("case-1", "itinerary", 2, "ab" * 32)
    assert normalise_code(code) == code


def test_concurrent_stores_in_one_process_render_once(database: Database, tmp_path: Path) -> None:
    case_id = make_case(database)
    store = DocumentStore(database, tmp_path / "documents", SEALER)
    render = CountingRender()
    digest = input_hash({"facts": {"booking_ref": "QX7PLM"}})
    results = _race([lambda: _store(store, case_id, digest, render) for _ in range(2)])
    assert len(render.calls) == 1
    assert results[0] == results[1]
    assert len(_rows(database, case_id)) == 1


def test_concurrent_stores_in_two_workers_end_with_one_row(database: Database, tmp_path: Path) -> None:
    """Two stores (two worker processes) render the same input at the same moment."""
    case_id = make_case(database)
    root = tmp_path / "documents"
    barrier = threading.Barrier(2)
    # Different bytes from each worker, so the file on disk shows which one won.
    renders = [CountingRender("a", barrier), CountingRender("b", barrier)]
    stores = [DocumentStore(database, root, SEALER), DocumentStore(database, root, SEALER)]
    digest = input_hash({"facts": {"booking_ref": "QX7PLM"}})
    results = _race(
        [lambda i=i: _store(stores[i], case_id, digest, renders[i]) for i in range(2)]  # type: ignore[misc]
    )
    assert all(len(render.calls) == 1 for render in renders)  # both rendered: they raced
    assert results[0] == results[1]
    rows = _rows(database, case_id)
    assert len(rows) == 1
    ref = results[0]
    assert hashlib.sha256(stores[0].read(ref.path)).hexdigest() == rows[0].sha256 == ref.sha256
    assert [p.name for p in Path(ref.path).parent.iterdir()] == ["travel_letter-v1.pdf.sealed"]


def _request(store: DocumentStore, names: list[str], render: Callable[[int, str], bytes]):
    return store.store(
        case_id=None,
        doc_type="embassy_request",
        digest=input_hash({"names": names}),
        issued_on=ISSUED_ON,
        issuer=ISSUER,
        render=render,
        subject="REQ-IDN-20260312-3F9A2C",
        names=names,
    )


def test_a_document_about_several_cases_is_stored_with_the_cases_it_names(
    database: Database, tmp_path: Path
) -> None:
    cases = [make_case(database) for _ in range(3)]
    store = DocumentStore(database, tmp_path / "documents", SEALER)
    render = CountingRender()
    ref = _request(store, cases, render)
    again = _request(store, cases, render)  # a retry: nothing rendered, nothing named twice
    assert again == ref and len(render.calls) == 1
    assert sorted(store.named_in(ref.document_id)) == sorted(cases)


def test_the_document_and_its_names_go_in_together_or_not_at_all(database: Database, tmp_path: Path) -> None:
    """A name that cannot be stored (no such case) leaves no document row and no file behind:
    there is never a request on record that names nobody."""
    cases = [make_case(database), "no-such-case"]
    store = DocumentStore(database, tmp_path / "documents", SEALER)
    with pytest.raises(IntegrityError):
        _request(store, cases, CountingRender())
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 0
        assert session.scalar(select(func.count()).select_from(DocumentCase)) == 0
    assert not list((tmp_path / "documents").rglob("*.pdf*"))


def _race(calls: list[Callable[[], object]]) -> list[object]:
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        try:
            start.wait(timeout=10)
            results[index] = calls[index]()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results
