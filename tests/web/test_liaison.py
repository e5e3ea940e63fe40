"""The embassy liaison's main path in a browser: token sign-in, the queue, nationality and ETD in
one step; a liaison of another country does not see the case at all."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import DESKTOP, OpenedCase, Shots, WebStack, sign_in_with_token


def test_liaison_path(
    browser: Browser, page: Page, stack: WebStack, embassy_cases: dict[str, OpenedCase], shots: Shots
) -> None:
    """Token sign-in lands on /queue; the Vietnamese case is there (not the Indonesian one); its
    page hides shelter and medical data; one form records nationality and ETD; the case leaves
    the queue; a Thai liaison gets 404 for it."""
    case, other = embassy_cases["VNM"], embassy_cases["IDN"]
    sign_in_with_token(page, stack.tokens["liaison-vnm"])
    expect(page).to_have_url(re.compile(r"/queue$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Embassy queue")
    item = page.locator("article.queue-item", has_text=case.reference)
    expect(item).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(other.reference)
    shots(page, "queue", phone=True)

    # Need to know: the case page shows the identity, not the shelter, phone or medical notes.
    item.get_by_role("link", name=case.reference).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {case.reference}")
    main = page.locator("main")
    expect(main).to_contain_text("Nguyễn Thị Lan")
    for hidden in ("Shelter A", "+855 12 345 678", "Sihanoukville", "Shelter or location"):
        expect(main).not_to_contain_text(hidden)
    expect(page.get_by_role("heading", name="Nationality", exact=True)).to_be_visible()  # its own form
    shots(page, "case")

    page.goto("/queue")
    # A date the form's own rules read (spaces around it, as a hand-made post may send) but too
    # soon for a flight: refused with the field named, not a failure page; nothing recorded.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    too_soon = f" {datetime.now(UTC).date().isoformat()} "
    form = {"csrf_token": token or "", "outcome": "issue", "document_number": "VN-ETD-2041"}
    form["expires_on"] = too_soon
    refused = page.request.post(f"/queue/{case.case_id}", form=form)
    assert refused.status == 422 and "expires_on: the ETD must be valid at least until" in refused.text()
    item = page.locator("article.queue-item", has_text=case.reference)
    valid_until = (datetime.now(UTC).date() + timedelta(days=60)).isoformat()
    item.get_by_label(re.compile("^Nationality confirmed and ETD issued")).check()
    item.get_by_label(re.compile("^ETD number")).fill("VN-ETD-2041")
    item.get_by_label(re.compile("^ETD valid until")).fill(valid_until)
    item.get_by_role("button", name="Record the embassy's decision").click()
    expect(page).to_have_url(re.compile(r"/queue\?done=embassy"))
    expect(page.get_by_role("status")).to_contain_text(
        f"Case {case.reference}: Nationality and emergency travel document decisions recorded"
    )
    expect(page.locator("article.queue-item", has_text=case.reference)).to_have_count(0)
    shots(page, "recorded")

    page.goto(f"/cases/{case.case_id}")
    timeline = page.locator("table.timeline")
    expect(timeline).to_contain_text("nationality confirmed (by liaison-vnm)")
    expect(timeline).to_contain_text(f"ETD issued, valid until {valid_until} (by liaison-vnm)")
    expect(page.locator("main")).to_contain_text("VN-ETD-2041")

    # Another country's liaison: not in their queue, and the case page is "not found".
    thai = browser.new_context(base_url=stack.url, viewport=DESKTOP)
    try:
        other_page = thai.new_page()
        sign_in_with_token(other_page, stack.tokens["liaison-tha"])
        expect(other_page).to_have_url(re.compile(r"/queue$"))
        expect(other_page.locator("main")).not_to_contain_text(case.reference)
        response = other_page.goto(f"/cases/{case.case_id}")
        assert response is not None and response.status == 404
        expect(other_page.get_by_role("heading", level=1)).to_have_text("Not found")
        expect(other_page.locator("main")).not_to_contain_text("Nguyễn")
        shots(other_page, "other-country-404")
    finally:
        thai.close()
