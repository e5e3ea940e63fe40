"""Request bodies of the decision endpoints: the decision models, with a `decision` field where
one path takes several kinds, and without `decided_by` (the authenticated user decides)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from contracts import decisions as d
from contracts.state import DecisionKind

NoActor = Field(default=None, exclude=True, description="Set from the authenticated user.")


class AttestBody(d.IdentityAttestation):
    decision: Literal["attest"]
    decided_by: str | None = NoActor  # type: ignore[assignment]


class DuplicateBody(d.DuplicateResolution):
    decision: Literal["duplicate"]
    decided_by: str | None = NoActor  # type: ignore[assignment]


class NationalityBody(d.NationalityDecision):
    decision: Literal["nationality"]
    decided_by: str | None = NoActor  # type: ignore[assignment]


class EtdBody(d.EtdDecision):
    decision: Literal["etd"]
    decided_by: str | None = NoActor  # type: ignore[assignment]


class FundingBody(d.FundingDecision):
    decided_by: str | None = NoActor  # type: ignore[assignment]


class FlightBody(d.FlightChoice):
    decision: Literal["flight"]
    decided_by: str | None = NoActor  # type: ignore[assignment]


class DepartureBody(d.DepartureConfirmation):
    decision: Literal["departure"]
    decided_by: str | None = NoActor  # type: ignore[assignment]


class ArrivalBody(d.ArrivalConfirmation):
    decision: Literal["arrival"]
    decided_by: str | None = NoActor  # type: ignore[assignment]


class WithdrawBody(d.ConsentWithdrawal):
    decided_by: str | None = NoActor  # type: ignore[assignment]


IdentityBody = Annotated[AttestBody | DuplicateBody, Field(discriminator="decision")]
EmbassyBody = Annotated[NationalityBody | EtdBody, Field(discriminator="decision")]
TravelBody = Annotated[FlightBody | DepartureBody | ArrivalBody, Field(discriminator="decision")]

KIND_OF = {
    AttestBody: DecisionKind.identity_attestation,
    DuplicateBody: DecisionKind.duplicate_resolution,
    NationalityBody: DecisionKind.nationality,
    EtdBody: DecisionKind.etd,
    FundingBody: DecisionKind.funding,
    FlightBody: DecisionKind.flight_choice,
    DepartureBody: DecisionKind.departure,
    ArrivalBody: DecisionKind.arrival,
    WithdrawBody: DecisionKind.consent_withdrawal,
}
