"""The web pages: server-rendered HTML for the three roles, working without JavaScript.

A signed session cookie (HttpOnly, SameSite=Strict) identifies the user; every POST form carries
a CSRF token bound to that cookie. Every read and decision goes through the CaseService, which
scopes it to the user (a case out of scope is "not found") and writes the audit trail.

- caseworker: /cases, /cases/new, /cases/{id} (identity, travel, consent withdrawal)
- liaison:    /queue (nationality + ETD in one step), /cases/{id}
- supervisor: /dashboard (stuck cases per reason, stages, embassies, funding requests, overdue
              cases), /stuck (every stuck case, filtered), /audit, /cases/{id} with the
              interventions (retry, extend a deadline, reassign, override, hold/resume, cancel)
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import pycountry
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from access import scope, users
from access.actor import Actor
from api.auth import SESSION_COOKIE, check_csrf, client_address, csrf_token, session_user_id, session_value
from api.cases import pdf_download
from contracts import decisions as d
from contracts.interventions import Intervention
from contracts.state import DECISION_ROLE, STAGE_ORDER, CaseState, DecisionKind, Role, Stage
from contracts.survivor import CaseOpenRequest, country_name
from contracts.views import CaseDetail, CaseSummary, StuckItem
from database import ledger
from repatriation.logs import get_logger
from repatriation.service import (
    CaseService,
    Forbidden,
    Invalid,
    NotFound,
    Rejected,
    ServiceError,
    case_reference,
)
from repatriation.settings import Settings

HERE = Path(__file__).parent
CSS = HERE / "static" / "app.css"
log = get_logger(component="web")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self'; img-src 'self' data:; script-src 'none'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_SIZE = 25
EMBASSY_KINDS = ("nationality", "etd")

KIND_LABELS: dict[str, str] = {
    "duplicate_resolution": "resolve a possible duplicate",
    "identity_attestation": "identity attestation",
    "nationality": "nationality verification",
    "etd": "emergency travel document",
    "funding": "funding approval",
    "flight_choice": "flight choice",
    "departure": "departure confirmation",
    "arrival": "arrival and handover",
    "consent_withdrawal": "consent withdrawal",
}
STAGE_LABELS: dict[str, str] = {
    "intake": "Intake and consent",
    "identity": "Identity verification",
    "travel_documents": "Emergency travel documents",
    "embassy": "Embassy contact",
    "funding": "Funding approval",
    "travel": "Travel",
    "closed": "Closed",
}
DOCUMENT_LABELS: dict[str, str] = {
    "intake_consent": "Intake record and consent form",
    "identity_report": "Identity verification report",
    "nationality_request": "Nationality verification request",
    "embassy_request": "Embassy request (consolidated: names every survivor asked together)",
    "etd_application": "ETD application",
    "funding_request": "Funding request",
    "funding_memo": "Funding approval memo",
    "exit_clearance": "Exit clearance request",
    "itinerary": "Itinerary",
    "travel_letter": "Travel letter",
    "closure_report": "Closure and handover report",
}
DONE_MESSAGES: dict[str, str] = {
    "opened": "Case opened. Its journey has started: the identity checks run first.",
    "identity_attestation": "Identity attestation recorded.",
    "duplicate_resolution": "Duplicate resolution recorded.",
    "nationality": "Nationality decision recorded.",
    "etd": "Emergency travel document decision recorded.",
    "embassy": "Nationality and emergency travel document decisions recorded.",
    "funding": "Funding decision recorded.",
    "flight_choice": "Flight chosen; the booking follows.",
    "departure": "Departure confirmed.",
    "arrival": "Arrival and handover confirmed.",
    "consent_withdrawal": "Consent withdrawal recorded: the case stops, bookings and funds are released.",
    "retry": "The failed step is being tried again now.",
    "extend_deadline": "Deadline extended: the new deadline is in the list of decisions awaited.",
    "reassign": "Work reassigned.",
    "override": "Stage overridden: the awaited decision was taken in its place, or the failed step skipped.",
    "hold": "Case put on hold: nothing moves on and no decision is accepted until a supervisor resumes it.",
    "resume": "Case resumed: its journey goes on.",
    "cancel": "Case cancelled: it closes, bookings are cancelled and committed funds released.",
}
# Why a case is stuck: short label for lists, and what it means for the case page.
STUCK_REASONS: dict[str, str] = {
    "overdue": "Decision overdue",
    "failing": "Step failing",
    "failed": "Step failed for good",
    "workflow_task_failing": "Workflow stalled",
    "on_hold": "On hold",
}
STUCK_MEANINGS: dict[str, str] = {
    "overdue": "A person's decision has passed its deadline.",
    "failing": "An automatic step keeps failing; it is retried automatically.",
    "failed": "An automatic step failed for good; retry it, override the stage or cancel the case.",
    "workflow_task_failing": "The workflow cannot make progress at all; the operator must look at it.",
    "on_hold": "A supervisor put the case on hold: nothing moves on until it is resumed.",
}
STUCK_LIMIT = 500
INTERVENTION_LABELS: dict[str, str] = {
    "retry": "retry",
    "extend_deadline": "deadline extension",
    "reassign": "reassignment",
    "override": "override",
    "hold": "hold",
    "resume": "resumption",
    "cancel": "cancellation",
}
INTERVENTION_FIELDS: dict[str, tuple[str, ...]] = {
    "retry": (),
    "extend_deadline": ("kind", "days"),
    "reassign": ("role", "to"),
    "override": ("stage",),
    "hold": (),
    "resume": (),
    "cancel": ("confirm",),
}
INTERVENTION: TypeAdapter[Any] = TypeAdapter(Intervention)
DECISION_MODELS: dict[DecisionKind, type[BaseModel]] = {
    DecisionKind.duplicate_resolution: d.DuplicateResolution,
    DecisionKind.identity_attestation: d.IdentityAttestation,
    DecisionKind.nationality: d.NationalityDecision,
    DecisionKind.etd: d.EtdDecision,
    DecisionKind.funding: d.FundingDecision,
    DecisionKind.flight_choice: d.FlightChoice,
    DecisionKind.departure: d.DepartureConfirmation,
    DecisionKind.arrival: d.ArrivalConfirmation,
    DecisionKind.consent_withdrawal: d.ConsentWithdrawal,
}
REFERENCE = re.compile(r"^RP-[0-9A-F]{8}$")
DOCUMENT_ID = re.compile(r"^[0-9a-f-]{36}$")
FIELD_PATH = re.compile(r"^([a-z_][a-z0-9_.]*): (.+)$", re.S)


# -- templates ------------------------------------------------------------------------------
def _when(value: datetime | date | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _label(value: str | None) -> str:
    if value is None:
        return "—"
    return KIND_LABELS.get(value) or STAGE_LABELS.get(value) or value.replace("_", " ")


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


def _age(seconds: float | None) -> str:
    """A duration for people: "3 d 4 h", "5 h 12 min", "12 min", "under a minute"."""
    if seconds is None:
        return "—"
    minutes = max(0, int(seconds)) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "under a minute"


def _stage(value: str | None) -> str:
    return STAGE_LABELS.get(value or "", value or "—")


def _country(code: str | None) -> str:
    return f"{country_name(code)} ({code})" if code else "—"


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(
    money=_money,
    when=_when,
    label=_label,
    stage=_stage,
    country=_country,
    age=_age,
    reason=lambda value: STUCK_REASONS.get(value, value.replace("_", " ")),
    meaning=lambda value: STUCK_MEANINGS.get(value, ""),
    document=lambda doc_type: DOCUMENT_LABELS.get(doc_type, doc_type.replace("_", " ").capitalize()),
)
COUNTRIES = sorted(((c.alpha_3, c.name) for c in pycountry.countries), key=lambda c: c[1])
templates.globals.update(stage_labels=STAGE_LABELS, countries=COUNTRIES)
# A form's own id: the same form posted twice (a double click) is one intervention (CaseService.intervene).
templates.globals["new_request_id"] = lambda: uuid.uuid4().hex


# -- who is visiting -------------------------------------------------------------------------
class LoginRequired(Exception):
    """No valid session: the page sends the visitor to /login."""


@dataclass(frozen=True)
class Visitor:
    name: str
    role: Role
    actor: Actor
    session: str
    csrf: str


async def visitor(request: Request) -> Visitor:
    settings: Settings = request.app.state.settings
    value = request.cookies.get(SESSION_COOKIE)
    user_id = session_user_id(settings, value)
    user = None if user_id is None else await run_in_threadpool(users.by_id, request.app.state.db, user_id)
    if user is None or value is None:
        raise LoginRequired
    found = Visitor(
        name=user.name,
        role=Role(user.role),
        actor=users.actor_of(user, f"web:{client_address(request)}"),
        session=value,
        csrf=csrf_token(settings, value),
    )
    request.state.visitor = found
    return found


VisitorDep = Annotated[Visitor, Depends(visitor)]


def require(who: Visitor, *roles: Role) -> None:
    if who.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise Forbidden(f"This page is for the {allowed} role; you are signed in as a {who.role}.")


async def posted(request: Request, who: Visitor) -> dict[str, str]:
    """The submitted form, once its CSRF token has been checked (403 otherwise)."""
    form = await request.form()
    values = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    if not check_csrf(request.app.state.settings, who.session, values.get("csrf_token")):
        raise Forbidden(
            "The form could not be accepted: its security token is missing or out of date. "
            "Go back, reload the page and submit it again."
        )
    values.pop("csrf_token", None)
    return values


def service(request: Request) -> CaseService:
    return request.app.state.service


def nav_for(who: Visitor | None) -> list[tuple[str, str]]:
    if who is None:
        return []
    if who.role == Role.caseworker:
        return [("/cases", "Cases"), ("/cases/new", "Open a case")]
    if who.role == Role.liaison:
        return [("/queue", "Embassy queue"), ("/cases", "Cases")]
    return [
        ("/dashboard", "Dashboard"),
        ("/stuck", "Stuck cases"),
        ("/cases", "Cases"),
        ("/audit", "Audit trail"),
    ]


def flash_of(request: Request) -> str | None:
    done = request.query_params.get("done")
    message = DONE_MESSAGES.get(done or "")
    ref = request.query_params.get("ref", "")
    if message and REFERENCE.match(ref):
        message = f"Case {ref}: {message}"
    return message


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    who: Visitor | None = getattr(request.state, "visitor", None)
    page = templates.get_template(template).render(
        visitor=who,
        nav=nav_for(who),
        current=request.url.path,
        flash=context.pop("flash", None) or flash_of(request),
        **context,
    )
    return HTMLResponse(page, status_code=status)


ERROR_TITLES = {
    400: "The request could not be understood",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not possible here",
    409: "Not possible now",
    413: "Too large",
    422: "Please check what was entered",
}


def error_page(request: Request, status: int, message: str | None = None) -> HTMLResponse:
    title = ERROR_TITLES.get(status, "Something went wrong")
    if status >= 500 or not message:
        message = (
            "The page could not be shown. Nothing you entered was lost from cases already saved; "
            "please try again in a moment, and tell the system's operator if it keeps happening."
            if status >= 500
            else title
        )
    detail = message[:1].upper() + message[1:]
    return render(request, "error.html", status=status, title=title, detail=detail, status_code=status)


class PageRoute(APIRoute):
    """Every page answers with HTML, never a traceback or JSON: a missing session redirects to
    /login, a service error becomes a page with its message and status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired:
                response = RedirectResponse("/login", status_code=303)
            except ServiceError as err:
                response = error_page(request, err.status, str(err))
            except RequestValidationError:
                response = error_page(
                    request, 422, "The address or the form holds a value that is not valid."
                )
            except HTTPException as err:
                response = error_page(request, err.status_code, str(err.detail))
            except Exception:  # noqa: BLE001 - a page never shows a traceback
                log.exception("page failed", path=request.url.path, method=request.method)
                response = error_page(request, 500)
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return page


