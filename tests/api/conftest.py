"""The real app (FastAPI) on the time-skipping Temporal server, called over ASGI with tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio

from access import users
from api.app import create_app
from contracts.state import Role
from tests.conftest import ORG, Harness

OTHER_ORG = "Other NGO"
ACCOUNTS = {
    "cw_a": (Role.caseworker, ORG, []),
    "cw_b": (Role.caseworker, OTHER_ORG, []),
    "sup_a": (Role.supervisor, ORG, []),
    "sup_b": (Role.supervisor, OTHER_ORG, []),
    "liaison_vnm": (Role.liaison, ORG, ["VNM"]),
    "liaison_idn": (Role.liaison, ORG, ["IDN"]),
    "liaison_phl": (Role.liaison, ORG, ["PHL"]),
}


@dataclass
class Api:
    h: Harness
    client: httpx.AsyncClient
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def get(self, user: str, url: str, **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
        return await self.client.get(url, headers=self.auth(user), **kw)

    async def post(self, user: str, url: str, body: object) -> httpx.Response:
        return await self.client.post(url, headers=self.auth(user), json=body)


@pytest_asyncio.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    tokens = {
        name: users.add_user(harness.db, name, role, org, countries).token
        for name, (role, org, countries) in ACCOUNTS.items()
    }
    app = create_app(harness.settings, harness.env.client, harness.db)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(harness, client, tokens)
