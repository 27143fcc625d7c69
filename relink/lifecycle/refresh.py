"""Refreshing account data at the bank, in the worker (spec 10-api refresh/subscribe,
30-banks §3 "refresh finds …").

The API marks the refresh ``pending`` and writes an outbox row; the worker calls the
connector outside any transaction, then applies the outcome in one transaction: data
and ``refreshed_*`` events on success; the account (and its authorization) ``inactive``
when the bank says access is gone; nothing but a retry and a ``degraded`` institution
when the bank is down.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from relink.accounts.repository import AccountRepository
from relink.connectors.base import (
    AccessDenied,
    AccessExpired,
    AccountClosed,
    AccountUnavailable,
    Balance,
    ChallengeRequired,
    ConnectorError,
    Grant,
    InstitutionDown,
    InstitutionRequirement,
    Owner,
    RateLimited,
    Tan,
    Transaction,
)
from relink.institutions.connectors import ConnectorUnavailable, connector_for
from relink.institutions.health import record_call_outcome
from relink.institutions.repository import InstitutionRepository
from relink.kit import clock, ids
from relink.kit.clock import to_unix
from relink.kit.provenance import EventContext
from relink.lifecycle.grants import GrantMissing, open_grant, store_grant
from relink.lifecycle.inferred_balances import (
    DailyBalance,
    infer_daily_balances,
    store_inferred_balances,
)
from relink.lifecycle.service import Lifecycle
from relink.models import (
    Account,
    AccountOwner,
    AccountTransaction,
    ConnectionStatus,
    EventType,
    InactiveCause,
    Session,
    TanStatus,
    TimelineKind,
)
from relink.outbox.handlers import DEFAULT_MAX_ATTEMPTS, Job, RetryLater
from relink.outbox.store import enqueue
from relink.sessions import timeline
from relink.tenancy import Scope, load_platform_scope

REFRESH = "connector.refresh"

REFRESH_FIELDS = {
    "balance": "balance_refresh",
    "ownership": "ownership_refresh",
    "transactions": "transaction_refresh",
    "inferred_balances": "inferred_balances_refresh",
}
EVENTS = {
    "balance": EventType.account_refreshed_balance,
    "ownership": EventType.account_refreshed_ownership,
    "transactions": EventType.account_refreshed_transactions,
    "inferred_balances": EventType.account_refreshed_inferred_balances,
}
# What the lifecycle does with each "access is gone" answer from the bank.
DEACTIVATING: dict[type[ConnectorError], InactiveCause] = {
    AccessDenied: InactiveCause.access_denied,
    AccessExpired: InactiveCause.access_expired,
    ChallengeRequired: InactiveCause.institution_requirement,
    InstitutionRequirement: InactiveCause.institution_requirement,
    AccountClosed: InactiveCause.account_closed,
    AccountUnavailable: InactiveCause.account_unavailable,
}
TRANSACTIONS_LOOKBACK = dt.timedelta(days=180)
# The data a repaired account is refreshed for, by the permission that allows it.
REPAIR_PROOF_FEATURES = {
    "balances": "balance",
    "ownership": "ownership",
    "transactions": "transactions",
}


def _refresh_state(
    status: str, now: dt.datetime, *, refresh_id: str | None = None
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "last_attempted_at": to_unix(now),
        "next_refresh_available_at": None if status == "pending" else to_unix(now),
        "status": status,
    }
    if refresh_id is not None:
        state = {"id": refresh_id, **state}
    return state


def request_refresh(
    db: DbSession,
    scope: Scope,
    account: Account,
    features: list[str],
    *,
    after_repair: str | None = None,
) -> None:
    """Mark the features ``pending`` and queue the bank call (balance, ownership,
    transactions, inferred balances).

    ``after_repair``: the relink session that just repaired the account. The refresh is
    its proof of repair: it is queued even with no feature to fetch (the account
    numbers are always asked for), and its outcome goes on that session's timeline."""
    now = scope.now()
    wanted = [f for f in dict.fromkeys(features) if f in REFRESH_FIELDS]
    for feature in wanted:
        refresh_id = ids.new("fctxnref") if feature == "transactions" else None
        setattr(
            account, REFRESH_FIELDS[feature], _refresh_state("pending", now, refresh_id=refresh_id)
        )
    account.updated_at = now
    if wanted or after_repair is not None:
        payload: dict[str, Any] = {"account_id": account.id, "features": wanted}
        if after_repair is not None:
            payload["after_repair"] = after_repair
        enqueue(
            db,
            REFRESH,
            payload,
            dedupe_key=f"refresh:{account.id}:{ids.new('rq')}",
            platform_id=scope.platform_id,
            livemode=scope.livemode,
        )


