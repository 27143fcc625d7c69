"""Reports: the outreach report (what hosted relink requests achieved over a period)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from functools import partial

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from relink.dashboard.charts import number, outreach_charts, percent
from relink.dashboard.web import (
    Viewer,
    checked_viewer,
    current_viewer,
    form_data,
    page,
    redirect,
    safe_next,
    translated,
)
from relink.dashboard.wording import words_for
from relink.kit.i18n import N_
from relink.sessions.report import (
    STEPS,
    Grain,
    Period,
    PeriodInvalid,
    outreach_report,
)
from relink.sessions.rollup import refresh_scope

router = APIRouter()

DEFAULT_DAYS = 30


def _period(values: dict[str, str], today: dt.date) -> Period:
    """The period the filter form asks for; the last 30 days by day when it asks none."""
    since, until = values.get("since", "").strip(), values.get("until", "").strip()
    grain = values.get("by", "").strip() or Grain.day
    if not since and not until:
        return Period.of(today - dt.timedelta(days=DEFAULT_DAYS - 1), today, grain)
    try:
        first = dt.date.fromisoformat(since) if since else today - dt.timedelta(DEFAULT_DAYS - 1)
        last = dt.date.fromisoformat(until) if until else today
    except ValueError:
        raise PeriodInvalid("Dates must be given as YYYY-MM-DD.", problem="date") from None
    return Period.of(first, last, grain)


# A refused period in the user's words, by the rule it broke (PeriodInvalid.problem).
PERIOD_REFUSALS = {
    "date": N_("Dates must be given as YYYY-MM-DD."),
    "grain": N_("Group by must be day, week or month."),
    "order": N_("The period's end is before its start."),
    "length": N_("A report covers at most two years."),
}


@router.get("/reports/outreach")
def outreach(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    values = {key: request.query_params.get(key, "")[:20] for key in ("since", "until", "by")}
    today = viewer.scope.now().date()
    try:
        period = _period(values, today)
    except PeriodInvalid as invalid:
        return page(
            request,
            viewer,
            "report_outreach.html",
            {
                "error": translated(request, viewer, PERIOD_REFUSALS[invalid.problem]),
                "values": values,
                "grains": list(Grain),
            },
            status_code=400,
        )
    with viewer.runtime.database.read_only() as db:
        report = outreach_report(db, viewer.scope, period)
    locale = viewer.locale
    words = words_for(locale)
    report.by_reason = [
        replace(group, name=words.relink_reasons.get(group.key or "", group.name))
        for group in report.by_reason
    ]
    return page(
        request,
        viewer,
        "report_outreach.html",
        {
            "error": None,
            "report": report,
            "charts": outreach_charts(report, locale),
            "steps": [(kind, words.report_steps.get(kind, name)) for kind, name in STEPS],
            "values": {
                "since": period.first_day.isoformat(),
                "until": period.last_day.isoformat(),
                "by": period.grain.value,
            },
            "grains": list(Grain),
            "duration": words.duration,
            "percent": partial(percent, locale=locale),
            "number": partial(number, locale=locale),
        },
    )


@router.post("/reports/outreach/refresh")
def refresh(
    viewer: Viewer = Depends(checked_viewer), form: FormData = Depends(form_data)
) -> Response:
    """Bring the scope's rollup up to date now (what the worker does every five minutes),
    then back to the report as it was filtered."""
    with viewer.runtime.database.unit_of_work() as db:
        refresh_scope(db, viewer.scope)
    target = safe_next(str(form.get("next", "")))
    if not target.startswith("/reports/outreach"):
        target = "/reports/outreach"
    return redirect(target)
