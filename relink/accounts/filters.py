"""The account filter of the dashboard's Accounts page and of bulk relink requests.

:func:`filtered_accounts` turns an :class:`AccountFilter` into one scoped ``SELECT``:
the page paginates it, the bulk request streams it in keyset batches. The query is
unordered; callers order it (lists by ``Account.id`` descending).

Free-text search is index-friendly: an id, an email address or four digits are
matched exactly; other text matches the start of a holder's email or a word of the
holder's name (holders, not accounts, so the big table is never scanned by ``LIKE``).
An email domain (``@example.com``, or ``example.com``) matches the end of the holders'
emails: a scan of the scope's holders, which no index serves (docs/decisions.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select

from relink.eligibility.query import eligibility_conditions
from relink.eligibility.rules import ABOUT_TO_BREAK
from relink.kit.pagination import SortedOrder
from relink.models import (
    Account,
    AccountNumber,
    ConnectedAccount,
    ConnectionStatus,
    Customer,
    InactiveCause,
    TanStatus,
)
from relink.tenancy import Scope, in_scope

_LAST4 = re.compile(r"^\d{4}$")
# What a typed email domain looks like ("example.com", "mail.example.co.uk").
_DOMAIN = re.compile(r"^[^\s@]+\.[^\s@.]+$")
_TRUE = ("1", "true", "on", "yes")
MAX_SEARCH_LENGTH = 320


class InvalidFilter(ValueError):
    """A filter field holds a value no account can have (``field`` names it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# The fields whose values are a closed set, and that set.
_CHOICES: dict[str, tuple[str, ...]] = {
    "status": tuple(s.value for s in ConnectionStatus),
    "cause": tuple(c.value for c in InactiveCause),
}


@dataclass(frozen=True)
class AccountFilter:
    status: str | None = None
    cause: str | None = None
    # Eligible for a hosted relink request now (spec 20-relink §1).
    eligible: bool = False
    # A TAN expires within 30 days or has already expired.
    tan_expiring: bool = False
    institution: str | None = None
    # ``cus_…`` or ``acct_…``.
    holder: str | None = None
    # Free text on the account id, the holder's email, email domain or name, and last4.
    search: str | None = None
    # The holder (customer or connected account) has no email address: a relink email
    # cannot reach them.
    without_email: bool = False

    @property
    def is_empty(self) -> bool:
        """Nothing is filtered (the dashboard hides its "Clear" link)."""
        return not self.to_dict()

    def check(self) -> AccountFilter:
        """This filter, or :class:`InvalidFilter` when a status or cause is unknown: a
        request for matching accounts must not run on a filter that was mistyped."""
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise InvalidFilter(
                    name, f"Unknown {name} {value!r}: use one of {', '.join(allowed)}."
                )
        return self

    def to_dict(self) -> dict[str, Any]:
        """The filter as JSON-able data; only the fields that are set."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) not in (None, False, "")
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountFilter:
        """Read a filter from :meth:`to_dict` output or from form/query values.

        Blank strings mean "not set"; booleans also accept "1", "true", "on", "yes".
        Unknown keys are ignored.
        """

        def text(name: str) -> str | None:
            value = data.get(name)
            if value is None:
                return None
            cleaned = str(value).strip()
            return cleaned[:MAX_SEARCH_LENGTH] or None

        def flag(name: str) -> bool:
            value = data.get(name)
            if isinstance(value, bool):
                return value
            return value is not None and str(value).strip().lower() in _TRUE

        return cls(
            status=text("status"),
            cause=text("cause"),
            eligible=flag("eligible"),
            tan_expiring=flag("tan_expiring"),
            institution=text("institution"),
            holder=text("holder"),
            search=text("search"),
            without_email=flag("without_email"),
        )


def tan_expiring_condition(now: dt.datetime) -> ColumnElement[bool]:
    """The account has a TAN that expires within 30 days, already expired, or is dead."""
    return exists().where(
        AccountNumber.account_id == Account.id,
        or_(
            AccountNumber.status.in_((TanStatus.expired, TanStatus.deactivated)),
            AccountNumber.expected_expiry_at <= now + ABOUT_TO_BREAK,
        ),
    )


def holder_condition(holder: str) -> ColumnElement[bool]:
    if holder.startswith("cus_"):
        return Account.customer_id == holder
    if holder.startswith("acct_"):
        return Account.connected_account_id == holder
    return false()


def _holders_matching(
    scope: Scope, customer: ColumnElement[bool], connected: ColumnElement[bool]
) -> list[ColumnElement[bool]]:
    """Accounts whose holder (a customer or a connected account of the scope) matches."""
    customers = select(Customer.id).where(in_scope(Customer, scope), customer)
    connected_accounts = select(ConnectedAccount.id).where(
        in_scope(ConnectedAccount, scope),
        connected,
    )
    return [
        Account.customer_id.in_(customers),
        Account.connected_account_id.in_(connected_accounts),
    ]


def _holders_at_domain(scope: Scope, domain: str) -> list[ColumnElement[bool]]:
    """Accounts whose holder's email is at ``domain`` (any case)."""
    at = "@" + domain
    return _holders_matching(
        scope,
        Customer.email.iendswith(at, autoescape=True),
        ConnectedAccount.email.iendswith(at, autoescape=True),
    )


def without_email_condition(scope: Scope) -> ColumnElement[bool]:
    """The account's holder has no email address (the scope's email indexes find them)."""
    return or_(
        *_holders_matching(scope, Customer.email.is_(None), ConnectedAccount.email.is_(None))
    )


def search_condition(scope: Scope, text: str) -> ColumnElement[bool]:
    """Exact matches first (id, email, last4); otherwise a prefix of the holder's email or
    a word of the holder's name."""
    if text.startswith("fca_"):
        return Account.id == text
    if text.startswith(("cus_", "acct_")):
        return holder_condition(text)
    if text.startswith("@") and _DOMAIN.match(text[1:]):
        return or_(*_holders_at_domain(scope, text[1:]))
    if "@" in text:
        emails = sorted({text, text.lower()})
        return or_(
            *_holders_matching(
                scope, Customer.email.in_(emails), ConnectedAccount.email.in_(emails)
            )
        )
    options: list[ColumnElement[bool]] = []
    if _LAST4.match(text):
        options.append(Account.last4 == text)
    if _DOMAIN.match(text):
        options.extend(_holders_at_domain(scope, text))
    options.extend(
        _holders_matching(
            scope,
            or_(
                Customer.email.istartswith(text, autoescape=True),
                Customer.name.istartswith(text, autoescape=True),
                Customer.name.icontains(" " + text, autoescape=True),
            ),
            or_(
                ConnectedAccount.email.istartswith(text, autoescape=True),
                ConnectedAccount.business_name.istartswith(text, autoescape=True),
                ConnectedAccount.business_name.icontains(" " + text, autoescape=True),
            ),
        )
    )
    return or_(*options)


def filter_conditions(
    scope: Scope, now: dt.datetime, account_filter: AccountFilter
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if account_filter.status is not None:
        conditions.append(Account.status == account_filter.status)
    if account_filter.cause is not None:
        conditions.append(Account.inactive_cause == account_filter.cause)
    if account_filter.institution is not None:
        conditions.append(Account.institution_id == account_filter.institution)
    if account_filter.holder is not None:
        conditions.append(holder_condition(account_filter.holder))
    if account_filter.tan_expiring:
        conditions.append(tan_expiring_condition(now))
    if account_filter.eligible:
        conditions.append(and_(*eligibility_conditions(scope, now)))
    if account_filter.search is not None:
        conditions.append(search_condition(scope, account_filter.search))
    if account_filter.without_email:
        conditions.append(without_email_condition(scope))
    return conditions


def filtered_accounts(
    scope: Scope, now: dt.datetime, account_filter: AccountFilter
) -> Select[Account]:
    """The scope's accounts matching the filter (unordered)."""
    return select(Account).where(
        in_scope(Account, scope),
        *filter_conditions(scope, now, account_filter),
    )


def selected_accounts(scope: Scope, account_ids: list[str]) -> Select[Account]:
    """The scope's accounts among ``account_ids`` (ids of other scopes match nothing)."""
    return select(Account).where(
        in_scope(Account, scope),
        Account.id.in_(account_ids),
    )


# The sortable columns of the Accounts list: the column and whether a missing value sorts
# as the highest. No TAN or consent end foreseen is "furthest away"; never requested is
# "longest ago".
_SORT_KEYS: dict[str, tuple[Any, bool]] = {
    "expiry": (Account.relink_due_at, True),
    "last_request": (Account.last_relink_request_at, False),
}


@dataclass(frozen=True)
class AccountSort:
    """The order of the Accounts list (and of its CSV export): newest first, or by one of
    :data:`_SORT_KEYS` ascending or descending, written ``expiry`` / ``-expiry``.

    "Expiry" orders by ``relink_due_at``: the sooner of the TAN expiry and the consent's
    expected end, less the same 30 days for both, so it orders as those dates do, with
    the accounts already broken before all of them (docs/decisions.md)."""

    field: str | None = None
    descending: bool = False

    @classmethod
    def from_param(cls, value: str | None) -> AccountSort:
        """Read ``sort``; :class:`InvalidFilter` for a column that cannot be sorted."""
        text = (value or "").strip()
        if not text:
            return cls()
        name = text.removeprefix("-")
        if name not in _SORT_KEYS:
            allowed = ", ".join(f"{key}, -{key}" for key in _SORT_KEYS)
            raise InvalidFilter("sort", f"Unknown sort {text[:40]!r}: use one of {allowed}.")
        return cls(name, text.startswith("-"))

    @property
    def param(self) -> str | None:
        """The ``sort`` value of this order (``None``: the default, newest first)."""
        if self.field is None:
            return None
        return f"-{self.field}" if self.descending else self.field

    def order(self) -> SortedOrder | None:
        if self.field is None:
            return None
        key, nulls_high = _SORT_KEYS[self.field]
        return SortedOrder(key, Account.id, self.descending, nulls_high)
