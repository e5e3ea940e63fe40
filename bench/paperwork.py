"""Bare paperwork: WeasyPrint rendering the journey's documents with nothing else (no database,
no Temporal, no files), on the same kind of renderer as the worker (a pool of render processes,
or one renderer in this process); and the Chinese-script document against its Latin twin."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from activities.deps import RenderPool
from contracts.messages import DocType
from contracts.survivor import SurvivorProfile
from database.engine import Database
from database.models import Case, Document, DocumentCase
from documents.context import CaseMeta, build_context
from documents.embassy_list import RequestEntry, request_context
from documents.sample import sample_facts
from documents.store import verification_code
from documents.verify import verify_url
from repatriation.synthetic import survivors as demo_survivors


@dataclass
class Job:
    case_id: str
    reference: str
    doc_type: DocType
    profile: SurvivorProfile
    opened: date
    # A consolidated embassy request: the survivors it names (case reference, profile).
    named: list[tuple[str, SurvivorProfile]] = field(default_factory=list)


def journey_documents(db: Database, case_ids: list[str]) -> list[Job]:
    """Every document the journey made (type, case), with the case's profile; the consolidated
    embassy requests with the survivors each names."""
    ids = set(case_ids)
    with db.reading() as session:
        cases = {
            r.id: r
            for r in session.execute(select(Case.id, Case.reference, Case.profile, Case.opened_at)).all()
            if r.id in ids
        }
        docs = session.execute(
            select(Document.id, Document.case_id, Document.doc_type, Document.subject).order_by(
                Document.created_at
            )
        ).all()
        links = session.execute(select(DocumentCase.document_id, DocumentCase.case_id)).all()
    profiles: dict[str, SurvivorProfile] = {}

    def profile(case_id: str) -> SurvivorProfile:
        if case_id not in profiles:
            profiles[case_id] = SurvivorProfile.model_validate(cases[case_id].profile)
        return profiles[case_id]

    named: dict[str, list[str]] = {}
    for document_id, case_id in links:
        if case_id in ids:
            named.setdefault(document_id, []).append(case_id)
    jobs = []
    for doc in docs:
        if doc.doc_type == DocType.embassy_request and doc.id in named:
            people = [(cases[c].reference, profile(c)) for c in named[doc.id]]
            first = cases[named[doc.id][0]]
            jobs.append(
                Job(
                    doc.id, doc.subject, DocType.embassy_request, people[0][1], first.opened_at.date(), people
                )
            )
            continue
        case = cases.get(doc.case_id)
        if case is None:
            continue
        jobs.append(
            Job(case.id, case.reference, DocType(doc.doc_type), profile(case.id), case.opened_at.date())
        )
    return jobs


def _context(
    job: Job, organisation: str, public_url: str, facts: dict[DocType, dict[str, Any]]
) -> dict[str, Any]:
    code = verification_code(job.case_id, job.doc_type.value, 1, "bench")
    if job.doc_type == DocType.embassy_request:
        entries = [
            RequestEntry(reference, p, verification_code(reference, "etd_application", 1, "bench"))
            for reference, p in job.named
        ]
        return request_context(
            job.reference,
            job.profile.nationality,
            job.opened,
            entries,
            organisation,
            code,
            verify_url(public_url, code),
        )
    meta = CaseMeta(
        case_id=job.case_id,
        reference=job.reference,
        organisation=organisation,
        issued_on=job.opened,
        verification_code=code,
        verify_url=verify_url(public_url, code),
    )
    return build_context(job.doc_type, job.profile, meta, facts[job.doc_type])


def sample(jobs: list[Job], share: float) -> list[Job]:
    """Every k-th job of each document type (a stratified sample), or all of them."""
    if share >= 1:
        return jobs
    step = max(1, round(1 / share))
    picked: list[Job] = []
    for doc_type in DocType:
        picked += [j for j in jobs if j.doc_type == doc_type][::step]
    return picked


def render_all(jobs: list[Job], processes: int, organisation: str, public_url: str) -> dict[str, Any]:
    """Render every job, ``processes`` at a time in render processes (0: here, one at a time).

    Facts are the workflow's as :func:`documents.sample.sample_facts` makes them for the profile.
    """
    facts_of: dict[str, dict[DocType, dict[str, Any]]] = {}
    for job in jobs:
        if job.named:
            facts_of[job.case_id] = {}
        elif job.case_id not in facts_of:
            facts_of[job.case_id] = sample_facts(job.profile, job.opened)
    per_type: dict[str, list[float]] = {}
    lock = threading.Lock()
    started = time.perf_counter()
    if processes <= 0:
        from documents.renderer import Renderer

        renderer = Renderer()
        for job in jobs:
            t = time.perf_counter()
            renderer.render(job.doc_type, _context(job, organisation, public_url, facts_of[job.case_id]))
            per_type.setdefault(job.doc_type.value, []).append(time.perf_counter() - t)
    else:
        pool = RenderPool(processes)
        queue = list(reversed(jobs))

        def feed() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    job = queue.pop()
                t = time.perf_counter()
                context = _context(job, organisation, public_url, facts_of[job.case_id])
                pool.render(job.doc_type.value, context)
                with lock:
                    per_type.setdefault(job.doc_type.value, []).append(time.perf_counter() - t)

        threads = [threading.Thread(target=feed) for _ in range(processes)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            pool.close()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "documents": len(jobs),
        "per_document_ms": {k: 1000 * statistics.mean(v) for k, v in sorted(per_type.items())},
        "documents_per_second": len(jobs) / seconds if seconds else 0.0,
    }


def cjk_ratio(
    organisation: str,
    public_url: str,
    repeats: int = 5,
    documents: tuple[str, ...] = ("etd_application", "intake_consent"),
) -> dict[str, Any]:
    """The ETD application naming a survivor in Chinese script (王小明) against the same
    document with the name in Latin script only, each rendered ``repeats`` times alternately in
    one fresh render process (as the worker renders); medians of the warm renders, and the first
    render of each in a fresh process (font files read for the first time)."""
    today = datetime.now(UTC).date()
    base = next(p for p in demo_survivors(today) if p["nationality"] == "CHN")
    chinese = SurvivorProfile.model_validate(base)
    latin = SurvivorProfile.model_validate({**base, "native_name": None})
    opened = today - timedelta(days=4)
    out: dict[str, Any] = {}
    for doc_type in map(DocType, documents):
        jobs = {
            "chinese": Job("bench-cjk", "RP-BENCHCJK", doc_type, chinese, opened),
            "latin": Job("bench-cjk", "RP-BENCHCJK", doc_type, latin, opened),
        }
        if doc_type == DocType.intake_consent:  # the consent form in English only, for the Latin twin
            jobs["latin"].profile = latin.model_copy(update={"languages": ["en"]})
        facts = {k: sample_facts(j.profile, opened) for k, j in jobs.items()}
        contexts = {k: _context(j, organisation, public_url, facts[k]) for k, j in jobs.items()}
        first: dict[str, float] = {}
        for name in ("latin", "chinese"):  # each first in a fresh process
            pool = RenderPool(1)
            try:
                pool.render(
                    DocType.itinerary.value,
                    _context(
                        Job("warm", "RP-WARM", DocType.itinerary, latin, opened),
                        organisation,
                        public_url,
                        sample_facts(latin, opened),
                    ),
                )  # start the process and load the Latin fonts, as any earlier document would
                t = time.perf_counter()
                pool.render(doc_type.value, contexts[name])
                first[name] = time.perf_counter() - t
            finally:
                pool.close()
        times: dict[str, list[float]] = {"latin": [], "chinese": []}
        pool = RenderPool(1)
        try:
            for name in ("latin", "chinese"):
                pool.render(doc_type.value, contexts[name])  # warm
            for _ in range(repeats):
                for name in ("latin", "chinese"):
                    t = time.perf_counter()
                    pool.render(doc_type.value, contexts[name])
                    times[name].append(time.perf_counter() - t)
        finally:
            pool.close()
        latin_ms = 1000 * statistics.median(times["latin"])
        chinese_ms = 1000 * statistics.median(times["chinese"])
        out[doc_type.value] = {
            "latin_ms": latin_ms,
            "chinese_ms": chinese_ms,
            "ratio": chinese_ms / latin_ms,
            "first_latin_ms": 1000 * first["latin"],
            "first_chinese_ms": 1000 * first["chinese"],
            "first_ratio": first["chinese"] / first["latin"],
        }
    return out
