"""Record workflow histories for the replay test (tests/workflows/test_replay.py).

Run after a release, not after every change: the files under tests/workflows/histories/ are
the cases "in flight" that every later version of the workflow must still replay.

    .venv/bin/python scripts/record_histories.py NAME
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts.state import DecisionKind  # noqa: E402
from tests.conftest import CASEWORKER, binary, harness_for  # noqa: E402
from tests.journeys import (  # noqa: E402
    approve_funding,
    open_case,
    through_identity,
    walk_to_closure,
)

OUT = Path(__file__).resolve().parents[1] / "tests" / "workflows" / "histories"


async def main(name: str) -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with harness_for(env, Path(tmp)) as h:
            happy = await open_case(h, 1, reference="replay-happy")
            await walk_to_closure(h, happy, reception="IOM")
            await h.handle(happy).result()

            withdrawn = await open_case(h, 0, reference="replay-withdrawn")
            await through_identity(h, withdrawn)
            await approve_funding(h, withdrawn)
            await h.wait_pending(withdrawn, DecisionKind.nationality)
            await h.service.decide(withdrawn, DecisionKind.consent_withdrawal, {"reason": "x"}, CASEWORKER)
            await h.handle(withdrawn).result()

            for label, case_id in (("happy", happy), ("withdrawn", withdrawn)):
                history = await h.handle(case_id).fetch_history()
                path = OUT / f"{name}-{label}.json"
                path.write_text(history.to_json(), encoding="utf-8")
                print(path)
            # The embassy's batcher that asked for both (v3 on), ended as it ends when idle.
            from activities.embassy_requests import batcher_id

            case = h.service.resolve(happy)
            batcher = h.env.client.get_workflow_handle(
                batcher_id(h.settings.task_queue, "VNM", case.organisation)
            )
            try:
                await batcher.describe()
            except Exception:  # noqa: BLE001 - before v3 there is no batcher
                batcher = None
            if batcher is not None:
                await h.env.sleep(timedelta(hours=2))  # idle: it ends by itself
                await batcher.result()
                path = OUT / f"{name}-embassy-requests.json"
                path.write_text((await batcher.fetch_history()).to_json(), encoding="utf-8")
                print(path)
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "v1"))
