"""All tables, one module per aggregate. Importing this package registers them all."""

from relink.models.base import Base
from relink.models.connections import (
    Account,
    AccountNumber,
    Authorization,
    ConnectionStatus,
    HolderType,
    InactiveCause,
    Institution,
    InstitutionHealth,
    RelinkAction,
    TanStatus,
)
from relink.models.events import Event, WebhookAttempt, WebhookEndpoint
from relink.models.holders import ConnectedAccount, Customer
from relink.models.idempotency import IdempotencyRecord
from relink.models.outbox import OutboxMessage, OutboxStatus, ScheduledScan
from relink.models.platforms import ApiKey, Platform, Role, User
from relink.models.sessions import Session, SessionStatus, SessionTimelineEntry, TimelineKind

__all__ = [
    "Account",
    "AccountNumber",
    "ApiKey",
    "Authorization",
    "Base",
    "ConnectedAccount",
    "ConnectionStatus",
    "Customer",
    "Event",
    "HolderType",
    "IdempotencyRecord",
    "InactiveCause",
    "Institution",
    "InstitutionHealth",
    "OutboxMessage",
    "OutboxStatus",
    "Platform",
    "RelinkAction",
    "Role",
    "ScheduledScan",
    "Session",
    "SessionStatus",
    "SessionTimelineEntry",
    "TanStatus",
    "TimelineKind",
    "User",
    "WebhookAttempt",
    "WebhookEndpoint",
]