def request_repair_proof(db: DbSession, scope: Scope, account: Account, session_id: str) -> None:
    """Refresh an account a relink session has just repaired, for the data its
    permissions allow (spec: proof of repair)."""
    features = [f for p, f in REPAIR_PROOF_FEATURES.items() if p in account.permissions]
    request_refresh(db, scope, account, features, after_repair=session_id)


def _scope_of(db: DbSession, job: Job) -> Scope:
    return load_platform_scope(db, job.message.platform_id or "", bool(job.message.livemode))


@dataclass
class BankAnswers:
    balance: Balance | None = None
    owners: list[Owner] | None = None
    transactions: list[Transaction] | None = None
    # The account numbers the bank reports now (a bank may deactivate a TAN any time).
    tans: list[Tan] | None = None
    inferred_balances: list[DailyBalance] | None = None
    error: ConnectorError | None = None
    done: list[str] = field(default_factory=list)


def run_refresh(job: Job) -> None:
    runtime = job.runtime
    payload = job.message.payload
    features: list[str] = list(payload["features"])
    with runtime.database.read_only() as db:
        scope = _scope_of(db, job)
        account = AccountRepository(db, scope).find(payload["account_id"])
        if account is None or account.status != ConnectionStatus.active:
            authorization = None
        else:
            authorization = Lifecycle(db, scope, _context(job)).authorizations.get(
                account.authorization_id
            )
            institution = InstitutionRepository(db, scope.livemode).get(account.institution_id)
    if account is None:
        return
    answers = BankAnswers()
    grant = None
    if authorization is not None:
        try:
            grant = open_grant(runtime, authorization)
            connector = connector_for(runtime, institution, scope)
        except (GrantMissing, ConnectorUnavailable) as missing:
            answers.error = ConnectorError(str(missing))
        else:
            since = scope.now() - TRANSACTIONS_LOOKBACK
            try:
                for feature in features:
                    if feature == "balance":
                        answers.balance = connector.refresh_balance(grant, account.bank_account_id)
                    elif feature == "ownership":
                        answers.owners = connector.refresh_ownership(grant, account.bank_account_id)
                    elif feature == "transactions":
                        answers.transactions = connector.refresh_transactions(
                            grant, account.bank_account_id, since=since
                        )
                    elif feature == "inferred_balances":
                        # Worked out from the bank's balance and transactions, both
                        # asked for afresh: neither is stored unless also requested.
                        answers.inferred_balances = infer_daily_balances(
                            connector.refresh_balance(grant, account.bank_account_id),
                            connector.refresh_transactions(
                                grant, account.bank_account_id, since=since
                            ),
                            since=since,
                        )
                    answers.done.append(feature)
                answers.tans = connector.account_numbers(grant, account.bank_account_id)
            except ConnectorError as error:
                answers.error = error
    else:
        answers.error = ConnectorError("the account is not active")

    retry_after: int | None = None
    with runtime.database.unit_of_work() as db:
        lifecycle = Lifecycle(db, scope, _context(job))
        fresh = lifecycle.accounts.select().where(Account.id == account.id)
        if db.get_bind().dialect.name == "postgresql":
            fresh = fresh.with_for_update()
        current = db.scalars(fresh).one()
        if grant is not None and grant.rotated and authorization is not None:
            store_grant(runtime, lifecycle.authorizations.get(authorization.id), grant)
        retry_after = _apply(db, lifecycle, current, features, answers)
        repaired_by = payload.get("after_repair")
        if repaired_by and (retry_after is None or job.message.attempts >= DEFAULT_MAX_ATTEMPTS):
            # The bank stayed unavailable for every attempt: the proof failed for good.
            _record_repair_proof(
                db, scope, str(repaired_by), current.id, features, answers, authorization is None
            )
            retry_after = None
    if retry_after is not None:
        raise RetryLater(
            f"bank unavailable: {answers.error}",
            delay=dt.timedelta(seconds=max(30, retry_after)),
        )


# Why a refresh after a repair failed, by the bank's answer (the deactivating ones by
# the cause they give the account).
REFRESH_FAILURE_REASONS: dict[type[ConnectorError], str] = {
    **{error: cause.value for error, cause in DEACTIVATING.items()},
    InstitutionDown: "institution_down",
    RateLimited: "rate_limited",
}


def _record_repair_proof(
    db: DbSession,
    scope: Scope,
    session_id: str,
    account_id: str,
    features: list[str],
    answers: BankAnswers,
    account_inactive: bool,
) -> None:
    """``data_refreshed`` or ``refresh_failed`` (with the reason) on the repairing
    session's timeline."""
    session = db.get(Session, session_id)
    if session is None or (session.platform_id, session.livemode) != (
        scope.platform_id,
        scope.livemode,
    ):
        return
    now = scope.now()
    error = answers.error
    if error is None:
        timeline.record(
            db, session_id, TimelineKind.data_refreshed, now, account=account_id, features=features
        )
        return
    detail: dict[str, object] = {"account": account_id}
    if account_inactive:
        detail["reason"] = "account_inactive"
    else:
        detail["reason"] = REFRESH_FAILURE_REASONS.get(type(error), "bank_error")
        detail["error"] = type(error).__name__
        if error.bank_codes:
            detail["bank_codes"] = list(error.bank_codes)
    timeline.record(db, session_id, TimelineKind.refresh_failed, now, **detail)


