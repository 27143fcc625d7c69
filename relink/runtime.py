"""What a running Relink process holds: settings, database, keys, connectors."""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass, field

from relink.config import Settings
from relink.db import Database, make_engine
from relink.kit.crypto import SecretBox, derive_key, derived_token


@dataclass
class Runtime:
    settings: Settings
    database: Database
    secret_box: SecretBox
    link_key: bytes
    csrf_key: bytes
    # Encrypts the answers idempotency records keep for replay (they carry secrets).
    replay_box: SecretBox
    extras: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        engine = make_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout_seconds,
            lock_timeout=settings.database_lock_timeout_seconds,
            statement_timeout=settings.database_statement_timeout_seconds,
        )
        secret = settings.resolved_secret_key
        return cls(
            settings=settings,
            database=Database(engine),
            secret_box=SecretBox(secret),
            link_key=derive_key(secret, "relink-hosted-link-token"),
            csrf_key=derive_key(secret, "relink-csrf"),
            replay_box=SecretBox(secret, "relink-idempotent-replay"),
        )

    def link_token(self, session_id: str) -> str:
        """The hosted link token of a session: 256 bits derived with a server-held key.

        Only its SHA-256 is stored; deriving it lets the API show the session's ``url``
        while it is pending without keeping the token itself.
        """
        mac = hmac.digest(self.link_key, session_id.encode(), "sha256")
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def client_secret(self, session_id: str) -> str:
        """A session's client secret (``fcsess_…_secret_…``, 192 bits after the id),
        derived like the link token: only its SHA-256 is stored, and the API shows it on
        every retrieve without keeping it."""
        secret = derived_token(self.link_key, "session-client-secret", session_id)[:32]
        return f"{session_id}_secret_{secret}"
