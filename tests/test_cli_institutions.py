"""``relink institutions``: the real console script against a SQLite file of its own."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from relink.models import Institution
from relink.runtime import Runtime
from tests.commands import Relink, migrated_sqlite, relink_in
from tests.institutions.catalogs import CLIENT_SECRET, oauth2_entry, tls_files

BIC = "ALPHDEFFXXX"


@pytest.fixture
def cli(tmp_path_factory: pytest.TempPathFactory) -> Relink:
    relink = relink_in(tmp_path_factory.mktemp("cli-institutions"), tmp_path_factory)
    migrated_sqlite(relink.database_url, tmp_path_factory)
    return relink


def write_alpha_catalog(cli: Relink) -> Path:
    tls_files(cli.home / "certs")
    catalog = cli.home / "banks.toml"
    catalog.write_text(
        oauth2_entry("Alpha Bank", BIC)
        + 'client_certificate = "certs/client.pem"\nclient_key = "certs/client.key"\n'
    )
    return catalog


@pytest.fixture
def alpha(cli: Relink) -> str:
    """The id of Alpha Bank, imported from a catalog with a client certificate."""
    imported = cli.run("institutions", "import", str(write_alpha_catalog(cli)))
    assert imported.returncode == 0, imported.stderr
    listed = json.loads(cli.run("institutions", "list", "--json").stdout)
    [institution_id] = [row["id"] for row in listed if row["bic"] == BIC]
    return str(institution_id)


def names(cli: Relink) -> list[str]:
    runtime = Runtime.from_settings(cli.settings())
    try:
        with runtime.database.read_only() as session:
            return list(session.scalars(select(Institution.name).order_by(Institution.name)))
    finally:
        runtime.database.engine.dispose()


def no_secret_in(result: subprocess.CompletedProcess[str]) -> None:
    both = result.stdout + result.stderr
    assert CLIENT_SECRET not in both
    assert "PRIVATE KEY" not in both and "BEGIN CERTIFICATE" not in both


def test_import_reports_each_entry_and_reimport_changes_nothing(cli: Relink) -> None:
    catalog = write_alpha_catalog(cli)
    first = cli.run("institutions", "import", str(catalog))
    again = cli.run("institutions", "import", str(catalog))
    assert first.returncode == 0, first.stderr
    assert "created: fcinst_" in first.stdout and "Alpha Bank" in first.stdout
    assert "1 created, 0 updated, 0 unchanged" in first.stdout
    assert "1 created, 0 updated, 0 unchanged" not in again.stdout
    assert "0 created, 0 updated, 1 unchanged" in again.stdout
    no_secret_in(first)


def test_list_shows_the_institution_and_its_secrets_by_name_only(cli: Relink, alpha: str) -> None:
    result = cli.run("institutions", "list", "--live", "--json")
    assert result.returncode == 0, result.stderr
    [listed] = [row for row in json.loads(result.stdout) if row["bic"] == BIC]
    assert listed["connector"] == "oauth2"
    assert listed["secret_names"] == ["client_certificate", "client_key", "client_secret"]
    assert listed["disabled"] is False
    no_secret_in(result)
    no_secret_in(cli.run("institutions", "list"))


def test_a_bad_catalog_is_one_clear_error_and_changes_nothing(cli: Relink, alpha: str) -> None:
    before = names(cli)
    catalog = cli.home / "bad.toml"
    catalog.write_text(
        oauth2_entry("Beta Bank", "BETADEFFXXX")
        + oauth2_entry("Gamma Bank", "GAMMDEFFXXX").replace(
            'connector = "oauth2"', 'connector = "x"'
        )
    )
    result = cli.run("institutions", "import", str(catalog))
    assert result.returncode == 1
    assert result.stderr.startswith("error: institution #2 (Gamma Bank): unknown connector 'x'")
    assert names(cli) == before


def test_add_reads_the_secret_from_the_environment(cli: Relink, tmp_path: Path) -> None:
    env = {**cli.env, "DELTA_SECRET": CLIENT_SECRET}
    result = subprocess.run(
        cli.command(
            "institutions",
            "add",
            "--name=Delta Bank",
            "--connector=oauth2",
            "--country=AT",
            "--bic=DELTATWWXXX",
            "--base-url=https://api.delta.test/v1",
            "--setting=authorize_url=https://delta.test/authorize",
            "--setting=token_url=https://delta.test/token",
            "--setting=client_id=relink",
            "--secret-from-env=client_secret=DELTA_SECRET",
        ),
        env=env,
        cwd=cli.home,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created: fcinst_")
    no_secret_in(result)
    assert "Delta Bank" in names(cli)


def test_disable_then_enable(cli: Relink, alpha: str) -> None:
    disabled = cli.run("institutions", "disable", alpha)
    assert disabled.stdout.startswith(f"disabled: {alpha}")
    rows = json.loads(cli.run("institutions", "list", "--json").stdout)
    assert [row["disabled"] for row in rows if row["id"] == alpha] == [True]
    assert cli.run("institutions", "enable", alpha).stdout.startswith(f"enabled: {alpha}")


def test_update_changes_the_name(cli: Relink, alpha: str) -> None:
    result = cli.run("institutions", "update", alpha, "--name", "Alpha Bank AG")
    assert result.stdout.startswith(f"updated: {alpha}"), result.stderr
    assert "Alpha Bank AG" in names(cli)
