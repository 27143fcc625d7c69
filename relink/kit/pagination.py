"""Cursor pagination over id-ordered rows (ids sort by creation time; newest first), and
over a sorted column with the id as tie-breaker (:func:`paginate_sorted`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, literal, tuple_
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


@dataclass(frozen=True)
class SortedOrder:
    """An order on a nullable column, ties broken by the id in the same direction.

    ``nulls_high``: a missing value sorts as the highest (after every value ascending,
    before every value descending), else as the lowest. Pages are read in two segments,
    the rows with a value and the rows without, each a plain range of an index on
    ``(…, key, id)``, so no page sorts or skips rows whatever its depth.
    """

    key: Any
    id_column: Any
    descending: bool
    nulls_high: bool

    def segments(self, *, reverse: bool = False) -> list[tuple[bool, bool]]:
        """(is the null segment, descending) of each segment, in the order read."""
        descending = self.descending != reverse
        nulls_first = self.nulls_high == descending
        return [(True, descending), (False, descending)][:: 1 if nulls_first else -1]

    def statements(
        self, query: Select[Any], after: tuple[Any, str] | None, *, reverse: bool = False
    ) -> list[Select[Any]]:
        """The statements that, run in turn, give the rows after ``after`` (a row's key
        and id; ``None``: from the start), in this order or (``reverse``) its reverse.
        The caller adds a limit to each."""
        found: list[Select[Any]] = []
        started = after is None
        for null_segment, descending in self.segments(reverse=reverse):
            statement = query.where(
                self.key.is_(None) if null_segment else self.key.is_not(None)
            ).order_by(
                *(() if null_segment else (self.key.desc() if descending else self.key.asc(),)),
                self.id_column.desc() if descending else self.id_column.asc(),
            )
            if not started:
                assert after is not None
                value, row_id = after
                if (value is None) != null_segment:
                    continue  # the anchor's segment comes later
                started = True
                if null_segment:
                    statement = statement.where(
                        self.id_column < row_id if descending else self.id_column > row_id
                    )
                else:
                    # Typed binds, so the key's column type stores the value as it does.
                    row = tuple_(self.key, self.id_column)
                    bound = tuple_(
                        literal(value, type_=self.key.type),
                        literal(row_id, type_=self.id_column.type),
                    )
                    statement = statement.where(row < bound if descending else row > bound)
            found.append(statement)
        return found


def paginate_sorted(
    session: Session,
    query: Select[Any],
    order: SortedOrder,
    cursor: Cursor,
    anchor: Callable[[str], tuple[Any, str] | None],
) -> Page[Any]:
    """A page of ``query`` in ``order``; ``anchor`` gives the cursor row's (key, id), or
    ``None`` when that row is not (or no longer) in the scope: the list starts over."""
    reverse = cursor.ending_before is not None
    cursor_id = cursor.ending_before if reverse else cursor.starting_after
    after = anchor(cursor_id) if cursor_id is not None else None
    if after is None:
        reverse = False
    rows: list[Any] = []
    for statement in order.statements(query, after, reverse=reverse):
        rows.extend(session.scalars(statement.limit(cursor.limit + 1 - len(rows))))
        if len(rows) > cursor.limit:
            break
    has_more = len(rows) > cursor.limit
    items = rows[: cursor.limit]
    return Page(list(reversed(items)) if reverse else items, has_more)
