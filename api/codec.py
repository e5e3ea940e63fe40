"""The codec server: the Temporal Web UI and `temporal workflow show --codec-endpoint` decode
encrypted histories through it, for supervisors only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from access.actor import Actor
from api.auth import api_actor
from contracts.state import Role
from repatriation.codec import codec_for

router = APIRouter(prefix="/codec", tags=["codec"])


def supervisor(actor: Annotated[Actor, Depends(api_actor)]) -> Actor:
    if actor.role != Role.supervisor:
        raise HTTPException(403, "only a supervisor may decode workflow payloads")
    return actor


async def _payloads(request: Request) -> Payloads:
    try:
        return json_format.Parse(await request.body(), Payloads(), ignore_unknown_fields=True)
    except json_format.ParseError as err:
        raise HTTPException(422, f"payloads: not a Payloads JSON document ({err})") from None


@router.post("/decode")
async def decode(request: Request, actor: Annotated[Actor, Depends(supervisor)]) -> dict[str, Any]:
    payloads = await _payloads(request)
    codec = codec_for(request.app.state.settings)
    try:
        decoded = await codec.decode(payloads.payloads)
    except Exception as err:  # noqa: BLE001 - wrong key or corrupted payload
        raise HTTPException(422, f"payloads: cannot be decrypted ({type(err).__name__})") from None
    request.app.state.service.audit(actor, "codec.decode", None, f"{len(decoded)} payload(s)")
    return json_format.MessageToDict(Payloads(payloads=decoded))


@router.post("/encode")
async def encode(request: Request, actor: Annotated[Actor, Depends(supervisor)]) -> dict[str, Any]:
    payloads = await _payloads(request)
    encoded = await codec_for(request.app.state.settings).encode(payloads.payloads)
    return json_format.MessageToDict(Payloads(payloads=encoded))
