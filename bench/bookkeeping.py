"""The worker's bookkeeping per document, alone: CPU of this process per operation.

What a ``render_document`` activity does besides rendering (the case's profile read, the
document store's look-up, row and file), on a fresh SQLite database in a temporary folder, with
a render that returns fixed bytes at once. The journey cannot show a change of a few hundred
microseconds a document apart from the machine's noise; this can, on any machine, in seconds:

    python -m bench.bookkeeping [--cases 2000]

Every figure is CPU time of this process (``time.process_time``, so the fsync's wait does not
count, its system time does), divided by the operations done.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from activities.profiles import load_case, parse_profile
from bench.survivors import open_request, survivors
from database.engine import Database
from database.models import Case
from documents.sealed import Sealer
from documents.store import DocumentStore, input_hash

PDF = b"%PDF-1.7\n" + bytes(48_000)  # about a rendered page's size
# A read model snapshot of a case part-way (its timeline, pending work, documents): its size is
# what loading the case's row parses along with the profile.
STATE_ENTRY = {"stage": "embassy", "event": "document", "detail": "ETD application, version 1", "at": ""}


def _state(size: int = 8_000) -> dict[str, Any]:
    history: list[dict[str, str]] = []
    while len(json.dumps(history)) < size:
        history.append({**STATE_ENTRY, "at": datetime.now(UTC).isoformat()})
    return {"stage": "embassy", "history": history, "pending": [], "documents": []}


def _cases(db: Database, count: int, today: date) -> list[str]:
    ids = []
    now = datetime.now(UTC)
    state = _state()
    with db.session() as session:
        for n, person in enumerate(survivors(count, today)):
            profile = open_request(person, f"bk-{n}").survivor
            case_id = str(uuid.uuid4())
            session.add(
                Case(
                    id=case_id,
                    reference=f"RP-{n:08X}",
                    organisation="Bench",
                    caseworker="bench",
                    workflow_id=f"case-{case_id}",
                    nationality=profile.nationality,
                    profile=profile.model_dump(mode="json"),
                    date_of_birth=profile.date_of_birth,
                    name_key=f"bench-{n}",
                    stage="embassy",
                    state=state,
                    opened_at=now,
                    updated_at=now,
                )
            )
            ids.append(case_id)
    return ids


def _cpu_ms(operation: Callable[[str], Any], ids: list[str]) -> float:
    start = time.process_time()
    for case_id in ids:
        operation(case_id)
    return (time.process_time() - start) * 1000 / len(ids)


def measure(cases: int, folder: Path) -> dict[str, float]:
    db = Database(f"sqlite:///{folder / 'app.db'}", "create")
    store = DocumentStore(db, folder / "documents", Sealer({"bench": os.urandom(32)}, "bench"))
    today = datetime.now(UTC).date()
    ids = _cases(db, cases, today)

    def profile(case_id: str) -> Any:
        with db.reading() as session:
            return parse_profile(load_case(session, case_id))

    def document(case_id: str) -> Any:
        digest = input_hash({"case": case_id, "doc_type": "itinerary", "issued_on": today.isoformat()})
        return store.store(
            case_id=case_id,
            doc_type="itinerary",
            digest=digest,
            issued_on=today,
            issuer="Bench",
            render=lambda version, code: PDF,
        )

    profile(ids[0])  # warm: the statements compiled once, as in a running worker
    figures = {
        "case's profile read (ms)": _cpu_ms(profile, ids),
        "document stored, first version (ms)": _cpu_ms(document, ids),
        "document asked again, the stored one returned (ms)": _cpu_ms(document, ids),
    }
    db.dispose()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bookkeeping", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=2000, help="cases (each one document)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="repatriation-bookkeeping-") as tmp:
        figures = measure(args.cases, Path(tmp))
    for name, value in figures.items():
        print(f"{name:52s} {value:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