router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- static, sign in and out -----------------------------------------------------------------
@router.get("/static/app.css")
async def stylesheet() -> Response:
    return FileResponse(CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/login")
async def login_form(request: Request) -> Response:
    try:
        await visitor(request)
    except LoginRequired:
        request.state.visitor = None
        return render(request, "login.html", name="")
    return RedirectResponse("/", status_code=303)  # signed in already


@router.post("/login")
async def login(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    db = request.app.state.db
    form = await request.form()
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    token = str(form.get("token") or "").strip()
    user = None
    if token:
        user = await run_in_threadpool(users.by_token, db, token)
    elif name and password:
        user = await run_in_threadpool(users.by_password, db, name, password)
    if user is None:
        log.warning("sign-in refused", source=client_address(request), by="token" if token else "password")
        message = (
            "That token is unknown or revoked."
            if token
            else "The user name or the password is wrong."
            if name and password
            else "Enter your user name and password, or an API token."
        )
        return render(request, "login.html", status=401, message=message, name=name)
    actor = users.actor_of(user, f"web:{client_address(request)}")
    await run_in_threadpool(
        service(request).audit, actor, "session.login", None, "token" if token else "password"
    )
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(settings, user.id),
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        max_age=int(settings.session_hours * 3600),
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request, who: VisitorDep) -> Response:
    await posted(request, who)
    await run_in_threadpool(users.end_sessions, request.app.state.db, who.name)  # the cookie, replayed, fails
    await run_in_threadpool(service(request).audit, who.actor, "session.logout", None)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/")
async def home(who: VisitorDep) -> Response:
    target = {Role.caseworker: "/cases", Role.liaison: "/queue", Role.supervisor: "/dashboard"}[who.role]
    return RedirectResponse(target, status_code=303)


# -- case lists ------------------------------------------------------------------------------
def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) <= 100_000 else 1


