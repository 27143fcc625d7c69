"""Applying migrations programmatically (``relink migrate``, ``make run``, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

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


def sqlite_file_missing(database_url: str) -> bool:
    """A SQLite URL whose file does not exist (opening it would create an empty one)."""
    url = make_url(database_url)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return False
    return not database.startswith("file:") and not Path(database).exists()


def database_problem(engine: Engine) -> str | None:
    """Why a process must not start on this database (one line), or None if it may.

    Unreachable, missing, without Relink's tables or behind the migrations this code
    expects: each is a deployment mistake a long-running process would otherwise report
    on every round. A database *ahead* of this code (a newer release migrated it first)
    is fine: migrations are additive within a release line.
    """
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        cause = getattr(error, "orig", None) or error
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else "unreachable"
        return f"cannot reach {where}: {reason}"
    if not current:
        return f"{where} has no Relink tables: run `relink migrate` first"
    script = ScriptDirectory.from_config(alembic_config(""))
    heads = set(script.get_heads())
    known = {revision for revision in current if _known(script, revision)}
    if known == current and current != heads:
        return f"{where} is behind this release's migrations: run `relink migrate` first"
    return None


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:  # a revision of a newer release
        return False
