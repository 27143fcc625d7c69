"""Engine, session factory and the unit of work.

The request or job owns the transaction: services receive a session and never commit;
:func:`unit_of_work` commits on success and rolls back on any error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, text
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.orm import Session, sessionmaker


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 10.0,
    lock_timeout: float = 5.0,
    statement_timeout: float = 30.0,
) -> Engine:
    """The engine of a Relink process. On PostgreSQL every wait is bounded: a lock wait
    (``lock_timeout``), a statement (``statement_timeout``) and a pool checkout
    (``pool_timeout``), in seconds; :func:`database_unavailable` recognises the errors."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1] if "///" in url else ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        _configure_sqlite(engine)
        return engine
    options = [
        # Relink's queries are short; PostgreSQL's JIT compiles for tens of milliseconds
        # before queries whose estimated cost crosses its threshold, which costs more
        # than it saves here.
        "-c jit=off",
        f"-c lock_timeout={_milliseconds(lock_timeout)}",
        f"-c statement_timeout={_milliseconds(statement_timeout)}",
    ]
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        connect_args={"options": " ".join(options)},
    )


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot serve now (a transient condition a
    client should retry): no connection from the pool in time, the server unreachable or
    gone, a lock or statement timeout, SQLite's busy write lock. Programming errors and
    constraint violations are not."""
    if isinstance(error, sqlalchemy_exc.TimeoutError):
        return True
    if not isinstance(error, sqlalchemy_exc.OperationalError):
        return False
    if isinstance(error.orig, sqlite3.Error):
        # sqlite3 reports a missing table or column as an OperationalError too: a bug or
        # an unmigrated file, not a condition that passes.
        return any(word in str(error.orig) for word in _SQLITE_TRANSIENT)
    return True


_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk I/O")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy manage transactions; BEGIN IMMEDIATE takes the write lock up
        # front so two writers queue instead of failing on upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One engine and its session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False, autoflush=True)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def unit_of_work(self, *, durable: bool = True) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any error.

        ``durable=False`` commits without waiting for the disk (PostgreSQL:
        ``synchronous_commit`` off for this transaction only), for writes that a crash of
        the database itself may lose without harm: the outbox's own records (claims,
        leases, outcomes — the rows are handed out again and their side effects replayed
        with the same ids, as after a worker crash; docs/decisions.md) and a hosted link's
        visit mark. The database stays consistent either way; only durability waits a
        moment (``wal_writer_delay``). SQLite in WAL mode with ``synchronous=NORMAL``
        already commits without waiting for the disk.
        """
        session = self.sessions()
        try:
            if not durable and self.engine.dialect.name == "postgresql":
                session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def analyze(self, tables: Iterable[Table]) -> None:
        """Refresh the planner's statistics of ``tables`` after a bulk load filled them.

        PostgreSQL's autovacuum analyses a table only after a minute or so, and until then
        plans queries on a freshly loaded table as if it held a handful of rows (a bulk
        request right after ``relink demo --accounts 10000`` estimated 1 row for 3,597 and
        took seconds instead of milliseconds). SQLite keeps no statistics unless asked and
        plans by its indexes, so there is nothing to refresh there.
        """
        if self.engine.dialect.name != "postgresql":
            return
        names = ", ".join(self.engine.dialect.identifier_preparer.format_table(t) for t in tables)
        if not names:
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"ANALYZE {names}"))

    @contextmanager
    def read_only(self) -> Iterator[Session]:
        session = self.sessions()
        try:
            yield session
        finally:
            # close() rolls back and detaches objects with their loaded state intact.
            session.close()