def _pages(base: str, filters: dict[str, str], page: int, total: int, size: int) -> dict[str, Any]:
    last = max(1, math.ceil(total / size))

    def link(n: int) -> str:
        return f"{base}?{urlencode({**filters, 'page': n})}"

    return {
        "page": page,
        "last": last,
        "total": total,
        "prev": link(page - 1) if page > 1 else None,
        "next": link(page + 1) if page < last else None,
    }


def _stage_and_nationality(params: Any, problems: list[str]) -> tuple[str, str]:
    """The stage and nationality filters of a list page; a bad value is dropped with a message."""
    stage = params.get("stage") or ""
    if stage and stage not in {s.value for s in Stage}:
        problems.append(f"Stage {stage!r} is not one of the stages; showing every stage.")
        stage = ""
    nationality = (params.get("nationality") or "").strip().upper()
    if nationality and not re.fullmatch(r"[A-Z]{3}", nationality):
        problems.append("Nationality must be a three-letter ISO code such as VNM; showing every nationality.")
        nationality = ""
    return stage, nationality


@router.get("/cases")
async def cases(request: Request, who: VisitorDep) -> Response:
    params = request.query_params
    problems: list[str] = []
    stage, nationality = _stage_and_nationality(params, problems)
    q = (params.get("q") or "").strip()[:40]
    page = _page_number(params.get("page"))
    found = await run_in_threadpool(
        service(request).list_for,
        who.actor,
        stage or None,
        nationality or None,
        None,
        q or None,
        page,
        PAGE_SIZE,
    )
    filters = {k: v for k, v in {"stage": stage, "nationality": nationality, "q": q}.items() if v}
    return render(
        request,
        "cases.html",
        cases=found.items,
        filters={"stage": stage, "nationality": nationality, "q": q},
        stages=STAGE_ORDER,
        pages=_pages("/cases", filters, page, found.total, PAGE_SIZE),
        message=" ".join(problems) or None,
    )


# -- opening a case --------------------------------------------------------------------------
OPEN_TEXT_FIELDS = (
    "given_names",
    "family_name",
    "native_name",
    "date_of_birth",
    "sex",
    "nationality",
    "shelter",
    "phone",
    "recruitment",
    "compound",
    "entered_host_country_on",
    "visa_valid_until",
)
EVIDENCE_TEXT = ("passport_number", "passport_expiry", "passport_mrz", "national_id_number")
EVIDENCE_FLAGS = ("passport_held", "passport_copy", "birth_certificate", "family_contact", "interview_done")
VULNERABILITY_TEXT = ("pregnant_weeks", "medical_needs", "disability")
GUARDIAN_TEXT = ("name", "relationship", "organisation")
CONSENT_FLAGS = ("repatriation", "disclosure_to_embassy", "data_processing", "share_medical_with_authorities")
OPEN_FORM_FIELDS = {
    "client_reference",
    "language",
    "other_languages",
    "guardian",
    "consent",
    *OPEN_TEXT_FIELDS,
    *(f"evidence.{k}" for k in (*EVIDENCE_TEXT, *EVIDENCE_FLAGS)),
    *(f"vulnerabilities.{k}" for k in VULNERABILITY_TEXT),
    *(f"guardian.{k}" for k in GUARDIAN_TEXT),
    *(f"consent.{k}" for k in CONSENT_FLAGS),
}


OPEN_LABELS = {
    "client_reference": "Client reference",
    "language": "First language",
    "other_languages": "Other languages",
    "guardian": "Guardian",
    "consent": "Consent",
    "given_names": "Given names",
    "family_name": "Family name",
    "native_name": "Name in the native script",
    "date_of_birth": "Date of birth",
    "sex": "Sex",
    "nationality": "Nationality",
    "shelter": "Shelter",
    "phone": "Phone",
    "recruitment": "Recruitment",
    "compound": "Compound",
    "entered_host_country_on": "Entered Cambodia on",
    "visa_valid_until": "Visa valid until",
    "evidence.passport_number": "Passport number",
    "evidence.passport_expiry": "Passport expiry",
    "evidence.passport_mrz": "Passport MRZ",
    "evidence.national_id_number": "National ID number",
    "vulnerabilities.pregnant_weeks": "Weeks of pregnancy",
    "vulnerabilities.medical_needs": "Medical needs",
    "vulnerabilities.disability": "Disability",
    "guardian.name": "Guardian's name",
    "guardian.relationship": "Guardian's relationship",
    "guardian.organisation": "Guardian's organisation",
    "consent.repatriation": "Consent to repatriation",
    "consent.disclosure_to_embassy": "Consent to disclosure to the embassy",
    "consent.data_processing": "Consent to data processing",
}


