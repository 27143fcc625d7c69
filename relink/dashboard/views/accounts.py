"""Financial Connections → Accounts: the list, bulk Request relink, one account's page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session as DbSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from relink.accounts.filters import (
    AccountFilter,
    AccountSort,
    InvalidFilter,
    filtered_accounts,
)
from relink.bulk_requests.preview import SKIP_MESSAGES
from relink.bulk_requests.service import enqueue_bulk_request, job_of_submission, job_progress
from relink.dashboard import queries
from relink.dashboard import selection as selection_store
from relink.dashboard.export import export_csv
from relink.dashboard.relink_requests import (
    MAX_CHECKED,
    Selection,
    SkippedGroup,
    confirmation,
    refusal_reasons,
    request_relink,
    skipped_accounts,
)
from relink.dashboard.selection import AccountSelection
from relink.dashboard.web import (
    NotFound,
    Viewer,
    current_viewer,
    editor,
    form_data,
    page,
    redirect,
    translated,
)
from relink.dashboard.wording import words_for
from relink.eligibility.rules import Reason
from relink.email.opt_outs import opt_out_of
from relink.email.preview import html_for_browser, preview_relink_email
from relink.kit.crypto import random_token
from relink.kit.errors import ApiError, ResourceMissing
from relink.kit.i18n import N_
from relink.kit.pagination import Cursor
from relink.models import ConnectionStatus, InactiveCause

router = APIRouter()

# The email is shown in a sandboxed frame with its own policy: emails need inline styles.
EMAIL_PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


def read_cursor(request: Request, size: int | None = None) -> Cursor:
    size = size or queries.PAGE_SIZE
    after = request.query_params.get("starting_after") or None
    before = request.query_params.get("ending_before") or None
    if after and before:
        before = None
    return Cursor(size, (after or "")[:40] or None, (before or "")[:40] or None)


def _filter_choices() -> dict[str, object]:
    return {
        "statuses": [s.value for s in ConnectionStatus],
        "causes": [c.value for c in InactiveCause],
    }


# The sortable columns' first direction: the soonest expiry, the newest request.
FIRST_DESCENDING = {"expiry": False, "last_request": True}


def sort_links(
    fields: list[tuple[str, str]], sort: AccountSort
) -> dict[str, dict[str, str | None]]:
    """Per sortable column: the header link (this filter, the other direction or the
    column's first one, from the first page) and its ``aria-sort``."""
    links: dict[str, dict[str, str | None]] = {}
    for name, first_descending in FIRST_DESCENDING.items():
        sorted_here = sort.field == name
        descending = not sort.descending if sorted_here else first_descending
        target = AccountSort(name, descending).param
        links[name] = {
            "href": f"/accounts?{urlencode([*fields, ('sort', target)])}",
            "aria_sort": ("descending" if sort.descending else "ascending")
            if sorted_here
            else None,
        }
    return links


def _list_url(path: str, fields: list[tuple[str, str]]) -> str:
    return path + (f"?{urlencode(fields)}" if fields else "")


@router.get("/accounts")
def accounts(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    account_filter = AccountFilter.from_dict(request.query_params)
    try:
        sort = AccountSort.from_param(request.query_params.get("sort"))
    except InvalidFilter as refused:
        return _refused_filter(request, viewer, refused)
    scope = viewer.scope
    now = scope.now()
    cursor = read_cursor(request)
    with viewer.runtime.database.read_only() as db:
        result = queries.accounts_page(
            db, scope, now, filtered_accounts(scope, now, account_filter), cursor, sort
        )
        selected: set[str] = set()
        selected_count = 0
        if viewer.can_edit:
            saved = AccountSelection(db, scope, viewer.user_id)
            selected = saved.among([row.account.id for row in result.rows])
            selected_count = saved.count()
    filter_fields = Selection(account_filter=account_filter).form_fields()[1:]
    # Read backwards (ending_before), "more" means more before this page.
    has_previous = result.has_more if cursor.ending_before else bool(cursor.starting_after)
    has_next = bool(cursor.ending_before) or result.has_more
    first, last = result.first_id, result.last_id
    list_fields = filter_fields + ([("sort", sort.param)] if sort.param else [])
    return page(
        request,
        viewer,
        "accounts.html",
        {
            "result": result,
            "filter": account_filter,
            "sort": sort,
            "sort_links": sort_links(filter_fields, sort),
            "unsorted_url": _list_url("/accounts", filter_fields),
            "export_url": _list_url("/accounts/export.csv", list_fields),
            "filter_fields": filter_fields,
            "list_fields": list_fields,
            "previous_url": _list_url("/accounts", [*list_fields, ("ending_before", first)])
            if first and has_previous
            else None,
            "next_url": _list_url("/accounts", [*list_fields, ("starting_after", last)])
            if last and has_next
            else None,
            # This page again (no notice), where the list's form returns.
            "back_url": _list_url(
                "/accounts",
                [
                    *list_fields,
                    *(
                        (name, value)
                        for name, value in (
                            ("starting_after", cursor.starting_after),
                            ("ending_before", cursor.ending_before),
                        )
                        if value
                    ),
                ],
            ),
            "selection_full": request.query_params.get("notice") == "selection_full",
            "selected": selected,
            "selected_count": selected_count,
            "max_selected": selection_store.MAX_SELECTED,
            **_filter_choices(),
        },
    )


@router.get("/accounts/export.csv")
def export(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    """Every account the list's filter matches, as CSV, streamed (docs/decisions.md)."""
    account_filter = AccountFilter.from_dict(request.query_params)
    try:
        account_filter.check()
        sort = AccountSort.from_param(request.query_params.get("sort"))
    except InvalidFilter as refused:
        return _refused_filter(request, viewer, refused)
    scope = viewer.scope
    now = scope.now()
    name = f"accounts-{scope.mode}-{now:%Y-%m-%d}.csv"
    return StreamingResponse(
        export_csv(viewer.runtime.database, scope, now, account_filter, sort),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _selection(
    db: DbSession, viewer: Viewer, values: Mapping[str, Any], ids: list[str]
) -> Selection:
    """The checked ids or "all matching" of a form, or (``selection=saved``) the user's
    selection kept across pages."""
    if values.get("selection") == "saved":
        return Selection(
            account_ids=tuple(AccountSelection(db, viewer.scope, viewer.user_id).ids()),
            saved=True,
        )
    return Selection.from_form(values, ids)


def _query_selection(db: DbSession, request: Request, viewer: Viewer) -> Selection:
    return _selection(db, viewer, request.query_params, request.query_params.getlist("account"))


def _list_path(value: object) -> str:
    """A path back to the Accounts list (its filter, sort and page), never elsewhere."""
    if (
        isinstance(value, str)
        and len(value) <= 2000
        and (value == "/accounts" or (value.startswith("/accounts?") and "#" not in value))
    ):
        return value
    return "/accounts"


@router.post("/accounts/selection")
def update_selection(
    request: Request, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    """The list's form: keep this page's ticks in the selection, then go on (another
    page, the confirmation, back to the list); or clear the selection."""
    shown = [v for v in form.getlist("shown") if isinstance(v, str)][:MAX_CHECKED]
    ticked = [v for v in form.getlist("account") if isinstance(v, str)][:MAX_CHECKED]
    go = form.get("go")
    if go == "confirm" and form.get("all_matching") == "1":
        try:
            matching = Selection.from_form(form, [])
        except InvalidFilter as refused:
            return _refused_filter(request, viewer, refused)
        return redirect(f"/accounts/request-relink?{urlencode(matching.form_fields())}")
    with viewer.runtime.database.unit_of_work() as db:
        saved = AccountSelection(db, viewer.scope, viewer.user_id)
        if go == "clear":
            saved.clear()
            left_out = 0
        else:
            left_out = saved.update_page(shown, ticked)
    if go == "confirm":
        return redirect("/accounts/request-relink?selection=saved")
    target = _list_path(go if isinstance(go, str) and go.startswith("/") else form.get("back"))
    return redirect(target, notice="selection_full" if left_out else None)


def _refused_filter(request: Request, viewer: Viewer, refused: InvalidFilter) -> Response:
    # The filter's own message is the API's (English, naming codes): the page says it in
    # the user's words, by the field refused.
    message = (
        N_("The list cannot be sorted that way. Choose a column heading to sort by it.")
        if refused.field == "sort"
        else N_(
            "This filter holds a value the Accounts page does not offer. "
            "Clear the filters and choose them again."
        )
    )
    return page(
        request,
        viewer,
        "error.html",
        {
            "title": translated(request, viewer, N_("Unknown filter")),
            "message": translated(request, viewer, message),
        },
        status_code=400,
    )


@router.get("/accounts/request-relink")
def confirm_request(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    if not viewer.can_edit:
        return page(
            request,
            viewer,
            "error.html",
            {
                "title": translated(request, viewer, N_("Not allowed")),
                "message": translated(request, viewer, N_("Viewers cannot request relinks.")),
            },
            status_code=403,
        )
    with viewer.runtime.database.read_only() as db:
        try:
            selection = _query_selection(db, request, viewer)
        except InvalidFilter as refused:
            return _refused_filter(request, viewer, refused)
        if selection.empty:
            return redirect("/accounts")
        summary = confirmation(db, viewer.scope, selection)
    return page(
        request,
        viewer,
        "request_confirm.html",
        {
            "summary": summary,
            "selection": selection,
            "fields": selection.form_fields(),
            "submission": random_token(16),
        },
    )


@router.get("/accounts/request-relink/skipped")
def skipped(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    scope = viewer.scope
    with viewer.runtime.database.read_only() as db:
        try:
            selection = _query_selection(db, request, viewer)
        except InvalidFilter:
            raise NotFound() from None
        reason = request.query_params.get("reason", "")
        if selection.empty or reason not in {r.value for r in Reason} | set(SKIP_MESSAGES):
            raise NotFound()
        rows = queries.account_rows(
            db, scope, scope.now(), skipped_accounts(db, scope, selection, reason)
        )
    return page(
        request,
        viewer,
        "request_skipped.html",
        {"rows": rows, "reason": reason},
    )


@router.post("/accounts/request-relink")
def start_request(
    request: Request, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    submission = form.get("submission")
    if not isinstance(submission, str) or not 16 <= len(submission) <= 64:
        return redirect("/accounts")
    dedupe_key = f"dashboard:{viewer.user_id}:{submission}"
    with viewer.runtime.database.unit_of_work() as db:
        try:
            selection = _selection(
                db,
                viewer,
                form,
                [value for value in form.getlist("account") if isinstance(value, str)],
            )
        except InvalidFilter as refused:
            return _refused_filter(request, viewer, refused)
        if selection.empty:
            # A second submit of a saved selection: the first emptied it; its job stands.
            existing = job_of_submission(db, viewer.scope, dedupe_key)
            return redirect(f"/relink-jobs/{existing.id}" if existing else "/accounts")
        job = enqueue_bulk_request(
            db,
            viewer.scope,
            selection=selection.as_job_selection(),
            actor=viewer.actor,
            dedupe_key=dedupe_key,
        )
        if selection.saved:
            AccountSelection(db, viewer.scope, viewer.user_id).clear()
    return redirect(f"/relink-jobs/{job.id}")


@router.get("/relink-jobs/{job_id}")
def job(request: Request, job_id: str, viewer: Viewer = Depends(current_viewer)) -> Response:
    try:
        with viewer.runtime.database.read_only() as db:
            found = job_progress(db, viewer.scope, job_id)
    except ResourceMissing:
        raise NotFound() from None
    skipped = [
        SkippedGroup(reason, int(count))
        for reason, count in sorted(found.skipped.items(), key=lambda item: -int(item[1]))
    ]
    percent = (
        100
        if found.status == "succeeded"
        else (int(found.processed * 100 / found.total) if found.total else 0)
    )
    return page(
        request,
        viewer,
        "request_job.html",
        {
            "job": found,
            "skipped": skipped,
            "percent": percent,
            "running": found.status in ("queued", "running"),
        },
    )


def _request_refusal(request: Request, viewer: Viewer, refused: ApiError) -> str:
    """The API's refusal of a relink request in the user's words, from its reason codes."""
    words = words_for(viewer.locale)
    explained = [
        words.explanations[code] for code in refusal_reasons(refused) if code in words.explanations
    ]
    if not explained:
        return translated(
            request, viewer, N_("The relink request was not created. Please try again.")
        )
    lead = translated(request, viewer, N_("This account cannot receive a relink request now:"))
    return " ".join([lead, *explained])


def _account_page(
    request: Request,
    viewer: Viewer,
    account_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    scope = viewer.scope
    with viewer.runtime.database.read_only() as db:
        detail = queries.account_detail(db, scope, scope.now(), account_id)
        holder = detail.row.holder if detail is not None else None
        opted_out = opt_out_of(db, scope, holder.id) if holder is not None else None
    if detail is None:
        raise NotFound()
    context = {"detail": detail, "error": error, "opt_out": opted_out}
    return page(request, viewer, "account.html", context, status_code=status_code)


@router.get("/accounts/{account_id}")
def account(
    request: Request, account_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    return _account_page(request, viewer, account_id)


@router.post("/accounts/{account_id}/request-relink")
def request_one(request: Request, account_id: str, viewer: Viewer = Depends(editor)) -> Response:
    scope = viewer.scope
    try:
        with viewer.runtime.database.unit_of_work() as db:
            request_relink(db, scope, viewer.runtime, account_id, viewer.actor)
    except ResourceMissing:
        raise NotFound() from None
    except ApiError as refused:
        error = _request_refusal(request, viewer, refused)
        return _account_page(request, viewer, account_id, error=error, status_code=400)
    return redirect(f"/accounts/{account_id}#relink", notice="relink_requested")


@router.get("/accounts/{account_id}/email-preview")
def email_preview(
    request: Request, account_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    scope = viewer.scope
    with viewer.runtime.database.read_only() as db:
        detail = queries.account_detail(db, scope, scope.now(), account_id)
        if detail is None:
            raise NotFound()
        email = preview_relink_email(db, scope, viewer.runtime, detail.row.account)
    return page(request, viewer, "email_preview.html", {"detail": detail, "email": email})


@router.get("/accounts/{account_id}/email-preview.html")
def email_preview_frame(account_id: str, viewer: Viewer = Depends(current_viewer)) -> Response:
    scope = viewer.scope
    with viewer.runtime.database.read_only() as db:
        found = queries.account_detail(db, scope, scope.now(), account_id)
        if found is None:
            raise NotFound()
        email = preview_relink_email(db, scope, viewer.runtime, found.row.account)
    return HTMLResponse(
        html_for_browser(email),
        headers={
            "content-security-policy": EMAIL_PREVIEW_CSP,
            "x-frame-options": "SAMEORIGIN",
            "cache-control": "no-store",
        },
    )
