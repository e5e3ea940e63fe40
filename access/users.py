"""Users, API tokens (only a hash is kept) and passwords (scrypt).

Web sessions are stateless signed cookies that carry the microsecond they were issued at
(`api.auth.session_value`). What ends them on the server is one timestamp per user,
`User.sessions_valid_after`: `revoke_tokens` and `end_sessions` (signing out) move it to now, and
`by_id` refuses a session issued at or before it. So a session opened with a token that is later
revoked stops working at once, while a sign-in made after the revocation (with a new token or a
password) works; signing out ends every open session of that user, not only the current browser's.
A disabled user has no session at all. Microseconds keep "just before" and "just after" a
revocation apart; the timestamp only moves forward, so a replica whose clock lags cannot reopen
sessions that were ended.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from access.actor import Actor
from contracts.state import Role
from contracts.survivor import _iso3
from database.engine import Database
from database.models import ApiToken, User

TOKEN_PREFIX = "rp_"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class NewToken:
    user: str
    token: str


class SessionUserId(int):
    """A user id read from a session cookie, with the moment the session was issued
    (microseconds since the epoch), for `by_id` to compare with the user's `sessions_valid_after`."""

    issued: int

    def __new__(cls, user_id: int, issued: int) -> SessionUserId:
        value = super().__new__(cls, user_id)
        value.issued = issued
        return value


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _end_sessions(user: User) -> None:
    """Every session of the user issued until now stops working; never moves the mark back."""
    now = datetime.now(UTC)
    if user.sessions_valid_after is None or user.sessions_valid_after < now:
        user.sessions_valid_after = now


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
    return hmac.compare_digest(candidate.hex(), digest)


def actor_of(user: User, source: str) -> Actor:
    return Actor(
        name=user.name,
        role=Role(user.role),
        organisation=user.organisation,
        source=source,
        countries=tuple(user.countries or ()),
    )


def add_user(
    db: Database,
    name: str,
    role: Role,
    organisation: str,
    countries: list[str] | None = None,
    password: str | None = None,
) -> NewToken:
    """Create a user and their first API token (returned once, stored only as a hash)."""
    countries = [_iso3(c) for c in (countries or [])]
    if role == Role.liaison and not countries:
        raise UserError("--country: a liaison is bound to at least one country (ISO 3166-1 alpha-3)")
    if role != Role.liaison and countries:
        raise UserError("--country: only a liaison is bound to countries")
    if not name or len(name) > 120:
        raise UserError("name: 1 to 120 characters")
    with db.session() as session:
        if session.scalar(select(User.id).where(User.name == name)) is not None:
            raise UserError(f"name: a user named {name!r} exists already")
        user = User(
            name=name,
            role=role,
            organisation=organisation,
            countries=countries,
            password_hash=hash_password(password) if password else None,
            created_at=datetime.now(UTC),
        )
        session.add(user)
    return issue_token(db, name)


def issue_token(db: Database, name: str) -> NewToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            raise UserError(f"no user named {name!r}")
        session.add(
            ApiToken(
                user_id=user.id,
                token_hash=token_hash(token),
                prefix=token[:10],
                created_at=datetime.now(UTC),
            )
        )
    return NewToken(user=name, token=token)


def revoke_tokens(db: Database, name: str) -> int:
    """Revoke every token of the user and end the web sessions opened so far (with any token or
    password): whoever signed in with a leaked token is out at once."""
    with db.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            raise UserError(f"no user named {name!r}")
        tokens = list(
            session.scalars(
                select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            )
        )
        for token in tokens:
            token.revoked_at = datetime.now(UTC)
        _end_sessions(user)
    return len(tokens)


def end_sessions(db: Database, name: str) -> None:
    """Signing out: the user's sessions issued until now, the current one included, are refused."""
    with db.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            raise UserError(f"no user named {name!r}")
        _end_sessions(user)


def set_password(db: Database, name: str, password: str) -> None:
    """Set (or reset) the user's password; the web sessions open so far end, as after
    `revoke_tokens`: a reset is what follows a password that leaked."""
    if len(password) < 10:
        raise UserError("password: at least 10 characters")
    with db.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            raise UserError(f"no user named {name!r}")
        user.password_hash = hash_password(password)
        _end_sessions(user)


def by_token(db: Database, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with db.reading() as session:
        row = session.execute(
            select(User)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(
                ApiToken.token_hash == token_hash(token),
                ApiToken.revoked_at.is_(None),
                User.disabled_at.is_(None),
            )
        ).scalar_one_or_none()
    return row


def by_password(db: Database, name: str, password: str) -> User | None:
    with db.reading() as session:
        user = session.scalar(select(User).where(User.name == name, User.disabled_at.is_(None)))
    if user is None or not check_password(password, user.password_hash):
        return None
    return user


def by_id(db: Database, user_id: int) -> User | None:
    """The user behind a web session (`user_id` as `api.auth.session_user_id` read it): none if
    the user is disabled or the session was issued at or before the user's sessions were ended.
    An id that does not say when its session was issued counts as issued at the epoch."""
    with db.reading() as session:
        user = session.get(User, int(user_id))
    if user is None or user.disabled_at is not None:
        return None
    issued = user_id.issued if isinstance(user_id, SessionUserId) else 0
    if user.sessions_valid_after is not None and issued <= _micros(user.sessions_valid_after):
        return None
    return user


def list_users(db: Database) -> list[User]:
    with db.reading() as session:
        return list(session.scalars(select(User).order_by(User.name)))
