"""The supervisor's main path in a browser: the dashboard, funding approved there, the case page,
the audit trail."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.conftest import OpenedCase, Shots, WebStack, sign_in_with_password


def test_supervisor_path(
    page: Page, stack: WebStack, embassy_cases: dict[str, OpenedCase], shots: Shots
) -> None:
    """Password sign-in lands on /dashboard; the Indonesian case waits on its embassy and for
    funding; approving it (amount prefilled with the estimate) commits the money, which the case
    page shows; the audit page lists the reads and the decisions."""
    case = embassy_cases["IDN"]
    sign_in_with_password(page, "sup-web")
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    embassies = page.locator("section", has=page.get_by_role("heading", name="Waiting on the embassies"))
    expect(embassies.get_by_role("heading", name=re.compile(r"^Indonesia \(IDN\): "))).to_be_visible()
    expect(embassies.get_by_role("link", name=case.reference)).to_be_visible()
    request = page.locator("article.funding-item", has_text=case.reference)
    expect(request).to_be_visible()
    amount = request.get_by_label(re.compile(r"^Amount"))
    estimate = amount.input_value()
    assert re.fullmatch(r"\d+\.\d{2}", estimate), estimate
    expect(page.get_by_role("link", name="Embassy contact")).to_be_visible()  # the per-stage counts
    shots(page, "dashboard", phone=True)

    # On the case page, a rejection without a reason: the page again with the message, 422.
    request.get_by_role("link", name=re.compile("^Reject, or see the full estimate")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {case.reference}")
    with page.expect_response(lambda r: r.url.endswith("/decide/funding")) as rejected:
        page.get_by_role("button", name="Reject funding").click()
    assert rejected.value.status == 422
    expect(page.get_by_role("status")).to_contain_text("Reason: required when funding is rejected")
    expect(page.get_by_role("button", name="Approve funding")).to_be_visible()  # still awaited
    shots(page, "reject-refused")

    page.get_by_role("link", name="Dashboard").click()
    request = page.locator("article.funding-item", has_text=case.reference)
    request.get_by_label("Funding source").select_option("iom-return-fund")
    request.get_by_role("button", name=f"Approve funding for {case.reference}").click()
    expect(page).to_have_url(re.compile(r"/dashboard\?done=funding"))
    expect(page.get_by_role("status")).to_contain_text(f"Case {case.reference}: Funding decision recorded")
    expect(page.locator("article.funding-item", has_text=case.reference)).to_have_count(0)
    shots(page, "approved")

    page.get_by_role("link", name=case.reference).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {case.reference}")
    expect(page.locator("main")).to_contain_text(
        f"USD {estimate} committed from IOM-style Assisted Voluntary Return and Reintegration fund"
    )
    expect(page.locator("table.timeline")).to_contain_text(f"funding approved: USD {estimate}")
    shots(page, "case")

    page.get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    trail = page.locator("table.audit")
    for action in (
        "case.open",
        "decision.identity_attestation",
        "decision.funding",
        "case.read",
        "session.login",
    ):
        expect(trail).to_contain_text(action)
    expect(trail.locator("tr", has_text="decision.funding").first).to_contain_text("sup-web")
    expect(trail.locator("tr", has_text="decision.funding").first).to_contain_text(case.reference)
    shots(page, "audit", phone=True)
