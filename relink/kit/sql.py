"""SQL that reads differently on the two engines Relink runs on, written once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


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
