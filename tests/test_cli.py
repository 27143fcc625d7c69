"""The ``relink`` console script, run as a real subprocess against a fresh SQLite file."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from relink.app import create_app
from relink.institutions.catalog import SANDBOX_CATALOG
from relink.kit.crypto import verify_password
from relink.models import Institution, Platform, User
from relink.runtime import Runtime
from tests.commands import Relink, relink_in
from tests.conftest import start_server

PLATFORM_KEYS = {"platform", "test_secret_key", "live_secret_key", "owner_email", "owner_password"}
# Longer than the 80 columns a piped console assumes, so error lines must not wrap.
OWNER_EMAIL = "owner-with-a-rather-long-address-to-exceed-one-terminal-line@lending.example.com"


def count(relink: Relink, model: type[User] | type[Platform]) -> int:
    with opened(relink) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@contextmanager
def opened(relink: Relink) -> Iterator[Session]:
    runtime = Runtime.from_settings(relink.settings())
    try:
        with runtime.database.read_only() as session:
            yield session
    finally:
        runtime.database.engine.dispose()


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")


@dataclass
class Migrated:
    relink: Relink
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Migrated:
    relink = relink_in(tmp_path_factory.mktemp("cli"), tmp_path_factory)
    return Migrated(relink, relink.run("migrate"))


@pytest.fixture(scope="module")
def cli(migrated: Migrated) -> Relink:
    assert migrated.result.returncode == 0, migrated.result.stderr
    return migrated.relink


@pytest.fixture(scope="module")
def created(cli: Relink) -> dict[str, str]:
    result = cli.run(
        "platforms", "create", "--name", "Acme", "--owner-email", OWNER_EMAIL, "--json"
    )
    assert result.returncode == 0, result.stderr
    created: dict[str, str] = json.loads(result.stdout)
    return created


@pytest.fixture(scope="module")
def api(cli: Relink) -> Iterator[str]:
    """A Relink server on the CLI's database."""
    runtime = Runtime.from_settings(cli.settings())
    server, thread, url = start_server(create_app(runtime=runtime))
    yield url
    server.should_exit = True
    thread.join(timeout=10)
    runtime.database.engine.dispose()


# -- relink migrate ------------------------------------------------------------------------


def test_migrate_reports_the_database_is_up_to_date(migrated: Migrated) -> None:
    assert migrated.result.returncode == 0
    assert "Database is up to date." in migrated.result.stdout


def test_migrate_registers_the_sandbox_institutions(cli: Relink) -> None:
    with opened(cli) as session:
        ids = set(session.scalars(select(Institution.id)))
    assert ids == {spec.institution_id for spec in SANDBOX_CATALOG}


def test_migrate_creates_the_missing_database_directory(cli: Relink) -> None:
    assert (cli.var_dir / "relink.db").is_file()


