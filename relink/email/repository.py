"""Scoped queries of the mailbox backend's messages (read by the dashboard's Mailbox page)."""

from __future__ import annotations

from sqlalchemy import Select, or_
from sqlalchemy.orm import Session

from relink.models import MailboxMessage
from relink.tenancy import Scope, ScopedRepository


class MailboxRepository(ScopedRepository[MailboxMessage]):
    """The messages one team user (``reader``) may read: the platform's, except the
    account emails (invitations, password resets) sent to other users."""

    model = MailboxMessage
    object_name = "mailbox_message"

    def __init__(self, session: Session, scope: Scope, *, reader: str) -> None:
        super().__init__(session, scope)
        self.reader = reader

    def select(self) -> Select[MailboxMessage]:
        return (
            super()
            .select()
            .where(or_(MailboxMessage.user_id.is_(None), MailboxMessage.user_id == self.reader))
        )
