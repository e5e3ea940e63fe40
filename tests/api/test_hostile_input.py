"""Hostile and bad input: random and malformed bodies on every endpoint never cause a server
error, every rejection is a clear 4xx; markup typed into a field comes out as text."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.state import DecisionKind
from tests.api.conftest import Api
from tests.journeys import person

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
NASTY = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "../../etc/passwd",
        "\u0000",
        "💥" * 50,
        "a" * 5000,
        "${jndi:ldap://x}",
        "{{7*7}}",
        "NaN",
        "-1",
        "9" * 40,
        "",
        " ",
    ]
)
FIELDS = [
    "decision",
    "verified",
    "action",
    "duplicate_of",
    "confirmed",
    "reason",
    "issued",
    "document_number",
    "expires_on",
    "approved",
    "source_id",
    "amount",
    "currency",
    "option_id",
    "reception_organisation",
    "departed_at",
    "kind",
    "days",
    "stage",
    "role",
    "to",
    "justification",
    "note",
]
NEAR_VALID = st.dictionaries(st.sampled_from(FIELDS), JSON | NASTY, max_size=6)
PATHS = ["identity", "embassy", "funding", "travel", "withdraw", "interventions"]


def collect(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """Draw ``n`` examples with Hypothesis (run as a generator: the calls are async)."""
    drawn: list[Any] = []

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw(value: Any) -> None:
        drawn.append(value)

    draw()
    return drawn


async def test_no_body_makes_a_server_error(api: Api) -> None:
    case_id = (
        await api.post(
            "cw_a", "/api/cases", {"client_reference": f"fz-{uuid.uuid4().hex[:8]}", "survivor": person(0)}
        )
    ).json()["case_id"]
    await api.h.wait_pending(case_id, DecisionKind.identity_attestation)
    bodies = collect(JSON, 60) + collect(NEAR_VALID, 120)
    seen: set[int] = set()
    for i, body in enumerate(bodies):
        path = PATHS[i % len(PATHS)]
        user = ("cw_a", "sup_a", "liaison_vnm")[i % 3]
        response = await api.post(user, f"/api/cases/{case_id}/{path}", body)
        seen.add(response.status_code)
        assert response.status_code < 500, (path, body, response.text)
        if response.status_code >= 400:
            assert response.json()["detail"], (path, body)
    for body in collect(st.dictionaries(st.text(max_size=10), JSON, max_size=5), 40) + collect(
        st.fixed_dictionaries({"survivor": st.fixed_dictionaries({k: JSON | NASTY for k in person(0)})}), 40
    ):
        response = await api.post("cw_a", "/api/cases", body)
        assert response.status_code in (201, 200, 422), (body, response.text)
    for query in collect(
        st.dictionaries(
            st.sampled_from(["stage", "nationality", "q", "page", "page_size", "stuck"]), NASTY, max_size=3
        ),
        40,
    ):
        response = await api.get("sup_a", "/api/cases", params=query)
        assert response.status_code in (200, 422), (query, response.text)
    assert 422 in seen  # malformed bodies are refused with the field named
    state = await api.h.state(case_id)
    assert state.outcome is None or state.outcome == "withdrawn"  # only a valid withdrawal may end it


async def test_markup_in_fields_is_text_on_pages(api: Api) -> None:
    hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    body = {
        "client_reference": f"xss-{uuid.uuid4().hex[:8]}",
        "survivor": person(0, given_names=hostile, shelter=hostile),
    }
    case_id = (await api.post("cw_a", "/api/cases", body)).json()["case_id"]
    login = await api.client.post("/login", data={"token": api.tokens["cw_a"]})
    assert login.status_code in (200, 303)
    page = await api.client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert "<script>alert('x')</script>" not in page.text
    assert "&lt;script&gt;" in page.text and "onerror=alert(1)&gt;" in page.text


async def test_a_rule_across_fields_names_its_fields(api: Api) -> None:
    """A rule checked across a model's fields is reported at the fields it names, from the
    body's top, without pydantic's "Value error, " and without a union's tag for a field."""
    consent = {"repatriation": False, "disclosure_to_embassy": True, "data_processing": True}
    no_consent = person(0, consent=consent)
    opened = await api.post("cw_a", "/api/cases", {"survivor": no_consent})
    assert opened.status_code == 422
    assert opened.json()["errors"] == [
        {"field": "survivor.consent.repatriation", "message": "a case needs consent to repatriation"}
    ]
    assert opened.json()["detail"] == "survivor.consent.repatriation: a case needs consent to repatriation"

    case_id = (await api.post("cw_a", "/api/cases", {"survivor": person(1)})).json()["case_id"]
    etd = await api.post("liaison_idn", f"/api/cases/{case_id}/embassy", {"decision": "etd", "issued": True})
    assert etd.status_code == 422
    assert etd.json()["errors"] == [
        {"field": "document_number and expires_on", "message": "required when an ETD is issued"}
    ]
    plain = await api.post("cw_a", "/api/cases", {"survivor": person(0, nationality="XYZ")})
    (error,) = plain.json()["errors"]
    assert error["field"] == "survivor.nationality" and "ISO 3166-1 alpha-3" in error["message"]
    assert not error["message"].startswith("Value error")


async def test_a_date_written_as_a_number_is_refused_as_such(api: Api) -> None:
    """Pydantic alone reads 19950301 or 86400 as seconds since 1970: a puzzling refusal, or a day
    of 1970 taken silently. A date must be written as one."""
    for written in ("19950301", 86400):
        opened = await api.post("cw_a", "/api/cases", {"survivor": person(0, date_of_birth=written)})
        assert opened.status_code == 422
        (error,) = opened.json()["errors"]
        assert error["field"] == "survivor.date_of_birth"
        assert error["message"].startswith("must be a date written YYYY-MM-DD")
