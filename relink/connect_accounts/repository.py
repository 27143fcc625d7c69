from __future__ import annotations

from relink.models import ConnectedAccount
from relink.tenancy import ScopedRepository


class ConnectedAccountRepository(ScopedRepository[ConnectedAccount]):
    model = ConnectedAccount
    object_name = "account"