def _context(job: Job) -> EventContext:
    return EventContext()


def _apply(
    db: DbSession, lifecycle: Lifecycle, account: Account, features: list[str], answers: BankAnswers
) -> int | None:
    """Apply what the bank said; returns seconds to wait when the bank was down."""
    scope = lifecycle.scope
    now = scope.now()
    institution = InstitutionRepository(db, scope.livemode).get(account.institution_id)
    error = answers.error
    # The institution is every platform's: its health is told in real time, not a test clock's.
    record_call_outcome(db, institution, error, clock.now())
    if isinstance(error, InstitutionDown):
        return error.retry_after or 300
    if isinstance(error, RateLimited):
        # Relink asked too often (frequencyPerDay): back off; the bank and the account
        # are fine. What was fetched before the limit is kept.
        for feature in answers.done:
            _store_feature(db, lifecycle, account, feature, answers, now)
        return error.retry_after or 3600
    for feature in answers.done:
        _store_feature(db, lifecycle, account, feature, answers, now)
    failed = [f for f in features if f not in answers.done]
    for feature in failed:
        current = getattr(account, REFRESH_FIELDS[feature]) or {}
        setattr(
            account,
            REFRESH_FIELDS[feature],
            _refresh_state(
                "failed", now, refresh_id=current.get("id") if feature == "transactions" else None
            ),
        )
    if (
        error is not None
        and type(error) in DEACTIVATING
        and account.status == ConnectionStatus.active
    ):
        lifecycle.deactivate(account, DEACTIVATING[type(error)])
    elif failed and account.status == ConnectionStatus.active:
        for feature in failed:
            lifecycle.emit_account_event(EVENTS[feature], account)
    if error is None and answers.tans is not None and account.status == ConnectionStatus.active:
        _reconcile_account_numbers(lifecycle, account, answers.tans)
    account.updated_at = now
    return None


def _reconcile_account_numbers(lifecycle: Lifecycle, account: Account, tans: list[Tan]) -> None:
    """Record a change the bank made to the account's number (e.g. it deactivated the TAN)."""
    reported = next((tan for tan in tans if tan.number), None)
    if reported is None:
        return
    numbers = lifecycle.accounts.account_numbers([account.id]).get(account.id, [])
    current = numbers[-1] if numbers else None
    status = TanStatus(reported.status.value)
    if current is not None and (current.status, current.expected_expiry_at) == (
        status,
        reported.expected_expiry_date,
    ):
        return
    lifecycle.update_account_numbers(
        account,
        expected_expiry_at=reported.expected_expiry_date,
        status=status,
        clear_expiry=reported.expected_expiry_date is None,
    )


def _store_feature(
    db: DbSession,
    lifecycle: Lifecycle,
    account: Account,
    feature: str,
    answers: BankAnswers,
    now: dt.datetime,
) -> None:
    scope = lifecycle.scope
    if feature == "balance" and answers.balance is not None:
        account.balance = _render_balance(answers.balance)
        account.balance_refresh = _refresh_state("succeeded", now)
    elif feature == "ownership" and answers.owners is not None:
        ownership_id = ids.new("fcaowns")
        for owner in answers.owners:
            db.add(
                AccountOwner(
                    id=ids.new("fcaown"),
                    platform_id=scope.platform_id,
                    livemode=scope.livemode,
                    account_id=account.id,
                    ownership_id=ownership_id,
                    name=owner.name,
                    email=owner.email,
                    phone=owner.phone,
                    raw_address=owner.raw_address,
                    refreshed_at=now,
                )
            )
        account.ownership_id = ownership_id
        account.ownership_refresh = _refresh_state("succeeded", now)
    elif feature == "transactions" and answers.transactions is not None:
        refresh_id = (account.transaction_refresh or {}).get("id") or ids.new("fctxnref")
        _upsert_transactions(db, scope, account, answers.transactions, refresh_id, now)
        account.transaction_refresh = _refresh_state("succeeded", now, refresh_id=refresh_id)
    elif feature == "inferred_balances" and answers.inferred_balances is not None:
        store_inferred_balances(db, scope, account, answers.inferred_balances)
        account.inferred_balances_refresh = _refresh_state("succeeded", now)
    db.flush()
    lifecycle.emit_account_event(EVENTS[feature], account)


