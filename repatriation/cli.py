"""`repatriation`: the embedded stack, the demo, cases and a subcommand per decision.

Stage names are the same here as in workflows/, activities/, documents/ and the API:
identity, embassy, funding, travel.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts.state import DecisionKind, Role
from contracts.survivor import CaseOpenRequest


def _db(settings: Any) -> Any:
    """The app database: migrated at start on the embedded stack, checked in production."""
    from database.engine import database_for

    return database_for(settings.db_url, settings.schema_mode)


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from repatriation.ops import load_settings

    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "port", None):
        overrides["http_port"] = args.port
    return load_settings(**overrides)


def _run(main: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run ``main(stop)``; Ctrl-C or SIGTERM sets ``stop`` and the command winds down cleanly,
    stopping every process it started."""

    async def runner() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        work = asyncio.ensure_future(main(stop))
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not stop.is_set():
            return work.result()
        # Stopping: let the current step end by itself, then cancel what is left; the finally
        # blocks stop the worker and the Temporal dev server either way.
        await asyncio.wait({work}, timeout=10)
        if not work.done():
            work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work
        return 130

    code = asyncio.run(runner())
    if code == 130:
        print("\nstopped; every process this command started has stopped", file=sys.stderr)
    return code


# -- the stack -------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    from repatriation.stack import embedded_stack

    settings = _settings(args)

    async def main(stop: asyncio.Event) -> int:
        async with embedded_stack(settings) as stack:
            print(f"Web pages and API: {stack.web_url}  (OpenAPI: {stack.web_url}/docs)")
            print(f"Temporal:         {settings.temporal_address}")
            print(f"Temporal Web UI:  http://127.0.0.1:{settings.temporal_ui_port}")
            print(f"Data folder:      {settings.data_dir.resolve()}")
            print("The worker is running. Ctrl-C stops everything.", flush=True)
            await stop.wait()
        return 130

    return _run(main)


def cmd_serve(args: argparse.Namespace) -> int:
    """The web pages and the API against a running Temporal (deployments), with the deployment's
    housekeeping: the daily lists' Schedule and the stuck sweep (``repatriation.temporal.housekeeping``)."""
    from api.app import create_app
    from repatriation.http import serving
    from repatriation.temporal import connect_unless_stopped, housekeeping

    settings = _settings(args)

    async def main(stop: asyncio.Event) -> int:
        client = await connect_unless_stopped(settings, stop)
        if client is None:
            return 130  # told to stop before Temporal answered
        db = _db(settings)
        app = create_app(settings, client, db)
        async with (
            housekeeping(client, db, settings),
            serving(app, settings.http_host, settings.http_port) as url,
        ):
            print(f"Web pages and API: {url}", flush=True)
            await stop.wait()
        return 130

    return _run(main)


def cmd_worker(args: argparse.Namespace) -> int:
    from repatriation.temporal import run_worker

    settings = _settings(args)

    async def main(stop: asyncio.Event) -> int:
        await run_worker(settings, stop)
        return 130

    return _run(main)


def cmd_demo(args: argparse.Namespace) -> int:
    from repatriation.demo import run_demo

    settings = _settings(args)
    return _run(lambda stop: run_demo(settings, stop, duplicate=not args.no_duplicate, pace=args.pace))


