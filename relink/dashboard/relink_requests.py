"""Request relink from the dashboard: one account now, or a selection as a background job.

A selection is what the Accounts page submits: the checked account ids, or "all
matching this filter". The confirmation page previews it (emails, skips by reason);
confirming queues one bulk job whose dedupe key comes from the confirmation form, so
a double submit starts one job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session as DbSession

from relink.accounts.filters import AccountFilter, filtered_accounts, selected_accounts
from relink.accounts.repository import AccountRepository
from relink.bulk_requests.preview import (
    HOSTED_RELINK_DISABLED,
    BulkPreview,
    preview_bulk_request,
    skip_reason,
)
from relink.email.relink_request import session_holder
from relink.kit.errors import ApiError
from relink.kit.provenance import EventContext
from relink.models import Account, Session
from relink.runtime import Runtime
from relink.sessions.repository import SessionRepository
from relink.sessions.service import NewSession, SessionService
from relink.tenancy import Scope

# Checked rows travel in the form; more than a few pages' worth is a filter selection.
MAX_CHECKED = 1000
SKIPPED_SAMPLE = 100


@dataclass(frozen=True)
class Selection:
    account_ids: tuple[str, ...] = ()
    account_filter: AccountFilter | None = None
    # The ids are the user's selection kept across pages (relink.dashboard.selection):
    # the forms carry "selection=saved", not the ids.
    saved: bool = False

    @classmethod
    def from_form(cls, values: Mapping[str, Any], account_ids: list[str]) -> Selection:
        """``all_matching=1`` with the filter fields, or the checked ``account`` ids.

        Raises :class:`InvalidFilter` for a filter on an unknown status or cause."""
        if str(values.get("all_matching", "")) == "1":
            return cls(account_filter=AccountFilter.from_dict(values).check())
        cleaned = sorted({a for a in account_ids if a.startswith("fca_") and len(a) <= 40})
        return cls(account_ids=tuple(cleaned[:MAX_CHECKED]))

    @property
    def empty(self) -> bool:
        return self.account_filter is None and not self.account_ids

    def as_job_selection(self) -> dict[str, Any]:
        if self.account_filter is not None:
            return {"filter": self.account_filter.to_dict()}
        return {"account_ids": list(self.account_ids)}

    def accounts(self, scope: Scope, now: dt.datetime) -> Select[Account]:
        if self.account_filter is not None:
            return filtered_accounts(scope, now, self.account_filter)
        return selected_accounts(scope, list(self.account_ids))

    def form_fields(self) -> list[tuple[str, str]]:
        """Hidden fields that carry this selection to the next form."""
        if self.account_filter is not None:
            return [("all_matching", "1")] + [
                (name, "1" if value is True else str(value))
                for name, value in self.account_filter.to_dict().items()
            ]
        if self.saved:
            return [("selection", "saved")]
        return [("account", account_id) for account_id in self.account_ids]


@dataclass(frozen=True)
class SkippedGroup:
    """Accounts skipped for one reason (the page says why in ``words.explanations``)."""

    reason: str
    count: int


@dataclass(frozen=True)
class Confirmation:
    preview: BulkPreview
    skipped: list[SkippedGroup]
    preview_account_id: str | None


def confirmation(db: DbSession, scope: Scope, selection: Selection) -> Confirmation:
    now = scope.now()
    accounts = selection.accounts(scope, now)
    preview = preview_bulk_request(db, scope, now, accounts)
    first_eligible = db.scalar(
        accounts.with_only_columns(Account.id)
        .where(skip_reason(scope, now).is_(None))
        .order_by(Account.id.desc())
        .limit(1)
    )
    groups = [
        SkippedGroup(reason, count)
        for reason, count in sorted(preview.skipped.items(), key=lambda item: -item[1])
    ]
    return Confirmation(preview, groups, first_eligible)


def skipped_accounts(
    db: DbSession, scope: Scope, selection: Selection, reason: str
) -> list[Account]:
    """Up to :data:`SKIPPED_SAMPLE` selected accounts skipped for ``reason``."""
    now = scope.now()
    return list(
        db.scalars(
            selection.accounts(scope, now)
            .where(skip_reason(scope, now) == reason)
            .order_by(Account.id.desc())
            .limit(SKIPPED_SAMPLE)
        )
    )


def refusal_reasons(refused: ApiError) -> list[str]:
    """Why the API refused a relink request, as reason codes (its message is English, for
    developers; the dashboard words the codes: ``words.explanations``)."""
    if refused.instance_code == HOSTED_RELINK_DISABLED:
        return [HOSTED_RELINK_DISABLED]
    return [str(reason.get("code")) for reason in refused.extra.get("reasons", [])]


def request_relink(
    db: DbSession, scope: Scope, runtime: Runtime, account_id: str, actor: str
) -> Session:
    """One hosted email session for one account (eligibility checked by the service)."""
    account = AccountRepository(db, scope).get(account_id)
    service = SessionService(db, scope, runtime, EventContext())
    return service.create(
        NewSession(
            holder_type=account.holder_type,
            customer=account.customer_id,
            account=account.connected_account_id,
            permissions=list(account.permissions),
            relink_authorization=account.authorization_id,
            relink_account=account.id,
            ui_mode="hosted",
            delivery_method="email",
            hosted_given=True,
            created_by=actor,
        )
    )


def cancel_request(
    db: DbSession, scope: Scope, runtime: Runtime, session_id: str, actor: str
) -> bool:
    """Cancel a pending relink request (False when it is not this scope's or not pending)."""
    return SessionService(db, scope, runtime, EventContext()).cancel_request(
        session_id, actor=actor
    )


def resend_request(db: DbSession, scope: Scope, runtime: Runtime, session_id: str) -> bool:
    """Send a pending request's email again to the address it went to (False when it is
    not this scope's, not pending, has no address, or its email is still queued)."""
    session = SessionRepository(db, scope).find(session_id)
    if session is None:
        return False
    holder = session_holder(db, scope, session)
    if not holder.email:
        return False
    return SessionService(db, scope, runtime, EventContext()).resend_email(
        session_id, to=holder.email
    )
