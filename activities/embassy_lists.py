"""Each day, one consolidated list per embassy of every survivor awaiting it, mailed once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import RENDER_ATTEMPTS, Deps, document_fault
from activities.heartbeats import in_thread_heartbeating
from activities.notices import recipient, send_once
from activities.outbox import embassy_list_notice, lists_unrenderable_notice
from activities.profiles import parse_profile
from activities.stuck import flag_failing
from contracts.messages import DocType, EmbassyList, EmbassyListsRequest
from contracts.state import Role
from database.models import Case, StuckFlag
from documents.embassy_list import ListEntry, list_context
from documents.store import DocumentStore, input_hash
from documents.verify import verify_url
from repatriation.logs import get_logger

AWAITED_FROM_EMBASSY = ("nationality", "etd")
# A mail's subject is kept with its notice (database.models.NoticeRow.subject, 300 characters).
SUBJECT_LIMIT = 200
STEP = "send_embassy_lists"


class _ListUnrenderable(Exception):
    """One embassy's list failed to render by its own fault (activities.deps.document_fault)."""


@dataclass
class ListsMade:
    sent: list[EmbassyList] = field(default_factory=list)
    unrenderable: dict[str, str] = field(default_factory=dict)  # nationality: the error's type


class EmbassyListActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.store = DocumentStore(deps.db, deps.settings.documents_dir, deps.sealer)

    def _awaiting(self) -> tuple[dict[str, list[ListEntry]], dict[str, ApplicationError]]:
        """The survivors awaiting each embassy, and the cases left out: their stored data is invalid
        (one such case must not keep every embassy's list from going out)."""
        by_country: dict[str, list[ListEntry]] = defaultdict(list)
        left_out: dict[str, ApplicationError] = {}
        with self.deps.db.reading() as session:
            for case in session.scalars(select(Case).where(Case.outcome.is_(None)).order_by(Case.opened_at)):
                pending = [
                    p for p in (case.state or {}).get("pending", []) if p["kind"] in AWAITED_FROM_EMBASSY
                ]
                if not pending:
                    continue
                try:
                    profile = parse_profile(case)
                except ApplicationError as err:
                    left_out[case.id] = err
                    continue
                if not profile.consent.disclosure_to_embassy:
                    continue
                since = min(datetime.fromisoformat(p["since"]) for p in pending)
                by_country[case.nationality].append(
                    ListEntry(case.reference, profile, since, [p["kind"] for p in pending], case.id)
                )
        return by_country, left_out

    def _report(self, left_out: dict[str, ApplicationError]) -> None:
        """Flag each case left out as failing this step, with why; clear the flag of the others."""
        for case_id, err in left_out.items():
            flag_failing(self.deps.db, case_id, STEP, 1, f"{err.type}: {err.message}")
            # Ids and the error's type only: the message names the invalid fields of a survivor.
            get_logger(case_id=case_id, stage="embassy").warning(
                "left out of the embassy list", step=STEP, error=err.type
            )
        with self.deps.db.session() as session:
            session.execute(
                delete(StuckFlag).where(
                    StuckFlag.reason == "failing",
                    StuckFlag.step == STEP,
                    StuckFlag.case_id.not_in(list(left_out)),
                )
            )

    @activity.defn(name=STEP)
    async def send_embassy_lists(self, request: EmbassyListsRequest) -> list[EmbassyList]:
        made = await in_thread_heartbeating(lambda: self.send(request))
        if made.unrenderable:
            # Retried a few times (the lists sent are not sent again), then the day's run fails,
            # visibly, instead of holding the Schedule's next mornings behind it.
            attempt = activity.info().attempt
            which = ", ".join(f"{nat} ({kind})" for nat, kind in sorted(made.unrenderable.items()))
            if attempt >= RENDER_ATTEMPTS:  # for good: the supervisors are told, not left to look
                day = request.list_date.isoformat()
                failed, others = len(made.unrenderable), bool(made.sent)
                await in_thread_heartbeating(lambda: self._tell_supervisors(day, which, failed, others))
            raise ApplicationError(
                f"the daily list for {which} could not be rendered (attempt {attempt}): a template or "
                "the data is at fault; once mended, `repatriation embassy lists` sends it",
                type="DocumentUnrenderable",
                non_retryable=attempt >= RENDER_ATTEMPTS,
            )
        return made.sent

    def send(self, request: EmbassyListsRequest) -> ListsMade:
        """Make and mail the day's lists (the activity, or `repatriation embassy lists` at once):
        those sent, and the embassies whose list could not be rendered by its own fault."""
        settings, day = self.deps.settings, request.list_date
        made = ListsMade()
        sent, unrenderable = made.sent, made.unrenderable
        awaiting, left_out = self._awaiting()
        self._report(left_out)
        for nationality, entries in sorted(awaiting.items()):
            entries.sort(key=lambda e: (e.waiting_since, e.reference))
            subject = f"{nationality}:{day.isoformat()}"
            digest = input_hash(
                {
                    "subject": subject,
                    "issuer": settings.organisation,
                    "entries": [
                        (e.reference, e.profile.model_dump(mode="json"), e.awaiting) for e in entries
                    ],
                }
            )

            def render(
                version: int, code: str, entries: list[ListEntry] = entries, nat: str = nationality
            ) -> bytes:
                context = list_context(
                    nat,
                    day,
                    entries,
                    settings.organisation,
                    code,
                    verify_url(settings.public_url, code),
                    version,
                )
                try:
                    return self.deps.render_pdf(DocType.embassy_daily_list, context)
                except Exception as err:
                    kind = document_fault(err)
                    if kind is None:
                        raise  # the machine's fault: retried as any
                    raise _ListUnrenderable(kind) from None

            try:
                ref = self.store.store(
                    case_id=None,
                    doc_type=DocType.embassy_daily_list,
                    digest=digest,
                    issued_on=day,
                    issuer=settings.organisation,
                    render=render,
                    subject=subject,
                    names=[e.case_id for e in entries],
                )
            except _ListUnrenderable as err:  # the other embassies still get theirs
                unrenderable[nationality] = str(err)
                get_logger(case_id=None, stage="embassy").warning(
                    "embassy list not rendered", nationality=nationality, error=str(err)
                )
                continue
            mailed = self._mail(
                nationality, day.isoformat(), ref.document_id, ref.version, Path(ref.path), len(entries)
            )
            sent.append(
                EmbassyList(
                    nationality=nationality,
                    cases=len(entries),
                    document_id=ref.document_id,
                    version=ref.version,
                    mailed=mailed,
                )
            )
            get_logger(case_id=None, stage="embassy").info(
                "embassy list", nationality=nationality, cases=len(entries)
            )
        return made

    def _tell_supervisors(self, day: str, which: str, failed: int, others_sent: bool) -> None:
        """Mail the supervisors, once a day, which embassies' lists could not be rendered (the
        embassies and the errors' types only: nothing about a survivor)."""
        subject = f"Daily embassy lists of {day} not sent: {which}"
        if len(subject) > SUBJECT_LIMIT:  # every embassy's, say: the body names them all
            subject = f"Daily embassy lists of {day} not sent: {failed} embassies"
        others = "The other embassies' lists went." if others_sent else "No list went."
        send_once(
            self.deps,
            notice_id=lists_unrenderable_notice(day),
            kind="lists_unrenderable",
            case_id=lists_unrenderable_notice(day),
            to=recipient(self.deps.settings, Role.supervisor, ""),
            subject=subject,
            body=(
                f"The daily list for {which} could not be rendered on {day}, after {RENDER_ATTEMPTS} "
                "attempts: a document template or a case's data is at fault (the worker's log names "
                f"the template). {others} Once it is mended, run `repatriation embassy lists` to send "
                "the missing list; tomorrow morning's run tries again."
            ),
            attachments=[],
        )

    def _mail(
        self, nationality: str, day: str, document_id: str, version: int, path: Path, count: int
    ) -> bool:
        """Mail the list once per version (a list that grew during the day goes out again)."""
        return send_once(
            self.deps,
            notice_id=embassy_list_notice(nationality, day, version),
            kind="embassy_list",
            case_id=embassy_list_notice(nationality, day, version),
            to=recipient(self.deps.settings, Role.liaison, nationality),
            subject=f"Survivors awaiting your decisions on {day}: {count} case(s)",
            body=(
                f"Please find attached today's consolidated list of the {count} survivor(s) awaiting "
                "your verification of nationality and emergency travel documents."
            ),
            attachments=[(f"embassy-list-{nationality}-{day}-v{version}.pdf", path)],
        )
