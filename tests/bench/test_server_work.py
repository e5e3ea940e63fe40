"""Reading the Temporal server's persistence counters (bench.server_work), offline and live."""

from __future__ import annotations

import asyncio

from bench import server_work
from bench.server_work import ServerWatch

TEXT = """\
# HELP persistence_requests persistence_requests counter
# TYPE persistence_requests counter
persistence_requests{namespace="default",operation="UpdateWorkflowExecution",service_name="history"} 40
persistence_requests{namespace="other",operation="UpdateWorkflowExecution",service_name="history"} 20
persistence_requests{operation="CreateTasks",service_name="matching"} 30
persistence_requests{operation="GetNamespace",service_name="frontend"} 5
persistence_requests{service_name="history"} 99
persistence_latency_sum{operation="UpdateWorkflowExecution",service_name="history"} 0.6
persistence_latency_bucket{operation="UpdateWorkflowExecution",service_name="history",le="0.01"} 50
persistence_latency_count{operation="UpdateWorkflowExecution",service_name="history"} 60
service_requests{operation="PollWorkflowTaskQueue",service_name="frontend"} 1000
not a metric line
"""


def test_parse_sums_each_operation_over_services_and_namespaces() -> None:
    found = server_work.parse(TEXT)
    # Only the persistence counters, by operation; a line without one, buckets and counts ignored.
    assert found == {
        "UpdateWorkflowExecution": 60.0,
        "CreateTasks": 30.0,
        "GetNamespace": 5.0,
        "seconds:UpdateWorkflowExecution": 0.6,
    }


def test_summary_is_per_workflow_with_the_mean_write() -> None:
    work = server_work.summary(server_work.parse(TEXT), workflows=10, top=2)
    assert work["operations_per_workflow"] == 9.5  # 95 operations, 10 workflows
    assert work["writes_per_workflow"] == 6.0
    assert work["write_ms"] == 10.0  # 0.6 s over 60 writes
    assert work["by_operation"] == {"UpdateWorkflowExecution": 6.0, "CreateTasks": 3.0}
    # No write at all (a server that answered nothing yet): no mean, no division by zero.
    assert server_work.summary({}, workflows=0)["write_ms"] is None


def test_the_watch_cuts_a_phase_at_any_moment_between_its_readings() -> None:
    watch = ServerWatch("http://unused")
    watch.samples = [
        (0.0, {"UpdateWorkflowExecution": 100.0}),
        (10.0, {"UpdateWorkflowExecution": 200.0, "CreateTasks": 50.0}),
        (20.0, {"UpdateWorkflowExecution": 400.0, "CreateTasks": 50.0}),
    ]
    assert watch.used() == {"UpdateWorkflowExecution": 300.0, "CreateTasks": 50.0}
    assert watch.used(15.0) == {"UpdateWorkflowExecution": 200.0, "CreateTasks": 50.0}
    # A counter first seen in a later reading counted from 0; a cut before the first reading, none.
    assert watch.used(5.0) == {"UpdateWorkflowExecution": 50.0, "CreateTasks": 25.0}
    assert watch.used(-1.0) == {"UpdateWorkflowExecution": 0.0}
    assert ServerWatch("http://unused").used() == {}


def test_a_counter_that_went_back_counts_nothing() -> None:
    watch = ServerWatch("http://unused")
    watch.samples = [(0.0, {"UpdateWorkflowExecution": 500.0}), (5.0, {"UpdateWorkflowExecution": 20.0})]
    assert watch.used() == {"UpdateWorkflowExecution": 0.0}


async def test_a_server_that_does_not_answer_gives_no_figures() -> None:
    from repatriation.ports import free_port

    watch = await ServerWatch(f"http://127.0.0.1:{free_port()}/metrics").begin()
    assert watch.samples == [] and watch.missed == 1 and not watch.complete
    assert watch._task is None  # not started: the phase is reported without the server's counts


async def test_a_real_dev_server_serves_the_counters_the_watch_reads(tmp_path) -> None:
    """The embedded dev server started with ``temporal_metrics_port`` serves them, and a
    workflow started there is counted among its writes."""
    from temporalio.client import Client

    from repatriation.stack import TemporalDevServer, wait_for_temporal
    from tests.conftest import dev_server_settings

    settings = dev_server_settings(tmp_path)
    server = TemporalDevServer(settings)
    assert server.metrics_url is not None
    server.start()
    try:
        client: Client = await wait_for_temporal(settings, server)
        watch = await ServerWatch(server.metrics_url, every=0.1).begin()
        assert watch.samples, "the server's metrics did not answer"  # the reading before
        await watch.stop()  # read by hand below, as the server publishes
        await client.start_workflow("NoSuchWorkflowType", id="counted", task_queue="nobody-polls")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        # The server publishes its counters as it goes: read until the start is among them.
        while watch.used().get("CreateWorkflowExecution", 0) < 1 and loop.time() < deadline:
            await asyncio.sleep(0.1)
            await watch._sample()
        assert len(watch.samples) >= 2, "the server's metrics were never read"
        assert watch.used()["CreateWorkflowExecution"] >= 1
        assert watch.complete
        assert server_work.summary(watch.used(), workflows=1)["operations_per_workflow"] >= 1
    finally:
        server.stop()


async def test_the_last_reading_waits_for_the_server_to_publish(monkeypatch) -> None:
    """The server publishes its counters about once a second: a reading taken the moment a short
    phase ends would miss its operations (bare Temporal's three workflows once counted no write)."""
    published = {"UpdateWorkflowExecution": 0.0}
    monkeypatch.setattr(server_work, "read", lambda url, timeout=5.0: dict(published))
    monkeypatch.setattr(server_work, "PUBLISHED_WITHIN", 0.3)
    watch = await ServerWatch("http://metrics", every=60).begin()
    # The phase's writes are done; the server publishes them a moment later.
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, published.update, {"UpdateWorkflowExecution": 12.0})
    await watch.stop()
    assert watch.used() == {"UpdateWorkflowExecution": 12.0}
