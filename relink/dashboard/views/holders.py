"""Customers and Connect connected accounts: list, search, detail, edit email and language."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.customers.repository import CustomerRepository
from relink.dashboard import queries
from relink.dashboard.holders import HolderEdit, apply_holder_edit
from relink.dashboard.views.accounts import read_cursor
from relink.dashboard.web import (
    NotFound,
    Viewer,
    current_viewer,
    editor,
    form_data,
    page,
    redirect,
    translated,
    translated_errors,
)
from relink.email.bounces import is_active, lift, suppression_of
from relink.email.opt_outs import clear_opt_out, opt_out_of
from relink.kit.i18n import LANGUAGE_NAMES, N_
from relink.tenancy import ScopedRepository

router = APIRouter()

KINDS: dict[str, dict[str, Any]] = {
    "customers": {
        "title": N_("Customers"),
        "repository": CustomerRepository,
        "list": queries.customers_page,
        "name": lambda h: h.name,
    },
    "connected-accounts": {
        "title": N_("Connected accounts"),
        "repository": ConnectedAccountRepository,
        "list": queries.connected_accounts_page,
        "name": lambda h: h.business_name,
    },
}


def _list(kind: str, request: Request, viewer: Viewer) -> Response:
    search = (request.query_params.get("search") or "").strip()[:320] or None
    without_email = request.query_params.get("without_email") == "1"
    with viewer.runtime.database.read_only() as db:
        found = KINDS[kind]["list"](
            db, viewer.scope, search, read_cursor(request), without_email=without_email
        )
    query = {
        key: value
        for key, value in (("search", search), ("without_email", "1" if without_email else None))
        if value
    }
    return page(
        request,
        viewer,
        "holders.html",
        {
            "kind": kind,
            "title": translated(request, viewer, KINDS[kind]["title"]),
            "holders": found.items,
            "has_more": found.has_more,
            "search": search or "",
            "without_email": without_email,
            "query": query,
            "name_of": KINDS[kind]["name"],
            "cursor_given": bool(
                request.query_params.get("starting_after")
                or request.query_params.get("ending_before")
            ),
        },
    )


def _detail(
    kind: str,
    request: Request,
    viewer: Viewer,
    holder_id: str,
    edit: HolderEdit | None = None,
    status_code: int = 200,
) -> Response:
    with viewer.runtime.database.read_only() as db:
        repository: ScopedRepository[Any] = KINDS[kind]["repository"](db, viewer.scope)
        holder = repository.find(holder_id)
        if holder is None:
            raise NotFound()
        suppression = suppression_of(db, viewer.scope, holder.email)
        suppressed = suppression is not None and is_active(suppression, viewer.scope.now())
        opted_out = opt_out_of(db, viewer.scope, holder.id)
        accounts = queries.account_rows(
            db,
            viewer.scope,
            viewer.scope.now(),
            queries.accounts_of_holder(db, viewer.scope, holder.id)[:50],
        )
    if edit is None:
        edit = HolderEdit(holder.email or "", (holder.preferred_locales or [""])[0])
    return page(
        request,
        viewer,
        "holder.html",
        {
            "kind": kind,
            "title": translated(request, viewer, KINDS[kind]["title"]),
            "holder": holder,
            "name": KINDS[kind]["name"](holder),
            "rows": accounts,
            "edit": edit,
            "languages": LANGUAGE_NAMES,
            "suppression": suppression,
            "suppressed": suppressed,
            "opt_out": opted_out,
        },
        status_code=status_code,
    )


def _save(kind: str, request: Request, viewer: Viewer, holder_id: str, form: FormData) -> Response:
    email, language = form.get("email", ""), form.get("language", "")
    edit = HolderEdit.read(
        email if isinstance(email, str) else "", language if isinstance(language, str) else ""
    )
    if edit.errors:
        edit.errors = translated_errors(request, viewer, edit.errors)
        return _detail(kind, request, viewer, holder_id, edit, status_code=400)
    with viewer.runtime.database.unit_of_work() as db:
        holder = KINDS[kind]["repository"](db, viewer.scope).find(holder_id)
        if holder is None:
            raise NotFound()
        apply_holder_edit(holder, edit)
    return redirect(f"/{kind}/{holder_id}", notice="saved")


@router.get("/customers")
def customers(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    return _list("customers", request, viewer)


@router.get("/customers/{holder_id}")
def customer(
    request: Request, holder_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    return _detail("customers", request, viewer, holder_id)


@router.post("/customers/{holder_id}")
def save_customer(
    request: Request,
    holder_id: str,
    viewer: Viewer = Depends(editor),
    form: FormData = Depends(form_data),
) -> Response:
    return _save("customers", request, viewer, holder_id, form)


@router.get("/connected-accounts")
def connected_accounts(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    return _list("connected-accounts", request, viewer)


@router.get("/connected-accounts/{holder_id}")
def connected_account(
    request: Request, holder_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    return _detail("connected-accounts", request, viewer, holder_id)


@router.post("/connected-accounts/{holder_id}")
def save_connected_account(
    request: Request,
    holder_id: str,
    viewer: Viewer = Depends(editor),
    form: FormData = Depends(form_data),
) -> Response:
    return _save("connected-accounts", request, viewer, holder_id, form)


# -- the suppression list: the operator lifts it once the address is fixed ---------------


def _lift_page(kind: str, request: Request, viewer: Viewer, holder_id: str) -> Response:
    with viewer.runtime.database.read_only() as db:
        holder = KINDS[kind]["repository"](db, viewer.scope).find(holder_id)
        if holder is None:
            raise NotFound()
        suppression = suppression_of(db, viewer.scope, holder.email)
        suppressed = suppression is not None and is_active(suppression, viewer.scope.now())
    return page(
        request,
        viewer,
        "holder_lift.html",
        {
            "kind": kind,
            "holder": holder,
            "name": KINDS[kind]["name"](holder),
            "suppression": suppression,
            "suppressed": suppressed,
        },
    )


def _lift(kind: str, viewer: Viewer, holder_id: str) -> Response:
    with viewer.runtime.database.unit_of_work() as db:
        holder = KINDS[kind]["repository"](db, viewer.scope).find(holder_id)
        if holder is None:
            raise NotFound()
        lifted = bool(holder.email) and lift(
            db, viewer.scope, holder.email, actor=viewer.email, now=viewer.scope.now()
        )
    return redirect(
        f"/{kind}/{holder_id}", notice="suppression_lifted" if lifted else "not_suppressed"
    )


@router.get("/customers/{holder_id}/lift-suppression")
def customer_lift_page(
    request: Request, holder_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    return _lift_page("customers", request, viewer, holder_id)


@router.post("/customers/{holder_id}/lift-suppression")
def customer_lift(
    holder_id: str, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    return _lift("customers", viewer, holder_id)


@router.get("/connected-accounts/{holder_id}/lift-suppression")
def connected_lift_page(
    request: Request, holder_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    return _lift_page("connected-accounts", request, viewer, holder_id)


@router.post("/connected-accounts/{holder_id}/lift-suppression")
def connected_lift(
    holder_id: str, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    return _lift("connected-accounts", viewer, holder_id)


# -- reminder opt-outs: the operator clears one when the holder asks for reminders again ---


def _clear_opt_out_page(kind: str, request: Request, viewer: Viewer, holder_id: str) -> Response:
    with viewer.runtime.database.read_only() as db:
        holder = KINDS[kind]["repository"](db, viewer.scope).find(holder_id)
        if holder is None:
            raise NotFound()
        opted_out = opt_out_of(db, viewer.scope, holder.id)
    return page(
        request,
        viewer,
        "holder_clear_opt_out.html",
        {"kind": kind, "holder": holder, "name": KINDS[kind]["name"](holder), "opt_out": opted_out},
    )


def _clear_opt_out(kind: str, viewer: Viewer, holder_id: str) -> Response:
    with viewer.runtime.database.unit_of_work() as db:
        holder = KINDS[kind]["repository"](db, viewer.scope).find(holder_id)
        if holder is None:
            raise NotFound()
        cleared = clear_opt_out(
            db, viewer.scope, holder.id, actor=viewer.email, now=viewer.scope.now()
        )
    return redirect(
        f"/{kind}/{holder_id}", notice="opt_out_cleared" if cleared else "not_opted_out"
    )


@router.get("/customers/{holder_id}/clear-opt-out")
def customer_clear_opt_out_page(
    request: Request, holder_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    return _clear_opt_out_page("customers", request, viewer, holder_id)


@router.post("/customers/{holder_id}/clear-opt-out")
def customer_clear_opt_out(
    holder_id: str, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    return _clear_opt_out("customers", viewer, holder_id)


@router.get("/connected-accounts/{holder_id}/clear-opt-out")
def connected_clear_opt_out_page(
    request: Request, holder_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    return _clear_opt_out_page("connected-accounts", request, viewer, holder_id)


@router.post("/connected-accounts/{holder_id}/clear-opt-out")
def connected_clear_opt_out(
    holder_id: str, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    return _clear_opt_out("connected-accounts", viewer, holder_id)
