from __future__ import annotations

from relink.models import Customer
from relink.tenancy import ScopedRepository


class CustomerRepository(ScopedRepository[Customer]):
    model = Customer
    object_name = "customer"
