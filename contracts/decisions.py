"""Human decisions: the payloads of the workflow's Updates, one model per decision."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.survivor import Day

Note = Annotated[str, Field(max_length=2000)]
Actor = Annotated[str, Field(min_length=1, max_length=120)]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decided_by: Actor = Field(description="The user who decided (their user name).")
    note: Note | None = None


class DuplicateResolution(Decision):
    action: Literal["merge", "dismiss"]
    duplicate_of: str | None = Field(default=None, description="The case this one duplicates.")

    @model_validator(mode="after")
    def _target(self) -> DuplicateResolution:
        if self.action == "merge" and not self.duplicate_of:
            raise ValueError("duplicate_of: required to merge into another case")
        return self


class IdentityAttestation(Decision):
    verified: bool = Field(description="The caseworker attests the survivor is who they say.")


class NationalityDecision(Decision):
    confirmed: bool
    reason: Note | None = None

    @model_validator(mode="after")
    def _reason(self) -> NationalityDecision:
        if not self.confirmed and not self.reason:
            raise ValueError("reason: required when nationality is refused")
        return self


class EtdDecision(Decision):
    issued: bool
    document_number: Annotated[str, Field(pattern=r"^[A-Z0-9-]{4,20}$")] | None = None
    expires_on: Day | None = None
    reason: Note | None = None

    @model_validator(mode="after")
    def _fields(self) -> EtdDecision:
        if self.issued and (not self.document_number or not self.expires_on):
            raise ValueError("document_number and expires_on: required when an ETD is issued")
        if not self.issued and not self.reason:
            raise ValueError("reason: required when an ETD is refused")
        return self


class FundingDecision(Decision):
    approved: bool
    source_id: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    amount: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    reason: Note | None = None

    @model_validator(mode="after")
    def _fields(self) -> FundingDecision:
        if self.approved and (self.source_id is None or self.amount is None):
            raise ValueError("source_id and amount: required when funding is approved")
        if not self.approved and not self.reason:
            raise ValueError("reason: required when funding is rejected")
        return self


class FlightChoice(Decision):
    option_id: Annotated[str, Field(min_length=1, max_length=80)]


class DepartureConfirmation(Decision):
    departed_at: datetime | None = None


class ArrivalConfirmation(Decision):
    reception_organisation: Annotated[str, Field(min_length=1, max_length=200)]
    arrived_at: datetime | None = None


class ConsentWithdrawal(Decision):
    reason: Note = Field(min_length=1)
