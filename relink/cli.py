"""The ``relink`` command line.

Start-up is part of the interface: this module and the command modules it registers
import only typer and rich at the top, and each command imports what it needs when it
runs, so that ``relink --help`` or a dry run does not pay for the web app, the
connectors or the ORM it does not use (tests/test_cli_imports.py holds it).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from relink.automatic_relink.commands import policy_app
from relink.bulk_requests.commands import relink_app
from relink.bulk_requests.commands import request as request_relink
from relink.email_commands import bounces_app, dkim_app
from relink.institutions.commands import institutions_app
from relink.sessions.commands import report_app

if TYPE_CHECKING:
    from relink.config import Settings
    from relink.runtime import Runtime

app = typer.Typer(
    help="Relink: self-hosted bank connections with hosted relink.", no_args_is_help=True
)
platforms_app = typer.Typer(help="Manage platforms.", no_args_is_help=True)
users_app = typer.Typer(help="Manage team users.", no_args_is_help=True)
app.add_typer(platforms_app, name="platforms")
app.add_typer(users_app, name="users")
app.command("request-relink")(request_relink)
# The first spelling, `relink relink request`, stays as a hidden alias.
app.add_typer(relink_app, name="relink", hidden=True)
app.add_typer(institutions_app, name="institutions")
app.add_typer(report_app, name="report")
app.add_typer(policy_app, name="policy")
app.add_typer(dkim_app, name="dkim")
app.add_typer(bounces_app, name="bounces")

# Soft wrap: long lines (keys, curl commands, error messages) stay one line when piped.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code=1)


def _runtime() -> Runtime:
    from relink.config import load_settings
    from relink.runtime import Runtime

    return Runtime.from_settings(load_settings())


def _runtime_on_usable_database(settings: Settings) -> Runtime:
    """A long-running process starts only on a reachable, migrated database."""
    from relink.migrate import database_problem, sqlite_file_missing
    from relink.runtime import Runtime

    if sqlite_file_missing(settings.database_url):  # before opening creates an empty one
        raise fail(f"no database at {settings.database_url}: run `relink migrate` first")
    runtime = Runtime.from_settings(settings)
    problem = database_problem(runtime.database.engine)
    if problem:
        runtime.database.engine.dispose()
        raise fail(problem)
    return runtime


MAX_PORT = 65535


@app.command()
def migrate() -> None:
    """Apply database migrations to RELINK_DATABASE_URL and register institutions."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from relink.config import load_settings
    from relink.institutions.service import register_institutions
    from relink.migrate import upgrade
    from relink.runtime import Runtime

    settings = load_settings()
    try:
        upgrade(settings.database_url)
        runtime = Runtime.from_settings(settings)
        with runtime.database.unit_of_work() as session:
            register_institutions(session)
    except OperationalError as error:
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        reason = str(error.orig).strip().splitlines()[0] if error.orig else "unreachable"
        raise fail(f"cannot migrate {where}: {reason}") from None
    console.print("Database is up to date.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Web worker processes.")] = 1,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run the outbox worker in-process.")
    ] = False,
) -> None:
    """Serve the dashboard, API, hosted pages and sandbox bank."""
    import os

    import uvicorn

    from relink.config import load_settings
    from relink.production import check_production_settings

    if not 1 <= port <= MAX_PORT:
        raise fail(f"--port must be between 1 and {MAX_PORT} (got {port})")
    if workers < 1:
        raise fail(f"--workers must be at least 1 (got {workers})")
    settings = load_settings()
    problem = check_production_settings(settings)
    if problem:
        raise fail(problem)
    _runtime_on_usable_database(settings).database.engine.dispose()
    if no_worker or workers > 1:
        # With several web processes, run workers separately (`relink worker`).
        os.environ["RELINK_IN_PROCESS_WORKER"] = "false"
    uvicorn.run(
        "relink.app:asgi_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        # Forwarding headers are read by the app, from RELINK_TRUSTED_PROXIES only
        # (uvicorn's own default would believe any process on 127.0.0.1).
        proxy_headers=False,
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Rows claimed per batch.")] = 200,
) -> None:
    """Drain the outbox and run scheduled scans until stopped (SIGTERM/SIGINT)."""
    import signal

    from relink.config import load_settings
    from relink.kit.heap import freeze_startup_heap
    from relink.kit.logs import configure_logging
    from relink.production import check_production_settings
    from relink.worker import Worker

    if concurrency < 1:
        raise fail(f"--concurrency must be at least 1 (got {concurrency})")
    settings = load_settings()
    problem = check_production_settings(settings)
    if problem:
        raise fail(problem)
    configure_logging(json_lines=settings.env == "production")
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    runner = Worker(_runtime_on_usable_database(settings), batch_size=concurrency)
    freeze_startup_heap()
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    signal.signal(signal.SIGINT, lambda *_: runner.stop())
    runner.run_forever()


