"""All tables, one module per aggregate. Importing this package registers them all."""

from relink.models.automation import AutomaticRelink, RelinkPolicy
from relink.models.bank_data import AccountInferredBalance, AccountOwner, AccountTransaction
from relink.models.base import Base
from relink.models.bulk import BulkJobStatus, BulkRelinkJob
from relink.models.connections import (
    Account,
    AccountNumber,
    Authorization,
    ConnectionStatus,
    ConsentActor,
    ConsentEvent,
    ConsentKind,
    HolderType,
    InactiveCause,
    Institution,
    InstitutionHealth,
    RelinkAction,
    TanStatus,
)
from relink.models.dashboard import (
    BrandingDraft,
    DashboardLogin,
    EmailConfirmation,
    LoginAttempt,
    PasswordReset,
    SelectedAccount,
)
from relink.models.events import (
    EndpointStatus,
    Event,
    EventType,
    WebhookAttempt,
    WebhookEndpoint,
)
from relink.models.holders import ConnectedAccount, Customer
from relink.models.hosted import FlowStep, HostedFlow, InstitutionWait, LinkVisit
from relink.models.idempotency import IdempotencyRecord
from relink.models.incidents import Incident
from relink.models.mailbox import (
    GIVEN_UP,
    BounceReport,
    BounceToken,
    DeliveryState,
    DkimKey,
    EmailDelivery,
    EmailSuppression,
    MailboxMessage,
    OptOutSource,
    ReminderOptOut,
    SuppressionReason,
)
from relink.models.outbox import OutboxMessage, OutboxStatus, ScheduledScan
from relink.models.platforms import ApiKey, Platform, Role, User
from relink.models.reports import OutreachDay, OutreachMonth, OutreachRollup
from relink.models.sessions import (
    AUTOMATION,
    RelinkBundle,
    Session,
    SessionStatus,
    SessionTimelineEntry,
    TimelineKind,
)

__all__ = [
    "AUTOMATION",
    "GIVEN_UP",
    "Account",
    "AccountInferredBalance",
    "AccountNumber",
    "AccountOwner",
    "AccountTransaction",
    "ApiKey",
    "Authorization",
    "AutomaticRelink",
    "Base",
    "BounceReport",
    "BounceToken",
    "BrandingDraft",
    "BulkJobStatus",
    "BulkRelinkJob",
    "ConnectedAccount",
    "ConnectionStatus",
    "ConsentActor",
    "ConsentEvent",
    "ConsentKind",
    "Customer",
    "DashboardLogin",
    "DeliveryState",
    "DkimKey",
    "EmailConfirmation",
    "EmailDelivery",
    "EmailSuppression",
    "EndpointStatus",
    "Event",
    "EventType",
    "FlowStep",
    "HolderType",
    "HostedFlow",
    "IdempotencyRecord",
    "InactiveCause",
    "Incident",
    "Institution",
    "InstitutionHealth",
    "InstitutionWait",
    "LinkVisit",
    "LoginAttempt",
    "MailboxMessage",
    "OptOutSource",
    "OutboxMessage",
    "OutboxStatus",
    "OutreachDay",
    "OutreachMonth",
    "OutreachRollup",
    "PasswordReset",
    "Platform",
    "RelinkAction",
    "RelinkBundle",
    "RelinkPolicy",
    "ReminderOptOut",
    "Role",
    "ScheduledScan",
    "SelectedAccount",
    "Session",
    "SessionStatus",
    "SessionTimelineEntry",
    "SuppressionReason",
    "TanStatus",
    "TimelineKind",
    "User",
    "WebhookAttempt",
    "WebhookEndpoint",
]
