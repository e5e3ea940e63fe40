"""Stage 2, identity verification: automated checks, a held duplicate, the caseworker's attestation."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.decisions import DuplicateResolution, IdentityAttestation
    from contracts.messages import DocType, IdentityCheckInput
    from contracts.state import DecisionKind, Outcome, Stage

from workflows import calls
from workflows.journey import CaseStopped, Journey


async def run(j: Journey) -> None:
    j.begin(Stage.identity)
    await j.sync()
    request = IdentityCheckInput(case_id=j.start.case_id, today=workflow.now().date())
    report = await j.guarded(
        Stage.identity,
        "identity checks",
        lambda: j.in_turn(lambda: calls.run_identity_checks(request, local=j.v3)),
        False,
    )
    assert report is not None
    j.state.identity = report
    j.duplicate_open = bool(report.duplicates)
    j.event(
        Stage.identity,
        "checks",
        f"{len(report.checks)} checks, {len(report.failed)} failed, "
        f"{len(report.duplicates)} possible duplicate(s)",
    )
    await j.sync()

    if report.duplicates:
        resolution = await j.await_decision(DecisionKind.duplicate_resolution)
        assert isinstance(resolution, DuplicateResolution)
        if resolution.action == "merge":
            other = next(c for c in report.duplicates if c.case_id == resolution.duplicate_of)
            j.halt(Outcome.duplicate_merged, f"merged into case {other.reference}")
            raise CaseStopped(Outcome.duplicate_merged)

    attestation = await j.await_decision(DecisionKind.identity_attestation)
    assert isinstance(attestation, IdentityAttestation)
    await j.render_record(
        Stage.identity,
        DocType.identity_report,
        identity=report.model_dump(mode="json"),
        identity_verified=attestation.verified,
        attested_by=attestation.decided_by,
    )
    if not attestation.verified:
        j.halt(Outcome.identity_not_established, "the caseworker could not attest identity")
        raise CaseStopped(Outcome.identity_not_established)
    j.finish(Stage.identity, "identity attested")
    await j.sync()
