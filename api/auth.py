"""Authentication: bearer tokens for the JSON API, a signed session cookie and a CSRF token for
the web pages. Cookies are HttpOnly and SameSite=Strict."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from fastapi import HTTPException, Request

from access import users
from access.actor import Actor
from repatriation.settings import Settings

SESSION_COOKIE = "rp_session"


def _sign(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def session_value(settings: Settings, user_id: int) -> str:
    """A signed session cookie: "user_id.seconds.microseconds.signature", the moment it was issued
    to the microsecond, so that a sign-in made just after `users revoke` or a sign-out is told apart
    from the sessions they ended (see `users.by_id`)."""
    issued = time.time_ns() // 1000
    payload = f"{user_id}.{issued // 1_000_000}.{issued % 1_000_000:06d}"
    return f"{payload}.{_sign(settings.signing_key(), payload)}"


def session_user_id(settings: Settings, value: str | None) -> users.SessionUserId | None:
    """The user of a well-signed, unexpired session cookie, carrying when the session was issued;
    `users.by_id` then refuses it if the user's sessions were ended since. A cookie made before
    sessions carried microseconds ("user_id.seconds.signature") counts as issued at the second."""
    if not value or value.count(".") not in (2, 3):
        return None
    payload, _, signature = value.rpartition(".")
    if not hmac.compare_digest(signature, _sign(settings.signing_key(), payload)):
        return None
    user_id, _, issued = payload.partition(".")
    seconds, _, micros = issued.partition(".")
    micros = micros or "0"
    if not all(part.isascii() and part.isdigit() for part in (user_id, seconds, micros)) or len(micros) > 6:
        return None
    if time.time() - int(seconds) > settings.session_hours * 3600:
        return None
    return users.SessionUserId(int(user_id), int(seconds) * 1_000_000 + int(micros.ljust(6, "0")))


def csrf_token(settings: Settings, session: str) -> str:
    return _sign(settings.signing_key(), f"csrf:{session}")


def check_csrf(settings: Settings, session: str | None, token: str | None) -> bool:
    return bool(session and token and hmac.compare_digest(token, csrf_token(settings, session)))


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def api_actor(request: Request) -> Actor:
    """The user behind the bearer token; 401 without a valid one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    user = users.by_token(request.app.state.db, token.strip())
    if user is None:
        raise HTTPException(401, "the token is unknown or revoked", headers={"WWW-Authenticate": "Bearer"})
    return users.actor_of(user, f"api:{client_address(request)}")
