"""/v1/financial_connections/institutions."""

from __future__ import annotations

from typing import Any

from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.institutions.repository import InstitutionRepository
from relink.institutions.schemas import render_institution
from relink.kit.pagination import paginate, read_cursor
from relink.models import Institution

router = ApiRouter()


@router.get("/v1/financial_connections/institutions")
def list_institutions(call: ApiCall) -> dict[str, Any]:
    cursor = read_cursor(call.params)
    call.params.finish()
    repository = InstitutionRepository(call.session, call.scope.livemode)
    repository.check_cursor(cursor)
    page = paginate(call.session, repository.offered(), Institution.id, cursor)
    return render_list(
        "/v1/financial_connections/institutions",
        [render_institution(i) for i in page.items],
        page.has_more,
    )


@router.get("/v1/financial_connections/institutions/{id}")
def retrieve_institution(call: ApiCall) -> dict[str, Any]:
    call.params.finish()
    repository = InstitutionRepository(call.session, call.scope.livemode)
    return render_institution(repository.get(call.path["id"]))
