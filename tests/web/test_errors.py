"""Error pages without a browser or a stack: the pages' router in a bare FastAPI app whose case
service fails. A failure shows the generic page, never a traceback or the error's text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from access import users
from contracts.state import Role
from database.engine import Database
from repatriation.settings import Settings
from web.pages import router


class FailingService:
    def audit(self, *args: Any) -> None:
        return None

    def list_for(self, *args: Any) -> Any:
        raise RuntimeError("secret internals: /var/lib/cases.db")


def test_failures_show_a_page_without_a_traceback(tmp_path: Path) -> None:
    app = FastAPI()
    app.state.settings = Settings(data_dir=tmp_path, secret_key="test-signing-key")
    app.state.db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    app.state.service = FailingService()
    app.include_router(router)
    token = users.add_user(app.state.db, "cw-errors", Role.caseworker, "Error Shelter").token
    client = TestClient(app)

    refused = client.post("/login", data={"token": "rp_not-a-token"})
    assert refused.status_code == 401 and "That token is unknown or revoked." in refused.text

    signed_in = client.post("/login", data={"token": token}, follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    assert "httponly" in signed_in.headers["set-cookie"].lower()
    assert "samesite=strict" in signed_in.headers["set-cookie"].lower()

    failed = client.get("/cases")
    assert failed.status_code == 500
    assert failed.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in failed.text
    assert "Traceback" not in failed.text and "secret internals" not in failed.text
    assert "default-src 'self'" in failed.headers["content-security-policy"]

    assert client.get("/queue").status_code == 403  # a liaison's page
    css = client.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    app.state.db.dispose()
