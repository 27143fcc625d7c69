"""/v1/customers."""

from __future__ import annotations

from typing import Annotated, Any

from relink.api.params import Email, EndpointParams, ListParams, Metadata, NoParams, Strings, Text
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.customers import service
from relink.customers.repository import CustomerRepository
from relink.customers.schemas import render_customer
from relink.kit.pagination import paginate
from relink.models import Customer

router = ApiRouter()


class CustomerParams(EndpointParams):
    email: Annotated[str | None, Email()] = None
    name: Annotated[str | None, Text(256)] = None
    description: Annotated[str | None, Text()] = None
    preferred_locales: Annotated[list[str] | None, Strings()] = None
    metadata: Annotated[dict[str, str | None] | None, Metadata()] = None


class ListCustomers(ListParams):
    email: Annotated[str | None, Text(512)] = None


def _changes(params: CustomerParams) -> service.CustomerChanges:
    return service.CustomerChanges(
        email=params.email,
        name=params.name,
        description=params.description,
        preferred_locales=params.preferred_locales,
        metadata=params.metadata,
        cleared=frozenset(
            name for name in ("email", "name", "description") if params.cleared(name)
        ),
    )


@router.post("/v1/customers", CustomerParams)
def create_customer(call: ApiCall[CustomerParams]) -> dict[str, Any]:
    changes = _changes(call.params)
    customer = service.create_customer(CustomerRepository(call.session, call.scope), changes)
    return render_customer(customer)


@router.get("/v1/customers/{id}", NoParams)
def retrieve_customer(call: ApiCall[NoParams]) -> dict[str, Any]:
    return render_customer(CustomerRepository(call.session, call.scope).get(call.path["id"]))


@router.post("/v1/customers/{id}", CustomerParams)
def update_customer(call: ApiCall[CustomerParams]) -> dict[str, Any]:
    changes = _changes(call.params)
    customer = CustomerRepository(call.session, call.scope).get(call.path["id"])
    return render_customer(service.update_customer(customer, changes))


@router.delete("/v1/customers/{id}", NoParams)
def delete_customer(call: ApiCall[NoParams]) -> dict[str, Any]:
    customer = CustomerRepository(call.session, call.scope).get(call.path["id"])
    return render_customer(service.delete_customer(customer))


@router.get("/v1/customers", ListCustomers)
def list_customers(call: ApiCall[ListCustomers]) -> dict[str, Any]:
    cursor = call.params.cursor
    email = call.params.email
    customers = CustomerRepository(call.session, call.scope)
    query = customers.select().where(Customer.deleted.is_(False))
    if email is not None:
        query = query.where(Customer.email == email)
    customers.check_cursor(cursor)
    page = paginate(call.session, query, Customer.id, cursor)
    return render_list("/v1/customers", [render_customer(c) for c in page.items], page.has_more)
