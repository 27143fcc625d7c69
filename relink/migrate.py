"""Applying migrations programmatically (``relink migrate``, ``make run``, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
# A source checkout keeps migrations at the top level; a built wheel ships them inside
# the package (see [tool.hatch.build.targets.wheel.force-include] in pyproject.toml).
MIGRATIONS = next(
    (
        path
        for path in (ROOT / "migrations", Path(__file__).resolve().parent / "_migrations")
        if path.is_dir()
    ),
    ROOT / "migrations",
)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def ensure_sqlite_directory(database_url: str) -> None:
    """Create the directory of a SQLite file (``./var/`` on a fresh checkout)."""
    url = make_url(database_url)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:"):
        return
    Path(database).parent.mkdir(parents=True, exist_ok=True)


def upgrade(database_url: str, revision: str = "head") -> None:
    ensure_sqlite_directory(database_url)
    command.upgrade(alembic_config(database_url), revision)
