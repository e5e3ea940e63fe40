"""Sessions and forms: no page without signing in, a POST without the CSRF token is refused
with 403, the session cookie is HttpOnly and SameSite=Strict, unknown pages are HTML 404s."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from tests.web.conftest import Shots, WebStack, sign_in_with_password


def test_csrf_and_session_cookie(context: BrowserContext, page: Page, stack: WebStack, shots: Shots) -> None:
    page.goto("/cases")
    expect(page).to_have_url(re.compile(r"/login$"))  # no session: to the sign-in page

    sign_in_with_password(page, "cw-web")
    expect(page).to_have_url(re.compile(r"/cases$"))
    cookie = next(c for c in context.cookies() if c["name"] == "rp_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["expires"] > 0  # a bounded session

    for form in ({"given_names": "Nobody"}, {"given_names": "Nobody", "csrf_token": "forged"}):
        refused = page.request.post("/cases/new", form=form, max_redirects=0)
        assert refused.status == 403, refused.status
        assert "security token" in refused.text()
        assert "Traceback" not in refused.text()
    assert page.request.post("/logout", form={}, max_redirects=0).status == 403
    assert (
        page.request.post(
            "/cases/00000000-0000-0000-0000-000000000000/decide/identity_attestation",
            form={"verified": "yes"},
            max_redirects=0,
        ).status
        == 403
    )
    page.goto("/cases")
    expect(page).to_have_url(re.compile(r"/cases$"))  # still signed in

    missing = page.goto("/no-such-page")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert missing.headers["content-type"].startswith("text/html")
    shots(page, "not-found")

    # The page's own token signs out; afterwards the pages send you to sign in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert not [c for c in context.cookies() if c["name"] == "rp_session"]
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login$"))
