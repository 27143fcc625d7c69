from __future__ import annotations

import sqlite3

from sqlalchemy import exc, func, select, text

from relink.db import database_unavailable
from relink.kit import clock, ids
from relink.models import Customer
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime


def _commit_waits_for_the_disk(runtime: Runtime, *, durable: bool) -> bool:
    with runtime.database.unit_of_work(durable=durable) as session:
        if runtime.database.is_sqlite:
            # WAL with synchronous=NORMAL (1): commits never wait for the disk.
            return int(session.scalar(text("PRAGMA synchronous")) or 0) > 1
        return str(session.scalar(text("SHOW synchronous_commit"))) != "off"


def test_a_unit_of_work_that_need_not_be_durable_commits_without_waiting_for_the_disk(
    runtime: Runtime,
) -> None:
    assert not _commit_waits_for_the_disk(runtime, durable=False)
    # For that transaction only: the connection goes back to the pool as it was.
    for _ in range(3):
        assert _commit_waits_for_the_disk(runtime, durable=True) is (not runtime.database.is_sqlite)


def test_a_unit_of_work_that_need_not_be_durable_still_commits_its_writes(
    runtime: Runtime, platform: NewPlatform
) -> None:
    customer_id = ids.new("cus")
    with runtime.database.unit_of_work(durable=False) as session:
        session.add(
            Customer(
                id=customer_id,
                platform_id=platform.platform.id,
                livemode=False,
                email="not-durable@example.com",
                created_at=clock.now(),
            )
        )
    with runtime.database.read_only() as session:
        found = session.scalar(
            select(func.count()).select_from(Customer).where(Customer.id == customer_id)
        )
    assert found == 1


def test_a_busy_sqlite_file_is_unavailable_but_a_missing_table_is_a_bug() -> None:
    def operational(message: str) -> exc.OperationalError:
        return exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))

    assert database_unavailable(operational("database is locked"))
    assert not database_unavailable(operational("no such table: accounts"))
