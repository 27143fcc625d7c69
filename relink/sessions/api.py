"""/v1/financial_connections/sessions (create, retrieve, and the list extension)."""

from __future__ import annotations

from typing import Any

from relink.api.params import refuse_customer_account
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.kit.errors import ParameterInvalid
from relink.kit.pagination import paginate, read_cursor
from relink.models import Session, SessionStatus
from relink.sessions.repository import SessionRepository
from relink.sessions.schemas import render_session
from relink.sessions.service import NewSession, SessionService

router = ApiRouter()

PERMISSIONS = ("balances", "ownership", "payment_method", "transactions")
PREFETCH = ("balances", "ownership", "transactions", "inferred_balances")
SUBCATEGORIES = ("checking", "credit_card", "line_of_credit", "mortgage", "savings")
PAYMENT_METHOD_SUPPORT = ("all", "at_least_one", "none")


def _read_new_session(call: ApiCall) -> NewSession:
    params = call.params
    request = NewSession(created_by=call.actor)
    holder = params.nested("account_holder")
    if holder is not None:
        request.holder_type = holder.enum("type", ("customer", "account"), required=True)
        request.customer = holder.text("customer", max_length=255)
        request.account = holder.text("account", max_length=255)
        refuse_customer_account(holder)
    permissions = params.strings("permissions", allowed=PERMISSIONS)
    if not permissions:
        params.text("permissions", required=True)
    request.permissions = permissions or []
    request.prefetch = params.strings("prefetch", allowed=PREFETCH) or []
    filters = params.nested("filters")
    if filters is not None:
        request.filters = {
            key: value
            for key, value in {
                "countries": filters.strings("countries"),
                "account_subcategories": filters.strings(
                    "account_subcategories", allowed=SUBCATEGORIES
                ),
                "country": filters.text("country", max_length=2),
                "institution": filters.text("institution", max_length=255),
                "require_payment_method_support": filters.enum(
                    "require_payment_method_support", PAYMENT_METHOD_SUPPORT
                ),
            }.items()
            if value is not None
        }
    limits = params.nested("limits")
    if limits is not None:
        accounts_limit = limits.integer("accounts", required=True, minimum=1, maximum=100)
        request.limits = {"accounts": accounts_limit or 100}
    request.return_url = params.text("return_url", max_length=2000)
    relink = params.nested("relink_options")
    if relink is not None:
        request.relink_authorization = relink.text("authorization", required=True, max_length=255)
        request.relink_account = relink.text("account", max_length=255)
    request.ui_mode = params.enum("ui_mode", ("modal", "hosted")) or "modal"
    hosted = params.nested("hosted")
    if hosted is not None:
        request.hosted_given = True
        request.delivery_method = hosted.enum("delivery_method", ("email", "url"))
        request.hosted_return_url = hosted.text("return_url", max_length=2000)
    manual_entry = params.nested("manual_entry")
    if manual_entry is not None and manual_entry.enum(
        "mode", ("automatic", "custom", "disabled")
    ) not in (None, "disabled"):
        # Accepting it would promise a way in Relink does not have.
        raise ParameterInvalid(
            "manual_entry[mode]",
            "Relink links accounts only through the bank's own sign-in; manual entry of "
            "account numbers is not offered. Leave manual_entry out or pass "
            "manual_entry[mode]=disabled.",
        )
    params.finish()
    return request


@router.post("/v1/financial_connections/sessions")
def create_session(call: ApiCall) -> dict[str, Any]:
    request = _read_new_session(call)
    service = SessionService(call.session, call.scope, call.runtime, call.event_context)
    session = service.create(request)
    return render_session(call.session, call.scope, call.runtime, session)


@router.get("/v1/financial_connections/sessions/{id}")
def retrieve_session(call: ApiCall) -> dict[str, Any]:
    call.params.finish()
    session = SessionRepository(call.session, call.scope).get(call.path["id"])
    return render_session(call.session, call.scope, call.runtime, session)


@router.get("/v1/financial_connections/sessions")
def list_sessions(call: ApiCall) -> dict[str, Any]:
    cursor = read_cursor(call.params)
    relink = call.params.nested("relink_options")
    account = authorization = None
    if relink is not None:
        account = relink.text("account", max_length=255)
        authorization = relink.text("authorization", max_length=255)
    ui_mode = call.params.enum("ui_mode", ("modal", "hosted"))
    status = call.params.enum("status", tuple(SessionStatus))
    call.params.finish()
    repository = SessionRepository(call.session, call.scope)
    repository.check_cursor(cursor)
    query = repository.select()
    if account is not None:
        query = query.where(Session.relink_account_id == account)
    if authorization is not None:
        query = query.where(Session.relink_authorization_id == authorization)
    if ui_mode is not None:
        query = query.where(Session.ui_mode == ui_mode)
    if status is not None:
        query = query.where(Session.status == status)
    page = paginate(call.session, query, Session.id, cursor)
    return render_list(
        "/v1/financial_connections/sessions",
        [render_session(call.session, call.scope, call.runtime, s) for s in page.items],
        page.has_more,
    )
