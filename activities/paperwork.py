"""Paperwork: every document of every stage is rendered here (templates live in documents/)."""

from __future__ import annotations

from temporalio import activity

from activities.deps import Deps
from activities.profiles import load_case, parse_profile
from contracts.messages import DOC_STAGE, RenderRequest
from contracts.state import DocumentRef
from documents.context import CaseMeta, build_context
from documents.store import DocumentStore, input_hash
from documents.verify import verify_url
from repatriation import metrics
from repatriation.logs import get_logger


class PaperworkActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.store = DocumentStore(deps.db, deps.settings.documents_dir, deps.sealer)

    @activity.defn(name="render_document")
    def render_document(self, request: RenderRequest) -> DocumentRef:
        with self.deps.db.reading() as session:
            case = load_case(session, request.case_id)
            profile = parse_profile(case)
            reference = case.reference
        issuer = self.deps.settings.organisation
        digest = input_hash(
            {
                "doc_type": request.doc_type,
                "issued_on": request.issued_on.isoformat(),
                "issuer": issuer,
                "profile": profile.model_dump(mode="json"),
                "facts": request.facts,
            }
        )

        def render(version: int, code: str) -> bytes:
            meta = CaseMeta(
                case_id=request.case_id,
                reference=reference,
                organisation=issuer,
                issued_on=request.issued_on,
                verification_code=code,
                version=version,
                verify_url=verify_url(self.deps.settings.public_url, code),
            )
            context = build_context(request.doc_type, profile, meta, request.facts)
            with metrics.timed_render(request.doc_type):
                # In a kept-warm render process when the worker has a pool (activities.deps).
                return self.deps.render_pdf(request.doc_type, context)

        ref = self.store.store(
            case_id=request.case_id,
            doc_type=request.doc_type,
            digest=digest,
            issued_on=request.issued_on,
            issuer=issuer,
            render=render,
        )
        get_logger(case_id=request.case_id, stage=DOC_STAGE[request.doc_type]).info(
            "document", doc_type=request.doc_type, version=ref.version
        )
        return ref
