"""Stuck cases in a browser: a supervisor puts a case on hold from its page, finds it on /stuck
(reached from the dashboard, filtered by reason and nationality), resumes it, extends a deadline;
a caseworker sees neither /stuck nor the intervention forms; the audit trail keeps every
intervention with its justification."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from repatriation.synthetic import survivors
from tests.web.conftest import (
    DESKTOP,
    OpenedCase,
    Shots,
    WebStack,
    pending_of,
    sign_in_with_password,
    until,
)

HOLD_WHY = "Survivor admitted to hospital; wait for the doctor's clearance"
RESUME_WHY = "Doctor cleared the survivor to travel again"
EXTEND_WHY = "Caseworker on leave this week; attestation follows"
DEADLINE = "%Y-%m-%d %H:%M UTC"


@pytest.fixture(scope="module")
def waiting_case(stack: WebStack) -> OpenedCase:
    """A Chinese survivor's case of its own, opened through the JSON API and waiting for the
    caseworker's identity attestation (nothing else decides on it)."""
    person = survivors(datetime.now(UTC).date())[5]
    assert person["nationality"] == "CHN"
    with stack.api("cw-web") as api:
        response = api.post("/api/cases", json={"client_reference": "web-stuck-CHN", "survivor": person})
        assert response.status_code in (200, 201), response.text
        data = response.json()
        until(lambda: "identity_attestation" in pending_of(api, data["case_id"]), "identity attestation")
    return OpenedCase(data["case_id"], data["reference"], "CHN")


def intervention(page: Page, title: str) -> Locator:
    """The intervention form under the heading ``title`` on the case page."""
    return page.locator("section.intervention", has=page.get_by_role("heading", name=title, exact=True))


def justification(section: Locator) -> Locator:
    return section.get_by_label(re.compile("^Justification"))


def stuck_row(page: Page, case: OpenedCase) -> Locator:
    return page.locator("table.stuck tbody tr", has=page.get_by_role("link", name=case.reference))


