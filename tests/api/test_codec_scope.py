"""The codec endpoint decodes for a supervisor only what is about their own organisation's cases
(api/codec.py): a real case's history, encrypted as the deployed stack stores it, read by the
case's supervisor and by another organisation's."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from google.protobuf import json_format
from sqlalchemy import select

from contracts.state import DecisionKind
from database.models import AuditEntry
from tests.api.conftest import Api
from tests.conftest import ORG
from tests.journeys import person


def _payloads_of(history: Any) -> list[dict[str, Any]]:
    """Every payload of a history, as the codec's JSON (what `temporal workflow show` posts)."""
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "encoding" in value.get("metadata", {}) and "data" in value:
                found.append(value)
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for event in history.events:
        walk(json_format.MessageToDict(event))
    return found


def _texts(body: dict[str, Any]) -> list[str]:
    return [base64.b64decode(p.get("data", "")).decode() for p in body["payloads"]]


async def test_a_supervisor_decodes_only_their_own_organisation_s_payloads(api: Api) -> None:
    body = {"client_reference": f"codec-{uuid.uuid4().hex[:8]}", "survivor": person(0)}
    response = await api.post("cw_a", "/api/cases", body)
    assert response.status_code == 201, response.text
    case_id = response.json()["case_id"]
    await api.h.wait_pending(case_id, DecisionKind.identity_attestation)
    attest = {"decision": "attest", "verified": True}
    attested = await api.post("cw_a", f"/api/cases/{case_id}/identity", attest)
    assert attested.status_code == 200, attested.text
    await api.h.wait_pending(case_id, DecisionKind.funding)

    plain = _payloads_of(await api.h.handle(case_id).fetch_history())
    assert len(plain) > 10
    sealed = (await api.post("sup_a", "/codec/encode", {"payloads": plain})).json()
    assert case_id not in json.dumps(sealed)  # encrypted, as the deployed stack stores it

    own = (await api.post("sup_a", "/codec/decode", sealed)).json()
    other = (await api.post("sup_b", "/codec/decode", sealed)).json()
    own_texts, other_texts = _texts(own), _texts(other)
    assert len(own_texts) == len(other_texts) == len(plain)

    # The case's own supervisor reads what names the case: its start, the documents asked for,
    # the decision's receipt.
    about_the_case = [t for t in own_texts if case_id in t]
    assert len(about_the_case) >= 5
    assert any(ORG in t and '"nationality"' in t for t in about_the_case)  # its start
    assert any('"doc_type":"etd_application"' in t for t in about_the_case)
    # What names no case (the attestation as sent: who decided, verified or not) is withheld.
    withheld = [t for t in own_texts if '"withheld"' in t]
    assert withheld and all("decided_by" not in t for t in withheld)
    # Another organisation's supervisor reads nothing of it but plain numbers, flags and nulls.
    assert not any(case_id in t for t in other_texts)
    assert all('"withheld"' in t or t in ("", "null", "true", "false") or t.isdigit() for t in other_texts)

    # A payload naming this organisation and a case it does not have is withheld too.
    mixed = {"organisation": ORG, "case_ids": [case_id, str(uuid.uuid4())]}
    sealed_forged = (await api.post("sup_a", "/codec/encode", _json_payloads(mixed))).json()
    assert '"withheld"' in _texts((await api.post("sup_a", "/codec/decode", sealed_forged)).json())[0]

    # An identity report lists possible duplicates, perhaps another organisation's cases (they
    # are looked for across organisations): that does not make it theirs to read, and the
    # case's own state naming such a duplicate is still its own supervisor's.
    their_body = {"client_reference": f"codec-b-{uuid.uuid4().hex[:8]}", "survivor": person(1)}
    theirs = await api.post("cw_b", "/api/cases", their_body)
    assert theirs.status_code == 201, theirs.text
    their_case = theirs.json()["case_id"]
    duplicate = {"case_id": their_case, "reference": "RP-B", "score": 0.97, "reason": "same birth date"}
    check = {"name": "age", "outcome": "passed", "detail": "minor aged 15"}
    report = {"checks": [check], "duplicates": [duplicate]}
    state = {"case_id": case_id, "organisation": ORG, "identity": report}
    nested = "[" * 20_000 + "]" * 20_000  # deeper than a reader goes: withheld, not an error
    sealed_more = (await api.post("sup_a", "/codec/encode", _json_payloads(report, state, nested))).json()
    by_b = _texts((await api.post("sup_b", "/codec/decode", sealed_more)).json())
    by_a = _texts((await api.post("sup_a", "/codec/decode", sealed_more)).json())
    assert ['"withheld"' in t for t in by_b] == [True, True, True]
    assert ['"withheld"' in t for t in by_a] == [True, False, True]  # the report names no case

    # The read is in the case's audit trail, as the supervisor who made it; the other's is not.
    with api.h.db.session() as s:
        entries = s.execute(
            select(AuditEntry.actor, AuditEntry.detail).where(
                AuditEntry.case_id == case_id, AuditEntry.action == "codec.decode"
            ).order_by(AuditEntry.id)
        ).all()
    assert [actor for actor, _ in entries] == ["sup_a", "sup_a"]
    assert entries[0].detail == f"{len(about_the_case)} payload(s)" and entries[1].detail == "1 payload(s)"


def _json_payloads(*values: Any) -> dict[str, Any]:
    """JSON payloads of ``values`` (a string is taken as JSON text already)."""
    encoding = base64.b64encode(b"json/plain").decode()
    texts = [v if isinstance(v, str) else json.dumps(v) for v in values]
    return {
        "payloads": [
            {"metadata": {"encoding": encoding}, "data": base64.b64encode(t.encode()).decode()} for t in texts
        ]
    }
