"""Every endpoint, for every role, on cases in and out of scope: nothing leaks, not even a
case's existence. Out of scope answers 404 whatever the role; in scope with the wrong role 403."""

from __future__ import annotations

import base64
import uuid

import pytest

from contracts.state import DecisionKind
from tests.api.conftest import Api
from tests.journeys import person

# case -> users who may see it
VN = "vn"  # Vietnamese, consented to disclosure, organisation A
PH = "ph"  # Filipina holding her passport, no consent to disclosure, organisation A
SEES = {
    VN: {"cw_a", "sup_a", "liaison_vnm"},
    PH: {"cw_a", "sup_a"},
}
ROLE = {
    "cw_a": "caseworker",
    "cw_b": "caseworker",
    "sup_a": "supervisor",
    "sup_b": "supervisor",
    "liaison_vnm": "liaison",
    "liaison_idn": "liaison",
    "liaison_phl": "liaison",
}

# Decisions sent while the case waits for identity attestation: the right role gets 409 (does not
# fit) or 200 (attestation); nobody's decision may change another organisation's case.
DECISIONS = [
    ("identity", {"decision": "duplicate", "action": "dismiss"}, "caseworker"),
    ("embassy", {"decision": "nationality", "confirmed": True}, "liaison"),
    ("funding", {"approved": False, "reason": "x"}, "supervisor"),
    ("travel", {"decision": "departure"}, "caseworker"),
]
READS = ["", "/documents", "/history"]


@pytest.fixture
async def cases(api: Api) -> dict[str, str]:
    ids = {}
    run = uuid.uuid4().hex[:8]  # references are unique per test: the Temporal server is shared
    for key, index in ((VN, 0), (PH, 4)):
        body = {"client_reference": f"authz-{key}-{run}", "survivor": person(index)}
        response = await api.post("cw_a", "/api/cases", body)
        assert response.status_code == 201, response.text
        ids[key] = response.json()["case_id"]
        await api.h.wait_pending(ids[key], DecisionKind.identity_attestation)
        await api.h.wait_document(ids[key], "intake_consent")
    return ids


async def test_reads(api: Api, cases: dict[str, str]) -> None:
    for key, case_id in cases.items():
        doc = (await api.get("cw_a", f"/api/cases/{case_id}/documents")).json()[0]
        assert doc["doc_type"] == "intake_consent"  # not for the embassy: its liaison reads 404
        for user in ROLE:
            for suffix in [*READS, f"/documents/{doc['document_id']}"]:
                response = await api.get(user, f"/api/cases/{case_id}{suffix}")
                document = suffix.startswith("/documents/")
                sees = user in SEES[key] and not (document and ROLE[user] == "liaison")
                expected = 200 if sees else 404
                assert response.status_code == expected, (user, key, suffix, response.text)
                ghost = "00000000-0000-5000-8000-000000000000"
                if expected == 404 and user in SEES[key]:  # what a document that does not exist answers
                    absent = await api.get(user, f"/api/cases/{case_id}/documents/{ghost}")
                    same = absent.json()["detail"].replace(ghost, doc["document_id"])
                    assert response.json() == {"detail": same}
                elif expected == 404:  # exactly what a case that does not exist answers
                    absent = await api.get(user, f"/api/cases/{ghost}{suffix.replace(case_id, ghost)}")
                    assert response.json() == {"detail": absent.json()["detail"].replace(ghost, case_id)}
            listed = (await api.get(user, "/api/cases")).json()["items"]
            assert (case_id in {c["case_id"] for c in listed}) == (user in SEES[key]), (user, key)
    audit = {user: (await api.get(user, "/api/audit")).status_code for user in ROLE}
    assert audit == {u: 200 if ROLE[u] == "supervisor" else 403 for u in ROLE}
    sup_b_audit = (await api.get("sup_b", "/api/audit")).json()
    assert all(entry["case_id"] not in cases.values() for entry in sup_b_audit)


