"""SQL that reads differently on the two engines Relink runs on, written once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import JSON, Engine, Table, column, select
from sqlalchemy import table as table_
from sqlalchemy import text as text_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    import psycopg

# Ids per IN (…) when reading rows back (well under SQLite's variable limit).
ID_LOOKUP_CHUNK = 2000


def insert_or_ignore(
    on: Session | Engine,
    table: Any,
    *,
    index_elements: Sequence[Any],
    index_where: Any = None,
) -> Any:
    """``INSERT … ON CONFLICT (index_elements) DO NOTHING`` for the engine ``on`` speaks to
    (PostgreSQL or SQLite); add ``.values()``/``.returning()`` or execute it with rows."""
    dialect = (on.get_bind() if isinstance(on, Session) else on).dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(
            index_elements=index_elements, index_where=index_where
        )
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(
            index_elements=index_elements, index_where=index_where
        )
    raise NotImplementedError(  # pragma: no cover - only the two supported engines run
        f"Relink runs on PostgreSQL or SQLite, not {dialect}"
    )


# -- bulk writes -------------------------------------------------------------------------


def _dialect(db: Session) -> str:
    return db.get_bind().dialect.name


def _copy(
    db: Session, target: str, table: Table, columns: list[str], rows: list[dict[str, Any]]
) -> None:
    """PostgreSQL's ``COPY … FROM STDIN`` of ``rows`` into ``target`` (a table shaped like
    ``table``), in the session's transaction: no statement per row, no parameters."""
    as_json = [isinstance(table.c[name].type, JSON) for name in columns]
    quoted = ", ".join(f'"{name}"' for name in columns)
    raw = cast("psycopg.Connection[Any]", db.connection().connection.dbapi_connection)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{target}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(
                [
                    # As SQLAlchemy's JSON type binds them (None is JSON null).
                    json.dumps(row[name]) if is_json else row[name]
                    for name, is_json in zip(columns, as_json, strict=True)
                ]
            )


def bulk_insert(db: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``: by ``COPY`` on
    PostgreSQL, by one executemany on SQLite. For new rows only: a conflict fails the
    whole statement (use :func:`bulk_insert_or_ignore` where one may happen)."""
    if not rows:
        return
    if _dialect(db) == "postgresql":
        _copy(db, table.name, table, list(rows[0]), rows)
    else:
        db.execute(table.insert(), rows)


def bulk_insert_or_ignore(
    db: Session,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    index_elements: Sequence[Any],
    index_where: Any = None,
    returning: Sequence[str] = ("id",),
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (each with a new ``id``), skipping those the unique index on
    ``index_elements`` (``WHERE index_where``) already holds; returns the ``returning``
    columns of the rows inserted.

    PostgreSQL: ``COPY`` into a temporary table shaped like ``table``, then one
    ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING``. SQLite: one executemany of
    ``INSERT … ON CONFLICT DO NOTHING``, then the inserted rows read back by id.
    """
    if not rows:
        return []
    columns = list(rows[0])
    if _dialect(db) == "postgresql":
        staging = f"_bulk_{table.name}"
        db.execute(
            text_(
                f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" '
                f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DROP'
            )
        )
        db.execute(text_(f'TRUNCATE "{staging}"'))
        _copy(db, staging, table, columns, rows)
        staged = table_(staging, *(column(name) for name in columns))
        statement = (
            postgresql.insert(table)
            .from_select(columns, select(*(staged.c[name] for name in columns)))
            .on_conflict_do_nothing(index_elements=index_elements, index_where=index_where)
            .returning(*(table.c[name] for name in returning))
        )
        return [tuple(row) for row in db.execute(statement)]
    statement = insert_or_ignore(db, table, index_elements=index_elements, index_where=index_where)
    db.execute(statement, rows)
    inserted: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), ID_LOOKUP_CHUNK):
        chunk = [row["id"] for row in rows[start : start + ID_LOOKUP_CHUNK]]
        inserted.extend(
            tuple(row)
            for row in db.execute(
                select(*(table.c[name] for name in returning)).where(table.c.id.in_(chunk))
            )
        )
    return inserted
