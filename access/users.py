"""Users, API tokens (only a hash is kept) and passwords (scrypt)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from access.actor import Actor
from contracts.state import Role
from contracts.survivor import _iso3
from database.engine import Database
from database.models import ApiToken, User

TOKEN_PREFIX = "rp_"


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class NewToken:
    user: str
    token: str


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
    return len(tokens)


def set_password(db: Database, name: str, password: str) -> None:
    if len(password) < 10:
        raise UserError("password: at least 10 characters")
    with db.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            raise UserError(f"no user named {name!r}")
        user.password_hash = hash_password(password)


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
    with db.reading() as session:
        user = session.get(User, user_id)
    return user if user is not None and user.disabled_at is None else None


def list_users(db: Database) -> list[User]:
    with db.reading() as session:
        return list(session.scalars(select(User).order_by(User.name)))
