"""Migrations build exactly the models' schema, and can be undone and redone."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, create_engine, inspect, pool

from relink.migrate import alembic_config, upgrade
from relink.models import Base


def expression_indexes() -> set[str]:
    """Indexes on expressions (e.g. lower(email)), which reflection and autogenerate skip."""
    return {
        index.name
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if index.name
        and any(not isinstance(expression, Column) for expression in index.expressions)
    }


def index_names(url: str) -> set[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                rows = connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index'"
                )
            else:
                rows = connection.exec_driver_sql(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
                )
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def schema_differences(url: str) -> list[Any]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection, warnings.catch_warnings():
            # Expression indexes cannot be reflected; test_expression_indexes_exist checks them.
            warnings.filterwarnings(
                "ignore", message="Skipped unsupported reflection of expression-based index"
            )
            warnings.filterwarnings(
                "ignore", message="autogenerate skipping metadata-specified expression-based index"
            )
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Cycled:
    url: str
    tables_at_base: set[str]


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh SQLite file migrated to head."""
    url = f"sqlite:///{tmp_path_factory.mktemp('migrated') / 'relink.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def cycled_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Cycled:
    """A fresh SQLite file migrated to head, down to base, and up to head again."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cycled') / 'relink.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    tables_at_base = table_names(url)
    upgrade(url)
    return Cycled(url, tables_at_base)


def test_migrated_fresh_sqlite_database_matches_the_models_exactly(migrated_sqlite: str) -> None:
    assert schema_differences(migrated_sqlite) == []


def test_migrated_session_database_matches_the_models_exactly(database_url: str) -> None:
    # SQLite and PostgreSQL: the session database is migrated from empty by the fixture.
    assert schema_differences(database_url) == []


def test_migrated_database_has_every_model_table(migrated_sqlite: str) -> None:
    assert table_names(migrated_sqlite) == set(Base.metadata.tables) | {"alembic_version"}


def test_downgrade_to_base_removes_every_table(cycled_sqlite: Cycled) -> None:
    assert cycled_sqlite.tables_at_base <= {"alembic_version"}


def test_upgrade_after_downgrade_to_base_rebuilds_the_same_schema(cycled_sqlite: Cycled) -> None:
    assert schema_differences(cycled_sqlite.url) == []


def test_migrations_create_every_expression_index_of_the_models(database_url: str) -> None:
    assert expression_indexes(), "the models declare expression indexes"
    assert expression_indexes() <= index_names(database_url)
