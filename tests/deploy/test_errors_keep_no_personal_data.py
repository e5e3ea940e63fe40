"""An error's text may quote the data it failed on: in production the logs keep an exception's
type and traceback but not its text, the database's errors name their statement but not its
values, and Temporal keeps a failure's message and stack trace encrypted like any payload."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import structlog
from sqlalchemy.exc import IntegrityError
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from database.engine import Database
from database.models import Case
from repatriation.codec import data_converter
from repatriation.logs import configure_logging, get_logger
from repatriation.settings import Settings

NAME = "Nguyễn Thị Lan"
BORN = "1995-03-01"


@pytest.fixture
def production_logs() -> Iterator[io.StringIO]:
    """Production logging, structlog's lines and the standard library's both written here."""
    written = io.StringIO()
    root = logging.getLogger()
    handlers = list(root.handlers)
    for handler in handlers:
        root.removeHandler(handler)
    configure_logging("production", "INFO")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=written))
    for handler in root.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(written)
    try:
        yield written
    finally:
        structlog.reset_defaults()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)


def _fail_with_personal_data() -> None:
    try:
        raise ValueError(f"input {NAME!r}, born {BORN}")
    except ValueError as err:
        raise RuntimeError(f"could not save {NAME}") from err


def test_production_logs_keep_the_traceback_not_the_text(production_logs: io.StringIO) -> None:
    try:
        _fail_with_personal_data()
    except RuntimeError:
        get_logger(case_id="c-1").exception("page failed")
        logging.getLogger("temporalio.activity").warning("Completing activity as failed", exc_info=True)
    written = production_logs.getvalue()
    assert NAME not in written and BORN not in written
    line = json.loads(next(x for x in written.splitlines() if x.startswith("{")))
    assert line["case_id"] == "c-1" and line["event"] == "page failed"
    for shown in ("builtins.ValueError", "builtins.RuntimeError", "_fail_with_personal_data"):
        assert shown in line["exception"]
    assert "WARNING temporalio.activity: Completing activity as failed" in written
    assert written.count("its text is not logged") == 4  # two exceptions, in each of the two lines


def test_development_logs_show_everything(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging("development", "INFO")
    try:
        try:
            _fail_with_personal_data()
        except RuntimeError:
            get_logger(case_id="c-1").exception("page failed")
    finally:
        structlog.reset_defaults()
    assert NAME in capsys.readouterr().err


def test_database_errors_name_the_statement_not_the_values(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    now = datetime.now(UTC)
    row = dict(
        id="c-1",
        reference="RP-C1",
        organisation="Org",
        caseworker="cw",
        workflow_id="w-1",
        nationality="VNM",
        profile={"given_names": NAME},
        date_of_birth=date.fromisoformat(BORN),
        name_key=NAME.lower(),
        stage="intake",
        opened_at=now,
        updated_at=now,
        state={},
    )
    try:
        with db.session() as session:
            session.add(Case(**row))
        with pytest.raises(IntegrityError) as refused, db.session() as session:
            session.add(Case(**row))
    finally:
        db.dispose()
    text = str(refused.value)
    assert "INSERT INTO cases" in text and "hidden due to hide_parameters" in text
    assert NAME not in text and NAME.lower() not in text and BORN not in text


async def test_temporal_keeps_a_failure_message_encrypted(tmp_path: Path) -> None:
    converter = data_converter(Settings(data_dir=tmp_path, secret_key="test-signing-key"))
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"could not save {NAME}"), failure)
    stored = failure.SerializeToString()
    assert NAME.encode() not in stored and failure.message == "Encoded failure"
    decoded = await converter.decode_failure(failure)
    assert str(decoded) == f"could not save {NAME}"
