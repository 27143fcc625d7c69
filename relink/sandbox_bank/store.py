"""The sandbox bank's database: engine, transactions and first-run setup."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from relink.sandbox_bank.clock import wall_clock
from relink.sandbox_bank.errors import BankError
from relink.sandbox_bank.models import Base, Client, Setting
from relink.sandbox_bank.psd2.errors import Psd2Error

SANDBOX_CLIENT_ID = "relink-sandbox"
SANDBOX_CLIENT_SECRET = "relink-sandbox-secret"
SANDBOX_CLIENT_NAME = "Relink (sandbox)"

# Columns added to tables a bank database made by an earlier version already has
# (create_all adds missing tables, never missing columns): (table, column, type).
ADDED_COLUMNS = (
    ("sandbox_bank_authorize_flows", "login_hint", "VARCHAR(200)"),
    ("sandbox_bank_authorize_flows", "locale", "VARCHAR(10)"),
)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def make_engine(database_url: str) -> Engine:
    if not database_url.startswith("sqlite"):
        return create_engine(database_url, pool_pre_ping=True)
    in_memory = database_url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(
        database_url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if in_memory else None,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


class Store:
    """Owns the engine; `transaction()` is the unit of work (commit or roll back)."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
        except (BankError, Psd2Error) as error:
            if error.commit:
                session.commit()
            else:
                session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
        else:
            session.commit()
        finally:
            session.close()

    def setup(self) -> str:
        """Create the tables, the static sandbox client and the signing secret.

        Returns the signing secret (shared by every process using this database).
        Several processes may start at once on one database: the loser of the insert
        race reads the winner's rows.
        """
        Base.metadata.create_all(self.engine)
        self._add_missing_columns()
        for attempt in range(3):
            try:
                return self._seed()
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _add_missing_columns(self) -> None:
        for table, column, sql_type in ADDED_COLUMNS:
            if column in {c["name"] for c in inspect(self.engine).get_columns(table)}:
                continue
            try:
                with self.engine.begin() as connection:
                    connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))
            except (OperationalError, ProgrammingError):
                # Another process starting on this database added it first.
                if column not in {c["name"] for c in inspect(self.engine).get_columns(table)}:
                    raise

    def _seed(self) -> str:
        with self.transaction() as session:
            if session.get(Client, SANDBOX_CLIENT_ID) is None:
                session.add(
                    Client(
                        client_id=SANDBOX_CLIENT_ID,
                        secret_hash=hash_secret(SANDBOX_CLIENT_SECRET),
                        name=SANDBOX_CLIENT_NAME,
                        redirect_uris=[],
                        any_redirect_uri=True,
                        created_at=wall_clock(),
                    )
                )
            setting = session.scalar(select(Setting).where(Setting.name == "signing_secret"))
            if setting is None:
                setting = Setting(name="signing_secret", value=secrets.token_urlsafe(48))
                session.add(setting)
            return setting.value

    def dispose(self) -> None:
        self.engine.dispose()
