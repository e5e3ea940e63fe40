"""Paperwork: every document of every stage is rendered here (templates live in documents/)."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import RENDER_ATTEMPTS, Deps, document_fault
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
            try:
                context = build_context(request.doc_type, profile, meta, request.facts)
                with metrics.timed_render(request.doc_type):
                    # In a kept-warm render process when the worker has a pool (activities.deps).
                    return self.deps.render_pdf(request.doc_type, context)
            except Exception as err:
                kind = document_fault(err)
                if kind is None:
                    raise  # the machine's fault, or the worker stopping: retried as any
                raise unrenderable(request, kind, err) from None

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


def unrenderable(request: RenderRequest, kind: str, err: Exception) -> ApplicationError:
    """A render that failed by the document's fault: retried a few times, then failed for good
    (``RENDER_ATTEMPTS``), and the case waits for a supervisor (journey.guarded), who retries once
    the data or the template is mended, or overrides to go on without the document.

    The error names the exception's type, never its text, which may quote the survivor's data:
    the message reaches the stuck view and Temporal's history. The text goes to the worker's log
    in development only (repatriation/logs.py)."""
    attempt = activity.info().attempt
    get_logger(case_id=request.case_id, stage=DOC_STAGE[request.doc_type]).warning(
        "document not rendered", doc_type=request.doc_type, error_type=kind, attempt=attempt, exc_info=err
    )
    return ApplicationError(
        f"the {request.doc_type} could not be rendered ({kind}, attempt {attempt}): a template or the "
        "case's data is at fault; mend it, then retry, or override to go on without this document",
        type="DocumentUnrenderable",
        non_retryable=attempt >= RENDER_ATTEMPTS,
    )