def _text(form: dict[str, str], key: str) -> str | None:
    value = form.get(key, "").replace("\r\n", "\n").strip()
    return value or None


def open_case_data(form: dict[str, str]) -> dict[str, Any]:
    """The CaseOpenRequest the form describes: empty fields left out, so the model's defaults apply."""
    survivor: dict[str, Any] = {k: v for k in OPEN_TEXT_FIELDS if (v := _text(form, k)) is not None}
    if "nationality" in survivor:
        survivor["nationality"] = survivor["nationality"].upper()
    languages = [x for x in [_text(form, "language")] if x]
    languages += [x for x in re.split(r"[\s,;]+", form.get("other_languages", "")) if x]
    if languages:
        survivor["languages"] = languages
    evidence: dict[str, Any] = {
        k: v for k in EVIDENCE_TEXT if (v := _text(form, f"evidence.{k}")) is not None
    }
    if "passport_number" in evidence:
        evidence["passport_number"] = evidence["passport_number"].upper().replace(" ", "")
    evidence.update({k: True for k in EVIDENCE_FLAGS if f"evidence.{k}" in form})
    survivor["evidence"] = evidence
    survivor["vulnerabilities"] = {
        k: v for k in VULNERABILITY_TEXT if (v := _text(form, f"vulnerabilities.{k}")) is not None
    }
    guardian = {k: v for k in GUARDIAN_TEXT if (v := _text(form, f"guardian.{k}")) is not None}
    if guardian:
        survivor["guardian"] = guardian
    survivor["consent"] = {k: f"consent.{k}" in form for k in CONSENT_FLAGS}
    data: dict[str, Any] = {"survivor": survivor}
    if reference := _text(form, "client_reference"):
        data["client_reference"] = reference
    return data


def _form_field(path: str) -> str | None:
    """The form field a model path (``survivor.evidence.passport_number``, ``survivor.languages.0``) is in."""
    parts = path.split(".")
    if parts and parts[0] == "survivor":
        parts = parts[1:]
    if parts and parts[0] == "languages":
        return "language" if len(parts) < 2 or parts[1] == "0" else "other_languages"
    while parts:
        candidate = ".".join(parts)
        if candidate in OPEN_FORM_FIELDS:
            return candidate
        parts = parts[:-1]
    return None


def _friendly(message: str) -> str:
    message = message.removeprefix("Value error, ")
    if message == "Field required":
        return "This field is required."
    return message[:1].upper() + message[1:]


def _add(errors: dict[str, str], key: str, message: str) -> None:
    errors[key] = f"{errors[key]} {message}" if key in errors else message


def open_case_errors(err: Exception) -> dict[str, str]:
    """Messages by form field ('' for the ones that belong to no single field)."""
    errors: dict[str, str] = {}
    if isinstance(err, ValidationError):
        for e in err.errors():
            path = ".".join(str(p) for p in e["loc"])
            message = _friendly(e["msg"])
            matched = FIELD_PATH.match(message)
            if not path and matched:  # a model validator names the field in its message
                path, message = matched.group(1), _friendly(matched.group(2))
            _add(errors, _form_field(path) or "", message)
        return errors
    for part in re.split(r"; (?=[a-z_][a-z0-9_.]*: )", str(err)):
        matched = FIELD_PATH.match(part)
        if matched and (field := _form_field(matched.group(1))):
            _add(errors, field, _friendly(matched.group(2)))
        else:
            _add(errors, "", _friendly(part))
    return errors


