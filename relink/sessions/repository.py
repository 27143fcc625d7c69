from __future__ import annotations

from sqlalchemy import Select

from relink.models import Session, SessionStatus
from relink.tenancy import ScopedRepository


class SessionRepository(ScopedRepository[Session]):
    model = Session
    object_name = "financial_connections.session"

    def pending_hosted_for_account(self, account_id: str) -> Select[Session]:
        return self.select().where(
            Session.relink_account_id == account_id,
            Session.status == SessionStatus.pending,
            Session.ui_mode == "hosted",
        )
