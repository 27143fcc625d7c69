"""/v1/customers."""

from __future__ import annotations

from typing import Any

from relink.api.params import Params
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.customers import service
from relink.customers.repository import CustomerRepository
from relink.customers.schemas import render_customer
from relink.kit.pagination import paginate, read_cursor
from relink.models import Customer

router = ApiRouter()


def _changes(params: Params) -> service.CustomerChanges:
    cleared = frozenset(
        name
        for name in ("email", "name", "description")
        if params.has(name) and params.raw(name) == ""
    )
    return service.CustomerChanges(
        email=params.email("email"),
        name=params.text("name", max_length=256),
        description=params.text("description"),
        preferred_locales=params.strings("preferred_locales"),
        metadata=params.metadata(),
        cleared=cleared,
    )


@router.post("/v1/customers")
def create_customer(call: ApiCall) -> dict[str, Any]:
    changes = _changes(call.params)
    call.params.finish()
    customer = service.create_customer(CustomerRepository(call.session, call.scope), changes)
    return render_customer(customer)


@router.get("/v1/customers/{id}")
def retrieve_customer(call: ApiCall) -> dict[str, Any]:
    call.params.finish()
    return render_customer(CustomerRepository(call.session, call.scope).get(call.path["id"]))


@router.post("/v1/customers/{id}")
def update_customer(call: ApiCall) -> dict[str, Any]:
    changes = _changes(call.params)
    call.params.finish()
    customer = CustomerRepository(call.session, call.scope).get(call.path["id"])
    return render_customer(service.update_customer(customer, changes))


@router.delete("/v1/customers/{id}")
def delete_customer(call: ApiCall) -> dict[str, Any]:
    call.params.finish()
    customer = CustomerRepository(call.session, call.scope).get(call.path["id"])
    return render_customer(service.delete_customer(customer))


@router.get("/v1/customers")
def list_customers(call: ApiCall) -> dict[str, Any]:
    cursor = read_cursor(call.params)
    email = call.params.text("email", max_length=512)
    call.params.finish()
    customers = CustomerRepository(call.session, call.scope)
    query = customers.select().where(Customer.deleted.is_(False))
    if email is not None:
        query = query.where(Customer.email == email)
    customers.check_cursor(cursor)
    page = paginate(call.session, query, Customer.id, cursor)
    return render_list("/v1/customers", [render_customer(c) for c in page.items], page.has_more)
