"""``relink policy show|set``: automatic relink's policy from the shell, run as the real
console script against a SQLite file; what it changes is read back from the database."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from relink.automatic_relink.schemas import render_policy
from relink.automatic_relink.service import Policy, policy_of
from relink.institutions.service import register_institutions
from relink.runtime import Runtime
from relink.tenancy import load_platform_scope
from tests.commands import Relink, migrated_sqlite, relink_in
from tests.conftest import make_platform


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Relink:
    cli = relink_in(tmp_path_factory.mktemp("cli-policy"), tmp_path_factory)
    cli.env["COLUMNS"] = "200"
    migrated_sqlite(cli.database_url, tmp_path_factory)
    return cli


@pytest.fixture(scope="module")
def runtime(cli: Relink) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(cli.settings())
    with runtime.database.unit_of_work() as db:
        register_institutions(db)
    yield runtime
    runtime.database.engine.dispose()


@pytest.fixture
def platform(runtime: Runtime) -> str:
    """A new platform for each test: each test's policies start off, with the defaults."""
    with runtime.database.unit_of_work() as db:
        return make_platform(db).platform.id


def _policy(runtime: Runtime, platform: str, mode: str) -> Policy:
    with runtime.database.read_only() as db:
        return policy_of(db, load_platform_scope(db, platform, mode == "live"))


def _json(cli: Relink, *args: str) -> dict[str, object]:
    done = cli.run("policy", *args, "--json")
    assert done.returncode == 0, done.stderr
    loaded: dict[str, object] = json.loads(done.stdout)
    return loaded


def test_show_prints_the_policy_as_a_table_in_words(cli: Relink, platform: str) -> None:
    done = cli.run("policy", "show", "--platform", platform, "--mode", "test")
    assert done.returncode == 0, done.stderr
    assert f"Automatic relink policy of {platform} (test mode)" in done.stdout
    for line in (
        "Automatic relink is off",
        "14400 (4 hours)",
        "Requests go out 4 hours after an account breaks.",
        "Reminders 3 and 7 days after the first email",
        "Reminders 14, 7 and 1 days before a TAN or consent expires",
        "At most 6 emails per account",
        "never",
    ):
        assert line in done.stdout


def test_show_json_is_the_apis_relink_policy_object(
    cli: Relink, runtime: Runtime, platform: str
) -> None:
    shown = _json(cli, "show", "--platform", platform, "--mode", "live")
    with runtime.database.read_only() as db:
        scope = load_platform_scope(db, platform, True)
        assert shown == render_policy(scope, policy_of(db, scope))
    assert shown["object"] == "relink_policy" and shown["livemode"] is True
    assert shown["enabled"] is False and shown["updated"] is None


def test_set_changes_the_given_settings_of_that_platform_and_mode_only(
    cli: Relink, runtime: Runtime, platform: str
) -> None:
    with runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending").platform.id
    saved = _json(
        cli,
        "set",
        "--platform",
        platform,
        "--mode",
        "live",
        "--enabled",
        "--delay-seconds",
        "5400",
        "--reminder-days",
        "7, 2",
        "--expiry-reminder-days",
        "1,10",
        "--max-emails-per-account",
        "4",
    )
    assert {k: saved[k] for k in ("livemode", "enabled", "delay_seconds")} == {
        "livemode": True,
        "enabled": True,
        "delay_seconds": 5400,
    }
    assert (saved["reminder_days"], saved["expiry_reminder_days"]) == ([2, 7], [10, 1])
    live = _policy(runtime, platform, "live")
    assert (live.enabled, live.delay_seconds, live.max_emails_per_account) == (True, 5400, 4)
    assert _policy(runtime, platform, "test") == Policy()
    assert _policy(runtime, other, "live") == Policy()
    # Only what is given changes: the rest stays as set.
    again = _json(cli, "set", "--platform", platform, "--mode", "live", "--disabled")
    assert (again["enabled"], again["delay_seconds"], again["reminder_days"]) == (
        False,
        5400,
        [2, 7],
    )


def test_an_empty_day_list_means_no_reminders(cli: Relink, runtime: Runtime, platform: str) -> None:
    done = cli.run("policy", "set", "--platform", platform, "--mode", "test", "--reminder-days", "")
    assert done.returncode == 0, done.stderr
    assert "No reminders after the first email." in done.stdout
    assert _policy(runtime, platform, "test").reminder_days == ()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--delay-seconds",
            "-1",
            "--delay-seconds: delay_seconds must be a whole number of "
            "seconds between 0 and 2592000.",
        ),
        (
            "--reminder-days",
            "3,x",
            "--reminder-days: reminder_days must be whole numbers of days separated by commas",
        ),
        (
            "--reminder-days",
            "3,31",
            "--reminder-days: reminder_days[1] must be a whole number of days between 1 and 30.",
        ),
        ("--reminder-days", "1,2,3,4,5,6", "--reminder-days: reminder_days can list at most 5"),
        (
            "--expiry-reminder-days",
            "7,7",
            "--expiry-reminder-days: expiry_reminder_days lists a day twice.",
        ),
        (
            "--max-emails-per-account",
            "0",
            "--max-emails-per-account: max_emails_per_account "
            "must be a whole number between 1 and 20.",
        ),
    ],
    ids=lambda value: value if value.startswith("--") else "",
)
def test_a_bad_value_is_refused_and_changes_nothing(
    cli: Relink, runtime: Runtime, platform: str, option: str, value: str, message: str
) -> None:
    done = cli.run(
        "policy", "set", "--platform", platform, "--mode", "test", "--enabled", option, value
    )
    assert done.returncode == 1
    assert message in done.stderr and "Nothing was changed." in done.stderr
    assert done.stdout == ""
    assert _policy(runtime, platform, "test") == Policy()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "staging", "--enabled"], "--mode must be one of test, live (got 'staging')"),
        (["--mode", "test"], "nothing to change: give --enabled or --disabled"),
    ],
    ids=["mode", "nothing"],
)
def test_a_bad_mode_or_no_change_is_an_error(
    cli: Relink, runtime: Runtime, platform: str, args: list[str], message: str
) -> None:
    done = cli.run("policy", "set", "--platform", platform, *args)
    assert done.returncode == 1
    assert message in done.stderr
    assert _policy(runtime, platform, "test") == Policy()


def test_an_unknown_platform_is_an_error(cli: Relink, runtime: Runtime) -> None:
    done = cli.run("policy", "show", "--platform", "acct_missing", "--mode", "test")
    assert done.returncode == 1
    assert "no such platform: acct_missing" in done.stderr
