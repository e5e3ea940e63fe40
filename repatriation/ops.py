"""Operations: settings checked at start-up, database migrations, health checks.

Commands added to the `repatriation` CLI:

    repatriation db upgrade [REVISION]       migrate the app database (default: to the code's revision)
    repatriation db current                  the database's revision and the code's
    repatriation db check                    exit 1 unless the database is at the code's revision
    repatriation db history                  every revision, oldest first
    repatriation db downgrade REVISION       migrate down (``base``: empty)
    repatriation db stamp REVISION           record a revision without running anything
    repatriation db revision -m MESSAGE      developers: write a migration for the models' changes
    repatriation config [--check]            every setting, its variable and its value (secrets hidden)
    repatriation health worker [--any]       exit 0 when a worker on this host polls the task queue
    repatriation health api [--url URL]      exit 0 when the API's /healthz says ok
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

    from repatriation.settings import Settings

# Variables with the prefix that are read elsewhere, not settings.
NOT_SETTINGS = {"REPATRIATION_TEST_POSTGRES_URL", "REPATRIATION_NEW_PASSWORD"}
# Settings whose values are never shown (``repatriation config``).
SECRET_FIELD = re.compile(r"secret|password|api_key|_keys$|tls_key$")


class InvalidSettings(SystemExit):
    """Start-up stops: exit status 2, and ``str()`` is one line per bad setting."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(2)
        self.lines = lines
        self.message = "\n".join(lines)

    def __str__(self) -> str:
        return self.message


# -- settings ----------------------------------------------------------------------------------
def _prefix() -> str:
    from repatriation.settings import Settings

    return str(Settings.model_config.get("env_prefix") or "")


def variable(field: str) -> str:
    """The environment variable of a setting: ``http_port`` -> ``REPATRIATION_HTTP_PORT``."""
    return f"{_prefix()}{field}".upper()


def settings_errors(err: ValidationError) -> list[str]:
    """One line per bad setting, naming its environment variable."""
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e.get("loc", ())]
        name = variable(loc[0]) if loc else _prefix().rstrip("_")
        where = f" ({'.'.join(loc[1:])})" if len(loc) > 1 else ""
        lines.append(f"{name}{where}: {e['msg']}")
    return lines


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables with the settings' prefix that no setting reads (misspelt, or left over)."""
    from repatriation.settings import Settings

    environ = os.environ if environ is None else environ
    prefix = _prefix().upper()
    known = {variable(name) for name in Settings.model_fields}
    delimiter = str(Settings.model_config.get("env_nested_delimiter") or "\0")
    found = []
    for name in environ:
        upper = name.upper()
        if not upper.startswith(prefix) or upper in known or upper in NOT_SETTINGS:
            continue
        if any(upper.startswith(k + delimiter) for k in known):
            continue
        found.append(name)
    return sorted(found)


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment and ``.env``; a wrong value stops start-up with one line
    per bad setting naming its variable (``InvalidSettings``, a ``SystemExit`` with status 2).
    Variables with the prefix that are not settings are reported as warnings."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from repatriation.settings import Settings

    try:
        settings = Settings(**overrides)
    except ValidationError as err:
        lines = settings_errors(err)
    except SettingsError as err:  # a value that is not JSON for a structured setting
        match = re.search(r'field "(\w+)"', str(err))
        name = variable(match.group(1)) if match else _prefix().rstrip("_")
        cause = f" ({err.__cause__})" if err.__cause__ else ""
        lines = [f"{name}: not a valid value for this setting{cause}"]
    else:
        for name in unknown_variables():
            print(f"warning: {name} is not a setting; it is ignored", file=sys.stderr)
        return settings
    for line in lines:
        print(f"configuration error: {line}", file=sys.stderr)
    raise InvalidSettings(lines)


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "(unset)"
    if SECRET_FIELD.search(name):
        return "(set, hidden)" if value else "(unset)"
    text = json.dumps(value, default=str) if isinstance(value, dict) else str(value)
    if name.endswith("_url") and "://" in text:
        from database.migrate import safe_url

        text = safe_url(text)
    return text


def describe(settings: Settings) -> list[tuple[str, str]]:
    """(variable, value shown) for every setting, secrets hidden."""
    return [(variable(name), _shown(name, getattr(settings, name))) for name in type(settings).model_fields]


# -- database ---------------------------------------------------------------------------------
def _db_url(args: argparse.Namespace) -> str:
    return args.url or load_settings().db_url


