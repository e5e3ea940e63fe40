"""The embedded Temporal dev server as the stack starts it: our search attributes work, and they
are served from the server's cache, not read from its SQLite file at every use."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from bench import server_work
from repatriation.stack import TemporalDevServer, wait_for_temporal
from tests.conftest import dev_server_settings

STAGE = SearchAttributeKey.for_keyword("RepatriationStage")
NATIONALITY = SearchAttributeKey.for_keyword("Nationality")
# What the server reads when it has no cache of the search attributes (the CLI's default).
METADATA_READS = ("GetCurrentClusterMetadata", "GetNamespace")
STARTS = 10


async def _counts_once_published(url: str, operation: str, at_least: float) -> dict[str, float]:
    """The server publishes its counters about once a second: read until ``operation`` shows."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    counts = server_work.read(url)
    while counts.get(operation, 0) < at_least and loop.time() < deadline:
        await asyncio.sleep(0.2)
        counts = server_work.read(url)
    return counts


async def test_search_attributes_work_and_come_from_the_servers_cache(tmp_path: Path) -> None:
    settings = dev_server_settings(tmp_path)
    server = TemporalDevServer(settings)
    server.start()
    try:
        client: Client = await wait_for_temporal(settings, server)
        url = server.metrics_url
        assert url is not None
        # A first start fills the caches (the namespace's, the search attributes').
        await client.start_workflow(
            "NoSuchWorkflowType",
            id="warm",
            task_queue="nobody-polls",
            search_attributes=TypedSearchAttributes([SearchAttributePair(STAGE, "intake")]),
        )
        before = await _counts_once_published(url, "CreateWorkflowExecution", 1)
        for index in range(STARTS):
            await client.start_workflow(
                "NoSuchWorkflowType",
                id=f"case-{index}",
                task_queue="nobody-polls",
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(STAGE, "identity"), SearchAttributePair(NATIONALITY, "VNM")]
                ),
            )
        after = await _counts_once_published(url, "CreateWorkflowExecution", 1 + STARTS)
        assert after.get("CreateWorkflowExecution", 0) - before.get("CreateWorkflowExecution", 0) == STARTS
        # Without the cache each start read the cluster's metadata and the namespace (two reads
        # or more a start); with it, none or next to none.
        reads = sum(after.get(op, 0) - before.get(op, 0) for op in METADATA_READS)
        assert reads < STARTS / 2, {op: after.get(op, 0) - before.get(op, 0) for op in METADATA_READS}

        # And the attributes are there to search by, as operators do in the Web UI.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        found: list[str] = []
        while len(found) < STARTS and loop.time() < deadline:
            query = "RepatriationStage = 'identity' AND Nationality = 'VNM'"
            found = [w.id async for w in client.list_workflows(query)]
            if len(found) < STARTS:
                await asyncio.sleep(0.2)
        assert sorted(found) == sorted(f"case-{i}" for i in range(STARTS))
    finally:
        server.stop()
