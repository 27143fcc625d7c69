"""Settings read from the environment (``RELINK_`` prefix) and an optional ``.env`` file."""

from __future__ import annotations

import ipaddress
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELINK_", env_file=".env", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    # Unset: ``relink.db`` in ``var_dir`` (see _database_in_var_dir).
    database_url: str = "sqlite:///./var/relink.db"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None
    var_dir: Path = Path("./var")

    email_backend: Literal["mailbox", "smtp"] = "mailbox"
    email_from: str = "Relink <no-reply@localhost>"
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    # SMTP connections a worker process keeps open and sends on at once.
    smtp_connections: int = Field(default=8, ge=1, le=64)

    # Bounces (docs/email.md). Every email's envelope sender is bounces+<token>@ this
    # domain (default: the domain of EMAIL_FROM). They come back either to
    # `relink bounces serve` (SMTP or LMTP) or to an IMAP mailbox `relink bounces poll` reads.
    bounce_domain: str | None = None
    bounce_imap_host: str | None = None
    bounce_imap_port: int = Field(default=993, ge=1, le=65535)
    bounce_imap_security: Literal["ssl", "starttls", "none"] = "ssl"
    bounce_imap_username: str | None = None
    bounce_imap_password: str | None = None
    bounce_imap_mailbox: str = "INBOX"
    bounce_imap_interval_seconds: float = Field(default=60.0, gt=0)

    allow_sqlite_in_production: bool = False
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    # Bounds on every wait for the database (PostgreSQL), so a table lock or an
    # overloaded server answers 503 in seconds instead of holding requests and pool
    # connections for as long as the lock lasts: a lock wait, one statement, and a
    # checkout from the pool.
    database_lock_timeout_seconds: float = Field(default=5.0, gt=0)
    database_statement_timeout_seconds: float = Field(default=30.0, gt=0)
    database_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    # Threads a web process runs synchronous request handlers on (each holds at most one
    # database connection at a time). Threads beyond the pool only queue for a connection
    # and contend for the interpreter lock; keep it >= the pool while the sandbox bank is
    # mounted in the same process (a hosted step waits on a bank route that needs a thread).
    web_threads: int = Field(default=40, ge=2, le=400)

    # Requests per second per API key (token bucket), and the bucket size.
    rate_limit_live_per_second: float = Field(default=100.0, gt=0)
    rate_limit_test_per_second: float = Field(default=100.0, gt=0)
    rate_limit_burst: int = Field(default=200, ge=1)

    # Peers (addresses or networks, comma-separated) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed: the load balancer in front of Relink. Empty: every
    # peer is the client itself, and no forwarding header is read.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Outgoing webhooks may target private networks only when allowed here.
    webhook_allow_private_networks: bool = False

    # The built-in sandbox bank, mounted at /sandbox-bank with its own database. Unset: in
    # development and tests, not in production (it signs anyone in to made-up banks).
    sandbox_bank_enabled: bool | None = None
    sandbox_bank_database_url: str | None = None
    # Where connectors reach the sandbox bank (default: PUBLIC_URL + /sandbox-bank).
    sandbox_bank_url: str | None = None

    # Run the outbox worker inside the web process (the embedded default).
    in_process_worker: bool = True
    # How long a worker's claim on outbox rows lasts before another worker may take them.
    outbox_lease_seconds: int = Field(default=60, ge=1)
    # The CPU priority `relink worker` lowers itself by (nice(2), 0-19): on a machine it
    # shares with `relink serve`, the web side's requests come first and the drain takes
    # what is left (docs/architecture.md, "The worker beside the web side").
    worker_nice: int = Field(default=10, ge=0, le=19)
    # How long a relink email is retried through transient failures (an SMTP outage)
    # before it is given up, and the longest wait between two attempts.
    email_retry_hours: float = Field(default=24.0, gt=0, le=24 * 14)
    email_retry_max_delay_seconds: int = Field(default=1800, ge=30, le=6 * 3600)

    # Incident detection: when at least this many of one institution's accounts of a
    # platform and mode, and at least this share of them, broke within the window, Relink
    # treats it as an incident at the bank or its connector and holds automatic outreach
    # for that institution until an operator releases it.
    incident_window_minutes: int = Field(default=60, ge=1, le=24 * 60)
    incident_min_accounts: int = Field(default=10, ge=1)
    incident_min_share: float = Field(default=0.2, gt=0, le=1)

    # GET /metrics needs ``Authorization: Bearer <token>`` when set. Unset: open in
    # development and tests, not served in production.
    metrics_token: str | None = None

    # Benchmarks only (bench/): serve the floors of relink/web/bench_floor.py (GET
    # /bench/hello, and /bench/replay, which runs SQL the benchmark sends). Refused in
    # production (relink/production.py).
    bench_hello: bool = False

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: object) -> object:
        """``10.0.0.5, 10.1.0.0/16`` (or a list): each entry an address or a network."""
        entries = value.split(",") if isinstance(value, str) else value
        if not isinstance(entries, list):
            return value
        networks = []
        for entry in (str(item).strip() for item in entries):
            if not entry:
                continue
            try:
                networks.append(str(ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return networks

    @model_validator(mode="after")
    def _database_in_var_dir(self) -> Settings:
        """Without RELINK_DATABASE_URL, the SQLite file lives in RELINK_VAR_DIR, as the
        secret and the sandbox bank's database do."""
        if "database_url" not in self.model_fields_set:
            self.database_url = f"sqlite:///{self.var_dir / 'relink.db'}"
        return self

    @cached_property
    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once into ``var/secret.key`` in development."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        generated = secrets.token_urlsafe(48)
        path.write_text(generated)
        path.chmod(0o600)
        return generated

    @property
    def mounts_sandbox_bank(self) -> bool:
        if self.sandbox_bank_enabled is not None:
            return self.sandbox_bank_enabled
        return self.env != "production"

    @property
    def resolved_sandbox_bank_url(self) -> str:
        return self.sandbox_bank_url or self.public_url.rstrip("/") + "/sandbox-bank"

    @property
    def resolved_sandbox_bank_database_url(self) -> str:
        return self.sandbox_bank_database_url or f"sqlite:///{self.var_dir / 'sandbox_bank.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class InvalidSettings(Exception):
    """The environment holds settings Relink cannot run with; the message is one line."""


def load_settings() -> Settings:
    """The settings of this process, or :class:`InvalidSettings` naming each bad variable.

    pydantic's own report spans several lines per error (and a traceback around it); a
    process that refuses to start says why in one line an operator can act on.
    """
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for detail in error.errors(include_url=False):
            name = "RELINK_" + "_".join(str(part) for part in detail["loc"][:1]).upper()
            given = detail.get("input")
            # Secrets and URLs (which may carry a password) are never echoed.
            sensitive = any(word in name for word in ("SECRET", "PASSWORD", "URL"))
            shown = (
                f" (got {given!r})"
                if isinstance(given, str | int | float) and not sensitive
                else ""
            )
            message = detail["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message}{shown}")
        raise InvalidSettings("invalid settings: " + "; ".join(problems)) from None