async def test_liaison_sees_only_consular_fields(api: Api, cases: dict[str, str]) -> None:
    survivor = (await api.get("liaison_vnm", f"/api/cases/{cases[VN]}")).json()["survivor"]
    assert survivor["native_name"] == "Nguyễn Thị Lan" and "evidence" in survivor
    for hidden in ("vulnerabilities", "shelter", "phone", "recruitment", "compound"):
        assert hidden not in survivor
    full = (await api.get("cw_a", f"/api/cases/{cases[VN]}")).json()["survivor"]
    assert full["shelter"] and full["phone"]


async def test_liaison_reads_only_what_consular_work_needs(api: Api, cases: dict[str, str]) -> None:
    """Of the case, its stages and decisions; not its costs (which tell of medical needs and
    escorts), its funding, nor what people wrote about it (a hold's justification); of its
    documents, those the embassy is sent. The caseworker's view of the same case has them all."""
    case_id = cases[VN]
    secret = "in hospital for surgery, test results pending"
    for action, words in (("hold", secret), ("resume", "back at the shelter")):
        body = {"action": action, "justification": words}
        assert (await api.post("sup_a", f"/api/cases/{case_id}/interventions", body)).status_code == 200
    attest = {"decision": "attest", "verified": True}
    assert (await api.post("cw_a", f"/api/cases/{case_id}/identity", attest)).status_code == 200
    await api.h.wait_document(case_id, "etd_application")
    await api.h.wait_pending(case_id, DecisionKind.funding)
    await api.h.wait_document(case_id, "identity_report")
    hold = {"action": "hold", "justification": secret}
    assert (await api.post("sup_a", f"/api/cases/{case_id}/interventions", hold)).status_code == 200

    full = (await api.get("cw_a", f"/api/cases/{case_id}")).json()
    assert full["state"]["estimate"] and full["state"]["hold_reason"] == secret
    every = {d["doc_type"]: d for d in (await api.get("cw_a", f"/api/cases/{case_id}/documents")).json()}
    assert {"intake_consent", "identity_report", "etd_application", "funding_request"} <= set(every)

    response = await api.get("liaison_vnm", f"/api/cases/{case_id}")
    assert response.status_code == 200 and secret not in response.text
    state = response.json()["state"]
    assert state["estimate"] is None and state["funding"] is None and state["hold_reason"] is None
    assert state["on_hold"] is True  # that it is held is shown, not why
    assert state["identity_verified"] is True and state["identity"]["checks"]
    embassy = [e for e in state["history"] if e["stage"] in ("travel_documents", "embassy")]
    assert any(e["detail"] == "etd_application v1" for e in embassy)
    others = [e for e in state["history"] if e["stage"] not in ("travel_documents", "embassy")]
    assert others and all(e["detail"] is None for e in others)
    assert {d["doc_type"] for d in state["documents"]} == {"etd_application"}
    listed = (await api.get("liaison_vnm", f"/api/cases/{case_id}/documents")).json()
    assert [d["doc_type"] for d in listed] == ["etd_application"]
    url = f"/api/cases/{case_id}/documents/{{}}"
    application = await api.get("liaison_vnm", url.format(every["etd_application"]["document_id"]))
    assert application.status_code == 200 and application.content.startswith(b"%PDF")
    for doc_type in ("intake_consent", "identity_report", "funding_request"):
        refused = await api.get("liaison_vnm", url.format(every[doc_type]["document_id"]))
        assert refused.status_code == 404, doc_type
    history = await api.get("liaison_vnm", f"/api/cases/{case_id}/history")
    assert history.status_code == 200 and secret not in history.text


async def test_a_supervisor_reads_the_audit_of_their_own_organisation(api: Api) -> None:
    """Entries about no case (the codec used, sign-ins) name a member of staff and where from:
    each organisation's supervisors read their own staff's, not another organisation's."""
    payloads = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "InRlc3Qi"}]}
    for supervisor in ("sup_a", "sup_b"):
        sealed = (await api.post(supervisor, "/codec/encode", payloads)).json()
        assert (await api.post(supervisor, "/codec/decode", sealed)).status_code == 200
    for reader, colleague, stranger in (("sup_a", "sup_a", "sup_b"), ("sup_b", "sup_b", "sup_a")):
        actors = {entry["actor"] for entry in (await api.get(reader, "/api/audit")).json()}
        assert colleague in actors and stranger not in actors, (reader, actors)


