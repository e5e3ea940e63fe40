"""Stage 1, intake and consent: the intake record and consent form.

The consent itself was recorded when the case was opened (the service refuses a case without
it); the form is its record, rendered beside the identity checks (``Journey.render_record``)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.messages import DocType
    from contracts.state import Stage

from workflows.journey import Journey


async def run(j: Journey) -> None:
    j.begin(Stage.intake)
    await j.sync()
    await j.render_record(Stage.intake, DocType.intake_consent)
    j.finish(Stage.intake)
    await j.sync()
