"""The caseworker's main path in a browser: sign in with a password, open a case through the
form (a bad field first), wait for the identity attestation, attest, download a document."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.web.conftest import Shots, WebStack, sign_in_with_password, until

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def label(page: Page, text: str) -> Locator:
    """The form control whose label starts with ``text``."""
    return page.get_by_label(re.compile("^" + re.escape(text)))


def reload_until(page: Page, seen: str, what: str) -> None:
    """Reload the page (bounded, as a person would) until ``seen`` is on it."""

    def check() -> bool:
        page.reload()
        return seen in page.locator("main").inner_text()

    until(check, what)


def test_caseworker_path(page: Page, stack: WebStack, shots: Shots) -> None:
    """Password sign-in (a wrong one first), the open-case form (a bad nationality first: message
    at the field, values kept, 422), the case page, the attestation, the timeline, a PDF."""
    # A wrong password: the form again, with a clear message, 401.
    page.goto("/login")
    shots(page, "sign-in", phone=True)
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as refused:
        sign_in_with_password(page, "cw-web", "not the password")
    assert refused.value.status == 401
    expect(page.get_by_role("status")).to_contain_text("The user name or the password is wrong")
    expect(page.get_by_label("User name", exact=True)).to_have_value("cw-web")

    sign_in_with_password(page, "cw-web")
    expect(page).to_have_url(re.compile(r"/cases$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    shots(page, "cases")

    page.get_by_role("link", name="Open a case").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Open a case")
    # The three consents are separate, unticked checkboxes with their wording.
    for wording in ("return to their country", "embassy of their country", "personal data is recorded"):
        expect(page.get_by_label(re.compile(wording))).not_to_be_checked()
    born = datetime.now(UTC).date().replace(year=datetime.now(UTC).year - 26, day=3).isoformat()
    label(page, "Given names").fill("Thi Hoa")
    label(page, "Family name").fill("Tran")
    label(page, "Full name in the native script").fill("Trần Thị Hoa")
    label(page, "Date of birth").fill(born)
    label(page, "Sex").select_option("F")
    label(page, "Nationality").fill("XYZ")  # not a country: the service says so
    label(page, "First language").fill("vi")
    label(page, "Shelter or location").fill("Shelter D, Phnom Penh")
    label(page, "Phone").fill("+855 11 222 333")
    label(page, "Family has been contacted").check()
    label(page, "An identity interview was held").check()
    page.get_by_label(re.compile("return to their country")).check()
    page.get_by_label(re.compile("embassy of their country")).check()
    page.get_by_label(re.compile("personal data is recorded")).check()
    with page.expect_response(lambda r: r.url.endswith("/cases/new") and r.request.method == "POST") as bad:
        page.get_by_role("button", name="Open the case").click()
    assert bad.value.status == 422
    nationality_error = page.locator("#e-f-nationality")
    expect(nationality_error).to_contain_text("ISO 3166-1 alpha-3")
    expect(label(page, "Nationality")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("status")).to_contain_text("The case was not opened")
    # What was typed is kept, ticks included.
    expect(label(page, "Given names")).to_have_value("Thi Hoa")
    expect(label(page, "Full name in the native script")).to_have_value("Trần Thị Hoa")
    expect(label(page, "Date of birth")).to_have_value(born)
    expect(label(page, "Nationality")).to_have_value("XYZ")
    expect(page.get_by_label(re.compile("embassy of their country"))).to_be_checked()
    expect(label(page, "An identity interview was held")).to_be_checked()
    shots(page, "form-error", phone=True)

    label(page, "Nationality").fill("VNM")
    page.get_by_role("button", name="Open the case").click()
    expect(page).to_have_url(re.compile(rf"/cases/{UUID}\?done=opened$"))
    expect(page.get_by_role("status")).to_contain_text("Case opened")
    case_url = page.url.split("?")[0]
    reference = page.get_by_role("heading", level=1).inner_text().removeprefix("Case ")
    assert re.fullmatch(r"RP-[0-9A-F]{8}", reference)
    expect(page.locator("main")).to_contain_text("Shelter D, Phnom Penh")  # the caseworker sees it all
    shots(page, "case-opened")

    reload_until(page, "Attest identity", "the identity attestation to be awaited")
    expect(page.locator("table.pending")).to_contain_text("identity attestation")
    shots(page, "attestation-pending", phone=True)
    with page.expect_response(lambda r: "/decide/identity_attestation" in r.url) as unchosen:
        page.get_by_role("button", name="Record the attestation").click()  # no choice made
    assert unchosen.value.status == 422
    expect(page.get_by_role("status")).to_contain_text("choose whether identity is established")
    label(page, "who they say they are").check()
    page.get_by_role("button", name="Record the attestation").click()
    expect(page.get_by_role("status")).to_contain_text("Identity attestation recorded")
    timeline = page.locator("table.timeline")
    expect(timeline).to_contain_text("identity attested (by cw-web)")
    expect(page.get_by_role("heading", name="Attest identity")).to_have_count(0)

    reload_until(page, "ETD application prepared", "the journey to move on to travel documents")
    expect(timeline).to_contain_text("Emergency travel documents")
    shots(page, "timeline-moved-on")

    # The intake record renders beside the journey at the lowest priority (nobody's next step
    # waits on it), so on a busy machine it may come after the stage moved on: reload for it.
    reload_until(page, "Intake record and consent form (version 1, PDF)", "the intake record to be filed")
    link = page.get_by_role("link", name=re.compile(r"^Intake record and consent form \(version 1, PDF\)"))
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "intake_consent-v1.pdf"
    assert Path(download.value.path()).read_bytes()[:5] == b"%PDF-"
    response = page.request.get(link.get_attribute("href") or "")
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert page.url.startswith(case_url)
