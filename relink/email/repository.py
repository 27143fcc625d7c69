"""Scoped queries of the mailbox backend's messages (read by the dashboard's Mailbox page)."""

from __future__ import annotations

from relink.models import MailboxMessage
from relink.tenancy import ScopedRepository


class MailboxRepository(ScopedRepository[MailboxMessage]):
    model = MailboxMessage
    object_name = "mailbox_message"
