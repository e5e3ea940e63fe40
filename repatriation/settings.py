"""All configuration in one object. The embedded stack and production differ only by it.

Every setting reads from an environment variable with the ``REPATRIATION_`` prefix (or a
``.env`` file): ``REPATRIATION_DATABASE_URL``, ``REPATRIATION_TEMPORAL_ADDRESS`` and so on.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.messages import Policy
from contracts.state import DecisionKind

DEFAULT_DEADLINE_DAYS: dict[DecisionKind, float] = {
    DecisionKind.duplicate_resolution: 3,
    DecisionKind.identity_attestation: 7,
    DecisionKind.nationality: 14,
    DecisionKind.etd: 14,
    DecisionKind.funding: 5,
    DecisionKind.flight_choice: 5,
    DecisionKind.departure: 10,
    DecisionKind.arrival: 5,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REPATRIATION_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    data_dir: Path = Field(Path("var"), description="Databases, documents and the mail outbox.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir.")
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_connect_seconds: float = Field(
        60,
        gt=0,
        description="How long a worker or `repatriation serve` waits for Temporal to answer as it starts.",
    )
    task_queue: str = "repatriation"
    paperwork_task_queue: str | None = Field(
        None, description="Task queue of the render activities; default: the task queue + '-paperwork'."
    )
    temporal_ui_port: int = 8233
    temporal_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Where the embedded Temporal dev server serves its own Prometheus metrics "
        "(requests, persistence); default: not served.",
    )
    organisation: str = Field("Phnom Penh Shelter Network", description="Issuer on documents.")
    templates_dir: Path | None = Field(
        None,
        description="The organisation's own document templates: a changed copy of documents/templates "
        "(every template and the stylesheet); default: the project's.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="Where /verify answers; printed in documents' QR codes."
    )
    secret_key: str | None = Field(
        None, description="Signs session cookies; default: generated once into data_dir/secret_key."
    )
    session_hours: float = Field(12, gt=0)
    secure_cookies: bool = Field(False, description="Set behind HTTPS.")
    max_body_bytes: int = Field(256_000, ge=1024)
    payload_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Keys that encrypt workflow payloads: key id -> base64 of 32 bytes. Several for "
        "rotation (old ones still decrypt). Default: one generated into data_dir/payload_keys.json.",
    )
    payload_key_id: str | None = Field(None, description="The key id that encrypts new payloads.")
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=1, le=65535)
    environment: Literal["development", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    deadline_days: dict[DecisionKind, float] = Field(default_factory=lambda: dict(DEFAULT_DEADLINE_DAYS))
    deadline_unit_seconds: float = Field(86400.0, gt=0, description="Length of one 'day' (tests: 1).")
    reminder_fraction: float = Field(0.5, gt=0, lt=1)
    min_flight_lead_days: int = Field(2, ge=0)
    max_pregnancy_weeks_to_fly: int = Field(32, ge=1, le=45)
    fit_to_fly_from_weeks: int = Field(28, ge=1, le=45)

    booking_failure_rate: float = Field(0.0, ge=0, le=1, description="Simulated provider faults.")
    booking_failure_seed: int | None = Field(None, description="Makes simulated faults repeatable.")
    smtp_url: str | None = Field(
        None,
        description="smtp://host:port (smtp://user:password@host:port); default: sealed mail in outbox/.",
    )
    smtp_starttls: bool = Field(
        False,
        description="Encrypt the connection with STARTTLS before sending; always so when smtp_url has a "
        "user name, so that credentials never cross in clear. Off for a local relay or the test sink.",
    )
    mail_from: str = "repatriation@shelter.example"
    supervisors_email: str = "supervisors@shelter.example"
    caseworkers_email: str = "caseworkers@shelter.example"
    embassy_email_pattern: str = "consular.{nationality}@embassies.example"
    activity_threads: int = Field(8, ge=1, le=256)
    workflow_tasks: int | None = Field(
        None,
        ge=2,
        le=1000,
        description=(
            "Workflow tasks a worker takes at once; default: 8 per core (16 on two), at most the "
            "Temporal SDK's 100. More only wait inside the worker, where a mass release's tasks "
            "then time out on a small, busy machine (BENCHMARKS.md)."
        ),
    )
    paperwork_threads: int | None = Field(
        None, ge=1, le=64, description="Documents a worker renders at once; default: 2 per render process."
    )
    embassy_request_window_seconds: float = Field(
        60.0,
        gt=0,
        description="A case ready for its embassy waits at most this long for the consolidated request "
        "that names it with every other case ready for that embassy.",
    )
    embassy_request_quiet_seconds: float = Field(
        5.0,
        gt=0,
        description="A consolidated request goes once no other case has joined it for this long (the "
        "end of a wave of cases), before the window is over.",
    )
    embassy_request_max_cases: int = Field(
        200, ge=1, le=1000, description="A consolidated request naming this many survivors goes at once."
    )
    retention_days: int = Field(
        365, ge=1, description="Closed cases lose their personal data after this many days (`purge`)."
    )
    metrics_address: str | None = Field(
        None, description="host:port where a worker serves Prometheus metrics (SDK and app)."
    )
    temporal_api_key: str | None = Field(None, description="Temporal Cloud API key (implies TLS).")
    temporal_tls_cert: Path | None = Field(None, description="Client certificate for mTLS to Temporal.")
    temporal_tls_key: Path | None = Field(None, description="Its private key.")
    stuck_after_attempts: int = Field(3, ge=1, description="A step failing this often flags the case.")
    sweep_seconds: float = Field(60, gt=0, description="How often stalled workflow tasks are looked for.")
    search_attributes: bool = Field(
        True, description="Upsert custom search attributes (they must be registered on the server)."
    )

    @field_validator("deadline_days", mode="before")
    @classmethod
    def _merge_deadlines(cls, value: object) -> object:
        if isinstance(value, dict):
            return {**DEFAULT_DEADLINE_DAYS, **value}
        return value

    @field_validator("templates_dir", mode="before")
    @classmethod
    def _unset_if_empty(cls, value: object) -> object:
        """``REPATRIATION_TEMPLATES_DIR=`` means the project's templates, not the current folder."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'app.db').resolve()}"

    @property
    def schema_mode(self) -> Literal["upgrade", "check"]:
        """Production refuses a database that is behind; elsewhere it is migrated at start."""
        return "check" if self.environment == "production" else "upgrade"

    @property
    def paperwork_queue(self) -> str:
        return self.paperwork_task_queue or f"{self.task_queue}-paperwork"

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def signing_key(self) -> bytes:
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            import secrets

            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip().encode()

    def encryption_keys(self) -> tuple[dict[str, bytes], str]:
        """(keys by id, the active id). Generated once into the data folder if none are set."""
        import base64
        import json

        keys = dict(self.payload_keys)
        if not keys:
            path = self.data_dir / "payload_keys.json"
            if not path.exists():
                import secrets

                self.data_dir.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"k1": base64.b64encode(secrets.token_bytes(32)).decode()}))
                tmp.chmod(0o600)
                tmp.replace(path)
            keys = json.loads(path.read_text())
        decoded = {kid: base64.b64decode(value) for kid, value in keys.items()}
        for kid, key in decoded.items():
            if len(key) != 32:
                raise ValueError(f"REPATRIATION_PAYLOAD_KEYS: key {kid!r} must be 32 bytes (base64)")
        active = self.payload_key_id or sorted(decoded)[-1]
        if active not in decoded:
            raise ValueError(f"REPATRIATION_PAYLOAD_KEY_ID: {active!r} is not among the payload keys")
        return decoded, active

    def policy(self) -> Policy:
        return Policy(
            deadlines={k: v * self.deadline_unit_seconds for k, v in self.deadline_days.items()},
            reminder_fraction=self.reminder_fraction,
            min_flight_lead_days=self.min_flight_lead_days,
            max_pregnancy_weeks_to_fly=self.max_pregnancy_weeks_to_fly,
            fit_to_fly_from_weeks=self.fit_to_fly_from_weeks,
            search_attributes=self.search_attributes,
            paperwork_task_queue=self.paperwork_queue,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
