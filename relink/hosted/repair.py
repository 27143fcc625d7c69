"""The repair transition that ends a successful hosted relink (spec 20-relink §4 "Done").

In the caller's transaction: the authorization and the repaired accounts become
``active`` with their status details cleared (an expected deactivation stays only when
the bank reports one), the new grant is sealed on the authorization, a fresh account
number (TAN) is fetched from the bank and stored with its new expiry, ``relink_due_at``
is recomputed, account events are emitted, and the session succeeds with its
``relink_result``. Newly shared accounts of an authorization-wide relink are added, and
each repaired account's first refresh is queued (its outcome, ``data_refreshed`` or
``refresh_failed``, goes on the session's timeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session as DbSession

from relink.authorizations.consent import grant_detail, record_consent
from relink.connectors.base import BankAccount, Connector, Grant, Tan
from relink.email.consent_receipt import queue_consent_receipt
from relink.hosted.connect import EXPECTED_DEACTIVATION_CAUSE, add_account
from relink.hosted.links import HostedLink
from relink.kit.provenance import EventContext
from relink.lifecycle.grants import open_grant, store_grant
from relink.lifecycle.refresh import request_repair_proof
from relink.lifecycle.revocation import request_end_replaced
from relink.lifecycle.service import Lifecycle
from relink.models import (
    Account,
    ConnectionStatus,
    ConsentActor,
    ConsentKind,
    EventType,
    SessionStatus,
    TanStatus,
)
from relink.runtime import Runtime
from relink.sessions.service import SessionService


@dataclass
class Repaired:
    repaired: list[Account] = field(default_factory=list)
    added: list[Account] = field(default_factory=list)


def repair(
    db: DbSession,
    link: HostedLink,
    *,
    runtime: Runtime,
    context: EventContext,
    grant: Grant,
    shared: list[BankAccount],
    matches: list[tuple[Account, BankAccount]],
    numbers: dict[str, Tan],
    bank_user: str | None = None,
    end_replaced: bool = False,
) -> Repaired:
    """Repair ``matches`` (previously linked accounts the bank shares again) and, for an
    authorization-wide session, add the shared accounts Relink did not know yet.

    ``end_replaced``: the connector's banks keep the old consent alive, so it is ended at
    the bank through the outbox once this commits (never inside the holder's request)."""
    scope = link.scope
    lifecycle = Lifecycle(db, scope, context)
    now = scope.now()
    authorization, session = link.authorization, link.session
    assert authorization is not None
    expected = grant.expected_deactivation_date
    expected_cause = EXPECTED_DEACTIVATION_CAUSE if expected else None

    authorization.status = ConnectionStatus.active
    authorization.inactive_action = None
    authorization.inactive_cause = None
    authorization.expected_deactivation_at = expected
    authorization.expected_deactivation_cause = expected_cause
    authorization.authenticated_at = now
    authorization.updated_at = now
    if bank_user is not None:
        authorization.bank_user = bank_user
    replaced = authorization.grant_sealed if end_replaced else None
    if replaced is not None and open_grant(runtime, authorization).secrets == grant.secrets:
        replaced = None  # the bank renewed the same consent: nothing to end
    store_grant(runtime, authorization, grant)
    if replaced is not None:
        request_end_replaced(db, scope, authorization.id, replaced)

    result = Repaired()
    for account, bank_account in matches:
        was_inactive = account.status == ConnectionStatus.inactive
        previous = lifecycle.status_snapshot(account)
        deactivation_changed = account.expected_deactivation_at != expected
        account.status = ConnectionStatus.active
        account.inactive_action = None
        account.inactive_cause = None
        account.expected_deactivation_at = expected
        account.expected_deactivation_cause = expected_cause
        account.permissions = sorted(set(account.permissions) | set(session.permissions))
        if bank_account.last4:
            account.last4 = bank_account.last4[-4:]
        account.updated_at = now
        lifecycle.refresh_relink_due(account)
        if was_inactive:
            lifecycle.emit_account_event(EventType.account_reactivated, account, previous)
        elif deactivation_changed:
            lifecycle.emit_account_event(
                EventType.account_expected_deactivation_date_updated, account, previous
            )
        _store_number(lifecycle, account, numbers.get(bank_account.stable_id))
        result.repaired.append(account)

    if link.target is None:
        known = {a.bank_account_id for a in lifecycle.accounts.of_authorization(authorization.id)}
        result.added = [
            add_account(lifecycle, session, authorization, b, numbers.get(b.stable_id))
            for b in shared
            if b.stable_id not in known
        ]

    covered = [*result.repaired, *result.added]
    record_consent(
        db,
        scope,
        authorization,
        ConsentKind.renewed,
        ConsentActor.holder,
        {**grant_detail(authorization, covered, session.permissions), "session": session.id},
        at=now,
    )
    queue_consent_receipt(db, scope, session.id, authorization.id)
    session.collected_account_ids = [a.id for a in covered]
    SessionService(db, scope, runtime, context).finish(
        session,
        SessionStatus.succeeded,
        result_authorization=authorization.id,
        result_account=link.target.id if link.target is not None else None,
    )
    if session.delivery_method is not None:
        # Proof of repair: the worker refreshes each repaired account once this commits.
        for account in result.repaired:
            request_repair_proof(db, scope, account, session.id)
    return result


def wants_number(
    lifecycle: Lifecycle, account: Account | None, permissions: list[str], bank: BankAccount
) -> bool:
    """Whether to fetch this account's ACH number: it can do ACH and has (or asks for) one."""
    if not bank.supports_ach:
        return False
    if "payment_method" in permissions:
        return True
    return account is not None and bool(
        lifecycle.accounts.account_numbers([account.id]).get(account.id)
    )


def fetch_numbers(
    connector: Connector, grant: Grant, accounts: list[BankAccount]
) -> dict[str, Tan]:
    """The fresh ACH number of each account, from the bank (before any state changes, so a
    bank failure leaves nothing half-repaired)."""
    numbers: dict[str, Tan] = {}
    for bank_account in accounts:
        tans = connector.account_numbers(grant, bank_account.stable_id)
        if tans:
            numbers[bank_account.stable_id] = tans[0]
    return numbers


def _store_number(lifecycle: Lifecycle, account: Account, tan: Tan | None) -> None:
    if tan is None:
        return
    number = lifecycle.update_account_numbers(
        account,
        expected_expiry_at=tan.expected_expiry_date,
        status=TanStatus(tan.status.value),
        clear_expiry=True,
    )
    number.routing_number = tan.routing_number
    number.number_last4 = tan.number[-4:]