def _open_form(
    request: Request, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    return render(
        request,
        "case_new.html",
        status=status,
        values=values,
        errors=errors,
        labels=OPEN_LABELS,
        message="The case was not opened: please correct the fields marked below." if errors else None,
        today=datetime.now(UTC).date().isoformat(),
    )


@router.get("/cases/new")
async def new_case_form(request: Request, who: VisitorDep) -> Response:
    require(who, Role.caseworker)
    return _open_form(request, {}, {})


@router.post("/cases/new")
async def new_case(request: Request, who: VisitorDep) -> Response:
    require(who, Role.caseworker)
    form = await posted(request, who)
    data = open_case_data(form)
    errors: dict[str, str] = {}
    if not _text(form, "language"):
        errors["language"] = "Enter the survivor's first language as an ISO 639 code, for example vi."
    try:
        request_model = CaseOpenRequest.model_validate(data)
    except ValidationError as err:
        for key, message in open_case_errors(err).items():
            _add(errors, key, message)
        return _open_form(request, form, errors, status=422)
    if errors:
        return _open_form(request, form, errors, status=422)
    try:
        opened = await service(request).open_case(request_model, who.actor)
    except Invalid as err:
        return _open_form(request, form, open_case_errors(err), status=422)
    return RedirectResponse(f"/cases/{opened.case_id}?done=opened", status_code=303)


# -- one case --------------------------------------------------------------------------------
def _profile_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


PROFILE_LABELS = {
    "given_names": "Given names",
    "family_name": "Family name",
    "native_name": "Name in native script",
    "date_of_birth": "Date of birth",
    "sex": "Sex",
    "nationality": "Nationality",
    "languages": "Languages",
    "shelter": "Shelter or location",
    "phone": "Phone",
    "recruitment": "How they were recruited",
    "compound": "Compound",
    "entered_host_country_on": "Entered Cambodia on",
    "visa_valid_until": "Visa valid until",
    "passport_mrz": "Passport MRZ",
    "national_id_number": "National ID number",
    "share_medical_with_authorities": "Medical notes may be shared with authorities",
    "disclosure_to_embassy": "Disclosure to the embassy",
    "data_processing": "Data processing",
    "repatriation": "Repatriation",
}
PROFILE_SECTIONS = {
    "evidence": "Identity evidence",
    "vulnerabilities": "Vulnerabilities",
    "consent": "Consent",
    "guardian": "Guardian or representative",
}


def profile_sections(profile: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The survivor's data as the service returned it, as titled lists of (label, value)."""

    def rows(values: dict[str, Any]) -> list[tuple[str, str]]:
        return [
            (PROFILE_LABELS.get(k, k.replace("_", " ").capitalize()), _profile_value(v))
            for k, v in values.items()
            if v not in (None, "", [], {}) and not isinstance(v, dict)
        ]

    sections = [("Person", rows(profile))]
    for key, title in PROFILE_SECTIONS.items():
        if isinstance(profile.get(key), dict) and (found := rows(profile[key])):
            sections.append((title, found))
    return sections


def stuck_from_state(detail: CaseDetail, now: datetime) -> list[StuckItem]:
    """Why the case cannot move on by itself, as its own state tells: a step failed for good,
    decisions past their deadline, a hold."""
    state = detail.state
    if state is None or detail.outcome is not None:
        return []

    def item(reason: str, stage: str, since: datetime, **facts: Any) -> StuckItem:
        return StuckItem(
            case_id=detail.case_id,
            reference=detail.reference,
            nationality=detail.nationality,
            stage=stage,
            reason=reason,
            since=since,
            age_seconds=(now - _aware(since)).total_seconds(),
            awaited=facts.get("awaited"),
            step=facts.get("step"),
            attempts=0,
            last_error=facts.get("last_error"),
            detail=facts.get("detail"),
        )

    found: list[StuckItem] = []
    if (b := state.blocked) is not None:
        found.append(
            item("failed", b.stage.value, b.since, step=b.step, last_error=b.error, awaited="supervisor")
        )
    for p in state.pending:
        if p.overdue or _aware(p.deadline) < now:
            awaited = p.assignee or p.role.value
            found.append(
                item(
                    "overdue",
                    p.stage.value,
                    p.deadline,
                    step=p.kind.value,
                    awaited=awaited,
                    detail=f"{_label(p.kind.value)} awaited from the {awaited}",
                )
            )
    if state.on_hold:
        since = state.held_since or now
        held = item("on_hold", state.stage.value, since, awaited="supervisor", detail=state.hold_reason)
        found.append(held)
    return found


async def stuck_of_case(request: Request, who: Visitor, detail: CaseDetail) -> list[StuckItem]:
    """Why this case is stuck: the supervisors' stuck list (which also knows about failing steps
    and a stalled workflow) completed from the case's state; for a liaison without the free text
    (a supervisor's justification, an error), which may say more than an embassy needs to know."""
    now = datetime.now(UTC)
    found: list[StuckItem] = []
    if who.role == Role.supervisor and detail.outcome is None:
        listed = await run_in_threadpool(
            service(request).stuck_for, who.actor, None, None, detail.nationality, STUCK_LIMIT
        )
        found = [s for s in listed if s.case_id == detail.case_id]
    known = {s.reason for s in found}
    found += [s for s in stuck_from_state(detail, now) if s.reason not in known]
    if who.role == Role.liaison:
        found = [s.model_copy(update={"detail": None, "last_error": None}) for s in found]
    return sorted(found, key=lambda s: _aware(s.since))


def intervention_choices(detail: CaseDetail) -> dict[str, Any] | None:
    """What a supervisor may do to the case now (None once it is closed)."""
    state = detail.state
    if detail.outcome is not None or (state is not None and state.outcome is not None):
        return None
    # Closing (stopped, or closing after the return): only a failed step of the closure is acted on.
    closing = state is not None and state.closing is not None
    if closing and state is not None and state.blocked is None:
        return None
    return {
        "closing": closing,
        "blocked": state.blocked if state else None,
        "kinds": [(p.kind.value, _label(p.kind.value)) for p in detail.pending],
        "stages": [(s.value, _stage(s.value)) for s in (state.active_stages if state else [])],
        "on_hold": bool(state and state.on_hold),
        "departed": bool(state and state.departed_at),
        "assignees": {r.value: name for r, name in (state.assignees if state else {}).items()},
        "roles": [("caseworker", "Caseworker"), ("liaison", "Embassy liaison")],
    }


async def case_page(
    request: Request,
    who: Visitor,
    case_id: str,
    status: int = 200,
    message: str | None = None,
    failed: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    svc = service(request)
    detail: CaseDetail = await run_in_threadpool(svc.detail_for, who.actor, case_id)
    state: CaseState | None = detail.state
    now = datetime.now(UTC)
    mine = [p.kind.value for p in detail.pending if DECISION_ROLE.get(p.kind) == who.role]
    can_withdraw = (
        who.role == Role.caseworker
        and detail.outcome is None
        and (state is None or state.departed_at is None)
    )
    sources = (
        await run_in_threadpool(ledger.list_sources, request.app.state.db)
        if "funding" in mine and state is not None and state.estimate is not None
        else []
    )
    audit = (
        await run_in_threadpool(svc.audit_trail, who.actor, detail.case_id, 200)
        if who.role == Role.supervisor
        else []
    )
    settings: Settings = request.app.state.settings
    return render(
        request,
        "case.html",
        status=status,
        message=message,
        failed=failed,
        values=values or {},
        case=detail,
        state=state,
        pending=[(p, p.overdue or _aware(p.deadline) < now) for p in detail.pending],
        mine=mine,
        can_withdraw=can_withdraw,
        sources=sources,
        estimate_total=_money(state.estimate.total) if state and state.estimate else None,
        survivor=profile_sections(detail.survivor),
        audit=audit,
        role=who.role.value,
        earliest_etd=(now.date() + timedelta(days=settings.min_flight_lead_days)).isoformat(),
        stages=STAGE_ORDER,
        stuck=await stuck_of_case(request, who, detail),
        intervene=intervention_choices(detail) if who.role == Role.supervisor else None,
        errors=errors or {},
    )


@router.get("/cases/{case_id}")
async def case(request: Request, case_id: str, who: VisitorDep) -> Response:
    return await case_page(request, who, case_id)


@router.get("/cases/{case_id}/documents/{document_id}")
async def document(request: Request, case_id: str, document_id: str, who: VisitorDep) -> Response:
    if not DOCUMENT_ID.match(document_id):
        raise NotFound(f"document {document_id} not found")
    doc, pdf = await run_in_threadpool(service(request).document_pdf, who.actor, case_id, document_id)
    return pdf_download(doc, pdf)


def _choice(form: dict[str, str], key: str, allowed: dict[str, Any], what: str) -> Any:
    if form.get(key) not in allowed:
        raise Invalid(f"{key}: choose {what}")
    return allowed[form[key]]


def decision_payload(kind: DecisionKind, form: dict[str, str]) -> dict[str, Any]:
    """Map a decision form to the service's payload; Invalid when a choice is missing."""
    payload: dict[str, Any] = {}
    if note := _text(form, "note"):
        payload["note"] = note
    reason = _text(form, "reason")
    yes_no = {"yes": True, "no": False}
    if kind == DecisionKind.identity_attestation:
        payload["verified"] = _choice(form, "verified", yes_no, "whether identity is established")
    elif kind == DecisionKind.duplicate_resolution:
        choice = form.get("choice", "")
        if choice == "dismiss":
            payload["action"] = "dismiss"
        elif choice.startswith("merge:"):
            payload.update(action="merge", duplicate_of=choice.removeprefix("merge:"))
        else:
            raise Invalid("choice: choose to dismiss the possible duplicate or to merge into a case")
    elif kind == DecisionKind.nationality:
        payload["confirmed"] = _choice(form, "confirmed", yes_no, "to confirm or refuse nationality")
        payload["reason"] = reason
    elif kind == DecisionKind.etd:
        payload["issued"] = _choice(form, "issued", yes_no, "whether the ETD is issued or refused")
        if payload["issued"]:
            payload["document_number"] = (_text(form, "document_number") or "").upper() or None
            payload["expires_on"] = _text(form, "expires_on")
        else:
            payload["reason"] = reason
    elif kind == DecisionKind.funding:
        payload["approved"] = _choice(form, "approved", yes_no, "to approve or reject")
        if payload["approved"]:
            payload["source_id"] = _text(form, "source_id")
            amount = _text(form, "amount")
            try:
                payload["amount"] = str(Decimal(amount)) if amount else None
            except InvalidOperation:
                raise Invalid(f"amount: {amount!r} is not an amount of money") from None
            payload["currency"] = (_text(form, "currency") or "USD").upper()
        else:
            payload["reason"] = reason
    elif kind == DecisionKind.flight_choice:
        if not (option := _text(form, "option_id")):
            raise Invalid("option_id: choose one of the flights")
        payload["option_id"] = option
    elif kind == DecisionKind.arrival:
        payload["reception_organisation"] = _text(form, "reception_organisation")
    elif kind == DecisionKind.consent_withdrawal:
        if form.get("confirm") != "yes":
            raise Invalid("confirm: tick the box to confirm that the survivor withdraws consent")
        payload["reason"] = reason
    return {k: v for k, v in payload.items() if v is not None}


def check_decision(kind: DecisionKind, payload: dict[str, Any], who: Visitor) -> Any:
    """The decision model's own rules, with readable messages, before the workflow sees it: the
    decision as the model reads it."""
    try:
        return DECISION_MODELS[kind].model_validate({**payload, "decided_by": who.name})
    except ValidationError as err:
        messages = []
        for e in err.errors():
            path = ".".join(str(p) for p in e["loc"])
            text = _friendly(e["msg"])
            messages.append(f"{path}: {text}" if path else text)
        raise Invalid("; ".join(messages)) from None


async def decide(
    request: Request, who: Visitor, case_id: str, kind: DecisionKind, form: dict[str, str]
) -> None:
    payload = decision_payload(kind, form)
    check_decision(kind, payload, who)
    await service(request).decide(case_id, kind, payload, who.actor)


@router.post("/cases/{case_id}/decide/{kind}")
async def decide_on_case(request: Request, case_id: str, kind: str, who: VisitorDep) -> Response:
    form = await posted(request, who)
    try:
        decision = DecisionKind(kind)
    except ValueError:
        raise NotFound(f"there is no decision called {kind!r}") from None
    if decision not in DECISION_MODELS or DECISION_ROLE.get(decision) != who.role:
        raise Forbidden(f"a {who.role} may not record a {_label(decision)} decision")
    back = form.get("back")
    try:
        await decide(request, who, case_id, decision, form)
    except (Invalid, Rejected) as err:
        message = f"The {_label(decision)} decision was not recorded. {_friendly(str(err))}"
        if back == "dashboard" and who.role == Role.supervisor:
            return await dashboard_page(request, who, err.status, message, case_id, form)
        return await case_page(request, who, case_id, err.status, message, decision.value, form)
    if back == "dashboard" and who.role == Role.supervisor:
        ref = case_reference(case_id) if DOCUMENT_ID.match(case_id) else ""
        return RedirectResponse(
            f"/dashboard?{urlencode({'done': decision.value, 'ref': ref})}", status_code=303
        )
    return RedirectResponse(f"/cases/{case_id}?done={decision.value}", status_code=303)


# -- supervisors' interventions --------------------------------------------------------------
class FormInvalid(Invalid):
    """A form's fields break the rules: messages by field ('' for the form as a whole)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in errors.items()))
        self.errors = errors


def _intervention_message(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "string_too_short":
        return f"Write at least {ctx.get('min_length')} characters."
    if kind == "string_too_long":
        return f"Write at most {ctx.get('max_length')} characters."
    if kind in ("enum", "literal_error"):
        return "Choose one of the options."
    if kind == "greater_than":
        return f"Enter more than {ctx.get('gt')}."
    if kind == "less_than_equal":
        return f"Enter at most {ctx.get('le')}."
    return _friendly(error["msg"])


def intervention_payload(action: str, form: dict[str, str], who: Visitor) -> dict[str, Any]:
    """Map an intervention form to the service's payload, checked against the Intervention model
    (FormInvalid, with a message at each field, otherwise)."""
    errors: dict[str, str] = {}
    payload: dict[str, Any] = {"action": action, "justification": _text(form, "justification") or ""}
    if action == "extend_deadline":
        payload["kind"] = form.get("kind", "")
        try:
            days = float(form.get("days", "").strip().replace(",", "."))
        except ValueError:
            days = math.nan
        if math.isfinite(days):
            payload["days"] = days
        else:
            errors["days"] = "Enter a number of days, for example 3."
    elif action == "reassign":
        payload["role"] = form.get("role", "")
        payload["to"] = _text(form, "to") or ""
    elif action == "override":
        payload["stage"] = form.get("stage", "")
    elif action == "cancel" and form.get("confirm") != "yes":
        errors["confirm"] = "Tick the box to confirm that the case is to be cancelled."
    try:
        INTERVENTION.validate_python({**payload, "decided_by": who.name})
    except ValidationError as err:
        for e in err.errors():
            loc = [str(part) for part in e["loc"]]
            if loc and loc[0] == action:  # the tagged union names the member first
                loc = loc[1:]
            field = loc[0] if loc else ""
            if field not in ("justification", *INTERVENTION_FIELDS[action]):
                field = ""
            if field not in errors:
                _add(errors, field, _intervention_message(e))
    if errors:
        raise FormInvalid(errors)
    return payload


def _rejection_errors(action: str, message: str) -> dict[str, str]:
    """The workflow names the field it refuses ("kind: no etd decision is awaited")."""
    matched = FIELD_PATH.match(message)
    if matched and matched.group(1) in INTERVENTION_FIELDS[action]:
        return {matched.group(1): _friendly(matched.group(2))}
    return {}


@router.post("/cases/{case_id}/intervene/{action}")
async def intervene_on_case(request: Request, case_id: str, action: str, who: VisitorDep) -> Response:
    """A supervisor's intervention from the case page: the case page again with the outcome."""
    form = await posted(request, who)
    if action not in INTERVENTION_FIELDS:
        raise NotFound(f"there is no intervention called {action!r}")
    what, failed = INTERVENTION_LABELS[action], f"intervene-{action}"
    try:
        require(who, Role.supervisor)
        payload = intervention_payload(action, form, who)
        state = await service(request).intervene(case_id, payload, who.actor, form.get("request_id") or None)
    except FormInvalid as err:
        form.pop("request_id", None)
        message = f"The {what} was not recorded: please correct the fields marked below."
        return await case_page(request, who, case_id, err.status, message, failed, form, err.errors)
    except (Invalid, Rejected, Forbidden, NotFound) as err:
        # Out of scope or unknown: the case page raises NotFound, exactly as for a missing case.
        message = f"The {what} was not recorded. {_friendly(str(err))}"
        errors = _rejection_errors(action, str(err))
        if err.status != 503:  # refused: sent again corrected, it is a new request
            form.pop("request_id", None)
        return await case_page(request, who, case_id, err.status, message, failed, form, errors)
    return RedirectResponse(f"/cases/{state.case_id}?done={action}", status_code=303)


# -- the embassy liaison's queue -------------------------------------------------------------
async def _all_cases(request: Request, actor: Actor, stages: tuple[str | None, ...]) -> list[CaseSummary]:
    """Every case in scope in these stages (oldest first), page by page."""
    found: list[CaseSummary] = []
    for stage in stages:
        page = 1
        while page <= 500:
            batch = await run_in_threadpool(
                service(request).list_for, actor, stage, None, None, None, page, 200
            )
            found += batch.items
            if page * batch.page_size >= batch.total:
                break
            page += 1
    return sorted(found, key=lambda c: (c.opened_at, c.case_id))


@dataclass
class EmbassyWait:
    """A case waiting for its embassy: which decision, since when, until when."""

    case: CaseSummary
    kind: str
    since: datetime
    deadline: datetime
    overdue: bool


async def read_model_state(request: Request, actor: Actor, case_id: str) -> CaseState | None:
    """The case's read-model state (stages, pending decisions, estimate: no personal data)."""
    row = await run_in_threadpool(service(request).case_for, actor, case_id)
    return scope.visible_state(actor, CaseState.model_validate(row.state)) if row.state else None


def embassy_waits(case: CaseSummary, state: CaseState | None) -> list[EmbassyWait]:
    now = datetime.now(UTC)
    return [
        EmbassyWait(case, p.kind.value, p.since, p.deadline, p.overdue or _aware(p.deadline) < now)
        for p in (state.pending if state else [])
        if p.kind.value in EMBASSY_KINDS
    ]


async def queue_page(
    request: Request,
    who: Visitor,
    status: int = 200,
    message: str | None = None,
    failed: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    waiting: list[EmbassyWait] = []
    for c in await _all_cases(request, who.actor, (Stage.embassy.value,)):
        if set(c.waiting_for) & set(EMBASSY_KINDS):
            waiting += embassy_waits(c, await read_model_state(request, who.actor, c.case_id))
    waiting.sort(key=lambda w: (_aware(w.since), w.case.case_id))
    settings: Settings = request.app.state.settings
    earliest = datetime.now(UTC).date() + timedelta(days=settings.min_flight_lead_days)
    return render(
        request,
        "queue.html",
        status=status,
        message=message,
        failed=failed,
        values=values or {},
        waits=waiting,
        earliest_etd=earliest.isoformat(),
        countries_of=", ".join(_country(c) for c in who.actor.countries),
    )


@router.get("/queue")
async def queue(request: Request, who: VisitorDep) -> Response:
    require(who, Role.liaison)
    return await queue_page(request, who)


@router.post("/queue/{case_id}")
async def queue_decide(request: Request, case_id: str, who: VisitorDep) -> Response:
    """Nationality confirmed and ETD issued in one step (two decisions), or a refusal."""
    require(who, Role.liaison)
    form = await posted(request, who)
    svc = service(request)
    row = await run_in_threadpool(svc.case_for, who.actor, case_id)
    waiting = {p["kind"] for p in (row.state or {}).get("pending", [])}
    outcome = form.get("outcome")
    steps: list[tuple[DecisionKind, dict[str, str]]] = []
    nationality_open = "nationality" in waiting
    try:
        if not waiting & set(EMBASSY_KINDS):
            raise Rejected(f"case {row.reference} no longer awaits the embassy")
        if outcome == "refuse_nationality":
            if not nationality_open:
                raise Rejected("nationality was already confirmed; refuse the ETD instead")
            steps = [(DecisionKind.nationality, {"confirmed": "no", "reason": form.get("reason", "")})]
        elif outcome in ("issue", "refuse_etd"):
            if outcome == "issue":
                etd = {
                    "issued": "yes",
                    "document_number": form.get("document_number", ""),
                    "expires_on": form.get("expires_on", ""),
                }
            else:
                etd = {"issued": "no", "reason": form.get("reason", "")}
            decided = check_decision(DecisionKind.etd, decision_payload(DecisionKind.etd, etd), who)
            expires = decided.expires_on  # as the model read it ("2027-02-01", " 2027-02-01 ", ...)
            if nationality_open:
                steps.append((DecisionKind.nationality, {"confirmed": "yes"}))
            steps.append((DecisionKind.etd, etd))
        else:
            raise Invalid("outcome: choose what the embassy decided")
        if outcome == "issue":
            earliest = datetime.now(UTC).date() + timedelta(
                days=request.app.state.settings.min_flight_lead_days
            )
            if expires < earliest:
                raise Invalid(
                    f"expires_on: the ETD must be valid at least until the earliest flight on {earliest}"
                )
    except (Invalid, Rejected) as err:
        return await queue_page(request, who, err.status, str(err), row.id, form)
    done: list[DecisionKind] = []
    for kind, fields in steps:
        try:
            await decide(request, who, row.id, kind, fields)
        except (Invalid, Rejected) as err:
            message = str(err)
            if done:
                message = f"{_label(done[0]).capitalize()} was recorded, but not the next step: {message}"
            return await queue_page(request, who, err.status, message, row.id, form)
        done.append(kind)
    what = "embassy" if len(done) > 1 else done[0].value
    return RedirectResponse(f"/queue?{urlencode({'done': what, 'ref': row.reference})}", status_code=303)


# -- the supervisor's dashboard and audit trail ----------------------------------------------
@dataclass
class FundingRequest:
    case: CaseSummary
    total: Decimal
    currency: str
    lines: list[Any]


async def dashboard_page(
    request: Request,
    who: Visitor,
    status: int = 200,
    message: str | None = None,
    failed: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    svc = service(request)
    counts = await run_in_threadpool(svc.count_by_stage, who.actor)
    active = await _all_cases(
        request, who.actor, (Stage.travel_documents.value, Stage.embassy.value, Stage.funding.value)
    )
    embassies: dict[str, list[EmbassyWait]] = {}
    funding: list[FundingRequest] = []
    for c in active:
        wanted = set(c.waiting_for) & {*EMBASSY_KINDS, "funding"}
        if not wanted:
            continue
        state = await read_model_state(request, who.actor, c.case_id)
        for wait in embassy_waits(c, state):
            embassies.setdefault(c.nationality, []).append(wait)
        if "funding" in wanted and state is not None and state.estimate is not None:
            funding.append(
                FundingRequest(
                    case=c,
                    total=_money(state.estimate.total),
                    currency=state.estimate.currency,
                    lines=state.estimate.lines,
                )
            )
    sources = await run_in_threadpool(ledger.list_sources, request.app.state.db) if funding else []
    flagged = await run_in_threadpool(svc.stuck_for, who.actor, None, None, None, 100_000)
    per_reason = Counter(s.reason for s in flagged)
    stuck = await run_in_threadpool(svc.list_for, who.actor, None, None, True, None, 1, 200)
    page = _page_number(request.query_params.get("page"))
    every = await run_in_threadpool(svc.list_for, who.actor, None, None, None, None, page, PAGE_SIZE)
    return render(
        request,
        "dashboard.html",
        status=status,
        message=message,
        failed=failed,
        values=values or {},
        counts=[(s.value, counts.get(s.value, 0)) for s in STAGE_ORDER],
        stuck_counts=[(reason, per_reason.get(reason, 0)) for reason in STUCK_REASONS],
        stuck_total=len({s.case_id for s in flagged}),
        total=sum(counts.values()),
        embassies=sorted(embassies.items()),
        funding=funding,
        sources=sources,
        stuck=stuck.items,
        cases=every.items,
        pages=_pages("/dashboard", {}, page, every.total, PAGE_SIZE),
    )


@router.get("/dashboard")
async def dashboard(request: Request, who: VisitorDep) -> Response:
    require(who, Role.supervisor)
    return await dashboard_page(request, who)


@router.get("/stuck")
async def stuck(request: Request, who: VisitorDep) -> Response:
    """Every stuck case, oldest first, with why and since when; filtered by reason, stage and
    nationality (the embassy)."""
    require(who, Role.supervisor)
    params = request.query_params
    problems: list[str] = []
    reason = params.get("reason") or ""
    if reason and reason not in STUCK_REASONS:
        problems.append(f"Reason {reason!r} is not one of the reasons; showing every reason.")
        reason = ""
    stage, nationality = _stage_and_nationality(params, problems)
    items = await run_in_threadpool(
        service(request).stuck_for, who.actor, reason or None, stage or None, nationality or None, STUCK_LIMIT
    )
    return render(
        request,
        "stuck.html",
        items=items,
        filters={"reason": reason, "stage": stage, "nationality": nationality},
        filtered=bool(reason or stage or nationality),
        reasons=list(STUCK_REASONS.items()),
        stages=[s for s in STAGE_ORDER if s != Stage.closed],
        limited=len(items) >= STUCK_LIMIT,
        limit=STUCK_LIMIT,
        message=" ".join(problems) or None,
    )


@router.get("/audit")
async def audit(request: Request, who: VisitorDep) -> Response:
    require(who, Role.supervisor)
    records = await run_in_threadpool(service(request).audit_trail, who.actor, None, 500)
    return render(
        request,
        "audit.html",
        records=[(r, case_reference(r.case_id) if r.case_id else None) for r in records],
    )


async def not_found_page(request: Request) -> Response:
    """The HTML 404 for an unknown address (the app's exception handler calls it), with the
    navigation of the signed-in visitor when there is one."""
    value = request.cookies.get(SESSION_COOKIE)
    if session_user_id(request.app.state.settings, value) is not None:
        try:
            await visitor(request)
        except LoginRequired:
            pass
    return error_page(request, 404, "There is no page at this address.")
