"""``relink request-relink``: a bulk hosted relink request from the shell.

Shares :func:`relink.bulk_requests.service.request_relinks` with the dashboard's job; the whole
request is one transaction (it commits at the end), with a progress bar per batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from relink.bulk_requests.limits import DEFAULT_BATCH_SIZE

if TYPE_CHECKING:  # imported by the command when it runs (relink/cli.py: start-up)
    from rich.table import Table

    from relink.accounts.filters import AccountFilter
    from relink.runtime import Runtime
    from relink.tenancy import Scope

relink_app = typer.Typer(help="Hosted relink requests.", no_args_is_help=True)

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

MODES = ("test", "live")
CLI_ACTOR = "cli"


class CommandError(Exception):
    """A bad input or state; shown as one line."""


def _fail(message: str) -> typer.Exit:
    first_line = (message.strip().splitlines() or ["failed"])[0]
    errors.print(f"[red]error:[/red] {escape(first_line)}", highlight=False)
    return typer.Exit(code=1)


def _choice(name: str, value: str | None, allowed: list[str]) -> str | None:
    if value is not None and value not in allowed:
        raise CommandError(f"--{name} must be one of {', '.join(allowed)} (got {value!r})")
    return value


def _skipped_table(skipped: dict[str, int]) -> Table:
    from rich.table import Table

    from relink.eligibility.rules import MESSAGES, Reason

    table = Table(box=None, show_header=False, pad_edge=False)
    for code, count in sorted(skipped.items(), key=lambda item: (-item[1], item[0])):
        message = MESSAGES.get(Reason(code), "") if code in Reason.__members__ else ""
        table.add_row(f"  {code}", f"{count:,}", message)
    return table


@relink_app.command("request")
def request(
    platform: Annotated[str, typer.Option(help="Platform id (acct_…).")],
    mode: Annotated[str, typer.Option(help="test or live.")],
    status: Annotated[str | None, typer.Option(help="Account status.")] = None,
    cause: Annotated[str | None, typer.Option(help="Inactive cause.")] = None,
    eligible: Annotated[bool, typer.Option("--eligible", help="Only eligible accounts.")] = False,
    tan_expiring: Annotated[
        bool, typer.Option("--tan-expiring", help="A TAN expires within 30 days or expired.")
    ] = False,
    institution: Annotated[str | None, typer.Option(help="Institution id (fcinst_…).")] = None,
    holder: Annotated[str | None, typer.Option(help="Account holder (cus_… or acct_…).")] = None,
    search: Annotated[
        str | None, typer.Option(help="Account id, holder email or name, or last4.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be sent.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Accounts per batch.")] = DEFAULT_BATCH_SIZE,
) -> None:
    """Request a hosted relink (one email each) for the matching eligible accounts."""
    from sqlalchemy.exc import SQLAlchemyError

    from relink.accounts.filters import AccountFilter
    from relink.config import load_settings
    from relink.kit.errors import ApiError
    from relink.models import ConnectionStatus, InactiveCause
    from relink.runtime import Runtime

    try:
        _choice("mode", mode, list(MODES))
        account_filter = AccountFilter(
            status=_choice("status", status, [s.value for s in ConnectionStatus]),
            cause=_choice("cause", cause, [c.value for c in InactiveCause]),
            eligible=eligible,
            tan_expiring=tan_expiring,
            institution=institution,
            holder=holder,
            search=search,
        )
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        runtime = Runtime.from_settings(load_settings())
        _run(runtime, platform, mode == "live", account_filter, dry_run, batch_size)
    except (CommandError, ApiError, SQLAlchemyError, ValueError) as error:
        raise _fail(str(error)) from None


def _scope(runtime: Runtime, platform_id: str, livemode: bool) -> Scope:
    from relink.models import Platform
    from relink.tenancy import load_platform_scope

    with runtime.database.read_only() as db:
        if db.get(Platform, platform_id) is None:
            raise CommandError(f"no such platform: {platform_id}")
        return load_platform_scope(db, platform_id, livemode)


def _run(
    runtime: Runtime,
    platform_id: str,
    livemode: bool,
    account_filter: AccountFilter,
    dry_run: bool,
    batch_size: int,
) -> None:
    from relink.accounts.filters import filtered_accounts

    scope = _scope(runtime, platform_id, livemode)
    now = scope.now()
    accounts = filtered_accounts(scope, now, account_filter)
    mode = "live" if livemode else "test"
    if dry_run:
        from relink.bulk_requests.preview import preview_bulk_request

        with runtime.database.read_only() as db:
            preview = preview_bulk_request(db, scope, now, accounts)
        console.print(
            f"Dry run ({mode} mode): {preview.selected:,} accounts match; "
            f"{preview.eligible:,} would get a relink email; "
            f"{sum(preview.skipped.values()):,} would be skipped.",
            highlight=False,
        )
        if preview.skipped:
            console.print("Skipped, by reason:", highlight=False)
            console.print(_skipped_table(preview.skipped))
        return

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from relink.bulk_requests.service import request_relinks

    with Progress(
        TextColumn("Requesting relinks"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("request", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        with runtime.database.unit_of_work() as db:
            result = request_relinks(
                db,
                scope,
                runtime,
                accounts,
                actor=CLI_ACTOR,
                batch_size=batch_size,
                progress=progress,
            )
    console.print(
        f"Requested relinks ({mode} mode): {result.created:,} emails queued; "
        f"{sum(result.skipped.values()):,} accounts skipped.",
        highlight=False,
    )
    if result.skipped:
        console.print("Skipped, by reason:", highlight=False)
        console.print(_skipped_table(result.skipped))
    if not livemode and result.created:
        console.print(
            "Test mode: emails go only to holders whose address is a confirmed team "
            "member's; the worker (relink serve / relink worker) sends them.",
            highlight=False,
        )