def test_migrate_without_a_database_url_puts_relink_db_in_the_var_dir(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("home")
    var_dir = tmp_path_factory.mktemp("elsewhere") / "state"
    relink = relink_in(home, tmp_path_factory)
    env = {**relink.env, "RELINK_VAR_DIR": str(var_dir)}
    del env["RELINK_DATABASE_URL"]
    result = subprocess.run(
        relink.command("migrate"), env=env, cwd=home, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    assert (var_dir / "relink.db").is_file()
    assert not (home / "var").exists()


def test_migrate_of_an_unreachable_database_fails_with_one_line(cli: Relink) -> None:
    env = {**cli.env, "RELINK_DATABASE_URL": "postgresql+psycopg://relink:pw@127.0.0.1:1/relink"}
    result = subprocess.run(
        cli.command("migrate"), env=env, cwd=cli.home, capture_output=True, text=True, timeout=180
    )
    assert_one_line_error(result)
    assert "cannot migrate postgresql+psycopg://relink:***@127.0.0.1:1/relink" in result.stderr


def test_migrate_again_is_a_no_op(cli: Relink) -> None:
    result = cli.run("migrate")
    assert result.returncode == 0, result.stderr


# -- relink platforms create ---------------------------------------------------------------


def test_platforms_create_json_prints_exactly_the_documented_keys(created: dict[str, str]) -> None:
    assert set(created) == PLATFORM_KEYS
    assert created["platform"].startswith("acct_")
    assert created["test_secret_key"].startswith("sk_test_")
    assert created["live_secret_key"].startswith("sk_live_")
    assert created["owner_email"] == OWNER_EMAIL


def test_platforms_create_makes_a_confirmed_owner_with_the_printed_password(
    cli: Relink, created: dict[str, str]
) -> None:
    with opened(cli) as session:
        owner = session.scalars(select(User).where(User.email == OWNER_EMAIL)).one()
    assert owner.platform_id == created["platform"]
    assert owner.role == "owner"
    assert owner.email_confirmed_at is not None
    assert verify_password(owner.password_hash, created["owner_password"])


def test_printed_test_key_authenticates_in_test_mode(api: str, created: dict[str, str]) -> None:
    response = httpx.post(
        f"{api}/v1/customers",
        data={"email": "holder@example.com"},
        headers={"Authorization": f"Bearer {created['test_secret_key']}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["livemode"] is False


def test_printed_live_key_authenticates_in_live_mode(api: str, created: dict[str, str]) -> None:
    response = httpx.post(
        f"{api}/v1/customers",
        data={"email": "holder@example.com"},
        headers={"Authorization": f"Bearer {created['live_secret_key']}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["livemode"] is True


def test_platforms_create_with_a_taken_owner_email_fails_and_creates_nothing(
    cli: Relink, created: dict[str, str]
) -> None:
    before = count(cli, Platform)
    result = cli.run("platforms", "create", "--name", "Again", "--owner-email", OWNER_EMAIL.upper())
    assert_one_line_error(result)
    assert "already exists" in result.stderr
    assert count(cli, Platform) == before


# -- relink users create -------------------------------------------------------------------


def test_users_create_adds_a_team_user_with_the_role(cli: Relink, created: dict[str, str]) -> None:
    result = cli.run(
        "users",
        "create",
        "--platform",
        created["platform"],
        "--email",
        "Viewer@Example.com",
        "--role",
        "viewer",
    )
    assert result.returncode == 0, result.stderr
    with opened(cli) as session:
        user = session.scalars(select(User).where(User.email == "viewer@example.com")).one()
    assert (user.platform_id, user.role, user.email_confirmed_at) == (
        created["platform"],
        "viewer",
        None,
    )


def test_users_create_with_a_taken_email_fails_and_creates_nothing(
    cli: Relink, created: dict[str, str]
) -> None:
    before = count(cli, User)
    result = cli.run(
        "users",
        "create",
        "--platform",
        created["platform"],
        "--email",
        OWNER_EMAIL,
        "--role",
        "admin",
    )
    assert_one_line_error(result)
    assert OWNER_EMAIL in result.stderr
    assert count(cli, User) == before


def test_users_create_for_an_unknown_platform_fails_and_creates_nothing(cli: Relink) -> None:
    before = count(cli, User)
    result = cli.run(
        "users",
        "create",
        "--platform",
        "acct_unknown",
        "--email",
        "nobody@example.com",
        "--role",
        "viewer",
    )
    assert_one_line_error(result)
    assert "no such platform: acct_unknown" in result.stderr
    assert count(cli, User) == before


def test_users_create_with_a_bad_email_shows_it_verbatim_and_creates_nothing(
    cli: Relink, created: dict[str, str]
) -> None:
    before = count(cli, User)
    result = cli.run(
        "users",
        "create",
        "--platform",
        created["platform"],
        "--email",
        "[bold]not-an-email",
        "--role",
        "viewer",
    )
    assert_one_line_error(result)
    assert "'[bold]not-an-email'" in result.stderr
    assert count(cli, User) == before


# -- relink demo ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_runs(cli: Relink) -> tuple[subprocess.CompletedProcess[str], ...]:
    return cli.run("demo"), cli.run("demo")


def test_demo_succeeds(demo_runs: tuple[subprocess.CompletedProcess[str], ...]) -> None:
    assert [run.returncode for run in demo_runs] == [0, 0], [run.stderr for run in demo_runs]


def test_demo_run_twice_prints_the_same_platform_and_credentials(
    cli: Relink, demo_runs: tuple[subprocess.CompletedProcess[str], ...]
) -> None:
    first, second = demo_runs
    stored = json.loads((cli.var_dir / "demo-credentials.json").read_text())
    assert first.stdout == second.stdout
    for value in (stored["platform"], stored["test_secret_key"], stored["owner_password"]):
        assert value in first.stdout


def test_demo_creates_one_platform_only(
    cli: Relink, demo_runs: tuple[subprocess.CompletedProcess[str], ...]
) -> None:
    stored = json.loads((cli.var_dir / "demo-credentials.json").read_text())
    with opened(cli) as session:
        names = list(session.scalars(select(Platform.id).where(Platform.name == "Acme Lending")))
    assert names == [stored["platform"]]


def test_demo_keeps_its_credentials_file_private(
    cli: Relink, demo_runs: tuple[subprocess.CompletedProcess[str], ...]
) -> None:
    mode = (cli.var_dir / "demo-credentials.json").stat().st_mode & 0o777
    assert mode == 0o600


def test_demo_test_key_authenticates(
    api: str, cli: Relink, demo_runs: tuple[subprocess.CompletedProcess[str], ...]
) -> None:
    stored = json.loads((cli.var_dir / "demo-credentials.json").read_text())
    response = httpx.get(
        f"{api}/v1/customers", headers={"Authorization": f"Bearer {stored['test_secret_key']}"}
    )
    assert response.status_code == 200, response.text


def test_users_create_with_an_unknown_role_fails_and_creates_nothing(
    cli: Relink, created: dict[str, str]
) -> None:
    before = count(cli, User)
    result = cli.run(
        "users",
        "create",
        "--platform",
        created["platform"],
        "--email",
        "someone@example.com",
        "--role",
        "superuser",
    )
    assert_one_line_error(result)
    assert "--role must be one of owner, admin, viewer (got 'superuser')" in result.stderr
    assert count(cli, User) == before
