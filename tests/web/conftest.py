"""One real stack for every browser test of this package: `repatriation up` as a subprocess on
free ports with its own data folder, users of each role made with `repatriation users add`, and
Debian's Chromium driven by Playwright's sync API."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from repatriation.synthetic import survivors
from tests.stack.conftest import Cli, free_port, processes_mentioning

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ORG = "Web Test Shelter"
PASSWORD = "correct horse battery staple"
WAIT = 60.0  # seconds: the bound of every wait in these tests


def until(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll ``check`` every 0.1 s until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


@dataclass
class WebStack:
    url: str
    cli: Cli
    tokens: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    def api(self, user: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[user]}"}, timeout=30
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing test shows the end of the stack's own output (worker warnings, errors)."""
    outcome = yield
    report = outcome.get_result()
    web = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(web, WebStack) and web.output:
        report.sections.append(("`repatriation up` output (last 40 lines)", "".join(web.output[-40:])))


def _add_user(cli: Cli, name: str, role: str, *extra: str, password: bool = False) -> str:
    args = ["users", "add", name, "--role", role, *extra]
    if password:
        cli.env["REPATRIATION_NEW_PASSWORD"] = PASSWORD
        args.append("--password-from-env")
    output = cli.run(*args).stdout
    cli.env.pop("REPATRIATION_NEW_PASSWORD", None)
    token = re.search(r"\brp_[A-Za-z0-9_-]+", output)
    assert token, output
    return token.group(0)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    data_dir = tmp_path_factory.mktemp("web") / "var"
    port = free_port()
    env = {
        **os.environ,
        "REPATRIATION_DATA_DIR": str(data_dir),
        "REPATRIATION_HTTP_PORT": str(port),
        "REPATRIATION_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "REPATRIATION_TEMPORAL_UI_PORT": str(free_port()),
        "REPATRIATION_ORGANISATION": ORG,
        "REPATRIATION_LOG_LEVEL": "WARNING",
        "REPATRIATION_EMBASSY_REQUEST_WINDOW_SECONDS": "1",
        # The checkout first: an editable install made before access/, api/ and web/ existed
        # does not map them.
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    for name in ("REPATRIATION_DATABASE_URL", "REPATRIATION_SECRET_KEY", "REPATRIATION_SECURE_COOKIES"):
        env.pop(name, None)
    cli = Cli(data_dir=data_dir, env=env)
    web = WebStack(url=f"http://127.0.0.1:{port}", cli=cli)
    web.tokens["cw-web"] = _add_user(cli, "cw-web", "caseworker", password=True)
    web.tokens["sup-web"] = _add_user(cli, "sup-web", "supervisor", password=True)
    web.tokens["liaison-vnm"] = _add_user(cli, "liaison-vnm", "liaison", "--country", "VNM")
    web.tokens["liaison-tha"] = _add_user(cli, "liaison-tha", "liaison", "--country", "THA")

    up = subprocess.Popen(
        [cli.exe, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    started = threading.Event()

    def drain() -> None:  # keep reading, so a full pipe never blocks the stack
        assert up.stdout is not None
        for line in up.stdout:
            web.output.append(line)
            if "The worker is running" in line:
                started.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not started.wait(0.1):
            if up.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("`repatriation up` did not start:\n" + "".join(web.output))
        yield web
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
        reader.join(timeout=10)
        for pid in processes_mentioning(str(data_dir)):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser, stack: WebStack) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=stack.url, viewport=DESKTOP, accept_downloads=True)
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


class Shots:
    """Screenshots as test-artifacts/screenshots/<test>-<step>.png (and -phone.png at 390×844)."""

    def __init__(self, test: str) -> None:
        self.test = test
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Page, step: str, phone: bool = False) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{self.test}-{step}.png"), full_page=True)
        if phone:
            size = page.viewport_size or DESKTOP
            page.set_viewport_size(PHONE)
            page.screenshot(path=str(SCREENSHOTS / f"{self.test}-{step}-phone.png"), full_page=True)
            page.set_viewport_size(size)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name.removeprefix("test_"))


def sign_in_with_password(page: Page, name: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("User name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_in_with_token(page: Page, token: str) -> None:
    page.goto("/login")
    page.get_by_label("API token", exact=True).fill(token)
    page.get_by_role("button", name="Sign in with the token").click()


def pending_of(client: httpx.Client, case_id: str) -> set[str]:
    response = client.get(f"/api/cases/{case_id}")
    response.raise_for_status()
    return {p["kind"] for p in response.json()["pending"]}


@dataclass(frozen=True)
class OpenedCase:
    case_id: str
    reference: str
    nationality: str


@pytest.fixture(scope="package")
def embassy_cases(stack: WebStack) -> dict[str, OpenedCase]:
    """A Vietnamese and an Indonesian case, opened and attested through the JSON API, both
    waiting for their embassy and for funding."""
    people = survivors(datetime.now(UTC).date())
    opened: dict[str, OpenedCase] = {}
    with stack.api("cw-web") as api:
        for person in (people[0], people[1]):
            body = {"client_reference": f"web-{person['nationality']}", "survivor": person}
            response = api.post("/api/cases", json=body)
            assert response.status_code in (200, 201), response.text
            data = response.json()
            opened[person["nationality"]] = OpenedCase(
                data["case_id"], data["reference"], person["nationality"]
            )
        for case in opened.values():
            until(lambda c=case: "identity_attestation" in pending_of(api, c.case_id), "identity attestation")
            response = api.post(
                f"/api/cases/{case.case_id}/identity", json={"decision": "attest", "verified": True}
            )
            assert response.status_code == 200, response.text
        for case in opened.values():
            until(
                lambda c=case: {"nationality", "funding"} <= pending_of(api, c.case_id),
                "the embassy and the funding request",
            )
    return opened
