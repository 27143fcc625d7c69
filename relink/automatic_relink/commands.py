"""``relink policy show|set``: a platform and mode's automatic relink policy in the shell.

The same service as ``/v1/relink_policy`` and the dashboard's settings
(:mod:`relink.automatic_relink.service`): the same limits, the same refusals, and
``--json`` prints the API's own ``relink_policy`` object. Imports stay inside the
commands (relink/cli.py: start-up).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from relink.automatic_relink.service import Policy, PolicyChanges, PolicyInvalid
    from relink.tenancy import Scope

policy_app = typer.Typer(help="Automatic relink's policy.", no_args_is_help=True)

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

MODES = ("test", "live")
# Each setting's option, for the error that names the one refused.
OPTIONS = {
    "delay_seconds": "--delay-seconds",
    "reminder_days": "--reminder-days",
    "expiry_reminder_days": "--expiry-reminder-days",
    "max_emails_per_account": "--max-emails-per-account",
}

PlatformOption = Annotated[str, typer.Option(help="Platform id (acct_…).")]
ModeOption = Annotated[str, typer.Option(help="test or live.")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the API's relink_policy object as JSON.")
]


class CommandError(Exception):
    """A bad input or state; shown as one line."""


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code=1)


def _refused(error: PolicyInvalid) -> typer.Exit:
    """The service's own words for a refused value, with the option that gave it."""
    param = error.param or ""
    option = OPTIONS.get(param.split("[")[0], param)
    return _fail(f"{option}: {error.message} Nothing was changed.")


def _run(platform: str, mode: str, changes: PolicyChanges | None) -> tuple[Scope, Policy]:
    """The scope's policy, after ``changes`` if any (one transaction: refused, unchanged)."""
    from relink.automatic_relink.service import PolicyInvalid, change_policy, policy_of
    from relink.config import load_settings
    from relink.models import Platform
    from relink.runtime import Runtime
    from relink.tenancy import load_platform_scope

    if mode not in MODES:
        raise _fail(f"--mode must be one of test, live (got {mode!r})")
    runtime = Runtime.from_settings(load_settings())
    try:
        with runtime.database.unit_of_work() as db:
            if db.get(Platform, platform) is None:
                raise CommandError(f"no such platform: {platform}")
            scope = load_platform_scope(db, platform, mode == "live")
            if changes is None:
                return scope, policy_of(db, scope)
            return scope, change_policy(db, scope, changes)
    except CommandError as error:
        raise _fail(str(error)) from None
    except PolicyInvalid as error:
        raise _refused(error) from None
    finally:
        runtime.database.engine.dispose()


def _print(scope: Scope, policy: Policy, as_json: bool) -> None:
    from relink.automatic_relink.schemas import render_policy
    from relink.automatic_relink.words import duration_words, policy_words

    if as_json:
        sys.stdout.write(json.dumps(render_policy(scope, policy)) + "\n")
        return
    words = policy_words(policy)
    mode = "live" if scope.livemode else "test"
    table = Table(title=f"Automatic relink policy of {scope.platform_id} ({mode} mode)")
    table.add_column("Setting")
    table.add_column("Value")
    table.add_column("In words")
    days = ", ".join
    table.add_row("enabled", "on" if policy.enabled else "off", words.state)
    table.add_row(
        "delay_seconds",
        f"{policy.delay_seconds} ({duration_words(policy.delay_seconds)})",
        words.delay,
    )
    table.add_row("reminder_days", days(map(str, policy.reminder_days)) or "none", words.reminders)
    table.add_row(
        "expiry_reminder_days",
        days(map(str, policy.expiry_reminder_days)) or "none",
        words.expiry_reminders,
    )
    table.add_row("max_emails_per_account", str(policy.max_emails_per_account), words.cap)
    changed = policy.updated_at.isoformat(timespec="seconds") if policy.updated_at else "never"
    table.add_row("updated", changed, "")
    console.print(table)


@policy_app.command("show")
def show(platform: PlatformOption, mode: ModeOption, as_json: JsonOption = False) -> None:
    """The platform and mode's automatic relink policy (off, with the defaults, until set)."""
    scope, policy = _run(platform, mode, None)
    _print(scope, policy, as_json)


@policy_app.command("set")
def set_policy(
    platform: PlatformOption,
    mode: ModeOption,
    enabled: Annotated[
        bool | None,
        typer.Option("--enabled/--disabled", help="Turn automatic relink on or off."),
    ] = None,
    delay_seconds: Annotated[
        int | None,
        typer.Option(help="Seconds an account stays eligible before it is requested."),
    ] = None,
    reminder_days: Annotated[
        str | None,
        typer.Option(
            help='Days after the first email to remind a pending holder, like 3,7 ("" for none).'
        ),
    ] = None,
    expiry_reminder_days: Annotated[
        str | None,
        typer.Option(
            help='Days before a TAN or consent expiry to remind, like 14,7,1 ("" for none).'
        ),
    ] = None,
    max_emails_per_account: Annotated[
        int | None,
        typer.Option(help="The most emails (request and reminders) one account's holder gets."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change the platform and mode's automatic relink policy; the settings not given stay
    as they are, and a bad value changes nothing."""
    from relink.automatic_relink.service import PolicyChanges, PolicyInvalid, days_of_text

    try:
        changes = PolicyChanges(
            enabled=enabled,
            delay_seconds=delay_seconds,
            reminder_days=(
                None if reminder_days is None else days_of_text("reminder_days", reminder_days)
            ),
            expiry_reminder_days=(
                None
                if expiry_reminder_days is None
                else days_of_text("expiry_reminder_days", expiry_reminder_days)
            ),
            max_emails_per_account=max_emails_per_account,
        )
    except PolicyInvalid as error:
        raise _refused(error) from None
    if changes == PolicyChanges():
        raise _fail(
            "nothing to change: give --enabled or --disabled, --delay-seconds, "
            "--reminder-days, --expiry-reminder-days or --max-emails-per-account"
        )
    scope, policy = _run(platform, mode, changes)
    _print(scope, policy, as_json)