# -- cases and decisions -----------------------------------------------------------------------
def _database_down(err: BaseException) -> bool:
    """The case database does not answer (refused, gone, locked), as the API tells it (api/app.py)."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    return isinstance(err, DBAPIError) and (
        err.connection_invalidated or isinstance(err, OperationalError | InterfaceError)
    )


def _database_says(settings: Any, err: Any) -> str:
    from database.migrate import safe_url

    cause = " ".join(str(err.orig if err.orig is not None else err).split())
    return f"the case database does not answer ({safe_url(settings.db_url)}: {cause})"


async def _with_service(
    args: argparse.Namespace, fn: Callable[[Any], Awaitable[int]], what: str, check: str
) -> int:
    """Run ``fn(service)``; a Temporal or a database that does not answer is told in one line,
    with what became of the action: ``what`` names it ("the funding decision"), ``check`` says how
    to find out when it may or may not have been recorded (a timeout)."""
    from temporalio.service import RPCError, RPCStatusCode

    from repatriation.service import CaseService, ServiceError
    from repatriation.temporal import connect

    settings = _settings(args)
    address = settings.temporal_address
    try:
        client = await connect(settings)
    except Exception as err:  # noqa: BLE001
        print(
            f"error: Temporal does not answer at {address} ({err}); nothing was recorded; "
            "start the stack with `repatriation up`",
            file=sys.stderr,
        )
        return 5
    try:
        db = _db(settings)
    except Exception as err:
        if not _database_down(err):
            raise
        print(f"error: {_database_says(settings, err)}; nothing was recorded", file=sys.stderr)
        return 5
    service = CaseService(settings, client, db)
    try:
        return await fn(service)
    except ServiceError as err:
        print(f"error ({err.status}): {err}", file=sys.stderr)
        return {404: 4, 409: 3, 422: 2}.get(err.status, 1)
    except RPCError as err:
        said, code = f"{err.status.name}: {err.message}", 5
        unsure = f"{what} may or may not have been recorded: {check}"
        if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            message = f"Temporal at {address} did not answer in time ({said}); {unsure}"
        elif err.status in (RPCStatusCode.UNKNOWN, RPCStatusCode.INTERNAL, RPCStatusCode.DATA_LOSS):
            message = f"Temporal at {address} failed ({said}); {unsure}"
        elif err.status == RPCStatusCode.UNAVAILABLE:
            message = f"Temporal does not answer at {address} ({said}); nothing was recorded"
        else:  # refused, with a reason (a namespace that does not exist, no permission, ...)
            message, code = f"Temporal at {address} refused it ({said}); nothing was recorded", 1
        print(f"error: {message}", file=sys.stderr)
        return code
    except Exception as err:
        if not _database_down(err):
            raise
        print(
            f"error: {_database_says(settings, err)}; {what} may or may not have been recorded: {check}",
            file=sys.stderr,
        )
        return 5


def _actor(args: argparse.Namespace, role: Role):  # type: ignore[no-untyped-def]
    """The named user if there is one (with their role's scope), else the local operator."""
    from access import users
    from access.actor import operator

    settings = _settings(args)
    name = args.actor or getpass.getuser()
    user = next((u for u in users.list_users(_db(settings)) if u.name == name), None)
    if user is not None:
        return users.actor_of(user, "cli")
    return operator(name, role, settings.organisation, "cli")


def cmd_case_open(args: argparse.Namespace) -> int:
    try:
        raw = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        print(
            f"error: {args.file}: not UTF-8 text (byte {err.object[err.start]:#04x} at position "
            f"{err.start}); save it as UTF-8",
            file=sys.stderr,
        )
        return 2
    except (OSError, json.JSONDecodeError) as err:
        print(f"error: cannot read {args.file}: {err}", file=sys.stderr)
        return 2
    if not isinstance(raw, dict):
        held = {type(None): "null", list: "a list", str: "a string", bool: "true or false"}.get(
            type(raw), "a number"
        )
        print(
            f"error: {args.file}: the file must hold a JSON object with a 'survivor' (or the survivor "
            f"itself); it holds {held}",
            file=sys.stderr,
        )
        return 2
    if "survivor" not in raw:
        raw = {"survivor": raw}
    if args.reference:
        raw["client_reference"] = args.reference
    try:
        request = CaseOpenRequest.model_validate(raw)
    except ValidationError as err:
        for e in err.errors():
            print(f"error: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}", file=sys.stderr)
        return 2

    async def go(service: Any) -> int:
        opened = await service.open_case(request, _actor(args, Role.caseworker))
        print(
            json.dumps({"case_id": opened.case_id, "reference": opened.reference, "created": opened.created})
        )
        return 0

    if args.reference:
        check = f"opening it again with --reference {args.reference} is safe (it gives the same case)"
    else:
        check = "look for it with `repatriation case list` before opening it again"
    return _run(lambda stop: _with_service(args, go, "the case", check))


def cmd_case_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from database.models import Case

    settings = _settings(args)
    db = _db(settings)
    query = select(Case).order_by(Case.opened_at)
    if args.stage:
        query = query.where(Case.stage == args.stage)
    if args.nationality:
        query = query.where(Case.nationality == args.nationality.upper())
    if args.open:
        query = query.where(Case.outcome.is_(None))
    with db.session() as session:
        rows = list(session.scalars(query))
    print(f"{'reference':<12} {'nat':<4} {'stage':<17} {'outcome':<25} waiting for")
    for case in rows:
        pending = ", ".join(p["kind"] for p in (case.state or {}).get("pending", []))
        print(
            f"{case.reference:<12} {case.nationality:<4} {case.stage:<17} {case.outcome or '-':<25} {pending}"
        )
    return 0


def cmd_case_show(args: argparse.Namespace) -> int:
    from repatriation.service import CaseService, ServiceError

    settings = _settings(args)
    service = CaseService(settings, None, _db(settings))  # type: ignore[arg-type]
    try:
        case = service.resolve(args.case)
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 4
    state = case.state or {}
    print(f"case {case.reference}  ({case.id})")
    print(f"  nationality {case.nationality}, stage {case.stage}, outcome {case.outcome or '-'}")
    for p in state.get("pending", []):
        flag = " OVERDUE" if p.get("overdue") else ""
        print(f"  waiting for {p['kind']} from the {p['role']} until {p['deadline']}{flag}")
    print("  timeline:")
    for e in state.get("history", []):
        print(f"    {e['at'][:19]}  {e['stage']:<17} {e['event']:<12} {e.get('detail') or ''}")
    print("  documents:")
    for doc in service.documents(case.id):
        mark = " (superseded)" if doc.superseded else ""
        print(f"    {doc.doc_type:<20} v{doc.version}  {doc.verification_code}  {doc.id}{mark}")
    print("  (sealed at rest: repatriation case document CASE DOCUMENT_ID --out FILE.pdf writes one out)")
    return 0


def cmd_case_document(args: argparse.Namespace) -> int:
    """A document's PDF, opened, into a file: as any read, scoped and audited."""
    from repatriation.service import CaseService, ServiceError

    settings = _settings(args)
    service = CaseService(settings, None, _db(settings))  # type: ignore[arg-type]
    try:
        doc, pdf = service.document_pdf(_actor(args, Role.caseworker), args.case, args.document_id)
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 4
    out = Path(args.out)
    out.write_bytes(pdf)
    print(f"{doc.doc_type} v{doc.version} written to {out}")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    """The local outbox's mails (sealed at rest, activities/outbox.py), for a supervisor: the list
    shows what each is (date, to, subject, attachments); ``show`` opens one, audited."""
    from repatriation.service import CaseService, ServiceError

    settings = _settings(args)
    service = CaseService(settings, None, _db(settings))  # type: ignore[arg-type]
    actor = _actor(args, Role.supervisor)
    try:
        if args.x == "list":
            mails = service.outbox_list(actor)
            for name, message in mails:
                attached = f"({sum(1 for _ in message.iter_attachments())} attached)"
                print(f"{name}  {message['Date']}  to {message['To']}  {message['Subject']}  {attached}")
            print(f"{len(mails)} mail(s) in {settings.outbox_dir}")
            return 0
        name, message = service.outbox_mail(actor, args.name)
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 4
    if args.out:
        Path(args.out).write_bytes(message.as_bytes())
        print(f"{name} written to {args.out}")
        return 0
    for header in ("Date", "From", "To", "Subject", "Message-ID"):
        print(f"{header}: {message[header]}")
    body = message.get_body(preferencelist=("plain",))
    print()
    print(body.get_content() if body is not None else "")
    for part in message.iter_attachments():
        print(f"[attached: {part.get_filename()}]")
    return 0


def _decision(kind: DecisionKind, role: Role, build: Callable[[argparse.Namespace], dict[str, Any]]):  # type: ignore[no-untyped-def]
    def cmd(args: argparse.Namespace) -> int:
        async def go(service: Any) -> int:
            state = await service.decide(args.case, kind, build(args), _actor(args, role))
            pending = ", ".join(p.kind for p in state.pending) or "-"
            print(f"{state.reference}: {kind} recorded; stage {state.stage}; waiting for: {pending}")
            return 0

        check = f"look with `repatriation case show {args.case}` before sending it again"
        return _run(lambda stop: _with_service(args, go, f"the {kind} decision", check))

    return cmd


def cmd_stuck(args: argparse.Namespace) -> int:
    from access.actor import operator
    from repatriation.service import CaseService

    settings = _settings(args)
    service = CaseService(settings, None, _db(settings))  # type: ignore[arg-type]
    actor = operator(args.actor or getpass.getuser(), Role.supervisor, settings.organisation, "cli")
    items = service.stuck_for(actor, args.reason, args.stage, args.nationality)
    print(f"{'reference':<12} {'nat':<4} {'stage':<17} {'reason':<22} {'since':<17} {'age':>6}  detail")
    for item in items:
        age = f"{item.age_seconds / 86400:.1f}d"
        extra = f" (attempts {item.attempts}: {item.last_error})" if item.attempts else ""
        print(
            f"{item.reference:<12} {item.nationality:<4} {item.stage:<17} {item.reason:<22} "
            f"{item.since:%Y-%m-%d %H:%M} {age:>6}  {item.detail or ''}{extra}"
        )
    print(f"{len(items)} stuck case(s)")
    return 0


def cmd_intervene(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"action": args.action, "justification": args.why}
    if args.kind:
        payload["kind"] = args.kind
    if args.days:
        payload["days"] = args.days
    if args.stage:
        payload["stage"] = args.stage
    if args.role:
        payload["role"], payload["to"] = args.role, args.to

    async def go(service: Any) -> int:
        state = await service.intervene(args.case, payload, _actor(args, Role.supervisor))
        print(f"{state.reference}: {args.action} done; stage {state.stage}")
        return 0

    check = f"look with `repatriation case show {args.case}` before asking for it again"
    return _run(lambda stop: _with_service(args, go, f"the {args.action} intervention", check))


def cmd_funding_sources(args: argparse.Namespace) -> int:
    from database import ledger

    db = _db(_settings(args))
    ledger.ensure_sources(db, ledger.DEFAULT_SOURCES)
    for s in ledger.list_sources(db):
        print(
            f"{s.id:<30} {s.currency} budget {s.budget:>10}  committed {s.committed:>10}  free {s.free:>10}"
        )
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    from access import users

    settings = _settings(args)
    db = _db(settings)
    try:
        if args.users_cmd == "add":
            password = os.environ.get("REPATRIATION_NEW_PASSWORD") if args.password_from_env else None
            new = users.add_user(
                db, args.name, Role(args.role), args.org or settings.organisation, args.country, password
            )
            print(f"user {new.user} ({args.role}) created. API token, shown once:\n{new.token}")
        elif args.users_cmd == "token":
            print(users.issue_token(db, args.name).token)
        elif args.users_cmd == "revoke":
            print(f"{users.revoke_tokens(db, args.name)} token(s) of {args.name} revoked")
        elif args.users_cmd == "password":
            users.set_password(db, args.name, getpass.getpass(f"new password for {args.name}: "))
            print("password set")
        else:
            for u in users.list_users(db):
                print(f"{u.name:<24} {u.role:<11} {u.organisation:<32} {','.join(u.countries or [])}")
    except users.UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def cmd_embassy_lists(args: argparse.Namespace) -> int:
    """Make and mail today's consolidated lists now (the Schedule does it each morning)."""
    from datetime import UTC, datetime

    from activities.deps import Deps
    from activities.embassy_lists import EmbassyListActivities
    from contracts.messages import EmbassyListsRequest

    settings = _settings(args)
    deps = Deps.from_settings(settings)
    try:
        made = EmbassyListActivities(deps).send(EmbassyListsRequest(list_date=datetime.now(UTC).date()))
    finally:
        deps.close()
    for item in made.sent:
        state = "mailed" if item.mailed else "already mailed"
        print(f"{item.nationality}: {item.cases} survivor(s), list v{item.version} {state}")
    for nationality, kind in sorted(made.unrenderable.items()):
        print(
            f"error: {nationality}: the list could not be rendered ({kind}): the template or the data",
            file=sys.stderr,
        )
    if not made.sent and not made.unrenderable:
        print("no survivor is awaiting an embassy")
    return 1 if made.unrenderable else 0


def cmd_purge(args: argparse.Namespace) -> int:
    from repatriation.retention import purge
    from repatriation.temporal import connect

    settings = _settings(args)
    days = args.older_than or settings.retention_days

    async def main(stop: asyncio.Event) -> int:
        try:
            client = await connect(settings)
        except Exception:  # noqa: BLE001 - the database part is done anyway; histories later
            print(
                "warning: Temporal does not answer; workflow histories are left to its retention",
                file=sys.stderr,
            )
            client = None
        report = await purge(
            _db(settings), client, settings.temporal_namespace, days, outbox=settings.outbox_dir
        )
        print(
            f"purged {len(report.cases)} case(s) closed more than {days} days ago: "
            f"{report.documents_removed} document file(s), {report.mails_removed} mail(s) in the "
            f"outbox, {report.histories_deleted} workflow history(ies)"
        )
        return 0

    return _run(main)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from database import audit

    report = audit.verify(_db(_settings(args)))
    if report.intact:
        print(f"audit trail intact: {report.entries} entries, each chained to the one before")
        return 0
    print(f"audit trail BROKEN at entry {report.first_broken_id}: it {report.problem}", file=sys.stderr)
    return 1


def cmd_documents_sample(args: argparse.Namespace) -> int:
    from documents.sample import render_samples

    for path in render_samples(Path(args.outdir), args.language, _settings(args)):
        print(path)
    return 0


def _note(args: argparse.Namespace) -> dict[str, Any]:
    return {"note": args.note} if getattr(args, "note", None) else {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repatriation", description=__doc__)
    parser.add_argument("--data-dir", help="data folder (default ./var, or REPATRIATION_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the embedded stack: Temporal dev server, worker, database, web")
    up.add_argument("--port", type=int, help="port of the web pages and API (default 8000)")
    up.set_defaults(func=cmd_up)
    sub.add_parser("worker", help="run a worker against the configured Temporal").set_defaults(
        func=cmd_worker
    )
    sub.add_parser(
        "serve", help="run the web pages and the API against the configured Temporal (deployments)"
    ).set_defaults(func=cmd_serve)
    demo = sub.add_parser("demo", help="the embedded stack and synthetic survivors walked to closure")
    demo.add_argument("--no-duplicate", action="store_true", help="skip the duplicate registration")
    demo.add_argument("--pace", type=float, default=1.0, help="seconds between robot rounds")
    demo.set_defaults(func=cmd_demo)

    def with_actor(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--as", dest="actor", help="your user name (default: the login name)")
        p.add_argument("--note", help="a note kept with the decision")
        return p

    case = sub.add_parser("case", help="open, list and show cases").add_subparsers(
        dest="case_cmd", required=True
    )
    p = with_actor(case.add_parser("open", help="open a case from a survivor JSON file"))
    p.add_argument("--file", required=True)
    p.add_argument("--reference", help="client reference: opening twice gives the same case")
    p.set_defaults(func=cmd_case_open)
    p = case.add_parser("list", help="list cases from the read model")
    p.add_argument("--stage")
    p.add_argument("--nationality")
    p.add_argument("--open", action="store_true", help="only cases not closed")
    p.set_defaults(func=cmd_case_list)
    p = case.add_parser("show", help="a case's stage, pending decisions, timeline and documents")
    p.add_argument("case", help="case id or reference")
    p.set_defaults(func=cmd_case_show)
    p = case.add_parser("document", help="write one of a case's documents out as a PDF (audited)")
    p.add_argument("case", help="case id or reference")
    p.add_argument("document_id", help="as `case show` lists them")
    p.add_argument("--out", required=True, help="the PDF file to write")
    p.add_argument("--as", dest="actor", help="your user name (default: the login name)")
    p.set_defaults(func=cmd_case_document)

    identity = sub.add_parser("identity", help="caseworker: identity decisions").add_subparsers(
        dest="x", required=True
    )
    p = with_actor(identity.add_parser("attest", help="attest identity (or not)"))
    p.add_argument("case")
    p.add_argument("--not-verified", action="store_true")
    p.set_defaults(
        func=_decision(
            DecisionKind.identity_attestation,
            Role.caseworker,
            lambda a: {"verified": not a.not_verified, **_note(a)},
        )
    )
    p = with_actor(identity.add_parser("duplicate", help="merge into or dismiss a possible duplicate"))
    p.add_argument("case")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--merge", metavar="OTHER_CASE_ID")
    g.add_argument("--dismiss", action="store_true")
    p.set_defaults(
        func=_decision(
            DecisionKind.duplicate_resolution,
            Role.caseworker,
            lambda a: {"action": "merge" if a.merge else "dismiss", "duplicate_of": a.merge, **_note(a)},
        )
    )

    embassy = sub.add_parser("embassy", help="liaison: nationality and ETD decisions").add_subparsers(
        dest="x", required=True
    )
    p = with_actor(embassy.add_parser("nationality", help="confirm or refuse nationality"))
    p.add_argument("case")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--confirm", action="store_true")
    g.add_argument("--refuse", metavar="REASON")
    p.set_defaults(
        func=_decision(
            DecisionKind.nationality,
            Role.liaison,
            lambda a: {"confirmed": bool(a.confirm), "reason": a.refuse, **_note(a)},
        )
    )
    embassy.add_parser(
        "lists", help="make and mail today's consolidated list for each embassy now"
    ).set_defaults(func=cmd_embassy_lists)
    p = with_actor(embassy.add_parser("etd", help="record an ETD issued or refused"))
    p.add_argument("case")
    p.add_argument("--number")
    p.add_argument("--expires", help="YYYY-MM-DD")
    p.add_argument("--refuse", metavar="REASON")
    p.set_defaults(
        func=_decision(
            DecisionKind.etd,
            Role.liaison,
            lambda a: {
                "issued": not a.refuse,
                "document_number": a.number,
                "expires_on": a.expires,
                "reason": a.refuse,
                **_note(a),
            },
        )
    )

    funding = sub.add_parser("funding", help="supervisor: funding decisions").add_subparsers(
        dest="x", required=True
    )
    p = with_actor(funding.add_parser("decide", help="approve or reject funding"))
    p.add_argument("case")
    p.add_argument("--approve", action="store_true")
    p.add_argument("--source")
    p.add_argument("--amount")
    p.add_argument("--currency", default="USD")
    p.add_argument("--reject", metavar="REASON")
    p.set_defaults(
        func=_decision(
            DecisionKind.funding,
            Role.supervisor,
            lambda a: {
                "approved": bool(a.approve),
                "source_id": a.source,
                "amount": a.amount,
                "currency": a.currency,
                "reason": a.reject,
                **_note(a),
            },
        )
    )
    funding.add_parser("sources", help="funding sources and their free budget").set_defaults(
        func=cmd_funding_sources
    )

    travel = sub.add_parser("travel", help="caseworker: flight, departure, arrival").add_subparsers(
        dest="x", required=True
    )
    p = with_actor(travel.add_parser("choose", help="choose a flight option"))
    p.add_argument("case")
    p.add_argument("option_id")
    p.set_defaults(
        func=_decision(
            DecisionKind.flight_choice, Role.caseworker, lambda a: {"option_id": a.option_id, **_note(a)}
        )
    )
    p = with_actor(travel.add_parser("depart", help="confirm departure"))
    p.add_argument("case")
    p.set_defaults(func=_decision(DecisionKind.departure, Role.caseworker, _note))
    p = with_actor(travel.add_parser("arrive", help="confirm arrival and handover"))
    p.add_argument("case")
    p.add_argument("--reception", required=True, help="the receiving organisation")
    p.set_defaults(
        func=_decision(
            DecisionKind.arrival,
            Role.caseworker,
            lambda a: {"reception_organisation": a.reception, **_note(a)},
        )
    )

    accounts = sub.add_parser("users", help="users and API tokens").add_subparsers(
        dest="users_cmd", required=True
    )
    p = accounts.add_parser("add", help="create a user and print an API token once")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--country", action="append", help="a liaison's country (ISO alpha-3); repeatable")
    p.add_argument("--org", help="organisation (default: REPATRIATION_ORGANISATION)")
    p.add_argument("--password-from-env", action="store_true", help="password from REPATRIATION_NEW_PASSWORD")
    p.set_defaults(func=cmd_users)
    for name, text in (
        ("token", "issue another API token"),
        ("revoke", "revoke every token of a user"),
        ("password", "set a user's web password"),
    ):
        p = accounts.add_parser(name, help=text)
        p.add_argument("name")
        p.set_defaults(func=cmd_users)
    accounts.add_parser("list", help="list users").set_defaults(func=cmd_users)

    outbox = sub.add_parser(
        "outbox", help="supervisor: the mail sent to the local outbox (sealed at rest)"
    ).add_subparsers(dest="x", required=True)
    p = outbox.add_parser("list", help="every mail: date, to, subject")
    p.add_argument("--as", dest="actor", help="your user name (default: the login name)")
    p.set_defaults(func=cmd_outbox)
    p = outbox.add_parser("show", help="open one mail (audited)")
    p.add_argument("name", help="as `outbox list` shows it (or its name without the suffix)")
    p.add_argument("--out", help="write the whole mail, opened, to this .eml file")
    p.add_argument("--as", dest="actor", help="your user name (default: the login name)")
    p.set_defaults(func=cmd_outbox)

    p = sub.add_parser("stuck", help="supervisor: every stuck case, why and since when")
    p.add_argument("--reason", choices=["overdue", "failing", "failed", "workflow_task_failing", "on_hold"])
    p.add_argument("--stage")
    p.add_argument("--nationality", help="the embassy's country (ISO alpha-3)")
    p.add_argument("--as", dest="actor")
    p.set_defaults(func=cmd_stuck)
    p = with_actor(
        sub.add_parser("intervene", help="supervisor: retry, extend, reassign, override, hold, cancel")
    )
    p.add_argument("case")
    p.add_argument(
        "action", choices=["retry", "extend_deadline", "reassign", "override", "hold", "resume", "cancel"]
    )
    p.add_argument("--why", required=True, help="the justification, kept in the audit trail")
    p.add_argument("--kind", help="extend_deadline: the awaited decision, e.g. nationality")
    p.add_argument("--days", type=float, help="extend_deadline: days to add")
    p.add_argument("--stage", help="override: the stage")
    p.add_argument("--role", choices=["caseworker", "liaison"], help="reassign: whose work")
    p.add_argument("--to", help="reassign: the new person")
    p.set_defaults(func=cmd_intervene)

    from repatriation import bench, ops

    ops.add_commands(sub)
    bench.add_commands(sub)

    p = sub.add_parser("purge", help="remove personal data of cases closed longer than the retention period")
    p.add_argument("--older-than", type=int, metavar="DAYS", help="default: REPATRIATION_RETENTION_DAYS")
    p.set_defaults(func=cmd_purge)

    trail = sub.add_parser("audit", help="the audit trail").add_subparsers(dest="x", required=True)
    trail.add_parser("verify", help="check the hash chain of the audit trail").set_defaults(
        func=cmd_audit_verify
    )

    documents = sub.add_parser("documents", help="paperwork").add_subparsers(dest="x", required=True)
    p = documents.add_parser("sample", help="render a specimen of every document type (PDF + PNG)")
    p.add_argument("outdir")
    p.add_argument("--language", help="ISO 639 code of the survivor's first language, e.g. zh, th, my")
    p.set_defaults(func=cmd_documents_sample)

    p = with_actor(sub.add_parser("withdraw", help="caseworker: record the survivor's withdrawal of consent"))
    p.add_argument("case")
    p.add_argument("--reason", required=True)
    p.set_defaults(
        func=_decision(
            DecisionKind.consent_withdrawal, Role.caseworker, lambda a: {"reason": a.reason, **_note(a)}
        )
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    from activities.deps import TemplatesUnusable
    from database.migrate import MigrationError
    from repatriation.logs import configure_logging

    args = build_parser().parse_args(argv)
    if args.data_dir:
        os.environ["REPATRIATION_DATA_DIR"] = args.data_dir
    settings = _settings(args)
    quiet = args.command == "demo" and "REPATRIATION_LOG_LEVEL" not in os.environ
    configure_logging(settings.environment, "WARNING" if quiet else settings.log_level)
    try:
        code = args.func(args)
    except (MigrationError, TemplatesUnusable) as err:
        print(f"error: {err}", file=sys.stderr)
        code = 3
    except Exception as err:
        from repatriation.temporal import TemporalUnreachable  # loaded by then: a service waited

        if isinstance(err, TemporalUnreachable):
            print(f"error: {err}", file=sys.stderr)
            code = 6
        elif _database_down(err):
            print(f"error: {_database_says(settings, err)}", file=sys.stderr)
            code = 5
        else:
            raise
    # Leave without interpreter finalisation: the Temporal client's native runtime can still be
    # calling into Python from its own threads at that point (a crash at exit, not in the work).
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    main()
