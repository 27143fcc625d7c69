"""/v1/accounts — minimal Connect connected accounts (holders of bank accounts)."""

from __future__ import annotations

from typing import Any

from relink.api.params import Params
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.connect_accounts.schemas import render_connected_account
from relink.kit import ids
from relink.kit.metadata import merge_metadata
from relink.kit.pagination import paginate, read_cursor
from relink.models import ConnectedAccount

router = ApiRouter()


def _read(
    params: Params,
) -> tuple[str | None, bool, str | None, bool, list[str] | None, dict[str, str | None] | None]:
    email_cleared = params.has("email") and params.raw("email") == ""
    email = params.email("email")
    profile = params.nested("business_profile")
    name_cleared = False
    name = None
    if profile is not None:
        name_cleared = profile.has("name") and profile.raw("name") == ""
        name = profile.text("name", max_length=256)
    params.ignore("type", "country")
    locales = params.strings("preferred_locales")
    metadata = params.metadata()
    return email, email_cleared, name, name_cleared, locales, metadata


@router.post("/v1/accounts")
def create_connected_account(call: ApiCall) -> dict[str, Any]:
    email, _, name, _, locales, metadata = _read(call.params)
    call.params.finish()
    repository = ConnectedAccountRepository(call.session, call.scope)
    account = ConnectedAccount(
        id=ids.new("acct"),
        email=email,
        business_name=name,
        preferred_locales=locales or [],
        metadata_=merge_metadata({}, metadata),
        created_at=call.scope.now(),
    )
    repository.add(account)
    call.session.flush()
    return render_connected_account(account)


@router.get("/v1/accounts/{id}")
def retrieve_connected_account(call: ApiCall) -> dict[str, Any]:
    call.params.finish()
    repository = ConnectedAccountRepository(call.session, call.scope)
    return render_connected_account(repository.get(call.path["id"], param="account"))


@router.post("/v1/accounts/{id}")
def update_connected_account(call: ApiCall) -> dict[str, Any]:
    email, email_cleared, name, name_cleared, locales, metadata = _read(call.params)
    call.params.finish()
    account = ConnectedAccountRepository(call.session, call.scope).get(
        call.path["id"], param="account"
    )
    if email is not None or email_cleared:
        account.email = email
    if name is not None or name_cleared:
        account.business_name = name
    if locales is not None:
        account.preferred_locales = locales
    account.metadata_ = merge_metadata(account.metadata_, metadata)
    return render_connected_account(account)


@router.get("/v1/accounts")
def list_connected_accounts(call: ApiCall) -> dict[str, Any]:
    cursor = read_cursor(call.params)
    call.params.finish()
    repository = ConnectedAccountRepository(call.session, call.scope)
    repository.check_cursor(cursor)
    page = paginate(call.session, repository.select(), ConnectedAccount.id, cursor)
    return render_list(
        "/v1/accounts", [render_connected_account(a) for a in page.items], page.has_more
    )
