"""Ending web sessions on the server: the pages' router in a bare FastAPI app with a database.
Revoking a user's tokens refuses the sessions opened before, at once; a sign-in made after it (with
a new token) works; signing out refuses the session's cookie even when it is sent again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from access import users
from api import auth
from api.auth import SESSION_COOKIE, csrf_token, session_user_id, session_value
from contracts.state import Role
from database.engine import Database
from repatriation.settings import Settings
from web.pages import router

SUPERVISOR = "sup-sessions"
PASSWORD = "a long enough password"


class QuietService:
    """The case service, as far as signing in and the audit page need it."""

    def audit(self, *args: Any) -> None:
        return None

    def audit_trail(self, *args: Any) -> list[Any]:
        return []


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    app = FastAPI()
    app.state.settings = Settings(data_dir=tmp_path, secret_key="test-signing-key")
    app.state.db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    app.state.service = QuietService()
    app.include_router(router)
    yield app
    app.state.db.dispose()


def sign_in(app: FastAPI, **form: str) -> str:
    """The session cookie of a fresh sign-in (a token, or a name and a password)."""
    response = TestClient(app).post("/login", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/", response.text
    return response.cookies[SESSION_COOKIE]


def audit_page(app: FastAPI, cookie: str) -> int:
    """200 for a live session; a refused one is sent to sign in again."""
    client = TestClient(app)
    client.cookies.set(SESSION_COOKIE, cookie)
    response = client.get("/audit", follow_redirects=False)
    if response.status_code == 303:
        assert response.headers["location"] == "/login"
    return response.status_code


def test_revoking_the_tokens_ends_the_sessions_opened_before(app: FastAPI) -> None:
    token = users.add_user(app.state.db, SUPERVISOR, Role.supervisor, "Session Shelter").token
    users.add_user(app.state.db, "cw-bystander", Role.caseworker, "Session Shelter")
    users.set_password(app.state.db, SUPERVISOR, PASSWORD)
    by_token = sign_in(app, token=token)
    by_password = sign_in(app, name=SUPERVISOR, password=PASSWORD)
    bystander = sign_in(app, token=users.issue_token(app.state.db, "cw-bystander").token)
    assert audit_page(app, by_token) == 200 and audit_page(app, by_password) == 200

    assert users.revoke_tokens(app.state.db, SUPERVISOR) == 1

    assert audit_page(app, by_token) == 303  # the leaked token's session is over, at once
    assert audit_page(app, by_password) == 303  # and every other session of that user
    refused = TestClient(app).post("/login", data={"token": token}, follow_redirects=False)
    assert refused.status_code == 401
    bystander_home = TestClient(app, cookies={SESSION_COOKIE: bystander}).get("/", follow_redirects=False)
    assert bystander_home.headers["location"] == "/cases"  # another user's session is untouched


def test_a_sign_in_with_a_new_token_works_and_the_old_session_stays_ended(app: FastAPI) -> None:
    old_token = users.add_user(app.state.db, SUPERVISOR, Role.supervisor, "Session Shelter").token
    old_session = sign_in(app, token=old_token)
    assert audit_page(app, old_session) == 200

    users.revoke_tokens(app.state.db, SUPERVISOR)
    new_session = sign_in(app, token=users.issue_token(app.state.db, SUPERVISOR).token)

    assert audit_page(app, new_session) == 200  # signed in right after the revocation: it works
    assert audit_page(app, old_session) == 303
    assert audit_page(app, new_session) == 200


def test_signing_out_ends_the_session_on_the_server(app: FastAPI) -> None:
    token = users.add_user(app.state.db, SUPERVISOR, Role.supervisor, "Session Shelter").token
    cookie = sign_in(app, token=token)
    client = TestClient(app)
    client.cookies.set(SESSION_COOKIE, cookie)
    assert client.get("/audit").status_code == 200

    csrf = csrf_token(app.state.settings, cookie)
    signed_out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login"

    assert audit_page(app, cookie) == 303  # the old cookie, sent again, is refused
    assert audit_page(app, sign_in(app, token=token)) == 200  # signing in again works


def test_a_session_issued_just_before_the_revocation_is_refused_one_just_after_is_not(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the second of the revocation, the microsecond a session was issued at decides."""
    settings: Settings = app.state.settings
    users.add_user(app.state.db, SUPERVISOR, Role.supervisor, "Session Shelter")
    user_id = next(u.id for u in users.list_users(app.state.db) if u.name == SUPERVISOR)

    def issued_at(ns: int) -> str:
        with monkeypatch.context() as clock:
            clock.setattr(auth.time, "time_ns", lambda: ns)
            return session_value(settings, user_id)

    def live(cookie: str) -> bool:
        found = session_user_id(settings, cookie)
        return found is not None and users.by_id(app.state.db, found) is not None

    before = issued_at(time.time_ns() - 1_000)
    whole_seconds = f"{user_id}.{int(time.time())}"  # a cookie from before sessions had microseconds
    legacy = f"{whole_seconds}.{auth._sign(settings.signing_key(), whole_seconds)}"
    assert live(before) and live(legacy)

    users.revoke_tokens(app.state.db, SUPERVISOR)
    user = next(u for u in users.list_users(app.state.db) if u.name == SUPERVISOR)
    assert user.sessions_valid_after is not None
    since_epoch = user.sessions_valid_after - datetime(1970, 1, 1, tzinfo=UTC)
    revoked_ns = since_epoch // timedelta(microseconds=1) * 1000

    assert not live(before) and not live(legacy)  # whole seconds count as the start of the second
    assert not live(issued_at(revoked_ns))  # the microsecond of the revocation itself counts as before
    assert live(issued_at(revoked_ns + 1_000))


def test_resetting_the_password_ends_the_sessions_opened_before(app: FastAPI) -> None:
    users.add_user(app.state.db, SUPERVISOR, Role.supervisor, "Session Shelter")
    users.set_password(app.state.db, SUPERVISOR, PASSWORD)
    leaked = sign_in(app, name=SUPERVISOR, password=PASSWORD)
    assert audit_page(app, leaked) == 200
    users.set_password(app.state.db, SUPERVISOR, "a new long passphrase")
    assert audit_page(app, leaked) == 303
    assert audit_page(app, sign_in(app, name=SUPERVISOR, password="a new long passphrase")) == 200
