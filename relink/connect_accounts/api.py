"""/v1/accounts — minimal Connect connected accounts (holders of bank accounts)."""

from __future__ import annotations

from typing import Annotated, Any

from relink.api.params import (
    Email,
    EndpointParams,
    Ignored,
    ListParams,
    Metadata,
    NoParams,
    Params,
    Strings,
    Text,
)
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.connect_accounts.schemas import render_connected_account
from relink.kit import ids
from relink.kit.metadata import merge_metadata
from relink.kit.pagination import paginate
from relink.models import ConnectedAccount

router = ApiRouter()


class BusinessProfile(Params):
    name: Annotated[str | None, Text(256)] = None


class ConnectedAccountParams(EndpointParams):
    email: Annotated[str | None, Email()] = None
    business_profile: BusinessProfile | None = None
    # Stripe's; a Relink connected account is only a holder of bank accounts.
    type: Annotated[
        None, Ignored({"type": "string", "enum": ["custom", "express", "standard"]})
    ] = None
    country: Annotated[None, Ignored({"type": "string", "maxLength": 2})] = None
    preferred_locales: Annotated[list[str] | None, Strings()] = None
    metadata: Annotated[dict[str, str | None] | None, Metadata()] = None


@router.post("/v1/accounts", ConnectedAccountParams)
def create_connected_account(call: ApiCall[ConnectedAccountParams]) -> dict[str, Any]:
    params = call.params
    repository = ConnectedAccountRepository(call.session, call.scope)
    account = ConnectedAccount(
        id=ids.new("acct"),
        email=params.email,
        business_name=params.business_profile.name if params.business_profile else None,
        preferred_locales=params.preferred_locales or [],
        metadata_=merge_metadata({}, params.metadata),
        created_at=call.scope.now(),
    )
    repository.add(account)
    call.session.flush()
    return render_connected_account(account)


@router.get("/v1/accounts/{id}", NoParams)
def retrieve_connected_account(call: ApiCall[NoParams]) -> dict[str, Any]:
    repository = ConnectedAccountRepository(call.session, call.scope)
    return render_connected_account(repository.get(call.path["id"], param="account"))


@router.post("/v1/accounts/{id}", ConnectedAccountParams)
def update_connected_account(call: ApiCall[ConnectedAccountParams]) -> dict[str, Any]:
    params = call.params
    account = ConnectedAccountRepository(call.session, call.scope).get(
        call.path["id"], param="account"
    )
    if params.email is not None or params.cleared("email"):
        account.email = params.email
    profile = params.business_profile
    if profile is not None and (profile.name is not None or profile.cleared("name")):
        account.business_name = profile.name
    if params.preferred_locales is not None:
        account.preferred_locales = params.preferred_locales
    account.metadata_ = merge_metadata(account.metadata_, params.metadata)
    return render_connected_account(account)


@router.get("/v1/accounts", ListParams)
def list_connected_accounts(call: ApiCall[ListParams]) -> dict[str, Any]:
    cursor = call.params.cursor
    repository = ConnectedAccountRepository(call.session, call.scope)
    repository.check_cursor(cursor)
    page = paginate(call.session, repository.select(), ConnectedAccount.id, cursor)
    return render_list(
        "/v1/accounts", [render_connected_account(a) for a in page.items], page.has_more
    )
