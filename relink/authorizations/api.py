"""/v1/financial_connections/authorizations."""

from __future__ import annotations

from typing import Any

from relink.api.params import NoParams
from relink.api.router import ApiCall, ApiRouter
from relink.authorizations.repository import AuthorizationRepository
from relink.authorizations.schemas import render_authorization

router = ApiRouter()


@router.get("/v1/financial_connections/authorizations/{id}", NoParams)
def retrieve_authorization(call: ApiCall[NoParams]) -> dict[str, Any]:
    authorization = AuthorizationRepository(call.session, call.scope).get(call.path["id"])
    return render_authorization(call.session, call.scope, authorization)
