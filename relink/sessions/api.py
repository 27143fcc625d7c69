"""/v1/financial_connections/sessions (create, retrieve, and the list extension)."""

from __future__ import annotations

from typing import Annotated, Any

from relink.api.params import (
    CUSTOMER_ACCOUNT_REFUSED,
    EndpointParams,
    Enum,
    Id,
    Integer,
    ListParams,
    NoParams,
    Params,
    Refused,
    Strings,
    Text,
)
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.kit.errors import ParameterInvalid
from relink.kit.pagination import paginate
from relink.models import Session, SessionStatus
from relink.sessions.repository import SessionRepository
from relink.sessions.schemas import render_session
from relink.sessions.service import NewSession, SessionService

router = ApiRouter()

PERMISSIONS = ("balances", "ownership", "payment_method", "transactions")
PREFETCH = ("balances", "ownership", "transactions", "inferred_balances")
SUBCATEGORIES = ("checking", "credit_card", "line_of_credit", "mortgage", "savings")
PAYMENT_METHOD_SUPPORT = ("all", "at_least_one", "none")
UI_MODES = ("modal", "hosted")


class AccountHolder(Params):
    type: Annotated[str, Enum(("customer", "account"))]
    customer: Id = None
    account: Id = None
    customer_account: Annotated[None, Refused(CUSTOMER_ACCOUNT_REFUSED)] = None


class Filters(Params):
    countries: Annotated[list[str] | None, Strings()] = None
    account_subcategories: Annotated[list[str] | None, Strings(SUBCATEGORIES)] = None
    country: Annotated[str | None, Text(2)] = None
    institution: Id = None
    require_payment_method_support: Annotated[str | None, Enum(PAYMENT_METHOD_SUPPORT)] = None


class Limits(Params):
    accounts: Annotated[int, Integer(minimum=1, maximum=100)]


class RelinkOptions(Params):
    authorization: Annotated[str, Text(255)]
    account: Id = None


class Hosted(Params):
    delivery_method: Annotated[str | None, Enum(("email", "url"))] = None
    return_url: Annotated[str | None, Text(2000)] = None


class ManualEntry(Params):
    mode: Annotated[str | None, Enum(("automatic", "custom", "disabled"))] = None


class CreateSession(EndpointParams):
    account_holder: AccountHolder | None = None
    permissions: Annotated[list[str], Strings(PERMISSIONS)]
    prefetch: Annotated[list[str] | None, Strings(PREFETCH)] = None
    filters: Filters | None = None
    limits: Limits | None = None
    return_url: Annotated[str | None, Text(2000)] = None
    relink_options: RelinkOptions | None = None
    ui_mode: Annotated[str | None, Enum(UI_MODES)] = None
    hosted: Hosted | None = None
    manual_entry: ManualEntry | None = None


class RelinkFilter(Params):
    account: Id = None
    authorization: Id = None


class ListSessions(ListParams):
    relink_options: RelinkFilter | None = None
    ui_mode: Annotated[str | None, Enum(UI_MODES)] = None
    status: Annotated[str | None, Enum(tuple(SessionStatus))] = None


def _new_session(call: ApiCall[CreateSession]) -> NewSession:
    params = call.params
    if params.manual_entry is not None and params.manual_entry.mode not in (None, "disabled"):
        # Accepting it would promise a way in Relink does not have.
        raise ParameterInvalid(
            "manual_entry[mode]",
            "Relink links accounts only through the bank's own sign-in; manual entry of "
            "account numbers is not offered. Leave manual_entry out or pass "
            "manual_entry[mode]=disabled.",
        )
    request = NewSession(
        created_by=call.actor,
        permissions=params.permissions,
        prefetch=params.prefetch or [],
        return_url=params.return_url,
        ui_mode=params.ui_mode or "modal",
    )
    if params.account_holder is not None:
        request.holder_type = params.account_holder.type
        request.customer = params.account_holder.customer
        request.account = params.account_holder.account
    if params.filters is not None:
        request.filters = {
            key: value for key, value in params.filters.model_dump().items() if value is not None
        }
    if params.limits is not None:
        request.limits = {"accounts": params.limits.accounts}
    if params.relink_options is not None:
        request.relink_authorization = params.relink_options.authorization
        request.relink_account = params.relink_options.account
    if params.hosted is not None:
        request.hosted_given = True
        request.delivery_method = params.hosted.delivery_method
        request.hosted_return_url = params.hosted.return_url
    return request


@router.post("/v1/financial_connections/sessions", CreateSession)
def create_session(call: ApiCall[CreateSession]) -> dict[str, Any]:
    request = _new_session(call)
    service = SessionService(call.session, call.scope, call.runtime, call.event_context)
    session = service.create(request)
    return render_session(call.session, call.scope, call.runtime, session)


@router.get("/v1/financial_connections/sessions/{id}", NoParams)
def retrieve_session(call: ApiCall[NoParams]) -> dict[str, Any]:
    session = SessionRepository(call.session, call.scope).get(call.path["id"])
    return render_session(call.session, call.scope, call.runtime, session)


@router.get("/v1/financial_connections/sessions", ListSessions)
def list_sessions(call: ApiCall[ListSessions]) -> dict[str, Any]:
    cursor = call.params.cursor
    relink = call.params.relink_options
    account = relink.account if relink else None
    authorization = relink.authorization if relink else None
    ui_mode = call.params.ui_mode
    status = call.params.status
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
