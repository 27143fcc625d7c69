"""Transitions of the connection lifecycle (spec 30-banks §3).

Each function changes state and writes the matching events (and so their webhook
deliveries) in the caller's transaction; none commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from relink.accounts.repository import AccountRepository
from relink.accounts.schemas import render_account, render_status_details
from relink.authorizations.consent import record_consent
from relink.authorizations.repository import AuthorizationRepository
from relink.authorizations.schemas import render_authorization
from relink.connectors.base import Tan
from relink.eligibility.rules import ABOUT_TO_BREAK, relink_due_at
from relink.events.service import emit
from relink.kit import ids
from relink.kit.clock import to_unix
from relink.kit.provenance import EventContext
from relink.lifecycle.revocation import request_revoke
from relink.models import (
    Account,
    AccountNumber,
    Authorization,
    ConnectionStatus,
    ConsentActor,
    ConsentKind,
    EventType,
    InactiveCause,
    RelinkAction,
    TanStatus,
)
from relink.tenancy import Scope

# Causes that concern one account, not the consent behind its authorization.
ACCOUNT_ONLY_CAUSES = (InactiveCause.account_closed, InactiveCause.account_unavailable)


class Lifecycle:
    """Lifecycle transitions for one scope, in one session."""

    def __init__(self, session: Session, scope: Scope, context: EventContext) -> None:
        self.session = session
        self.scope = scope
        self.context = context
        self.accounts = AccountRepository(session, scope)
        self.authorizations = AuthorizationRepository(session, scope)

    # -- helpers -------------------------------------------------------------------------

    def refresh_relink_due(self, account: Account) -> None:
        numbers = self.accounts.account_numbers([account.id]).get(account.id, [])
        account.relink_due_at = relink_due_at(account, numbers)

    def status_snapshot(self, account: Account) -> dict[str, Any]:
        return {
            "status": account.status,
            "status_details": render_status_details(
                account.status,
                account.inactive_action,
                account.inactive_cause,
                account.expected_deactivation_at,
                account.expected_deactivation_cause,
            ),
        }

    def emit_account_event(
        self, event_type: EventType, account: Account, previous: dict[str, Any] | None = None
    ) -> None:
        self.session.flush()
        emit(
            self.session,
            self.scope,
            event_type,
            render_account(self.session, self.scope, account),
            self.context,
            previous_attributes=previous,
        )

    def emit_authorization_event(self, event_type: EventType, authorization: Authorization) -> None:
        self.session.flush()
        emit(
            self.session,
            self.scope,
            event_type,
            render_authorization(self.session, self.scope, authorization),
            self.context,
        )

    # -- transitions ---------------------------------------------------------------------

    def deactivate(self, account: Account, cause: InactiveCause) -> list[Account]:
        """The account becomes inactive, with its whole authorization unless the cause concerns
        only this account (closed, unavailable)."""
        now = self.scope.now()
        action = (
            RelinkAction.none
            if cause == InactiveCause.account_closed
            else RelinkAction.relink_required
        )
        if cause == InactiveCause.account_closed:
            affected = [account]
        else:
            authorization = self.authorizations.get(account.authorization_id)
            if cause == InactiveCause.access_denied and not (
                authorization.status == ConnectionStatus.inactive
                and authorization.inactive_cause == cause
            ):
                # The bank says the consent was withdrawn (by the holder at the bank).
                record_consent(
                    self.session,
                    self.scope,
                    authorization,
                    ConsentKind.revoked,
                    ConsentActor.bank,
                    at=now,
                )
            authorization.status = ConnectionStatus.inactive
            authorization.inactive_action = action
            authorization.inactive_cause = cause
            authorization.expected_deactivation_at = None
            authorization.updated_at = now
            affected = [
                sibling
                for sibling in self.accounts.of_authorization(authorization.id)
                if sibling.status != ConnectionStatus.disconnected
            ]
        changed = []
        for target in affected:
            if (
                target.status == ConnectionStatus.inactive
                and target.inactive_cause == cause
                and target.inactive_action == action
            ):
                continue
            previous = self.status_snapshot(target)
            target.status = ConnectionStatus.inactive
            target.inactive_action = action
            target.inactive_cause = cause
            target.expected_deactivation_at = None
            target.expected_deactivation_cause = None
            target.deactivated_at = now
            target.updated_at = now
            self.refresh_relink_due(target)
            self.emit_account_event(EventType.account_deactivated, target, previous)
            changed.append(target)
        return changed

    def update_account_numbers(
        self,
        account: Account,
        *,
        expected_expiry_at: dt.datetime | None,
        status: TanStatus | None,
        clear_expiry: bool = False,
    ) -> AccountNumber:
        """Change the account's TAN (creating one if it has none)."""
        now = self.scope.now()
        numbers = self.accounts.account_numbers([account.id]).get(account.id, [])
        number = numbers[-1] if numbers else None
        if number is None:
            number = AccountNumber(
                id=ids.new("fcanum"),
                platform_id=account.platform_id,
                livemode=account.livemode,
                account_id=account.id,
                identifier_type="tokenized_account_number",
                status=TanStatus.transactable,
                supported_networks=["ach"],
                created_at=now,
            )
            self.session.add(number)
        previous = {"account_numbers": [_number_snapshot(n) for n in numbers]}
        if expected_expiry_at is not None or clear_expiry:
            number.expected_expiry_at = expected_expiry_at
        if status is not None:
            number.status = status
        self.session.flush()
        self.refresh_relink_due(account)
        account.updated_at = now
        self.emit_account_event(EventType.account_account_numbers_updated, account, previous)
        self.warn_upcoming_expiry(account, number)
        return number

    def warn_upcoming_expiry(self, account: Account, number: AccountNumber) -> bool:
        """Emit ``upcoming_account_number_expiry`` once per TAN per expiry date."""
        now = self.scope.now()
        expiry = number.expected_expiry_at
        if (
            expiry is None
            or number.status not in (TanStatus.transactable, TanStatus.pending)
            or expiry <= now
            or expiry - now > ABOUT_TO_BREAK
            or number.expiry_warned_for == expiry
        ):
            return False
        number.expiry_warned_for = expiry
        self.emit_account_event(EventType.account_upcoming_account_number_expiry, account)
        return True

    def add_account_number(self, account: Account, tan: Tan) -> AccountNumber:
        """Record a payment-network number the bank reported for the account."""
        number = AccountNumber(
            id=ids.new("fcanum"),
            platform_id=account.platform_id,
            livemode=account.livemode,
            account_id=account.id,
            identifier_type=(
                "tokenized_account_number" if tan.expected_expiry_date else "account_number"
            ),
            status=TanStatus(tan.status.value),
            expected_expiry_at=tan.expected_expiry_date,
            supported_networks=["ach"],
            routing_number=tan.routing_number or None,
            number_last4=tan.number[-4:] if tan.number else account.last4,
            created_at=self.scope.now(),
        )
        self.session.add(number)
        self.session.flush()
        return number

    def expire_account_number(self, account: Account, number: AccountNumber) -> None:
        """The TAN's expiry date passed: it is ``expired`` (once)."""
        if number.status in (TanStatus.expired, TanStatus.deactivated):
            return
        numbers = self.accounts.account_numbers([account.id]).get(account.id, [])
        previous = {"account_numbers": [_number_snapshot(n) for n in numbers]}
        number.status = TanStatus.expired
        account.updated_at = self.scope.now()
        self.session.flush()
        self.refresh_relink_due(account)
        self.emit_account_event(EventType.account_account_numbers_updated, account, previous)

    def warn_upcoming_deactivation(self, account: Account) -> bool:
        """Emit ``upcoming_deactivation`` once per expected deactivation date (and once for
        the authorization)."""
        now = self.scope.now()
        expected = account.expected_deactivation_at
        if (
            expected is None
            or account.status != ConnectionStatus.active
            or expected <= now
            or expected - now > ABOUT_TO_BREAK
            or account.deactivation_warned_for == expected
        ):
            return False
        account.deactivation_warned_for = expected
        self.emit_account_event(EventType.account_upcoming_deactivation, account)
        authorization = self.authorizations.get(account.authorization_id)
        if authorization.deactivation_warned_for != expected:
            authorization.deactivation_warned_for = expected
            self.emit_authorization_event(
                EventType.authorization_upcoming_deactivation, authorization
            )
        return True

    def set_expected_deactivation(
        self, account: Account, expected_at: dt.datetime | None
    ) -> list[Account]:
        """Set (or clear) the expected deactivation date of the account's authorization."""
        now = self.scope.now()
        authorization = self.authorizations.get(account.authorization_id)
        authorization.expected_deactivation_at = expected_at
        authorization.expected_deactivation_cause = "access_expired" if expected_at else None
        authorization.updated_at = now
        changed = []
        for target in self.accounts.of_authorization(authorization.id):
            if target.status != ConnectionStatus.active:
                continue
            previous = self.status_snapshot(target)
            target.expected_deactivation_at = expected_at
            target.expected_deactivation_cause = "access_expired" if expected_at else None
            target.updated_at = now
            self.refresh_relink_due(target)
            self.emit_account_event(
                EventType.account_expected_deactivation_date_updated, target, previous
            )
            changed.append(target)
        self.emit_authorization_event(
            EventType.authorization_expected_deactivation_date_updated, authorization
        )
        return changed

    def disconnect(self, account: Account, *, actor: ConsentActor) -> Account:
        """The account is disconnected; with its authorization's last one the consent ends
        (revoked at the bank by the worker, and a ``revoked`` entry by ``actor``)."""
        if account.status == ConnectionStatus.disconnected:
            return account
        now = self.scope.now()
        previous = self.status_snapshot(account)
        account.status = ConnectionStatus.disconnected
        account.inactive_action = None
        account.inactive_cause = None
        account.expected_deactivation_at = None
        account.expected_deactivation_cause = None
        account.subscriptions = []
        account.updated_at = now
        self.refresh_relink_due(account)
        self.emit_account_event(EventType.account_disconnected, account, previous)
        siblings = self.accounts.of_authorization(account.authorization_id)
        if all(s.status == ConnectionStatus.disconnected for s in siblings):
            authorization = self.authorizations.get(account.authorization_id)
            authorization.status = ConnectionStatus.disconnected
            authorization.updated_at = now
            record_consent(
                self.session, self.scope, authorization, ConsentKind.revoked, actor, at=now
            )
            # The consent is no longer used: revoke it at the bank (in the worker).
            request_revoke(self.session, self.scope, authorization.id)
        return account


def _number_snapshot(number: AccountNumber) -> dict[str, Any]:
    return {
        "expected_expiry_date": to_unix(number.expected_expiry_at),
        "identifier_type": number.identifier_type,
        "status": number.status,
        "supported_networks": number.supported_networks,
    }
