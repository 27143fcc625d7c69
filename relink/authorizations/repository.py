from __future__ import annotations

from relink.models import Authorization
from relink.tenancy import ScopedRepository


class AuthorizationRepository(ScopedRepository[Authorization]):
    model = Authorization
    object_name = "financial_connections.authorization"
