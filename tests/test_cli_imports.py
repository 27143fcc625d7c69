"""What the ``relink`` command imports before it does anything (relink/cli.py: start-up).

Start-up time is what a command imports: ``relink --help`` needs only typer and rich, and
a dry run of ``relink request-relink`` needs the settings, the database and the eligibility
rules, never the web app, the connectors or the email and webhook machinery. Each case
runs the console entry point in a fresh interpreter and lists the modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.commands import Book, Relink, demo_book, relink_in

# Modules no command should pay for unless it uses them.
WEB = ("fastapi", "starlette", "uvicorn", "jinja2", "httpx", "authlib", "prometheus_client")
RELINK_MACHINERY = (
    "relink.app",
    "relink.connectors",
    "relink.sandbox_bank",
    "relink.sessions.service",
    "relink.webhooks.service",
    "relink.outbox.handlers",
    "relink.email",
    "relink.bulk_requests.service",
)
# (Not pydantic: typer itself imports it to build a sub-command.)
STORAGE = ("sqlalchemy", "pydantic_settings", "cryptography", "relink.models", "relink.config")

PROBE = """
import json, sys
args, watched = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
sys.argv = ["relink", *args]
from relink.cli import app
try:
    app()
except SystemExit:
    pass
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {"relink", *watched})), file=sys.stderr)
"""


def loaded_modules(cli: Relink, *args: str) -> set[str]:
    watched = sorted({name.split(".")[0] for name in WEB + STORAGE})
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args)), json.dumps(watched)],
        env=cli.env,
        cwd=cli.home,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def imported(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(
        prefix
        for prefix in prefixes
        if any(name == prefix or name.startswith(prefix + ".") for name in modules)
    )


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Relink:
    return relink_in(tmp_path_factory.mktemp("cli-imports"), tmp_path_factory)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["request-relink", "--help"],
        ["institutions", "--help"],
        ["users", "--help"],
        ["policy", "--help"],
    ],
    ids=" ".join,
)
def test_help_imports_neither_storage_nor_the_web_side(cli: Relink, args: list[str]) -> None:
    modules = loaded_modules(cli, *args)
    assert imported(modules, WEB + STORAGE + RELINK_MACHINERY) == []


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    return demo_book(tmp_path_factory.mktemp("cli-imports-book"), tmp_path_factory)


def test_a_dry_run_imports_the_eligibility_rules_but_not_the_machinery(book: Book) -> None:
    modules = loaded_modules(
        book.cli, "request-relink", "--platform", book.platform, "--mode", "test", "--dry-run"
    )
    assert "relink.bulk_requests.preview" in modules  # it did run the preview
    assert imported(modules, WEB + RELINK_MACHINERY) == []
