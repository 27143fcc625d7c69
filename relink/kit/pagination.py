"""Cursor pagination over id-ordered rows (ids sort by creation time; newest first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

Row = TypeVar("Row")


@dataclass
class Page(Generic[Row]):
    items: list[Row]
    has_more: bool


@dataclass(frozen=True)
class Cursor:
    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None


def paginate(session: Session, query: Select[Any], id_column: Any, cursor: Cursor) -> Page[Any]:
    if cursor.ending_before is not None:
        rows = list(
            session.scalars(
                query.where(id_column > cursor.ending_before)
                .order_by(id_column.asc())
                .limit(cursor.limit + 1)
            )
        )
        has_more = len(rows) > cursor.limit
        return Page(list(reversed(rows[: cursor.limit])), has_more)
    if cursor.starting_after is not None:
        query = query.where(id_column < cursor.starting_after)
    rows = list(session.scalars(query.order_by(id_column.desc()).limit(cursor.limit + 1)))
    return Page(rows[: cursor.limit], len(rows) > cursor.limit)
