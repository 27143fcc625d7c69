"""/v1/financial_connections/institutions."""

from __future__ import annotations

from typing import Any

from relink.api.params import ListParams, NoParams
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.institutions.repository import InstitutionRepository
from relink.institutions.schemas import render_institution
from relink.kit.pagination import paginate
from relink.models import Institution

router = ApiRouter()


@router.get("/v1/financial_connections/institutions", ListParams)
def list_institutions(call: ApiCall[ListParams]) -> dict[str, Any]:
    cursor = call.params.cursor
    repository = InstitutionRepository(call.session, call.scope.livemode)
    repository.check_cursor(cursor)
    page = paginate(call.session, repository.offered(), Institution.id, cursor)
    return render_list(
        "/v1/financial_connections/institutions",
        [render_institution(i) for i in page.items],
        page.has_more,
    )


@router.get("/v1/financial_connections/institutions/{id}", NoParams)
def retrieve_institution(call: ApiCall[NoParams]) -> dict[str, Any]:
    repository = InstitutionRepository(call.session, call.scope.livemode)
    return render_institution(repository.get(call.path["id"]))