def _render_balance(balance: Balance) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "as_of": to_unix(balance.as_of),
        "current": balance.current,
        "type": balance.kind,
    }
    if balance.kind == "cash":
        rendered["cash"] = {"available": balance.available}
    else:
        rendered["credit"] = {"used": balance.current}
    return rendered


def _upsert_transactions(
    db: DbSession,
    scope: Scope,
    account: Account,
    transactions: list[Transaction],
    refresh_id: str,
    now: dt.datetime,
) -> None:
    if not transactions:
        return
    rows = [
        {
            "id": ids.new("fctxn"),
            "platform_id": scope.platform_id,
            "livemode": scope.livemode,
            "account_id": account.id,
            "bank_transaction_id": t.stable_id,
            "amount": t.amount,
            "currency": t.currency,
            "description": t.description,
            "status": t.status,
            "transacted_at": t.transacted_at,
            "posted_at": t.posted_at,
            "transaction_refresh_id": refresh_id,
            "updated_at": now,
        }
        for t in transactions
    ]
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(AccountTransaction)
    statement = statement.on_conflict_do_update(
        index_elements=["account_id", "bank_transaction_id"],
        set_={
            "status": statement.excluded.status,
            "posted_at": statement.excluded.posted_at,
            "amount": statement.excluded.amount,
            "description": statement.excluded.description,
            "transaction_refresh_id": statement.excluded.transaction_refresh_id,
            "updated_at": statement.excluded.updated_at,
        },
    )
    db.execute(statement, rows)


def run_revoke(job: Job) -> None:
    """Revoke the grant at the bank after a disconnect, then forget it."""
    runtime = job.runtime
    with runtime.database.read_only() as db:
        scope = _scope_of(db, job)
        authorization = Lifecycle(db, scope, _context(job)).authorizations.find(
            job.message.payload["authorization_id"]
        )
        if authorization is None or authorization.grant_sealed is None:
            return
        institution = InstitutionRepository(db, scope.livemode).get(authorization.institution_id)
        grant = open_grant(runtime, authorization)
    try:
        connector_for(runtime, institution, scope).revoke(grant)
    except (InstitutionDown, RateLimited) as down:
        raise RetryLater(
            f"bank unavailable: {down}", delay=dt.timedelta(seconds=down.retry_after or 300)
        ) from None
    except (AccessDenied, AccessExpired):
        pass  # already gone at the bank
    with runtime.database.unit_of_work() as db:
        row = Lifecycle(db, scope, _context(job)).authorizations.get(authorization.id)
        if row.status == ConnectionStatus.disconnected:
            row.grant_sealed = None


def run_end_replaced(job: Job) -> None:
    """End at the bank the consent a relink replaced (its grant sealed in the message)."""
    runtime = job.runtime
    payload = job.message.payload
    with runtime.database.read_only() as db:
        scope = _scope_of(db, job)
        authorization = Lifecycle(db, scope, _context(job)).authorizations.find(
            payload["authorization_id"]
        )
        if authorization is None:
            return
        institution = InstitutionRepository(db, scope.livemode).get(authorization.institution_id)
    grant = Grant.deserialize(runtime.secret_box.open_bytes(str(payload["grant"]).encode()))
    try:
        connector_for(runtime, institution, scope).revoke(grant)
    except (InstitutionDown, RateLimited) as down:
        raise RetryLater(
            f"bank unavailable: {down}", delay=dt.timedelta(seconds=down.retry_after or 300)
        ) from None
    except (AccessDenied, AccessExpired):
        pass  # already gone at the bank


SUBSCRIPTION_INTERVAL = dt.timedelta(days=1)


def due_subscription_refreshes(lifecycle: Lifecycle) -> int:
    """Queue the daily refresh of subscribed active accounts (once a day per account)."""
    db, scope = lifecycle.session, lifecycle.scope
    now = scope.now()
    due = lifecycle.accounts.select().where(
        Account.status == ConnectionStatus.active,
        Account.next_subscription_refresh_at <= now,
    )
    count = 0
    for account in db.scalars(due):
        features = [f for f in account.subscriptions if f in REFRESH_FIELDS]
        account.next_subscription_refresh_at = now + SUBSCRIPTION_INTERVAL if features else None
        if features:
            request_refresh(db, scope, account, features)
            count += 1
    return count


def change_subscriptions(
    db: DbSession, scope: Scope, account: Account, features: list[str], *, subscribe: bool
) -> None:
    """Subscribe (refresh now, then daily) or unsubscribe the account's features."""
    current = list(account.subscriptions)
    if subscribe:
        added = [f for f in features if f not in current]
        account.subscriptions = current + added
        if added:
            request_refresh(db, scope, account, added)
    else:
        account.subscriptions = [f for f in current if f not in features]
    account.next_subscription_refresh_at = (
        scope.now() + SUBSCRIPTION_INTERVAL if account.subscriptions else None
    )
    account.updated_at = scope.now()
