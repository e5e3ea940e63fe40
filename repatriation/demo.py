"""`repatriation demo`: the embedded stack, several synthetic survivors, robots deciding, every
case walked to closure, printing where each case is and where its documents are."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from access import users
from access.actor import Actor
from contracts.state import Role
from database.engine import Database
from repatriation.robots import decide_pending
from repatriation.service import CaseService
from repatriation.settings import Settings
from repatriation.stack import embedded_stack
from repatriation.synthetic import open_request, survivors


def _line(case: object) -> str:
    state = getattr(case, "state", None) or {}
    pending = ", ".join(p["kind"] for p in state.get("pending", [])) or "-"
    where = case.outcome or case.stage  # type: ignore[attr-defined]
    return f"  {case.reference}  {case.nationality}  {where:<18} waiting for: {pending}"  # type: ignore[attr-defined]


DEMO_USERS = {
    Role.caseworker: ("demo-caseworker", []),
    Role.liaison: ("demo-liaison", ["VNM", "IDN", "THA", "MMR", "PHL", "CHN"]),
    Role.supervisor: ("demo-supervisor", []),
}


def demo_users(db: Database, settings: Settings) -> dict[str, str]:
    """One user of each role; a fresh API token for each on every run (tokens are shown once)."""
    tokens = {}
    existing = {u.name for u in users.list_users(db)}
    for role, (name, countries) in DEMO_USERS.items():
        if name in existing:
            tokens[role.value] = users.issue_token(db, name).token
        else:
            tokens[role.value] = users.add_user(db, name, role, settings.organisation, countries).token
    return tokens


DEMO_EMBASSY_WINDOW = 10.0


async def run_demo(settings: Settings, stop: asyncio.Event, duplicate: bool = True, pace: float = 1.0) -> int:
    if "embassy_request_window_seconds" not in settings.model_fields_set:
        # A demo's embassies are asked every few seconds, not every minute (unless configured).
        settings = settings.model_copy(update={"embassy_request_window_seconds": DEMO_EMBASSY_WINDOW})
    async with embedded_stack(settings) as stack:
        service = CaseService(settings, stack.client, stack.deps.db)
        caseworker = Actor("demo-caseworker", Role.caseworker, settings.organisation, source="demo")
        print(f"Temporal Web UI:  http://127.0.0.1:{settings.temporal_ui_port}")
        print(f"Data folder:      {settings.data_dir.resolve()}")
        print(f"Web pages and API: {stack.web_url}  — sign in with one of these tokens:")
        for role, token in demo_users(stack.deps.db, settings).items():
            print(f"  {role:<11} {token}")
        people = survivors(datetime.now(UTC).date())
        if duplicate:  # the same person registered twice in a mass intake
            people.append(dict(people[0], phone="+855 99 000 111"))
        for number, person in enumerate(people, start=1):
            if stop.is_set():
                return 130
            opened = await service.open_case(open_request(person, f"demo-{number:03d}"), caseworker)
            verb = "opened" if opened.created else "resumed"
            print(f"{verb} case {opened.reference} ({person['nationality']})")
        last = ""
        while not stop.is_set():
            cases = service.list_cases(limit=1000)
            report = "\n".join(_line(c) for c in cases)
            if report != last:
                print(f"\n[{datetime.now().strftime('%H:%M:%S')}] where the cases are:\n{report}", flush=True)
                last = report
            if cases and all(c.outcome for c in cases):
                break
            await decide_pending(service, settings.organisation)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pace)
        if stop.is_set():
            return 130
        print("\nEvery case is closed. Documents:")
        for case in service.list_cases(limit=1000):
            print(f"  {case.reference} ({case.outcome})")
            for doc in service.documents(case.id):
                print(f"    {doc.doc_type:<20} v{doc.version}  {doc.id}")
        print(
            "Documents are sealed at rest: open them in the web pages, or write one out with "
            "`repatriation case document CASE DOCUMENT_ID --out FILE.pdf`."
        )
        print(
            f"Mail sent (outbox, sealed at rest): {settings.outbox_dir.resolve()}; "
            "read it with `repatriation outbox list` and `repatriation outbox show NAME`."
        )
    return 0
