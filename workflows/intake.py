"""Stage 1, intake and consent: the intake record and consent form."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.messages import DocType
    from contracts.state import Stage

from workflows.journey import Journey


async def run(j: Journey) -> None:
    j.begin(Stage.intake)
    await j.sync()
    await j.render(Stage.intake, DocType.intake_consent)
    j.finish(Stage.intake)
    await j.sync()
