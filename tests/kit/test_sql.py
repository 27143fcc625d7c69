from __future__ import annotations

from sqlalchemy import delete, func, select

from relink.kit import clock, ids
from relink.kit.sql import insert_or_ignore
from relink.models import ScheduledScan
from relink.runtime import Runtime


def test_insert_or_ignore_keeps_the_first_row_and_skips_the_second(runtime: Runtime) -> None:
    name = ids.new("scan")
    later = clock.now().replace(microsecond=0)
    with runtime.database.unit_of_work() as session:
        first = insert_or_ignore(session, ScheduledScan, index_elements=["name"])
        session.execute(first.values(name=name, next_run_at=later, locked_by="first"))
        second = insert_or_ignore(runtime.database.engine, ScheduledScan, index_elements=["name"])
        session.execute(second.values(name=name, next_run_at=later, locked_by="second"))
        rows = session.scalars(select(ScheduledScan.locked_by).where(ScheduledScan.name == name))
        assert list(rows) == ["first"]
        assert session.scalar(select(func.count()).where(ScheduledScan.name == name)) == 1
        session.execute(delete(ScheduledScan).where(ScheduledScan.name == name))
