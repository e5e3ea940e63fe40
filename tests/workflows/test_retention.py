"""Retention: a case closed longer than the period loses its personal data everywhere (database,
documents, Temporal's history), keeps its statistics, verification records and audit chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from access.actor import operator
from contracts.state import DecisionKind, Role
from database import audit
from database.models import Case, DecisionRow, Document, DocumentCase
from documents.verify import verify
from repatriation.retention import purge
from repatriation.service import NotFound
from tests.conftest import CASEWORKER, ORG, harness_for
from tests.journeys import approve_funding, open_case, person, through_embassy, through_identity


async def test_purge_removes_personal_data_and_keeps_what_may_stay(local_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with harness_for(local_env, tmp_path) as h:
        old = await open_case(h, 0)
        await through_identity(h, old)
        await approve_funding(h, old)
        await through_embassy(h, old)
        await h.wait_pending(old, DecisionKind.flight_choice)
        await h.service.decide(
            old, DecisionKind.consent_withdrawal, {"reason": "stays with family"}, CASEWORKER
        )
        await h.handle(old).result()
        recent = await open_case(h, 1)
        await h.wait_pending(recent, DecisionKind.identity_attestation)
        await h.service.decide(recent, DecisionKind.consent_withdrawal, {"reason": "x"}, CASEWORKER)
        await h.handle(recent).result()
        with h.db.session() as s:
            s.execute(
                update(Case).where(Case.id == old).values(closed_at=datetime.now(UTC) - timedelta(days=400))
            )
            docs = list(s.scalars(select(Document).where(Document.case_id == old)))
            # The embassy's consolidated request names the survivor too: it goes with the case.
            naming = select(DocumentCase.document_id).where(DocumentCase.case_id == old)
            docs += list(s.scalars(select(Document).where(Document.id.in_(naming))))
        files = [Path(d.path) for d in docs]
        assert files and all(f.exists() for f in files)
        assert any(d.doc_type == "embassy_request" for d in docs)

        report = await purge(h.db, h.env.client, "default", older_than_days=365)
        assert (
            report.cases == [old] and report.documents_removed == len(files) and report.histories_deleted == 1
        )

        with h.db.session() as s:
            case = s.get(Case, old)
            payloads = [d.payload for d in s.scalars(select(DecisionRow).where(DecisionRow.case_id == old))]
        survivor = person(0)
        text = f"{case.profile} {case.state} {payloads}"
        for secret in (
            survivor["given_names"],
            survivor["family_name"],
            survivor["native_name"],
            survivor["date_of_birth"],
            survivor["phone"],
            "SPLP-0042",
            "stays with family",
        ):
            assert secret not in text, secret
        assert case.profile == {
            "purged": True,
            "nationality": "VNM",
            "sex": "F",
            "age_band": "18-29",
            "vulnerable": False,
        }
        assert case.outcome == "withdrawn" and case.purged_at is not None  # statistics stay
        assert not any(f.exists() for f in files)
        genuine = verify(h.db, docs[0].verification_code)
        assert genuine is not None and genuine.genuine  # a printed letter can still be checked
        boss = operator("sup", Role.supervisor, ORG, "test")
        with pytest.raises(NotFound, match="retention"):
            h.service.document_file(boss, old, docs[0].id)
        # Temporal accepted the deletion of the history (it removes it in the background; the
        # dev server does so lazily, so the test does not wait for it).
        assert report.histories_deleted == 1
        assert audit.verify(h.db).intact
        with h.db.session() as s:  # the recent case is untouched
            assert s.get(Case, recent).profile["given_names"] == person(1)["given_names"]