async def test_decisions(api: Api, cases: dict[str, str]) -> None:
    for key, case_id in cases.items():
        for path, body, role in DECISIONS:
            for user in ROLE:
                response = await api.post(user, f"/api/cases/{case_id}/{path}", body)
                if user not in SEES[key]:
                    expected = {404}
                elif ROLE[user] != role:
                    expected = {403}
                else:
                    expected = {409}
                assert response.status_code in expected, (user, key, path, response.text)
        withdraw = {
            u: (await api.post(u, f"/api/cases/{case_id}/withdraw", {"reason": "x"})).status_code
            for u in ROLE
            if ROLE[u] != "caseworker"
        }
        assert withdraw == {u: 404 if u not in SEES[key] else 403 for u in withdraw}
    # Nothing above changed either case.
    for case_id in cases.values():
        state = await api.h.state(case_id)
        assert state.outcome is None and [p.kind for p in state.pending] == ["identity_attestation"]
    opened_by_liaison = await api.post("liaison_vnm", "/api/cases", {"survivor": person(0)})
    assert opened_by_liaison.status_code == 403


async def test_interventions_stuck_list_and_codec(api: Api, cases: dict[str, str]) -> None:
    hold = {"action": "hold", "justification": "checking a safety report"}
    resume = {"action": "resume", "justification": "report checked, no risk"}
    for key, case_id in cases.items():
        for user in ROLE:
            response = await api.post(user, f"/api/cases/{case_id}/interventions", hold)
            if user not in SEES[key]:
                expected = 404
            elif ROLE[user] != "supervisor":
                expected = 403
            else:
                expected = 200
            assert response.status_code == expected, (user, key, response.text)
            if expected == 200:
                assert response.json()["on_hold"] is True
                assert (
                    await api.post(user, f"/api/cases/{case_id}/interventions", resume)
                ).status_code == 200
    stuck = {user: (await api.get(user, "/api/stuck")).status_code for user in ROLE}
    assert stuck == {u: 200 if ROLE[u] == "supervisor" else 403 for u in ROLE}
    payloads = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "InRlc3Qi"}]}
    for user in ROLE:
        response = await api.post(user, "/codec/encode", payloads)
        assert response.status_code == (200 if ROLE[user] == "supervisor" else 403), user
    assert (await api.client.post("/codec/decode", json=payloads)).status_code == 401
    sealed = (await api.post("sup_a", "/codec/encode", payloads)).json()
    opened = (await api.post("sup_a", "/codec/decode", sealed)).json()
    # A string that names no case of the organisation is withheld (tests/api/test_codec_scope.py).
    assert len(opened["payloads"]) == 1 and opened != payloads
    assert b'"withheld"' in base64.b64decode(opened["payloads"][0]["data"])


def test_a_liaison_does_not_see_the_booking() -> None:
    """The fare, the airline's booking reference and ticket are not consular work; the case's
    own staff see them."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from access.actor import Actor
    from access.scope import visible_state
    from contracts.state import Booking, CaseState, FlightOption, Role

    departs = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
    flight = FlightOption(
        option_id="PNH-SGN-1",
        carrier="VN",
        flight_number="VN920",
        origin="PNH",
        destination="SGN",
        departs_at=departs,
        arrives_at=departs,
        fare=Decimal("142.00"),
    )
    booked = Booking(booking_ref="QX7PLM", ticket_number="738-2400000001", option=flight)
    state = CaseState(case_id="c", reference="RP-1", organisation="Org A", nationality="VNM", booking=booked)
    liaison = Actor("liaison-vnm", Role.liaison, "Org A", source="test", countries=("VNM",))
    caseworker = Actor("cw", Role.caseworker, "Org A", source="test")
    assert visible_state(liaison, state).booking is None
    assert visible_state(caseworker, state).booking == booked
