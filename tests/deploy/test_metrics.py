"""Metrics: /metrics answers Prometheus text with the app's metric names, the gauges follow the
rows in the database, and a worker's endpoint carries the Temporal SDK's metrics too."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from database.engine import Database
from database.models import Case, StuckFlag
from repatriation import metrics
from tests.db_fixtures import db, make_case  # noqa: F401 - the db fixture
from tests.deploy.conftest import free_port

APP_METRICS = {
    "repatriation_cases",
    "repatriation_closed_cases",
    "repatriation_stuck_cases",
    "repatriation_stuck_oldest_seconds",
    "repatriation_overdue_cases",
    "repatriation_database_up",
    "repatriation_decisions",
    "repatriation_document_render_seconds",
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:  # noqa: F811 - the db fixture
    app = FastAPI()
    app.state.db = db
    metrics.install(app)
    metrics._last_refresh = 0.0  # noqa: SLF001 - no throttling left over from another test
    with TestClient(app) as c:
        yield c


def scrape(client: TestClient) -> str:
    metrics._last_refresh = 0.0  # noqa: SLF001 - read the database at every scrape in tests
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


def set_case(
    database: Database, case_id: str, stage: str, outcome: str | None = None, overdue: bool = False
) -> None:
    with database.session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.stage, case.outcome, case.overdue = stage, outcome, overdue


def flag(database: Database, case_id: str, reason: str, since: datetime) -> None:
    with database.session() as session:
        session.add(StuckFlag(case_id=case_id, reason=reason, stage="embassy", since=since, attempts=0))


def test_the_endpoint_answers_prometheus_text_with_the_app_metrics(client: TestClient) -> None:
    text = scrape(client)
    names = {family.name for family in text_string_to_metric_families(text)}
    assert APP_METRICS <= names
    assert "# TYPE repatriation_decisions_total counter" in text
    assert "# TYPE repatriation_document_render_seconds histogram" in text
    assert value(text, "repatriation_database_up") == 1
    assert value(text, "repatriation_cases", stage="embassy") == 0  # every stage is there from the start
    assert value(text, "repatriation_decisions_total", role="liaison", kind="nationality") is not None


def test_the_gauges_follow_the_rows(client: TestClient, db: Database) -> None:  # noqa: F811
    now = datetime.now(UTC)
    ids = [make_case(db) for _ in range(5)]
    set_case(db, ids[0], "identity")
    set_case(db, ids[1], "embassy", overdue=True)
    set_case(db, ids[2], "embassy")
    set_case(db, ids[3], "closed", outcome="repatriated")
    set_case(db, ids[4], "closed", outcome="withdrawn", overdue=True)  # closed: not overdue any more
    flag(db, ids[1], "awaiting_embassy", now - timedelta(hours=3))
    flag(db, ids[2], "awaiting_embassy", now - timedelta(hours=1))
    flag(db, ids[2], "activity_failing", now - timedelta(minutes=10))
    flag(db, ids[3], "awaiting_embassy", now - timedelta(days=9))  # a closed case does not count

    text = scrape(client)
    assert value(text, "repatriation_cases", stage="identity") == 1
    assert value(text, "repatriation_cases", stage="embassy") == 2
    assert value(text, "repatriation_cases", stage="closed") == 2
    assert value(text, "repatriation_cases", stage="intake") == 0
    assert value(text, "repatriation_closed_cases", outcome="repatriated") == 1
    assert value(text, "repatriation_closed_cases", outcome="withdrawn") == 1
    assert value(text, "repatriation_closed_cases", outcome="not_repatriable") == 0
    assert value(text, "repatriation_stuck_cases", reason="awaiting_embassy") == 2
    assert value(text, "repatriation_stuck_cases", reason="activity_failing") == 1
    oldest = value(text, "repatriation_stuck_oldest_seconds", reason="awaiting_embassy")
    assert oldest is not None and 3 * 3600 - 60 < oldest < 3 * 3600 + 60
    assert value(text, "repatriation_overdue_cases") == 1

    # A case moves on and a flag is cleared: the gauges follow, and no stale series is left.
    set_case(db, ids[0], "embassy")
    with db.session() as session:
        session.query(StuckFlag).filter(StuckFlag.reason == "activity_failing").delete()
    text = scrape(client)
    assert value(text, "repatriation_cases", stage="identity") == 0
    assert value(text, "repatriation_cases", stage="embassy") == 3
    assert value(text, "repatriation_stuck_cases", reason="activity_failing") is None


def test_decisions_and_render_times_are_counted(client: TestClient) -> None:
    before = scrape(client)
    metrics.decision_made("supervisor", "funding")
    metrics.decision_made("supervisor", "funding")
    metrics.render_time("itinerary", 0.3)
    with metrics.timed_render("itinerary"):
        pass
    after = scrape(client)
    funding = ("repatriation_decisions_total", {"role": "supervisor", "kind": "funding"})
    assert value(after, funding[0], **funding[1]) == (value(before, funding[0], **funding[1]) or 0) + 2
    count = "repatriation_document_render_seconds_count"
    assert value(after, count, doc_type="itinerary") == (value(before, count, doc_type="itinerary") or 0) + 2
    assert (
        value(after, "repatriation_document_render_seconds_bucket", doc_type="itinerary", le="0.5")
        is not None
    )


def test_a_database_that_does_not_answer_still_gives_an_answer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    gone = Database(f"sqlite:///{tmp_path / 'gone.db'}")
    gone.engine.dispose()
    (tmp_path / "gone.db").unlink()
    (tmp_path / "gone.db").mkdir()  # a folder where the file was: every connection fails
    assert metrics.refresh_gauges(gone) is False
    assert value(metrics.exposition().decode(), "repatriation_database_up") == 0


def test_a_worker_serves_the_sdk_metrics_and_the_app_metrics_on_one_port() -> None:
    address = f"127.0.0.1:{free_port()}"
    runtime = metrics.start_worker_metrics(address)
    assert runtime is not None and metrics.temporal_runtime() is runtime  # one runtime per process
    runtime.metric_meter.create_counter("temporal_test_probe", "A probe of the SDK's exporter.").add(3)
    metrics.render_time("travel_letter", 0.2)
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    assert 'repatriation_document_render_seconds_count{doc_type="travel_letter"}' in text
    assert "temporal_test_probe" in text and 'service_name="temporal-core-sdk"' in text
    list(text_string_to_metric_families(text))  # the two parts together still parse
    with urllib.request.urlopen(f"http://{address}/healthz", timeout=5) as response:
        assert response.read() == b"ok\n"
    assert metrics.start_worker_metrics(None) is None  # metrics off: no runtime, no server


def test_metrics_addresses() -> None:
    assert metrics.parse_address("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert metrics.parse_address(":9464") == ("0.0.0.0", 9464)
    assert metrics.parse_address("9464") == ("0.0.0.0", 9464)
    assert metrics.parse_address("[::]:9464") == ("::", 9464)
    with pytest.raises(ValueError, match="host:port"):
        metrics.parse_address("localhost:http")
