"""verify(): a printed code proves a document genuine and current, and says nothing about whom."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import event

from database.engine import Database
from database.models import Case
from documents.sealed import Sealer
from documents.store import DocumentStore, input_hash
from documents.verify import Verification, normalise_code, verify
from tests.db_fixtures import make_case
from tests.documents.conftest import vietnamese_woman

ISSUER = "Phnom Penh Shelter Network"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/app.db")
    yield db
    db.dispose()


@pytest.fixture
def two_versions(database: Database, tmp_path: Path) -> tuple[str, str, str, str]:
    """A case with a real survivor's profile and a travel letter stored twice (v1, v2)."""
    case_id = make_case(database, nationality="VNM")
    profile = vietnamese_woman()
    with database.session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.profile = profile.model_dump(mode="json")
        case.name_key = "nguyen thi lan"
        reference = case.reference
    store = DocumentStore(database, tmp_path / "documents", Sealer({"test": bytes(range(32))}, "test"))
    codes = []
    for booking_ref in ("QX7PLM", "ZZ9TRW"):
        ref = store.store(
            case_id=case_id,
            doc_type="travel_letter",
            digest=input_hash({"booking_ref": booking_ref}),
            issued_on=date(2026, 3, 12),
            issuer=ISSUER,
            render=lambda version, code: f"%PDF-1.7 v{version} {code}".encode(),
        )
        codes.append(ref.verification_code)
    return case_id, reference, codes[0], codes[1]


def test_superseded_version_is_genuine_but_replaced(database: Database, two_versions) -> None:
    _, _, code_v1, _ = two_versions
    result = verify(database, code_v1)
    assert result is not None
    assert result.genuine is True
    assert result.code == code_v1
    assert result.doc_type == "travel_letter"
    assert result.title == "Travel assistance letter"
    assert result.issuer == ISSUER
    assert result.issued_on == date(2026, 3, 12)
    assert result.version == 1
    assert result.superseded is True
    assert result.superseded_by_version == 2


def test_current_version_is_genuine(database: Database, two_versions) -> None:
    _, _, _, code_v2 = two_versions
    result = verify(database, code_v2)
    assert result is not None
    assert result.genuine is True
    assert result.version == 2
    assert result.superseded is False
    assert result.superseded_by_version is None


def test_a_list_is_current_whatever_other_lists_went(database: Database, tmp_path: Path) -> None:
    """An embassy's daily list has no case of its own: its versions are those of the same
    subject (embassy and day), not of every list and request of every embassy."""
    store = DocumentStore(database, tmp_path / "documents", Sealer({"test": bytes(range(32))}, "test"))

    def stored(subject: str, run: int) -> str:
        return store.store(
            case_id=None,
            doc_type="embassy_daily_list",
            digest=input_hash({"subject": subject, "run": run}),
            issued_on=date(2026, 3, 12),
            issuer=ISSUER,
            render=lambda version, code: f"%PDF-1.7 v{version} {code}".encode(),
            subject=subject,
        ).verification_code

    vietnam = stored("VNM:2026-03-12", 1)
    indonesia = [stored("IDN:2026-03-12", run) for run in (1, 2, 3)]
    current = verify(database, vietnam)
    assert current is not None and current.version == 1
    assert current.superseded is False and current.superseded_by_version is None
    replaced = verify(database, indonesia[0])
    assert replaced is not None and replaced.superseded and replaced.superseded_by_version == 3


def test_code_as_typed_by_a_person_verifies(database: Database, two_versions) -> None:
    _, _, _, code = two_versions
    misread = code.replace("O", "0").replace("I", "1").replace("B", "8")
    for typed in (f"  {code.lower()} ", f"{code[:5]}-{code[5:]}", f"{code[:5]} {code[5:]}", misread):
        result = verify(database, typed)
        assert result is not None and result.code == code, typed


def test_typing_slips_are_forgiven() -> None:
    assert normalise_code(" abcde-fghij ") == "ABCDEFGHIJ"
    assert normalise_code("AB0DE 1GH8J") == "ABODEIGHBJ"
    assert normalise_code("A-B-C-D-E-F-G-H-I-J") == "ABCDEFGHIJ"


def test_unknown_code_is_none(database: Database, two_versions) -> None:
    _, _, code_v1, code_v2 = two_versions
    unknown = "ABCDEFGHIJ"
    assert unknown not in (code_v1, code_v2)
    assert verify(database, unknown) is None


@pytest.mark.parametrize(
    "garbage",
    [
        "../../etc",
        "../../etc/passwd",
        "' OR 1=1",
        "' OR '1'='1' --",
        "%",
        "ABCDEFGHI%",
        "ABCDEFGHI_",
        "",
        "   ",
        "ABCDEFGHI",  # too short
        "ABCDEFGHIJK",  # too long
        "ABCDEFGHI9",  # 9 is not in the alphabet
        "ABCDEFGHI/",
        "ABCDEFGHIJ\x00",
        "ＡＢＣＤＥＦＧＨＩＪ",  # fullwidth letters
        "A" * 10_000,
    ],
)
def test_garbage_is_refused_without_a_query(database: Database, garbage: str) -> None:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        assert normalise_code(garbage) is None
        assert verify(database, garbage) is None
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    assert statements == []


def test_answer_says_nothing_about_the_person(database: Database, two_versions) -> None:
    case_id, reference, code_v1, code_v2 = two_versions
    assert set(Verification.model_fields) == {
        "genuine", "code", "doc_type", "title", "issuer", "issued_on", "version", "superseded",
        "superseded_by_version",
    }  # fmt: skip
    for code in (code_v1, code_v2):
        result = verify(database, code)
        assert result is not None
        serialised = result.model_dump_json()
        for secret in (case_id, reference, "Nguyen", "Thi Lan", "Nguyễn", "1998", "VNM", "Viet Nam"):
            assert secret not in serialised, secret