@app.command("sandbox-bank")
def sandbox_bank(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8001,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    database_url: Annotated[
        str | None, typer.Option(help="The bank's own database (default: var/sandbox_bank.db).")
    ] = None,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            help="Where the built-in sandbox client may return (repeatable; default: "
            "RELINK_PUBLIC_URL's OAuth callback)."
        ),
    ] = None,
    tls_cert: Annotated[
        str | None, typer.Option(help="Serve HTTPS with this certificate (PEM file).")
    ] = None,
    tls_key: Annotated[str | None, typer.Option(help="The certificate's key (PEM file).")] = None,
    client_ca: Annotated[
        str | None,
        typer.Option(help="Require client certificates signed by this CA (PEM): mutual TLS."),
    ] = None,
    pages_port: Annotated[
        int | None,
        typer.Option(help="Also listen here, without client certificates, for browsers."),
    ] = None,
) -> None:
    """Run the sandbox bank alone (for the oauth2 and nextgenpsd2 connectors or a separate
    deployment); with --tls-cert/--tls-key over HTTPS, and with --client-ca as an ASPSP
    that refuses a TPP without a certificate its CA signed."""
    from relink.config import load_settings
    from relink.hosted.flow import CALLBACK_PATH
    from relink.sandbox_bank import TlsFiles, run

    if (tls_cert is None) != (tls_key is None) or (client_ca is not None and tls_cert is None):
        raise fail("--tls-cert and --tls-key go together; --client-ca needs them.")
    tls = TlsFiles(tls_cert, tls_key, client_ca) if tls_cert and tls_key else None
    settings = load_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    run(
        port,
        host=host,
        database_url=database_url or settings.resolved_sandbox_bank_database_url,
        redirect_uris=redirect_uri or [settings.public_url.rstrip("/") + CALLBACK_PATH],
        tls=tls,
        pages_port=pages_port,
    )


