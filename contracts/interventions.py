"""What a supervisor does to a stuck case: the payloads of the `intervene` Update."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.state import DecisionKind, Role, Stage

Why = Annotated[str, Field(min_length=10, max_length=2000, description="Kept in the audit trail.")]


class _Intervention(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decided_by: str = Field(default="", description="Set from the authenticated supervisor.")


class Retry(_Intervention):
    action: Literal["retry"]
    justification: Why


class ExtendDeadline(_Intervention):
    action: Literal["extend_deadline"]
    kind: DecisionKind
    days: Annotated[float, Field(gt=0, le=120)]
    justification: Why


class Reassign(_Intervention):
    action: Literal["reassign"]
    role: Literal[Role.caseworker, Role.liaison]
    to: Annotated[str, Field(min_length=1, max_length=120)]
    justification: Why


class Override(_Intervention):
    action: Literal["override"]
    stage: Stage
    justification: Annotated[str, Field(min_length=20, max_length=2000)]


class Hold(_Intervention):
    action: Literal["hold"]
    justification: Why


class Resume(_Intervention):
    action: Literal["resume"]
    justification: Why


class Cancel(_Intervention):
    action: Literal["cancel"]
    justification: Why


Intervention = Annotated[
    Retry | ExtendDeadline | Reassign | Override | Hold | Resume | Cancel, Field(discriminator="action")
]
