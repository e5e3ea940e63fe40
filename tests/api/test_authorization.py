"""Every endpoint, for every role, on cases in and out of scope: nothing leaks, not even a
case's existence. Out of scope answers 404 whatever the role; in scope with the wrong role 403."""

from __future__ import annotations

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
        for user in ROLE:
            for suffix in [*READS, f"/documents/{doc['document_id']}"]:
                response = await api.get(user, f"/api/cases/{case_id}{suffix}")
                expected = 200 if user in SEES[key] else 404
                assert response.status_code == expected, (user, key, suffix, response.text)
                if expected == 404:  # exactly what a case that does not exist answers
                    ghost = "00000000-0000-5000-8000-000000000000"
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
    assert opened == payloads
