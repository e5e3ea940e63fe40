"""The embassy's consolidated requests (workflows/embassy_requests.py): a case joins its
embassy's batcher; a batch becomes one request naming every case in it, mailed once with their
ETD applications.

Both steps are idempotent. Joining twice adds the case once. Sending again (a retry) after the
mail went finds the request stored under its reference and answers for the cases it named; the
mail goes once per request; a case already named in an earlier request is answered with that
one, never named twice. A request stored but not yet mailed is judged again on a retry: a case
closed or closing meanwhile (consent withdrawn) is left out, in a new version of the request,
so nothing goes to the embassy about a survivor who no longer consents.

A request that cannot be rendered (a template, or one survivor's data, at fault) is retried a
few times like any document (``RENDER_ATTEMPTS``), then goes without the survivors whose data it
cannot render: each of them, or every case in the batch when the template is at fault, is
answered as failed and waits for a supervisor. The batcher itself never fails for it.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import defer
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import RENDER_ATTEMPTS, Deps, document_fault
from activities.heartbeats import in_thread_heartbeating
from activities.notices import already_sent, recipient, send_once
from activities.outbox import embassy_request_notice
from activities.profiles import load_case, parse_profile
from contracts.messages import (
    DocType,
    EarlierRequest,
    EmbassyBatchStart,
    EmbassyRequestBatch,
    EmbassyRequestEntry,
    EmbassyRequestResult,
    JoinEmbassyRequest,
)
from contracts.state import Role
from database.models import Case, Document, DocumentCase
from documents.embassy_list import RequestEntry, request_context
from documents.store import DocumentStore, input_hash, ref_of
from documents.verify import verify_url
from repatriation.logs import get_logger
from workflows.calls import FIRST
from workflows.embassy_requests import EmbassyRequestsWorkflow


class _RequestUnrenderable(Exception):
    """The request could not be rendered by the document's fault (activities.deps.document_fault)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _unrenderable(kind: str) -> str:
    return (
        f"the embassy request could not be rendered with this case in it ({kind}, attempt "
        f"{RENDER_ATTEMPTS}): a template or the case's data is at fault; mend it, then retry"
    )


def batcher_id(task_queue: str, nationality: str, organisation: str) -> str:
    """One batcher per deployment (task queue), embassy and organisation: a request is a letter
    from one organisation, and only its own staff may read it."""
    org = hashlib.sha256(organisation.encode()).hexdigest()[:8]
    return f"embassy-requests-{task_queue}-{nationality}-{org}"


class EmbassyRequestActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.store = DocumentStore(deps.db, deps.settings.documents_dir, deps.sealer)

    def _case_keys(self, case_id: str) -> tuple[str, str]:
        with self.deps.db.reading() as session:
            case = load_case(session, case_id)
            return case.nationality, case.organisation

    @activity.defn(name="join_embassy_request")
    async def join_embassy_request(self, request: JoinEmbassyRequest) -> None:
        settings = self.deps.settings
        nationality, organisation = await asyncio.to_thread(self._case_keys, request.case_id)
        start = EmbassyBatchStart(
            nationality=nationality,
            organisation=organisation,
            window_seconds=settings.embassy_request_window_seconds,
            quiet_seconds=min(
                settings.embassy_request_quiet_seconds, settings.embassy_request_window_seconds
            ),
            max_cases=settings.embassy_request_max_cases,
            paperwork_task_queue=settings.paperwork_queue,
        )
        # Signal-with-start: the batcher's first case starts it; later ones are added to it.
        await activity.client().start_workflow(
            EmbassyRequestsWorkflow.run,
            start,
            id=batcher_id(settings.task_queue, nationality, organisation),
            task_queue=settings.task_queue,
            start_signal="add",
            start_signal_args=[EmbassyRequestEntry(case_id=request.case_id, workflow_id=request.workflow_id)],
            # Its workflow tasks go before the cases' own: in a mass release hundreds wait for it.
            priority=FIRST,
        )
        get_logger(case_id=request.case_id, stage="embassy").info("joined the embassy's next request")

    def _earlier_requests(self, case_ids: list[str], reference: str) -> dict[str, EarlierRequest]:
        with self.deps.db.reading() as session:
            rows = session.execute(
                select(DocumentCase.case_id, Document)
                .join(Document, Document.id == DocumentCase.document_id)
                .where(
                    DocumentCase.case_id.in_(case_ids),
                    Document.doc_type == DocType.embassy_request,
                    Document.subject != reference,
                )
                .order_by(Document.created_at)
            ).all()
        return {case_id: EarlierRequest(reference=doc.subject, document=ref_of(doc)) for case_id, doc in rows}

    def _applications(self, case_ids: list[str]) -> dict[str, Document]:
        with self.deps.db.reading() as session:
            rows = session.scalars(
                select(Document).where(
                    Document.case_id.in_(case_ids),
                    Document.doc_type == DocType.etd_application,
                    Document.superseded.is_(False),
                )
            ).all()
        return {doc.case_id: doc for doc in rows if doc.case_id}

    @activity.defn(name="send_embassy_request")
    async def send_embassy_request(self, batch: EmbassyRequestBatch) -> EmbassyRequestResult:
        return await in_thread_heartbeating(lambda: self._send(batch))

    def _send(self, batch: EmbassyRequestBatch) -> EmbassyRequestResult:
        reference = batch.request_reference
        result = EmbassyRequestResult(request_reference=reference)
        existing = self.store.find(DocType.embassy_request, reference)
        # Once mailed, the request stands as it went out (the cases it named had consented then).
        # Stored but not mailed (the relay was down, the worker died), it is a draft: each case
        # is judged again, so a survivor who withdrew meanwhile is not mailed to the embassy, and
        # a new version is stored if the cases named changed.
        mailed = existing is not None and already_sent(self.deps.db, embassy_request_notice(reference))
        named_before = set(self.store.named_in(existing.id)) if existing and mailed else set()
        earlier = self._earlier_requests(batch.case_ids, reference)
        applications = self._applications(batch.case_ids)
        with self.deps.db.reading() as session:
            named = (
                select(Case, Case.state["closing"].as_string())
                .where(Case.id.in_(batch.case_ids))
                .options(defer(Case.state))
            )
            rows = session.execute(named).all()
        cases = {case.id: case for case, _ in rows}
        # A case closing (consent withdrawn, cancelled) is left out from the moment its read
        # model says so, before its closure has written the outcome.
        closing = {case.id: closes for case, closes in rows if closes}
        entries: list[RequestEntry] = []
        for case_id in batch.case_ids:
            case = cases.get(case_id)
            if case_id in named_before:
                result.sent.append(case_id)
                continue
            if case is None:
                result.failed[case_id] = "the case is not in the database"
            elif case.outcome is not None or case_id in closing:
                result.skipped[case_id] = f"closed ({case.outcome or closing[case_id]})"
            elif case_id in earlier:
                result.earlier[case_id] = earlier[case_id]
            elif mailed:
                # The request went out without this case: it is answered as not named.
                result.failed[case_id] = f"not named in request {reference}; retry to join the next one"
            else:
                problem = self._problem(case, applications.get(case_id))
                if problem:
                    result.failed[case_id] = problem
                    continue
                application = applications[case_id]
                entries.append(
                    RequestEntry(case.reference, parse_profile(case), application.verification_code)
                )
                result.sent.append(case_id)
        if not mailed:
            if existing is not None and set(self.store.named_in(existing.id)) != set(result.sent):
                # The draft names someone who may no longer be named: it goes, file and all, so
                # that nobody (a liaison reading the documents of a case it names) reads it.
                self._discard_draft(existing)
            existing = self._store_renderable(batch, entries, result) if entries else None
        if existing is None:
            return result
        result.document = ref_of(existing)
        attached = [
            (cases[c].reference, applications[c]) for c in result.sent if c in applications and c in cases
        ]
        result.mailed = self._mail(batch, existing, attached)
        # About many cases: bound to the request, whose cases the document_cases table names.
        get_logger(request=reference, stage="embassy").info(
            "embassy request",
            nationality=batch.nationality,
            cases=len(result.sent),
            failed=len(result.failed),
            skipped=len(result.skipped),
        )
        return result

    def _store_renderable(
        self, batch: EmbassyRequestBatch, entries: list[RequestEntry], result: EmbassyRequestResult
    ) -> Document | None:
        """The request stored, naming ``entries`` (one for each case in ``result.sent``, in order).

        Rendering that fails by the document's fault is retried as any fault until the last of
        ``RENDER_ATTEMPTS``; then each survivor is tried in a request of their own, and those
        whose data cannot be rendered are left out, failed, each waiting for a supervisor. When
        none renders alone, the template is at fault: every case in the batch fails. Only the
        rendering is judged so: a database or disk fault while storing is retried as any. The
        errors name the exception's type, never its text, which may quote a survivor."""
        log = get_logger(request=batch.request_reference, stage="embassy")
        try:
            return self._store(batch, entries, result.sent)
        except _RequestUnrenderable as err:
            kind = err.kind
            attempt = activity.info().attempt
            log.warning(
                "embassy request not rendered", error_type=kind, attempt=attempt, exc_info=err.__cause__
            )
            if attempt < RENDER_ATTEMPTS:
                raise ApplicationError(
                    f"the embassy request could not be rendered ({kind}, attempt {attempt})",
                    type="DocumentUnrenderable",
                ) from None
        named = dict(zip(result.sent, entries, strict=True))
        faults = {c: fault for c, entry in named.items() if (fault := self._fault_alone(batch, entry))}
        if len(faults) == len(named):
            faults = {case_id: kind for case_id in named}  # none renders alone: the template's fault
        for case_id, fault in faults.items():
            del named[case_id]
            result.failed[case_id] = _unrenderable(fault)
        log.warning("embassy request left out the cases it cannot render", left_out=len(faults))
        if named:
            try:
                result.sent = list(named)
                return self._store(batch, list(named.values()), result.sent)
            except _RequestUnrenderable as again:
                # Each renders alone but not together: the template's fault after all.
                result.failed.update({case_id: _unrenderable(again.kind) for case_id in named})
        result.sent = []
        return None

    def _fault_alone(self, batch: EmbassyRequestBatch, entry: RequestEntry) -> str | None:
        """The type of the error if a request naming this survivor alone cannot render either."""
        try:
            self._render(batch, [entry], "TRIAL-ONLY", 1)
        except _RequestUnrenderable as err:
            return err.kind
        return None

    def _render(
        self, batch: EmbassyRequestBatch, entries: list[RequestEntry], code: str, version: int
    ) -> bytes:
        """The request's PDF; a failure by the document's fault (the template, or a survivor's
        data, from building its rows on) raises _RequestUnrenderable, any other is the machine's."""
        settings = self.deps.settings
        try:
            context = request_context(
                batch.request_reference,
                batch.nationality,
                batch.issued_on,
                entries,
                settings.organisation,
                code,
                verify_url(settings.public_url, code),
                version,
            )
            return self.deps.render_pdf(DocType.embassy_request, context)
        except Exception as err:
            kind = document_fault(err)
            if kind is None:
                raise  # the machine's fault, or the worker stopping: retried as any
            raise _RequestUnrenderable(kind) from err

    def _discard_draft(self, draft: Document) -> None:
        """A request stored but never mailed, and now not to be: its row, the cases it names and
        its file are removed (the next version takes its number)."""
        with self.deps.db.session() as session:
            session.execute(delete(DocumentCase).where(DocumentCase.document_id == draft.id))
            session.execute(delete(Document).where(Document.id == draft.id))
        Path(draft.path).unlink(missing_ok=True)

    @staticmethod
    def _problem(case: Case, application: Document | None) -> str | None:
        """Why this case cannot be named in a request to its embassy, if it cannot."""
        try:
            profile = parse_profile(case)
        except ApplicationError as err:
            return err.message
        if not profile.consent.disclosure_to_embassy:
            return "the survivor's consent to disclosure to the embassy is not recorded"
        if application is None or not application.path:
            return "the case has no ETD application to attach"
        return None

    def _store(self, batch: EmbassyRequestBatch, entries: list[RequestEntry], named: list[str]) -> Document:
        settings = self.deps.settings
        digest = input_hash(
            {
                "reference": batch.request_reference,
                "issuer": settings.organisation,
                "issued_on": batch.issued_on.isoformat(),
                "entries": [
                    (e.reference, e.profile.model_dump(mode="json"), e.application_code) for e in entries
                ],
            }
        )

        def render(version: int, code: str) -> bytes:
            return self._render(batch, entries, code, version)

        self.store.store(
            case_id=None,
            doc_type=DocType.embassy_request,
            digest=digest,
            issued_on=batch.issued_on,
            issuer=settings.organisation,
            render=render,
            subject=batch.request_reference,
            names=named,
        )
        stored = self.store.find(DocType.embassy_request, batch.request_reference)
        assert stored is not None
        return stored

    def _mail(
        self, batch: EmbassyRequestBatch, request: Document, applications: list[tuple[str, Document]]
    ) -> bool:
        count = len(applications)
        reference = batch.request_reference
        return send_once(
            self.deps,
            notice_id=embassy_request_notice(reference),
            kind="embassy_request",
            case_id=reference,
            to=recipient(self.deps.settings, Role.liaison, batch.nationality),
            subject=(
                f"Nationality verification and emergency travel documents: {count} survivor(s), {reference}"
            ),
            body=(
                f"Please find attached request {reference} to verify the nationality of {count} survivor(s) "
                "of trafficking and to issue their emergency travel documents (UN Trafficking in Persons "
                "Protocol, art. 8), with each survivor's ETD application. Record your decisions against "
                "each case reference."
            ),
            attachments=[
                (f"{reference}.pdf", Path(request.path)),
                *((f"etd-application-{ref}-v{a.version}.pdf", Path(a.path)) for ref, a in applications),
            ],
        )
