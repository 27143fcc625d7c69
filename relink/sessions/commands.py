"""``relink report outreach``: the outreach report's figures as tables in the shell
(the same :func:`relink.sessions.report.outreach_report` as the dashboard's page)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from relink.sessions.report import GroupFigures, OutreachReport

report_app = typer.Typer(help="Reports.", no_args_is_help=True)

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

MODES = ("test", "live")
DEFAULT_DAYS = 30


class CommandError(Exception):
    """A bad input or state; shown as one line."""


@report_app.command("outreach")
def outreach(
    platform: Annotated[str, typer.Option(help="Platform id (acct_…).")],
    mode: Annotated[str, typer.Option(help="test or live.")],
    since: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD; default: 30 days ago).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day (YYYY-MM-DD; default: today).")
    ] = None,
    by: Annotated[str, typer.Option(help="Group the funnel by day, week or month.")] = "day",
) -> None:
    """The funnel over time, repair rate and median time to repair by institution and by
    reason, and emails per repaired account, for the requests created in the period."""
    from sqlalchemy.exc import SQLAlchemyError

    from relink.config import load_settings
    from relink.models import Platform
    from relink.runtime import Runtime
    from relink.sessions.report import Period, PeriodInvalid, outreach_report
    from relink.sessions.rollup import refresh_days
    from relink.tenancy import load_platform_scope

    try:
        if mode not in MODES:
            raise CommandError(f"--mode must be one of test, live (got {mode!r})")
        runtime = Runtime.from_settings(load_settings())
        with runtime.database.unit_of_work() as db:
            if db.get(Platform, platform) is None:
                raise CommandError(f"no such platform: {platform}")
            scope = load_platform_scope(db, platform, mode == "live")
            today = scope.now().date()
            try:
                first = (
                    dt.date.fromisoformat(since)
                    if since
                    else today - dt.timedelta(DEFAULT_DAYS - 1)
                )
                last = dt.date.fromisoformat(until) if until else today
            except ValueError:
                raise CommandError("--since and --until must be dates (YYYY-MM-DD)") from None
            period = Period.of(first, last, by)
            # The period's rollup rows recomputed first: the command's figures are fresh.
            refresh_days(db, scope, period.first_day, period.last_day)
            report = outreach_report(db, scope, period)
    except (CommandError, PeriodInvalid, SQLAlchemyError) as error:
        first_line = (str(error).strip().splitlines() or ["failed"])[0]
        errors.print(f"[red]error:[/red] {escape(first_line)}", highlight=False)
        raise typer.Exit(code=1) from None
    _print(report, mode)


def _print(report: OutreachReport, mode: str) -> None:
    from relink.sessions.report import STEPS, duration_words

    period = report.period
    console.print(
        f"Outreach report ({mode} mode): requests created {period.first_day} to "
        f"{period.last_day}, by {period.grain.value}",
        highlight=False,
    )
    funnel = Table(title="Funnel over time")
    funnel.add_column("From")
    for _, name in STEPS:
        funnel.add_column(name, justify="right")
    for point in report.funnel:
        funnel.add_row(point.start.isoformat(), *(f"{point.counts[k]:,}" for k, _ in STEPS))
    funnel.add_row("Total", *(f"{report.totals[k]:,}" for k, _ in STEPS), style="bold")
    console.print(funnel)
    for title, heading, groups in (
        ("By institution", "Institution", report.by_institution),
        ("By reason", "Reason", report.by_reason),
    ):
        console.print(_groups_table(title, heading, groups))
    per_account = report.emails_per_repaired_account
    summary = Table(title="Summary", show_header=False)
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    summary.add_row("Requested", f"{report.requested:,}")
    summary.add_row("Repaired", f"{report.repaired:,}")
    summary.add_row("Repair rate", _percent(report.repair_rate))
    summary.add_row("Median time to repair", duration_words(report.median_seconds))
    summary.add_row("Emails sent", f"{report.emails_sent:,}")
    summary.add_row("Repaired accounts", f"{report.repaired_accounts:,}")
    summary.add_row(
        "Emails per repaired account", f"{per_account:.1f}" if per_account is not None else "—"
    )
    console.print(summary)


def _groups_table(title: str, heading: str, groups: list[GroupFigures]) -> Table:
    from relink.sessions.report import duration_words as words

    table = Table(title=title)
    table.add_column(heading)
    for name in ("Requested", "Repaired", "Repair rate", "Median time to repair"):
        table.add_column(name, justify="right")
    for g in groups:
        table.add_row(
            escape(g.name),
            f"{g.requested:,}",
            f"{g.repaired:,}",
            _percent(g.repair_rate),
            words(g.median_seconds),
        )
    if not groups:
        table.add_row("No requests in this period.", "", "", "", "")
    return table


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"
