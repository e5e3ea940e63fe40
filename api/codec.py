"""The codec server: the Temporal Web UI and `temporal workflow show --codec-endpoint` decode
encrypted histories through it, for supervisors only, and only what is about their own
organisation's cases.

Every payload is encrypted with the same keys whatever the case, and a codec request carries
payloads only (not the workflow they come from), so each payload is judged by what it says once
decrypted: the JSON names its case (``case_id``, ``case_ids``) or its organisation
(``organisation``), as the case's state, its start, its read model's writes, its activities'
inputs and its decisions' receipts do (the possible duplicates an identity report lists are
other cases, perhaps another organisation's: they do not count). A payload is decoded when it
names something and all it names is the supervisor's organisation's; otherwise, or when it names
nothing (a person's decision as sent, a cost estimate, a list of flights), it is withheld:
replaced by a note saying so. Plain numbers, booleans and nulls are decoded as they are, and a
payload that came unencrypted (the SDK's own markers) is returned as it came. Each case whose
payloads were decoded has the read in its audit trail; what was decoded naming no case, or
withheld, is counted in an entry about no case.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from access.actor import Actor
from api.auth import api_actor
from contracts.state import Role
from repatriation.codec import ENCODING, codec_for

router = APIRouter(prefix="/codec", tags=["codec"])

JSON = b"json/plain"
NULL = b"binary/null"
WITHHELD = Payload(
    metadata={"encoding": JSON},
    data=json.dumps(
        {"withheld": "not decoded: it names no case of your organisation (or another organisation's)"}
    ).encode(),
)


def supervisor(actor: Annotated[Actor, Depends(api_actor)]) -> Actor:
    if actor.role != Role.supervisor:
        raise HTTPException(403, "only a supervisor may decode workflow payloads")
    return actor


async def _payloads(request: Request) -> Payloads:
    try:
        return json_format.Parse(await request.body(), Payloads(), ignore_unknown_fields=True)
    except json_format.ParseError as err:
        raise HTTPException(422, f"payloads: not a Payloads JSON document ({err})") from None


# Keys whose case ids name other cases than the one a payload is about: an identity report's
# possible duplicates may be another organisation's cases (duplicates are looked for across
# organisations), and must not make the report readable by that organisation's supervisors.
NOT_ABOUT = {"duplicates"}


def named_in(value: Any, organisations: set[str], cases: set[str]) -> None:
    """Add to ``organisations`` and ``cases`` every organisation and case id that ``value`` (a
    decoded JSON document) names, at any depth, but under :data:`NOT_ABOUT`."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in NOT_ABOUT:
                continue
            if key == "organisation" and isinstance(item, str):
                organisations.add(item)
            elif key == "case_id" and isinstance(item, str):
                cases.add(item)
            elif key == "case_ids" and isinstance(item, list):
                cases.update(i for i in item if isinstance(i, str))
            named_in(item, organisations, cases)
    elif isinstance(value, list):
        for item in value:
            named_in(item, organisations, cases)


SCALAR = "scalar"  # a bare number, flag or null: nothing to attribute, nothing personal


def _names(payload: Payload) -> tuple[set[str], set[str]] | str | None:
    """The organisations and cases a JSON payload names; :data:`SCALAR` for a bare number,
    flag or null; None when it cannot be read (not JSON, or nested past reading: withheld)."""
    encoding = payload.metadata.get("encoding")
    if encoding == NULL:
        return SCALAR
    if encoding != JSON:
        return None
    try:
        value = json.loads(payload.data)
        if value is None or isinstance(value, bool | int | float):
            return SCALAR
        organisations: set[str] = set()
        cases: set[str] = set()
        named_in(value, organisations, cases)
    except (ValueError, RecursionError):
        return None
    return organisations, cases


@router.post("/decode")
async def decode(request: Request, actor: Annotated[Actor, Depends(supervisor)]) -> dict[str, Any]:
    payloads = await _payloads(request)
    codec = codec_for(request.app.state.settings)
    try:
        decoded = await codec.decode(payloads.payloads)
    except Exception as err:  # noqa: BLE001 - wrong key or corrupted payload
        raise HTTPException(422, f"payloads: cannot be decrypted ({type(err).__name__})") from None
    named = [_names(p) for p in decoded]
    every_case = {c for n in named if isinstance(n, tuple) for c in n[1]}
    service = request.app.state.service
    visible = await asyncio.to_thread(service.visible_case_ids, actor, every_case)
    shown: list[Payload] = []
    read: dict[str, int] = {}
    about_no_case = 0
    for sent, payload, names in zip(payloads.payloads, decoded, named, strict=True):
        if sent.metadata.get("encoding") != ENCODING or names == SCALAR:
            shown.append(payload)  # it came in clear (the SDK's own markers), or a bare number, flag, null
            continue
        organisations, cases = names if isinstance(names, tuple) else (set(), set())
        ours = (organisations or cases) and organisations <= {actor.organisation} and cases <= visible
        shown.append(payload if ours else WITHHELD)
        if ours and not cases:
            about_no_case += 1  # the organisation's own (an embassy's batcher)
        for case_id in cases if ours else ():
            read[case_id] = read.get(case_id, 0) + 1
    withheld = sum(p is WITHHELD for p in shown)
    details: dict[str | None, str | None] = {
        case_id: f"{count} payload(s)" for case_id, count in sorted(read.items())
    }
    if not details or withheld or about_no_case:
        details[None] = (
            f"{len(shown) - withheld} payload(s) decoded ({about_no_case} naming no case), "
            f"{withheld} withheld"
        )
    await asyncio.to_thread(service.audit_each, actor, "codec.decode", details)
    return json_format.MessageToDict(Payloads(payloads=shown))


@router.post("/encode")
async def encode(request: Request, actor: Annotated[Actor, Depends(supervisor)]) -> dict[str, Any]:
    payloads = await _payloads(request)
    encoded = await codec_for(request.app.state.settings).encode(payloads.payloads)
    return json_format.MessageToDict(Payloads(payloads=encoded))
