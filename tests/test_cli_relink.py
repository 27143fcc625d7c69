"""``relink request-relink``: a bulk hosted relink request from the shell, run as a real
subprocess against a SQLite file holding the demo book."""

from __future__ import annotations

import re
import subprocess

import pytest
from sqlalchemy import func, select

from relink.accounts.filters import AccountFilter, filtered_accounts
from relink.bulk_requests.commands import CLI_ACTOR
from relink.bulk_requests.preview import preview_bulk_request
from relink.models import Session
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.commands import Book, demo_book


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    return demo_book(tmp_path_factory.mktemp("cli-relink"), tmp_path_factory)


def _cli_sessions(book: Book) -> int:
    runtime = Runtime.from_settings(book.cli.settings())
    try:
        with runtime.database.read_only() as db:
            return int(
                db.scalar(
                    select(func.count())
                    .select_from(Session)
                    .where(Session.platform_id == book.platform, Session.created_by == CLI_ACTOR)
                )
                or 0
            )
    finally:
        runtime.database.engine.dispose()


def _preview(book: Book, account_filter: AccountFilter) -> tuple[int, int, dict[str, int]]:
    runtime = Runtime.from_settings(book.cli.settings())
    try:
        scope = Scope(book.platform, False)
        with runtime.database.read_only() as db:
            now = scope.now()
            preview = preview_bulk_request(
                db, scope, now, filtered_accounts(scope, now, account_filter)
            )
        return preview.selected, preview.eligible, preview.skipped
    finally:
        runtime.database.engine.dispose()


def _request(book: Book, *args: str) -> subprocess.CompletedProcess[str]:
    return book.cli.run("request-relink", "--platform", book.platform, "--mode", "test", *args)


def _skipped_lines(stdout: str) -> dict[str, int]:
    return {
        code: int(count) for code, count in re.findall(r"^  ([a-z_]+)\s+([\d,]+)", stdout, re.M)
    }


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")


def test_dry_run_prints_the_preview_and_requests_nothing(book: Book) -> None:
    selected, eligible, skipped = _preview(book, AccountFilter(status="inactive"))
    result = _request(book, "--status", "inactive", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"{selected:,} accounts match; {eligible:,} would get a relink email" in result.stdout
    assert _skipped_lines(result.stdout) == skipped
    assert _cli_sessions(book) == 0


def test_request_creates_a_session_per_eligible_account_and_prints_skips(book: Book) -> None:
    selected, eligible, skipped = _preview(book, AccountFilter(tan_expiring=True))
    assert eligible > 0
    before = _cli_sessions(book)
    result = _request(book, "--tan-expiring")
    assert result.returncode == 0, result.stderr
    assert f"{eligible:,} emails queued; {selected - eligible:,} accounts skipped" in result.stdout
    assert _skipped_lines(result.stdout) == skipped
    assert _cli_sessions(book) == before + eligible


def test_unknown_platform_is_a_one_line_error(book: Book) -> None:
    result = book.cli.run("request-relink", "--platform", "acct_missing", "--mode", "test")
    assert_one_line_error(result)
    assert "no such platform" in result.stderr


def test_unknown_status_is_a_one_line_error(book: Book) -> None:
    assert_one_line_error(_request(book, "--status", "broken"))


def test_the_first_spelling_relink_relink_request_is_the_same_command(book: Book) -> None:
    selected, eligible, _ = _preview(book, AccountFilter(status="inactive"))
    before = _cli_sessions(book)
    alias = book.cli.run(
        "relink",
        "request",
        "--platform",
        book.platform,
        "--mode",
        "test",
        "--status",
        "inactive",
        "--dry-run",
    )
    assert alias.returncode == 0, alias.stderr
    assert alias.stdout == _request(book, "--status", "inactive", "--dry-run").stdout
    assert f"{selected:,} accounts match; {eligible:,} would get a relink email" in alias.stdout
    assert _cli_sessions(book) == before


def test_help_names_request_relink_and_hides_the_old_spelling(book: Book) -> None:
    result = book.cli.run("--help")
    assert result.returncode == 0, result.stderr
    assert "request-relink" in result.stdout
    assert not re.search(r"^\W*relink\s", result.stdout, re.M)
