"""The JSON API against the real app and a real Temporal test server."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from contracts.state import DecisionKind
from database.models import AuditEntry
from tests.api.conftest import Api
from tests.journeys import person


async def open_via_api(api: Api, index: int = 0, reference: str | None = None, **changes) -> str:  # type: ignore[no-untyped-def]
    reference = reference or f"api-{uuid.uuid4().hex[:12]}"
    response = await api.post(
        "cw_a", "/api/cases", {"client_reference": reference, "survivor": person(index, **changes)}
    )
    assert response.status_code == 201, response.text
    return response.json()["case_id"]


async def test_open_is_idempotent_and_decisions_flow(api: Api) -> None:
    body = {"client_reference": f"shelter-{uuid.uuid4().hex[:8]}", "survivor": person(0)}
    first = await api.post("cw_a", "/api/cases", body)
    second = await api.post("cw_a", "/api/cases", body)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["case_id"] == second.json()["case_id"] and second.json()["created"] is False
    case_id = first.json()["case_id"]

    await api.h.wait_pending(case_id, DecisionKind.identity_attestation)
    await api.h.wait_document(case_id, "intake_consent")  # rendered beside the identity checks
    detail = (await api.get("cw_a", f"/api/cases/{case_id}")).json()
    assert detail["stage"] == "identity"
    assert [p["kind"] for p in detail["pending"]] == ["identity_attestation"]
    assert detail["pending"][0]["deadline"] and detail["documents"][0]["doc_type"] == "intake_consent"

    response = await api.post(
        "cw_a", f"/api/cases/{case_id}/identity", {"decision": "attest", "verified": True}
    )
    assert response.status_code == 200, response.text
    assert response.json()["identity_verified"] is True
    again = await api.post("cw_a", f"/api/cases/{case_id}/identity", {"decision": "attest", "verified": True})
    assert again.status_code == 409 and "already attested" in again.json()["detail"]

    await api.h.wait_pending(case_id, DecisionKind.nationality)
    bad = await api.post("liaison_vnm", f"/api/cases/{case_id}/embassy", {"decision": "etd", "issued": True})
    assert bad.status_code == 422 and "document_number" in bad.json()["detail"]
    ok = await api.post(
        "liaison_vnm", f"/api/cases/{case_id}/embassy", {"decision": "nationality", "confirmed": True}
    )
    assert ok.status_code == 200 and ok.json()["nationality_confirmed"] is True

    await api.h.wait_document(case_id, "identity_report")
    docs = (await api.get("cw_a", f"/api/cases/{case_id}/documents")).json()
    assert {d["doc_type"] for d in docs} >= {"intake_consent", "identity_report", "embassy_request"}
    for doc in (docs[0], next(d for d in docs if d["doc_type"] == "embassy_request")):
        assert doc["url"] == f"/api/cases/{case_id}/documents/{doc['document_id']}"
        pdf = await api.get("cw_a", doc["url"])
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")

    verified = await api.client.get(f"/verify/{docs[0]['verification_code']}")
    assert verified.status_code == 200 and verified.json()["genuine"] is True
    assert case_id not in verified.text and "Nguy" not in verified.text

    history = (await api.get("sup_a", f"/api/cases/{case_id}/history")).json()
    kinds = {(e["kind"], e["event"]) for e in history}
    assert ("stage", "started") in kinds and ("audit", "decision.identity_attestation") in kinds
    assert ("audit", "case.read") in kinds and ("audit", "document.read") in kinds
    with api.h.db.session() as s:
        reads = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "case.read")))
    assert reads and all(r.source == "api:203.0.113.7" for r in reads)


async def test_malformed_bodies_name_the_field(api: Api) -> None:
    bad_country = await api.post("cw_a", "/api/cases", {"survivor": person(0, nationality="XYZ")})
    assert bad_country.status_code == 422 and "survivor.nationality" in bad_country.json()["detail"]
    no_consent = person(
        0, consent={"repatriation": False, "disclosure_to_embassy": True, "data_processing": True}
    )
    refused = await api.post("cw_a", "/api/cases", {"survivor": no_consent})
    assert refused.status_code == 422 and "consent.repatriation" in refused.json()["detail"]
    unknown_field = await api.post(
        "cw_a", "/api/cases", {"survivor": {**person(0), "favourite_colour": "red"}}
    )
    assert unknown_field.status_code == 422 and "favourite_colour" in unknown_field.json()["detail"]
    case_id = await open_via_api(api)
    wrong_decision = await api.post("cw_a", f"/api/cases/{case_id}/travel", {"decision": "teleport"})
    assert wrong_decision.status_code == 422 and "decision" in wrong_decision.json()["detail"]


async def test_authentication_and_transport_rules(api: Api) -> None:
    assert (await api.client.get("/api/cases")).status_code == 401
    forged = await api.client.get("/api/cases", headers={"Authorization": "Bearer rp_forged"})
    assert forged.status_code == 401
    from access import users

    users.revoke_tokens(api.h.db, "cw_b")
    assert (await api.get("cw_b", "/api/cases")).status_code == 401
    wrong_type = await api.client.post(
        "/api/cases", headers={**api.auth("cw_a"), "content-type": "text/plain"}, content=b"{}"
    )
    assert wrong_type.status_code == 415
    huge = await api.client.post(
        "/api/cases", headers={**api.auth("cw_a"), "content-type": "application/json"}, content=b"x" * 300_000
    )
    assert huge.status_code == 413

    async def in_chunks():  # type: ignore[no-untyped-def]  # no Content-Length: streamed
        for _ in range(30):
            yield b"x" * 10_000

    as_json = {**api.auth("cw_a"), "content-type": "application/json"}
    streamed = await api.client.post("/api/cases", headers=as_json, content=in_chunks())
    assert streamed.status_code == 413 and "body larger than" in streamed.json()["detail"]
    small = json.dumps({"survivor": person(0), "client_reference": f"chunked-{uuid.uuid4().hex[:8]}"})

    async def small_in_chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(small), 500):
            yield small[start : start + 500].encode()

    opened = await api.client.post("/api/cases", headers=as_json, content=small_in_chunks())
    assert opened.status_code == 201, opened.text
    case_id = await open_via_api(api)
    traversal = await api.get("cw_a", f"/api/cases/{case_id}/documents/..%2F..%2Fapp.db")
    assert traversal.status_code in (404, 422)
    missing = await api.client.get("/nowhere/at/all")
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text  # a page for people
    assert (await api.client.get("/api/nowhere")).json() == {"detail": "Not Found"}  # JSON for programs
    health = await api.client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"database": "ok", "temporal": "ok"}
    spec = (await api.client.get("/openapi.json")).json()
    for path in (
        "/api/cases",
        "/api/cases/{case_id}",
        "/api/cases/{case_id}/identity",
        "/api/cases/{case_id}/embassy",
        "/api/cases/{case_id}/funding",
        "/api/cases/{case_id}/travel",
        "/api/cases/{case_id}/withdraw",
        "/api/cases/{case_id}/documents",
        "/api/cases/{case_id}/documents/{document_id}",
        "/api/cases/{case_id}/history",
        "/healthz",
    ):
        assert path in spec["paths"], path


async def test_listing_filters_and_pages(api: Api) -> None:
    ids = [await open_via_api(api, i) for i in (0, 1, 2)]
    for case_id in ids:
        await api.h.wait_for(case_id, lambda s: s.stage == "identity", "identity")
    page = (await api.get("sup_a", "/api/cases", params={"page_size": 2})).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    page2 = (await api.get("sup_a", "/api/cases", params={"page_size": 2, "page": 2})).json()
    assert len(page2["items"]) == 1
    vn = (await api.get("sup_a", "/api/cases", params={"nationality": "vnm"})).json()
    assert [c["nationality"] for c in vn["items"]] == ["VNM"]
    reference = vn["items"][0]["reference"]
    found = (await api.get("sup_a", "/api/cases", params={"q": reference[3:].lower()})).json()
    assert [c["reference"] for c in found["items"]] == [reference]
    assert (await api.get("sup_a", "/api/cases", params={"stage": "identity"})).json()["total"] == 3
    assert (await api.get("sup_a", "/api/cases", params={"stuck": "true"})).json()["total"] == 0
    assert (await api.get("sup_a", "/api/cases", params={"stage": "nowhere"})).status_code == 422


async def test_expired_and_forged_sessions_are_refused(api: Api) -> None:
    import time

    from api.auth import SESSION_COOKIE, _sign

    key = api.h.settings.signing_key()
    from access import users as accounts

    user = next(u for u in accounts.list_users(api.h.db) if u.name == "cw_a")
    old = f"{user.id}.{int(time.time()) - int(api.h.settings.session_hours * 3600) - 60}"
    expired = f"{old}.{_sign(key, old)}"
    fresh = f"{user.id}.{int(time.time())}"
    forged = f"{fresh}.{_sign(b'not the key', fresh)}"
    for value in (expired, forged):
        api.client.cookies.set(SESSION_COOKIE, value)
        response = await api.client.get("/cases", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].endswith("/login")
    api.client.cookies.set(SESSION_COOKIE, f"{fresh}.{_sign(key, fresh)}")
    assert (await api.client.get("/cases", follow_redirects=False)).status_code == 200


async def test_an_intervention_with_an_idempotency_key_is_applied_once(api: Api) -> None:
    case_id = await open_via_api(api, 1)
    before = (await api.h.wait_pending(case_id, DecisionKind.identity_attestation)).pending_of(
        DecisionKind.identity_attestation
    )
    assert before is not None
    body = {"action": "extend_deadline", "kind": "identity_attestation", "days": 2}
    body["justification"] = "in hospital until Monday"
    url = f"/api/cases/{case_id}/interventions"
    headers = {**api.auth("sup_a"), "Idempotency-Key": "retry-7f3e9a1c"}
    answers = [await api.client.post(url, headers=headers, json=body) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    moved = before.deadline + timedelta(days=2)
    for answer in answers:
        (pending,) = [p for p in answer.json()["pending"] if p["kind"] == "identity_attestation"]
        assert datetime.fromisoformat(pending["deadline"]) == moved
    bad = await api.client.post(url, headers={**api.auth("sup_a"), "Idempotency-Key": "no spaces"}, json=body)
    assert bad.status_code == 422 and "idempotency-key" in bad.text.lower()