@platforms_app.command("create")
def platforms_create(
    name: Annotated[str, typer.Option(help="The business's name.")],
    owner_email: Annotated[str, typer.Option(help="Email of the owner (confirmed).")],
    password: Annotated[
        str | None, typer.Option(help="Owner password (generated if omitted).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a platform with an owner and test/live secret keys."""
    from relink.platforms.service import PlatformError, create_platform

    runtime = _runtime()
    try:
        with runtime.database.unit_of_work() as session:
            created = create_platform(session, name, owner_email, password=password)
    except PlatformError as error:
        raise fail(str(error)) from None
    result = {
        "platform": created.platform.id,
        "test_secret_key": created.test_secret_key,
        "live_secret_key": created.live_secret_key,
        "owner_email": created.owner.email,
        "owner_password": created.owner_password,
    }
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    for key, value in result.items():
        console.print(f"{key}: {value}", highlight=False, markup=False)


@users_app.command("create")
def users_create(
    platform: Annotated[str, typer.Option(help="Platform id (acct_…).")],
    email: Annotated[str, typer.Option(help="The user's email.")],
    role: Annotated[str, typer.Option(help="owner, admin or viewer.")] = "viewer",
    password: Annotated[str | None, typer.Option(help="Password (generated if omitted).")] = None,
    confirmed: Annotated[bool, typer.Option(help="Mark the email address as confirmed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Add a team user to a platform."""
    from relink.models import Platform, Role
    from relink.platforms.service import PlatformError, create_user

    if role not in Role.__members__:
        raise fail(f"--role must be one of {', '.join(Role)} (got {role!r})")
    runtime = _runtime()
    try:
        with runtime.database.unit_of_work() as session:
            if session.get(Platform, platform) is None:
                raise PlatformError(f"no such platform: {platform}")
            user, plain = create_user(
                session, platform, email, Role(role), password=password, confirmed=confirmed
            )
    except PlatformError as error:
        raise fail(str(error)) from None
    result = {
        "user": user.id,
        "platform": platform,
        "email": user.email,
        "role": user.role,
        "password": plain,
    }
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    for key, value in result.items():
        console.print(f"{key}: {value}", highlight=False, markup=False)


@app.command()
def demo(
    public_url: Annotated[str | None, typer.Option(help="Base URL to print.")] = None,
    accounts: Annotated[
        int | None,
        typer.Option(help="Grow the sandbox book to this many accounts (load tests)."),
    ] = None,
) -> None:
    """Create the demo platform and its sandbox book once; print the login and test key."""
    from relink.config import load_settings
    from relink.demo import ensure_demo_platform
    from relink.runtime import Runtime

    settings = load_settings()
    runtime = Runtime.from_settings(settings)
    credentials = ensure_demo_platform(runtime)
    try:
        seed_demo_book(runtime, credentials["platform"], accounts)
    except (RuntimeError, ValueError) as error:
        raise fail(str(error)) from None
    base = public_url or settings.public_url
    console.print(f"\n[bold]Relink is starting at {base}[/bold]\n", highlight=False)
    console.print(f"  Platform:  {credentials['platform']}", highlight=False)
    console.print(
        f"  Login:     {credentials['owner_email']} / {credentials['owner_password']}",
        highlight=False,
    )
    console.print(f"  Test key:  {credentials['test_secret_key']}", highlight=False)
    console.print("\n  Try:", highlight=False)
    console.print(
        f'  1. curl "{base}/v1/financial_connections/institutions?limit=100"'
        f" -u {credentials['test_secret_key']}:",
        highlight=False,
    )
    console.print(
        f"  2. curl {base}/v1/customers -u {credentials['test_secret_key']}: -d email={credentials['owner_email']}",
        highlight=False,
    )
    console.print(f"  3. curl {base}/healthz\n", highlight=False)


def seed_demo_book(runtime: Runtime, platform_id: str, accounts: int | None) -> None:
    """``relink demo``'s book: build it (once, or up to ``accounts``) and say what it holds."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from relink.demo import (
        DEFAULT_BOOK_ACCOUNTS,
        DEMO_OWNER_EMAIL,
        OWNER_HOLDERS,
        ensure_demo_book,
    )

    target = DEFAULT_BOOK_ACCOUNTS if accounts is None else accounts
    if target < 0:
        raise ValueError("--accounts must not be negative")
    with Progress(
        TextColumn("Building the demo book"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=target <= 10_000,
    ) as bar:
        task = bar.add_task("book", total=None)
        summary = ensure_demo_book(
            runtime,
            platform_id,
            accounts=target,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    # The same lines on every run (make run prints them each time).
    console.print(
        f"Demo book: {summary.total:,} test-mode accounts across the sandbox institutions: "
        "active, inactive for each cause, TANs expiring soon or expired, disconnected, "
        "holders without email, and a few relink requests just sent.",
        highlight=False,
    )
    console.print(
        f"  {OWNER_HOLDERS} holders use {DEMO_OWNER_EMAIL}: test mode only emails confirmed "
        "team members, so their relink emails really go out (see the Mailbox); the other "
        "accounts show why they would be skipped.",
        highlight=False,
    )
    console.print(
        "  To relink one at the sandbox bank, sign in with any username and password (a "
        "username starting with 'other' plays a holder who signed in to a different login).",
        highlight=False,
    )


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except Exception as error:
        # Settings are loaded by the command that needs them: relink.config is imported
        # only then, and an InvalidSettings can only come from it once it is.
        config = sys.modules.get("relink.config")
        if config is None or not isinstance(error, config.InvalidSettings):
            raise
        errors.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        sys.exit(1)
