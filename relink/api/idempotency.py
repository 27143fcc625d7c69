"""Idempotency keys: replay, mismatch (400) and in-flight (409).

The in-flight record is committed before the handler runs, so a concurrent request
with the same key sees it and gets 409. The response is stored in the handler's own
transaction, so the stored answer and the state change commit together. A request
that fails (validation or otherwise) removes its record and stores nothing.

The stored answer is encrypted (a webhook endpoint's secret, a session's client secret or
hosted URL are in it): replay needs all of it, and the database should hold none of it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relink.db import Database
from relink.kit import clock
from relink.kit.crypto import SecretBox
from relink.kit.errors import IdempotencyInFlight, IdempotencyMismatch, InvalidRequest
from relink.models import IdempotencyRecord
from relink.tenancy import Scope, in_scope

MAX_KEY_LENGTH = 255
RETENTION = dt.timedelta(hours=24)
IN_FLIGHT_LEASE = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Replay:
    status: int
    body: str


class IdempotencyGate:
    def __init__(
        self, database: Database, box: SecretBox, scope: Scope, key: str, digest: str
    ) -> None:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidRequest(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
                param="Idempotency-Key",
            )
        self.database = database
        self.box = box
        self.scope = scope
        self.key = key
        self.digest = digest
        self.record_id: int | None = None

    def _where(self) -> tuple[ColumnElement[bool], ...]:
        return (
            in_scope(IdempotencyRecord, self.scope),
            IdempotencyRecord.key == self.key,
        )

    def enter(self) -> Replay | None:
        now = clock.now()
        try:
            with self.database.unit_of_work() as session:
                existing = session.scalars(select(IdempotencyRecord).where(*self._where())).first()
                if existing is not None and existing.created_at < now - RETENTION:
                    session.delete(existing)
                    session.flush()
                    existing = None
                if existing is not None:
                    return self._judge(session, existing, now)
                record = IdempotencyRecord(
                    platform_id=self.scope.platform_id,
                    livemode=self.scope.livemode,
                    key=self.key,
                    request_digest=self.digest,
                    created_at=now,
                    locked_until=now + IN_FLIGHT_LEASE,
                )
                session.add(record)
                session.flush()
                self.record_id = record.id
                return None
        except IntegrityError:
            raise self._in_flight() from None

    def _judge(
        self, session: Session, existing: IdempotencyRecord, now: dt.datetime
    ) -> Replay | None:
        if existing.request_digest != self.digest:
            raise IdempotencyMismatch(
                "Keys for idempotent requests can only be used with the same parameters "
                "they were first used with. Try using a key other than "
                f"'{self.key}' if you meant to execute a different request."
            )
        if existing.response_status is not None and existing.response_body is not None:
            return Replay(existing.response_status, self._open(existing.response_body))
        if existing.locked_until is not None and existing.locked_until > now:
            raise self._in_flight()
        # The first request's process died mid-request: take the key over.
        taken = session.execute(  # type: ignore[attr-defined]
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == existing.id,
                IdempotencyRecord.locked_until == existing.locked_until,
            )
            .values(locked_until=now + IN_FLIGHT_LEASE)
        ).rowcount
        if not taken:
            raise self._in_flight()
        self.record_id = existing.id
        return None

    def _in_flight(self) -> IdempotencyInFlight:
        return IdempotencyInFlight(
            "There is currently another in-progress request using this Stripe-compatible "
            f"Idempotency-Key ('{self.key}'). Please try again later."
        )

    def record(self, session: Session, status: int, body: str) -> None:
        sealed = self.box.seal_bytes(body.encode()).decode("ascii")
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == self.record_id)
            .values(response_status=status, response_body=sealed, locked_until=None)
        )

    def _open(self, stored: str) -> str:
        if stored.startswith("{"):
            # Stored in the clear by an earlier release (kept 24 hours at most).
            return stored
        try:
            return self.box.open_bytes(stored.encode("ascii")).decode()
        except ValueError:
            # Sealed under a secret key that has since been rotated.
            raise IdempotencyMismatch(
                f"The result of the request first made with Idempotency-Key '{self.key}' "
                "can no longer be read; use a new key."
            ) from None

    def abandon(self) -> None:
        with self.database.unit_of_work() as session:
            session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.id == self.record_id,
                    IdempotencyRecord.response_status.is_(None),
                )
            )
