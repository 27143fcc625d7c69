"""Running the real ``relink`` console script in tests, against a database of the test's own."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from relink.config import Settings
from relink.migrate import upgrade

RELINK = Path(sys.executable).with_name("relink")
SECRET_KEY = "cli-test-secret-key-for-relink-tests-only"


@dataclass
class Relink:
    """The console script with ``RELINK_*`` pointing at a SQLite file under ``home``."""

    home: Path
    env: dict[str, str]

    @property
    def database_url(self) -> str:
        return self.env["RELINK_DATABASE_URL"]

    @property
    def var_dir(self) -> Path:
        return self.home / "var"

    def command(self, *args: str) -> list[str]:
        return [str(RELINK), *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def settings(self) -> Settings:
        """The same configuration, for opening the database in the test process."""
        return Settings(
            database_url=self.database_url,
            secret_key=SECRET_KEY,
            var_dir=self.var_dir,
            in_process_worker=False,
            _env_file=None,
        )


def migrated_sqlite(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Give a new SQLite file the whole schema, as ``relink migrate`` would: a copy (by
    SQLite's backup API) of a file migrated once per test process, since running every
    migration takes seconds and many command tests want a database of their own."""
    template = tmp_path_factory.getbasetemp() / "sqlite-template" / "relink.db"
    if not template.exists():
        template.parent.mkdir(exist_ok=True)
        upgrade(f"sqlite:///{template}")
    target = Path(database_url.removeprefix("sqlite:///"))
    assert database_url.startswith("sqlite:///") and not target.exists(), database_url
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(template) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    source.close()
    copy.close()


def relink_in(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Relink:
    env = {name: value for name, value in os.environ.items() if not name.startswith("RELINK_")}
    # Let the subprocesses share compiled bytecode (kept out of the source tree), so each
    # command does not compile every module again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.getbasetemp() / "pycache")
    env.update(
        # Like the default ``./var/relink.db``: the directory does not exist yet.
        RELINK_DATABASE_URL=f"sqlite:///{home / 'var' / 'relink.db'}",
        RELINK_SECRET_KEY=SECRET_KEY,
        RELINK_VAR_DIR=str(home / "var"),
        COLUMNS="80",
    )
    return Relink(home, env)


@dataclass
class Book:
    """A console script whose database holds the demo platform and its sandbox book."""

    cli: Relink
    platform: str


def demo_book(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Book:
    """The book is built in this process (as ``relink migrate`` and ``relink demo``
    would); only the command under test runs as a subprocess."""
    from relink.demo import ensure_demo_book, ensure_demo_platform
    from relink.institutions.service import register_institutions
    from relink.runtime import Runtime

    cli = relink_in(home, tmp_path_factory)
    migrated_sqlite(cli.database_url, tmp_path_factory)
    runtime = Runtime.from_settings(cli.settings())
    try:
        with runtime.database.unit_of_work() as db:
            register_institutions(db)
        platform = ensure_demo_platform(runtime)["platform"]
        ensure_demo_book(runtime, platform)
    finally:
        runtime.database.engine.dispose()
    return Book(cli, platform)
