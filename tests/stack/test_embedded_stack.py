"""The embedded stack as a user runs it: the demo interrupted with Ctrl-C and started again,
and a case driven by hand through `repatriation up` and the decision subcommands."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from database.models import AuditEntry, Case
from repatriation.synthetic import survivors
from tests.stack.conftest import Cli, processes_mentioning


def wait_case(cli: Cli, case_id: str, predicate, what: str, timeout: float = 60) -> Case:  # type: ignore[no-untyped-def]
    db = cli.database()
    deadline = time.monotonic() + timeout
    try:
        while True:
            with db.session() as s:
                case = s.get(Case, case_id)
            if case is not None and predicate(case):
                return case
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {case and case.state.get('pending')}")
            time.sleep(0.1)
    finally:
        db.dispose()


def pending(case: Case) -> set[str]:
    return {p["kind"] for p in (case.state or {}).get("pending", [])}


def test_demo_stops_on_ctrl_c_and_resumes(cli: Cli) -> None:
    demo = cli.start("demo", "--pace", "0.2")
    cli.read_until(demo, "where the cases are")
    cli.read_until(demo, "waiting for: identity_attestation")
    assert cli.interrupt(demo) == 130
    # Every process the demo started has stopped: no Temporal server is left on its data folder.
    assert processes_mentioning(str(cli.data_dir)) == []
    db = cli.database()
    with db.session() as s:
        before = {c.id: c.outcome for c in s.scalars(select(Case))}
    db.dispose()
    assert len(before) == 7 and not all(before.values())

    demo = cli.start("demo", "--pace", "0.2")
    output = cli.read_until(demo, "Every case is closed", timeout=240)
    assert "resumed case" in output and "opened case" not in output
    assert demo.wait(timeout=60) == 0
    db = cli.database()
    with db.session() as s:
        after = {c.id: c.outcome for c in s.scalars(select(Case))}
    db.dispose()
    assert after.keys() == before.keys()  # nothing lost, nothing doubled
    assert sorted(after.values()) == ["duplicate_merged"] + ["repatriated"] * 6
    assert processes_mentioning(str(cli.data_dir)) == []


def test_a_case_by_hand_through_up_survives_a_restart(cli: Cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    up = cli.start("up")
    cli.read_until(up, "The worker is running")
    survivor = tmp_path / "survivor.json"
    survivor.write_text(json.dumps(survivors(datetime.now(UTC).date())[1]), encoding="utf-8")
    opened = json.loads(cli.run("case", "open", "--file", str(survivor), "--reference", "hand-1").stdout)
    again = json.loads(cli.run("case", "open", "--file", str(survivor), "--reference", "hand-1").stdout)
    assert again == {**opened, "created": False}
    case_id = opened["case_id"]

    wait_case(cli, case_id, lambda c: "identity_attestation" in pending(c), "identity attestation")
    cli.run("identity", "attest", case_id, "--as", "cw-anna")
    refused = cli.run("identity", "attest", case_id, "--as", "cw-anna", check=False)
    assert refused.returncode == 3 and "already attested" in refused.stderr
    wait_case(cli, case_id, lambda c: "nationality" in pending(c), "the embassy")

    # Ctrl-C stops the stack in the middle of the journey; starting it again carries on.
    assert cli.interrupt(up) == 130
    assert processes_mentioning(str(cli.data_dir)) == []
    # A mail left in clear by a worker from before the outbox was sealed: sealed as one starts.
    (cli.data_dir / "outbox").mkdir(parents=True, exist_ok=True)
    (cli.data_dir / "outbox" / "left-in-clear.eml").write_bytes(
        b"Subject: Case RP-OLD closed\r\n\r\nBudi Santoso is home.\r\n"
    )
    up = cli.start("up")
    cli.read_until(up, "The worker is running")

    cli.run("embassy", "nationality", case_id, "--confirm", "--as", "liaison-id")
    expires = (datetime.now(UTC).date() + timedelta(days=45)).isoformat()
    cli.run("embassy", "etd", case_id, "--number", "SPLP-77", "--expires", expires, "--as", "liaison-id")
    case = wait_case(cli, case_id, lambda c: "funding" in pending(c), "funding")
    total = sum(Decimal(str(line["amount"])) for line in case.state["estimate"]["lines"])
    cli.run("funding", "decide", case_id, "--approve", "--source", "ngo-emergency", "--amount", str(total))
    case = wait_case(cli, case_id, lambda c: "flight_choice" in pending(c), "flight options")
    option = case.state["flight_options"][0]["option_id"]
    cli.run("travel", "choose", case_id, option)
    wait_case(cli, case_id, lambda c: "departure" in pending(c), "departure")
    cli.run("travel", "depart", case_id)
    cli.run("travel", "arrive", case_id, "--reception", "IOM reception, Jakarta")
    case = wait_case(cli, case_id, lambda c: c.outcome is not None, "closure")
    assert case.outcome == "repatriated"

    # Operators find the same case in Temporal by its custom search attributes.
    temporal = str(Path(sys.executable).with_name("temporal"))
    query = "RepatriationStage='closed' AND Nationality='IDN' AND Stuck=false"
    deadline = time.monotonic() + 30
    while True:
        found = subprocess.run(
            [
                temporal,
                "workflow",
                "list",
                "--address",
                cli.env["REPATRIATION_TEMPORAL_ADDRESS"],
                "--query",
                query,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if case_id in found.stdout:
            break
        assert time.monotonic() < deadline, found.stdout + found.stderr
        time.sleep(0.2)

    # The history is encrypted at rest; the codec endpoint decodes it for supervisors only.
    boss = cli.run("users", "add", "boss", "--role", "supervisor").stdout.strip().splitlines()[-1]
    helper = cli.run("users", "add", "helper", "--role", "caseworker").stdout.strip().splitlines()[-1]
    codec = f"http://127.0.0.1:{cli.env['REPATRIATION_HTTP_PORT']}/codec"

    def show(token: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                temporal,
                "workflow",
                "show",
                "--address",
                cli.env["REPATRIATION_TEMPORAL_ADDRESS"],
                "-w",
                f"repatriation-{case_id}",
                "-o",
                "json",
                "--codec-endpoint",
                codec,
                "--codec-auth",
                f"Bearer {token}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def payload_text(output: str) -> str:
        """The JSON history shows payload data in base64: decode every such string."""
        blobs = re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', output)
        return " ".join(base64.b64decode(b).decode("utf-8", "replace") for b in blobs)

    assert "SPLP-77" in payload_text(show(boss).stdout)
    assert "SPLP-77" not in payload_text(show(helper).stdout)

    listing = cli.run("case", "list").stdout
    assert opened["reference"] in listing and "repatriated" in listing
    shown = cli.run("case", "show", opened["reference"]).stdout
    assert "closure_report" in shown and "handed over to IOM reception, Jakarta" in shown
    assert cli.interrupt(up) == 130

    # Nothing personal rests in plain text in Temporal's own database file.
    stored = b"".join(p.read_bytes() for p in cli.data_dir.glob("temporal.db*"))
    assert b"RepatriationWorkflow" in stored  # the probe reads the right file
    for secret in ("SPLP-77", "Budi", "Santoso"):
        assert secret.encode() not in stored, secret
    assert b"SPLP-77" in b"".join(p.read_bytes() for p in cli.data_dir.glob("app.db*"))  # where it belongs
    # Nor in the mail it sent (the local outbox stands in for a relay): sealed; a supervisor opens it.
    mails = sorted((cli.data_dir / "outbox").iterdir())
    assert mails and all(m.name.endswith(".eml.sealed") for m in mails), mails
    assert cli.data_dir / "outbox" / "left-in-clear.eml.sealed" in mails
    for raw in (m.read_bytes() for m in mails):
        for clear in (b"Subject:", opened["reference"].encode(), b"JVBER", b"%PDF"):  # JVBER: %PDF in base64
            assert clear not in raw, clear
    closed = next(line for line in cli.run("outbox", "list").stdout.splitlines() if "closed" in line)
    assert f"Case {opened['reference']} closed: repatriated" in closed and "(1 attached)" in closed
    name = closed.split()[0]
    shown = cli.run("outbox", "show", name, "--as", "boss").stdout
    assert "The closure report is attached." in shown and "[attached: closure_report-v1.pdf]" in shown
    refused = cli.run("outbox", "show", name, "--as", "helper", check=False)  # a caseworker
    assert refused.returncode == 4 and "only a supervisor reads the outbox" in refused.stderr
    missing = cli.run("outbox", "show", "nothing-here", check=False)
    assert missing.returncode == 4 and "name: no mail 'nothing-here'" in missing.stderr
    trail = cli.database()
    with trail.session() as s:
        read = s.scalars(select(AuditEntry).where(AuditEntry.action == "outbox.read")).all()
        assert [(e.actor, e.case_id, e.detail) for e in read] == [("boss", case_id, f"mail {name}")]
    trail.dispose()
