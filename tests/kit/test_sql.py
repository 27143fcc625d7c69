from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, delete, func, select

from relink.kit import clock, ids
from relink.kit.sql import bulk_insert, bulk_insert_or_ignore, insert_or_ignore
from relink.models import OutboxMessage, ScheduledScan
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


OUTBOX = cast(Table, OutboxMessage.__table__)


def _outbox_row(dedupe_key: str, payload: Any) -> dict[str, Any]:
    now = clock.now()
    return {
        "id": ids.new("obx"),
        "kind": "test.bulk",
        "payload": payload,
        "dedupe_key": dedupe_key,
        "platform_id": None,
        "livemode": None,
        "status": "pending",
        "attempts": 0,
        "run_after": now,
        "created_at": now,
    }


def test_bulk_insert_writes_every_row_with_its_json_and_times(runtime: Runtime) -> None:
    tag = ids.new("t")
    rows = [_outbox_row(f"{tag}:{n}", {"n": n, "text": "tab\tand \\ quote'\""}) for n in range(3)]
    rows.append(_outbox_row(f"{tag}:list", ["a", None]))
    with runtime.database.unit_of_work() as session:
        bulk_insert(session, OUTBOX, rows)
    with runtime.database.read_only() as session:
        stored = {
            message.dedupe_key: message
            for message in session.scalars(
                select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith(f"{tag}:"))
            )
        }
    assert sorted(stored) == sorted(row["dedupe_key"] for row in rows)
    for row in rows:
        message = stored[row["dedupe_key"]]
        assert message.payload == row["payload"]
        assert message.run_after == row["run_after"]
        assert message.platform_id is None


def test_bulk_insert_of_nothing_writes_nothing(runtime: Runtime) -> None:
    with runtime.database.unit_of_work() as session:
        before = session.scalar(select(func.count()).select_from(OutboxMessage))
        bulk_insert(session, OUTBOX, [])
        assert bulk_insert_or_ignore(session, OUTBOX, [], index_elements=["dedupe_key"]) == []
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == before


def test_bulk_insert_or_ignore_skips_rows_the_unique_index_holds_and_returns_the_rest(
    runtime: Runtime,
) -> None:
    tag = ids.new("t")
    with runtime.database.unit_of_work() as session:
        bulk_insert(session, OUTBOX, [_outbox_row(f"{tag}:taken", {"first": True})])
    rows = [_outbox_row(f"{tag}:{key}", {"key": key}) for key in ("new-1", "taken", "new-2")]
    with runtime.database.unit_of_work() as session:
        inserted = bulk_insert_or_ignore(
            session, OUTBOX, rows, index_elements=["dedupe_key"], returning=("id", "dedupe_key")
        )
        # Again in the same transaction (the staging table is reused), as new rows with the
        # same keys: nothing more goes in.
        again = bulk_insert_or_ignore(
            session,
            OUTBOX,
            [{**row, "id": ids.new("obx")} for row in rows],
            index_elements=["dedupe_key"],
        )
    assert sorted(inserted) == sorted(
        (row["id"], row["dedupe_key"]) for row in rows if not row["dedupe_key"].endswith("taken")
    )
    assert again == []
    with runtime.database.read_only() as session:
        taken = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.dedupe_key == f"{tag}:taken")
        )
        assert list(taken) == [{"first": True}]


def test_bulk_insert_rolls_back_with_its_transaction(runtime: Runtime) -> None:
    tag = ids.new("t")
    try:
        with runtime.database.unit_of_work() as session:
            bulk_insert(session, OUTBOX, [_outbox_row(f"{tag}:a", {})])
            bulk_insert_or_ignore(
                session, OUTBOX, [_outbox_row(f"{tag}:b", {})], index_elements=["dedupe_key"]
            )
            raise RuntimeError("crash before the commit")
    except RuntimeError:
        pass
    with runtime.database.read_only() as session:
        count = session.scalar(
            select(func.count()).where(OutboxMessage.dedupe_key.startswith(f"{tag}:"))
        )
    assert count == 0
