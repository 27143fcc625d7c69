"""``relink report outreach``: the outreach report's figures as tables, run as a real
subprocess against a SQLite file holding the seeded book (tests/sessions/report_book.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relink.institutions.service import register_institutions
from relink.runtime import Runtime
from tests.commands import Relink, migrated_sqlite, relink_in
from tests.conftest import make_platform
from tests.sessions.report_book import BOOK, EXPECTED, FIRST_DAY, LAST_DAY, OUTSIDE, seed


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Relink, str]:
    """The CLI on a database with the book at one platform, and at another one too."""
    home: Path = tmp_path_factory.mktemp("cli-report")
    cli = relink_in(home, tmp_path_factory)
    cli.env["COLUMNS"] = "200"
    migrated_sqlite(cli.database_url, tmp_path_factory)
    runtime = Runtime.from_settings(cli.settings())
    try:
        with runtime.database.unit_of_work() as db:
            register_institutions(db)
            platform = make_platform(db).platform.id
            other = make_platform(db, name="Other Lending").platform.id
        seed(runtime, platform, False, [*BOOK, OUTSIDE])
        seed(runtime, other, False, BOOK)
    finally:
        runtime.database.engine.dispose()
    return cli, platform


def _report(book: tuple[Relink, str], *args: str) -> str:
    cli, platform = book
    done = cli.run(
        "report",
        "outreach",
        "--platform",
        platform,
        "--mode",
        "test",
        "--since",
        FIRST_DAY.isoformat(),
        "--until",
        LAST_DAY.isoformat(),
        *args,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _cells(output: str, first: str) -> list[str]:
    """The cells of the table row that starts with ``first``."""
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if cells and cells[0] == first:
            return cells[1:]
    raise AssertionError(f"no row {first!r} in:\n{output}")


def test_the_funnel_by_week_and_its_totals_match_the_book(book: tuple[Relink, str]) -> None:
    output = _report(book, "--by", "week")
    for start, counts in EXPECTED["by_week"].items():
        assert _cells(output, start.isoformat()) == [str(n) for n in counts]
    assert _cells(output, "Total") == [str(n) for n in EXPECTED["totals"].values()]


def test_repairs_by_institution_and_reason_match_the_book(book: tuple[Relink, str]) -> None:
    output = _report(book)
    assert _cells(output, "Bank (Non-OAuth)") == ["3", "2", "67%", "2 h 0 min"]
    assert _cells(output, "Bank (OAuth)") == ["2", "1", "50%", "2 d 0 h"]
    assert _cells(output, "Consent expired") == ["3", "3", "100%", "3 h 0 min"]
    assert _cells(output, "Access revoked") == ["1", "0", "0%", "—"]
    assert _cells(output, "Emails per repaired account") == ["2.0"]
    assert _cells(output, "Median time to repair") == ["3 h 0 min"]


def test_a_bad_period_is_one_line_in_words_and_exit_1(book: tuple[Relink, str]) -> None:
    cli, platform = book
    done = cli.run(
        "report", "outreach", "--platform", platform, "--mode", "test", "--since", "2026-13-01"
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "error: --since and --until must be dates (YYYY-MM-DD)"
    backwards = cli.run(
        "report",
        "outreach",
        "--platform",
        platform,
        "--mode",
        "test",
        "--since",
        "2026-03-02",
        "--until",
        "2026-03-01",
    )
    assert backwards.stderr.strip() == "error: The period's end is before its start."


def test_an_unknown_platform_is_refused(book: tuple[Relink, str]) -> None:
    cli, _ = book
    done = cli.run("report", "outreach", "--platform", "acct_missing", "--mode", "test")
    assert (done.returncode, done.stderr.strip()) == (1, "error: no such platform: acct_missing")
