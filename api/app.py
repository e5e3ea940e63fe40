"""The web application: the JSON API, the web pages, /verify and /healthz, in one FastAPI app."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from api.cases import router as cases_router
from api.codec import router as codec_router
from api.stuck import router as stuck_router
from database.engine import Database
from documents.verify import Verification, verify
from repatriation import metrics
from repatriation.service import CaseService, ServiceError
from repatriation.settings import Settings

DESCRIPTION = """Repatriation cases for trafficking survivors: open a case, record the decisions of
caseworkers, embassy liaisons and supervisors, read the timeline and the documents.

Authenticate with `Authorization: Bearer <token>` (`repatriation users add` prints one)."""


try:
    from web.pages import router as web_router
except ImportError:  # the web pages are optional for API-only deployments
    web_router = None


def create_app(settings: Settings, client: Client, db: Database) -> FastAPI:
    app = FastAPI(title="Repatriation workflow engine", version="0.1.0", description=DESCRIPTION)
    app.state.settings = settings
    app.state.db = db
    app.state.client = client
    app.state.service = CaseService(settings, client, db)

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, err: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=err.status)

    @app.exception_handler(DBAPIError)
    async def database_unavailable(_: Request, err: DBAPIError) -> JSONResponse:
        if not err.connection_invalidated and not isinstance(err, OperationalError | InterfaceError):
            raise err
        return JSONResponse(
            {"detail": "the case database is unavailable; nothing was changed, try again shortly"},
            status_code=503,
            headers={"Retry-After": "30"},
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, err: RequestValidationError) -> JSONResponse:
        errors = field_errors(err.errors(), err.body)
        detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.middleware("http")
    async def limits_and_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.method == "POST" and request.url.path.startswith("/api/"):
            kind = request.headers.get("content-type", "").split(";")[0].strip()
            if kind != "application/json":
                return JSONResponse({"detail": "content-type must be application/json"}, status_code=415)
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> JSONResponse:
        """The database and the Temporal server both answer."""
        status = {"database": "ok", "temporal": "ok"}
        try:
            with db.session() as session:
                session.execute(text("SELECT 1"))
        except Exception as err:  # noqa: BLE001
            status["database"] = f"unavailable: {type(err).__name__}"
        try:
            await asyncio.wait_for(client.service_client.check_health(), timeout=3)
        except Exception as err:  # noqa: BLE001
            status["temporal"] = f"unavailable: {type(err).__name__}"
        ok = all(v == "ok" for v in status.values())
        return JSONResponse(status, status_code=200 if ok else 503)

    @app.get("/verify/{code}", response_model=Verification, tags=["documents"])
    def verify_document(code: str, response: Response) -> Verification:
        """Public: is a printed document genuine? Says nothing about the person."""
        result = verify(db, code)
        if result is None:
            raise HTTPException(404, "no document has this verification code")
        response.headers["Cache-Control"] = "no-store"
        return result

    @app.exception_handler(StarletteHTTPException)
    async def not_found_page(request: Request, err: StarletteHTTPException) -> Response:
        """An HTML page for an unknown address outside the API; JSON under /api as before."""
        if (
            err.status_code == 404
            and web_router is not None
            and not request.url.path.startswith(("/api", "/codec"))
        ):
            from web.pages import not_found_page

            return await not_found_page(request)
        return await http_exception_handler(request, err)

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    metrics.install(app)
    app.include_router(cases_router)
    app.include_router(stuck_router)
    app.include_router(codec_router)
    if web_router is not None:
        app.include_router(web_router)
    return app


class BodyLimit:
    """A request body larger than ``limit`` bytes is refused (413) before anything reads it,
    however it comes: with a Content-Length that says so, or in chunks without one (counted as
    they arrive, and handed on whole once the last is in)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"detail": f"body larger than {self.limit} bytes"}, status_code=413)
        await response(scope, receive, send)


# A rule that spans fields says which ("document_number and expires_on: required when ...").
NAMED_RULE = re.compile(r"(?P<fields>[a-z_][\w.]*(?: and [a-z_][\w.]*)*): (?P<rule>.+)", re.DOTALL)


def field_errors(errors: Sequence[Any], body: Any) -> list[dict[str, str]]:
    """Each error as the field it is about (dotted, from the body's top) and the rule it breaks.

    Pydantic places a rule checked across a model's fields at the model itself, its text prefixed
    "Value error, "; the project's rules name their fields at the start of the text, relative to
    that model (or from the top: "survivor.consent..."), so the field is taken from there. A
    tagged union puts its tag in the path ("etd" for ``{"decision": "etd"}``): not a field, left out.
    """
    tags = {v for v in body.values() if isinstance(v, str)} if isinstance(body, dict) else set()
    out = []
    for error in errors:
        path = [str(p) for p in error["loc"] if p != "body"]
        if path and path[0] in tags and not (isinstance(body, dict) and path[0] in body):
            path = path[1:]
        message = str(error["msg"]).removeprefix("Value error, ")
        named = NAMED_RULE.fullmatch(message) if error.get("type") == "value_error" else None
        if named:
            message = named["rule"]
            fields = named["fields"].split(" and ")
            if not path or fields[0].split(".")[0] != path[0]:
                fields = [".".join([*path, f]) for f in fields]
            path = [" and ".join(fields)]
        out.append({"field": ".".join(path), "message": message})
    return out