def test_hold_find_resume_extend(
    browser: Browser, page: Page, stack: WebStack, waiting_case: OpenedCase, shots: Shots
) -> None:
    case = waiting_case
    sign_in_with_password(page, "sup-web")
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", name="Stuck cases", level=2)).to_be_visible()

    # The case page: the interventions that fit a case waiting for a person, no "stuck" box.
    page.goto(f"/cases/{case.case_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {case.reference}")
    expect(page.get_by_role("heading", name="Interventions")).to_be_visible()
    offered = ("Extend a deadline", "Reassign", "Override a stage", "Put the case on hold", "Cancel the case")
    for title in offered:
        expect(intervention(page, title)).to_be_visible()
    expect(intervention(page, "Retry the failed step")).to_have_count(0)  # nothing failed for good
    expect(intervention(page, "Resume the case")).to_have_count(0)
    expect(page.locator(".stuck-box")).to_have_count(0)
    expect(intervention(page, "Override a stage")).to_contain_text("At least 20 characters")
    kinds = intervention(page, "Extend a deadline").get_by_label(re.compile("^Decision"))
    expect(kinds.locator("option")).to_have_text(["identity attestation"])
    shots(page, "case-interventions", phone=True)

    # Refusals come back on the case page with the message and the service's status.
    token = page.locator('form[action$="/intervene/hold"] input[name="csrf_token"]').input_value()
    base = f"/cases/{case.case_id}/intervene"
    short = page.request.post(f"{base}/hold", form={"csrf_token": token, "justification": "because"})
    assert short.status == 422 and "Write at least 10 characters" in short.text()
    assert f"Case {case.reference}" in short.text()
    idle = page.request.post(f"{base}/resume", form={"csrf_token": token, "justification": RESUME_WHY})
    assert idle.status == 409 and "The resumption was not recorded. The case is not on hold" in idle.text()
    forged = page.request.post(f"{base}/hold", form={"csrf_token": "forged", "justification": HOLD_WHY})
    assert forged.status == 403
    assert page.request.post(f"{base}/explode", form={"csrf_token": token}).status == 404

    # Hold, from the form: the flash, the box saying why, and "resume" instead of "hold".
    hold = intervention(page, "Put the case on hold")
    justification(hold).fill(HOLD_WHY)
    hold.get_by_role("button", name="Put the case on hold").click()
    expect(page).to_have_url(re.compile(r"\?done=hold$"))
    expect(page.get_by_role("status")).to_contain_text("Case put on hold")
    box = page.locator(".stuck-box")
    expect(box.get_by_role("heading", name="This case is stuck")).to_be_visible()
    expect(box).to_contain_text("On hold")
    expect(box).to_contain_text(f"Reason given: {HOLD_WHY}")
    expect(intervention(page, "Resume the case")).to_be_visible()
    expect(intervention(page, "Put the case on hold")).to_have_count(0)
    shots(page, "case-on-hold", phone=True)

    # A caseworker of the same organisation: why the case is stuck, but no /stuck and no forms.
    caseworker = browser.new_context(base_url=stack.url, viewport=DESKTOP)
    try:
        cw = caseworker.new_page()
        sign_in_with_password(cw, "cw-web")
        expect(cw).to_have_url(re.compile(r"/cases$"))
        expect(cw.get_by_role("link", name="Stuck cases")).to_have_count(0)
        refused = cw.goto("/stuck")
        assert refused is not None and refused.status == 403
        expect(cw.get_by_role("heading", level=1)).to_have_text("Not allowed")
        cw.goto(f"/cases/{case.case_id}")
        expect(cw.get_by_role("heading", level=1)).to_have_text(f"Case {case.reference}")
        expect(cw.locator(".stuck-box")).to_contain_text(HOLD_WHY)
        expect(cw.get_by_role("heading", name="Interventions")).to_have_count(0)
        expect(cw.locator('form[action*="/intervene/"]')).to_have_count(0)
        cw_token = cw.locator('form[action="/logout"] input[name="csrf_token"]').input_value()
        denied = cw.request.post(f"{base}/resume", form={"csrf_token": cw_token, "justification": RESUME_WHY})
        assert denied.status == 403 and "supervisor" in denied.text()
    finally:
        caseworker.close()

    # The dashboard counts it among the holds and leads to /stuck, filtered by that reason.
    page.get_by_role("link", name="Dashboard").click()
    on_hold = page.locator(".stuck-tiles a", has_text="On hold")
    expect(on_hold.locator(".count")).to_have_text(re.compile(r"^[1-9]\d*$"))
    on_hold.click()
    expect(page).to_have_url(re.compile(r"/stuck\?reason=on_hold$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Stuck cases")
    expect(page.get_by_label("Reason")).to_have_value("on_hold")
    row = stuck_row(page, case)
    expect(row).to_have_count(1)
    expect(row.locator('[data-label="Reason"]')).to_have_text("On hold")
    expect(row.locator('[data-label="Stage"]')).to_have_text("Identity verification")
    age = row.locator('[data-label="Stuck for"] .age')
    expect(age).to_have_text(re.compile(r"^(under a minute|\d+ min)$"))
    expect(row.locator('[data-label="Last error or note"]')).to_have_text(HOLD_WHY)
    shots(page, "stuck", phone=True)

    # The filters: another reason hides it, its embassy shows it, another embassy hides it.
    page.get_by_label("Reason").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"reason=failed"))
    expect(stuck_row(page, case)).to_have_count(0)
    page.get_by_label("Reason").select_option("on_hold")
    page.get_by_label(re.compile("^Nationality")).fill("chn")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_label(re.compile("^Nationality"))).to_have_value("CHN")
    expect(stuck_row(page, case)).to_have_count(1)
    page.get_by_label(re.compile("^Nationality")).fill("VNM")
    page.get_by_role("button", name="Filter").click()
    expect(stuck_row(page, case)).to_have_count(0)
    expect(page.locator("table.stuck")).to_contain_text("No stuck case matches these filters.")

    # Resume from the case page: the box goes, /stuck no longer lists the case.
    page.goto("/stuck")
    stuck_row(page, case).get_by_role("link", name=case.reference).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {case.reference}")
    resume = intervention(page, "Resume the case")
    justification(resume).fill(RESUME_WHY)
    resume.get_by_role("button", name="Resume the case").click()
    expect(page).to_have_url(re.compile(r"\?done=resume$"))
    expect(page.get_by_role("status")).to_contain_text("Case resumed")
    expect(page.locator(".stuck-box")).to_have_count(0)
    expect(intervention(page, "Put the case on hold")).to_be_visible()
    page.goto("/stuck?reason=on_hold")
    expect(page.locator("table.stuck")).to_be_visible()
    expect(stuck_row(page, case)).to_have_count(0)
    page.goto("/stuck")
    expect(page.locator("main")).not_to_contain_text(case.reference)

    # Extend the attestation's deadline by 3 days: the list of decisions awaited shows it.
    page.goto(f"/cases/{case.case_id}")
    attestation = page.locator("table.pending tr", has_text="identity attestation")
    deadline = attestation.locator('[data-label="Deadline"]')
    before = datetime.strptime(deadline.inner_text().strip(), DEADLINE)
    extend = intervention(page, "Extend a deadline")
    extend.get_by_label(re.compile("^Decision")).select_option("identity_attestation")
    extend.get_by_label(re.compile("^Days to add")).fill("3")
    justification(extend).fill(EXTEND_WHY)
    extend.get_by_role("button", name="Extend the deadline").click()
    expect(page).to_have_url(re.compile(r"\?done=extend_deadline$"))
    expect(page.get_by_role("status")).to_contain_text("Deadline extended")
    expect(deadline).to_have_text((before + timedelta(days=3)).strftime(DEADLINE))
    expect(page.locator("table.timeline")).to_contain_text("identity_attestation deadline moved to")

    # The audit trail: each intervention, by whom, on which case, with its justification.
    page.get_by_role("link", name="Audit trail").click()
    trail = page.locator("table.audit")
    for action, why in (
        ("intervention.hold", HOLD_WHY),
        ("intervention.resume", RESUME_WHY),
        ("intervention.extend_deadline", EXTEND_WHY),
    ):
        entry = trail.locator("tr", has_text=action).filter(has_text=case.reference)
        expect(entry).to_have_count(1)
        expect(entry).to_contain_text(why)
        expect(entry).to_contain_text("sup-web")