def cmd_db(args: argparse.Namespace) -> int:
    from database import migrate

    try:
        if args.db_cmd == "revision":
            print(f"wrote {migrate.revision(args.message)}; review it, then run `repatriation db upgrade`")
            return 0
        if args.db_cmd == "history":
            code_head = migrate.head()
            for rev, down, doc in migrate.history():
                mark = "  (head)" if rev == code_head else ""
                print(f"{rev}  <- {down or 'base'}  {doc}{mark}")
            return 0
        url = _db_url(args)
        shown = migrate.safe_url(url)
        if args.db_cmd == "upgrade":
            before = migrate.current(url)
            after = migrate.upgrade(url, args.revision)
            if before == after:
                print(f"{shown}: already at revision {after}")
            else:
                print(f"{shown}: upgraded from {before or 'empty'} to {after}")
        elif args.db_cmd == "downgrade":
            before = migrate.current(url)
            after = migrate.downgrade(url, args.revision)
            print(f"{shown}: downgraded from {before or 'empty'} to {after or 'base (empty)'}")
        elif args.db_cmd == "stamp":
            migrate.stamp(url, args.revision)
            print(f"{shown}: marked as revision {migrate.current(url)}")
        elif args.db_cmd == "current":
            found, needed = migrate.current(url), migrate.head()
            state = "up to date" if found == needed else "NOT up to date: run `repatriation db upgrade`"
            print(f"{shown}: revision {found or 'none'}; the code needs {needed}: {state}")
        elif args.db_cmd == "check":
            migrate.check_current(url)
            print(f"{shown}: at revision {migrate.head()}, as the code needs")
    except migrate.SchemaOutOfDate as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except migrate.MigrationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the database does not answer, a bad URL, ...
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 3
    return 0


# -- configuration ----------------------------------------------------------------------------
def cmd_config(args: argparse.Namespace) -> int:
    settings = load_settings()  # exits 2 with the bad settings named
    if args.check:
        print("configuration ok")
        return 0
    rows = describe(settings)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


# -- health -----------------------------------------------------------------------------------
async def _worker_pollers(settings: Settings, timeout: float) -> list[Any]:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    from repatriation.temporal import connect

    client = await asyncio.wait_for(connect(settings), timeout)
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace,
        task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    response = await asyncio.wait_for(client.workflow_service.describe_task_queue(request), timeout)
    return list(response.pollers)


def worker_healthy(pollers: list[Any], hostname: str | None, max_age: float = 120.0) -> bool:
    """A poller seen within ``max_age`` seconds whose identity (``pid@host``, the SDK's default)
    names ``hostname`` (None: any host)."""
    now = datetime.now(UTC)
    for poller in pollers:
        if hostname is not None and not poller.identity.endswith(f"@{hostname}"):
            continue
        if poller.HasField("last_access_time"):
            seen = poller.last_access_time.ToDatetime(tzinfo=UTC)
            if (now - seen).total_seconds() > max_age:
                continue
        return True
    return False


def cmd_health(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.health_cmd == "api":
        import urllib.error
        import urllib.request

        url = args.url or f"http://127.0.0.1:{settings.http_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=args.timeout) as response:  # noqa: S310
                print(response.read().decode(errors="replace").strip())
                return 0
        except urllib.error.HTTPError as err:
            print(
                f"unhealthy: {url} answered {err.code}: {err.read().decode(errors='replace')}",
                file=sys.stderr,
            )
        except OSError as err:
            print(f"unhealthy: {url} does not answer: {err}", file=sys.stderr)
        return 1
    hostname = None if args.any else socket.gethostname()
    try:
        pollers = asyncio.run(_worker_pollers(settings, args.timeout))
    except Exception as err:  # noqa: BLE001
        print(
            f"unhealthy: Temporal at {settings.temporal_address}: {type(err).__name__}: {err}",
            file=sys.stderr,
        )
        return 1
    if worker_healthy(pollers, hostname):
        where = "a worker" if hostname is None else f"a worker on {hostname}"
        print(f"ok: {where} polls task queue {settings.task_queue}")
        return 0
    where = "no worker" if hostname is None else f"no worker on {hostname}"
    print(f"unhealthy: {where} polls task queue {settings.task_queue}", file=sys.stderr)
    return 1


def add_commands(sub: Any) -> None:
    """Add the operations subcommands to the CLI's subparsers."""
    db = sub.add_parser("db", help="the app database: migrations").add_subparsers(
        dest="db_cmd", required=True
    )

    def with_url(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--url", help="database URL (default: REPATRIATION_DATABASE_URL)")
        p.set_defaults(func=cmd_db)
        return p

    p = with_url(db.add_parser("upgrade", help="migrate the database to the code's revision"))
    p.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    with_url(db.add_parser("current", help="the database's revision and the code's"))
    with_url(db.add_parser("check", help="exit 1 unless the database is at the code's revision"))
    p = with_url(db.add_parser("downgrade", help="migrate down to a revision ('base': empty)"))
    p.add_argument("revision")
    p = with_url(db.add_parser("stamp", help="record a revision without running migrations"))
    p.add_argument("revision")
    db.add_parser("history", help="every revision, oldest first").set_defaults(func=cmd_db)
    p = db.add_parser("revision", help="developers: write a migration for the models' changes")
    p.add_argument("-m", "--message", required=True, help="what the migration changes")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("config", help="every setting, its environment variable and value (secrets hidden)")
    p.add_argument("--check", action="store_true", help="only check the settings: exit 2 naming bad ones")
    p.set_defaults(func=cmd_config)

    health = sub.add_parser("health", help="health checks for containers").add_subparsers(
        dest="health_cmd", required=True
    )
    p = health.add_parser("worker", help="exit 0 when a worker on this host polls the task queue")
    p.add_argument("--any", action="store_true", help="a worker on any host will do")
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(func=cmd_health)
    p = health.add_parser("api", help="exit 0 when the API's /healthz answers ok")
    p.add_argument("--url", help="default: http://127.0.0.1:REPATRIATION_HTTP_PORT/healthz")
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(func=cmd_health)
