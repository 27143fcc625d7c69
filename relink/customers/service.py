"""Creating, updating and deleting customers."""

from __future__ import annotations

from dataclasses import dataclass

from relink.customers.repository import CustomerRepository
from relink.kit import ids
from relink.kit.errors import ParameterInvalid
from relink.kit.metadata import merge_metadata
from relink.models import Customer

SUPPORTED_LOCALE_LENGTH = 16


@dataclass
class CustomerChanges:
    email: str | None = None
    name: str | None = None
    description: str | None = None
    preferred_locales: list[str] | None = None
    metadata: dict[str, str | None] | None = None
    # Fields explicitly cleared with "" (Stripe's unset).
    cleared: frozenset[str] = frozenset()


def _check_locales(locales: list[str] | None) -> None:
    for index, locale in enumerate(locales or []):
        if (
            not locale
            or len(locale) > SUPPORTED_LOCALE_LENGTH
            or not locale.replace("-", "").isalnum()
        ):
            raise ParameterInvalid(f"preferred_locales[{index}]", f"Invalid locale: {locale}")


def create_customer(customers: CustomerRepository, changes: CustomerChanges) -> Customer:
    _check_locales(changes.preferred_locales)
    customer = Customer(
        id=ids.new("cus"),
        email=changes.email,
        name=changes.name,
        description=changes.description,
        preferred_locales=changes.preferred_locales or [],
        metadata_=merge_metadata({}, changes.metadata),
        created_at=customers.scope.now(),
    )
    customers.add(customer)
    customers.session.flush()
    return customer


def update_customer(customer: Customer, changes: CustomerChanges) -> Customer:
    _check_locales(changes.preferred_locales)
    for field in ("email", "name", "description"):
        value = getattr(changes, field)
        if value is not None:
            setattr(customer, field, value)
        elif field in changes.cleared:
            setattr(customer, field, None)
    if changes.preferred_locales is not None:
        customer.preferred_locales = changes.preferred_locales
    customer.metadata_ = merge_metadata(customer.metadata_, changes.metadata)
    return customer


def delete_customer(customer: Customer) -> Customer:
    customer.deleted = True
    return customer
