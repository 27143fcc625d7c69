"""Deterministic bank data per (institution, username).

Everything here is a pure function of its inputs: the same institution, username, account
slot, grant sequence and "now" always give the same accounts, numbers, balances, owners
and transactions, so tests can predict them (`accounts_for(...)` is public for that).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from relink.sandbox_bank.institutions import (
    AccountKind,
    AccountSlot,
    SandboxInstitution,
    TanBehaviour,
)

DAY = 86_400
TAN_LIFETIME = timedelta(days=365)
SHORT_LIVED_TAN = timedelta(minutes=5)
TRANSACTION_WINDOW_DAYS = 90

_FIRST_NAMES = ("Jenny", "Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Dennis")
_LAST_NAMES = ("Rosen", "Lovelace", "Hopper", "Turing", "Johnson", "Hamilton", "Ritchie")
_MERCHANTS = (
    "Coffee Roasters",
    "Grocery Market",
    "Payroll Deposit",
    "Electric Utility",
    "Book Shop",
    "Transit Authority",
    "Hardware Store",
    "Streaming Service",
)


def normalize_username(username: str) -> str:
    return username.strip().lower()


# A username starting with this plays a holder who signed in to another login of theirs.
OTHER_LOGIN_PREFIX = "other"


def login_reached(username: str, login_hint: str | None) -> str:
    """The login a sign-in reaches, by the sandbox's rule for relinks.

    When the app names the login it is reconnecting (OpenID Connect's ``login_hint``),
    any username reaches that login, so a holder who types whatever the page allows
    repairs the connection; a username starting with ``other`` reaches its own login
    instead (whose accounts are not the ones being relinked). Without a hint (a first
    link) the username is the login.
    """
    user = normalize_username(username)
    hint = normalize_username(login_hint or "")
    if not hint or user.startswith(OTHER_LOGIN_PREFIX):
        return user
    return hint


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _rng(*parts: str) -> random.Random:
    return random.Random(_digest(*parts))


@dataclass(frozen=True, slots=True)
class SandboxAccount:
    id: str
    institution: str
    slot: AccountSlot
    display_name: str
    category: str
    subcategory: str
    account_number: str
    routing_number: str
    last4: str
    balance_current: int
    owner_name: str
    owner_email: str
    owner_phone: str
    owner_address: str

    @property
    def tan(self) -> TanBehaviour:
        return self.slot.tan


def account_id(institution: str, username: str, slot: str) -> str:
    return "sbacct_" + _digest(institution, normalize_username(username), slot)[:20]


def build_account(inst: SandboxInstitution, username: str, slot: AccountSlot) -> SandboxAccount:
    user = normalize_username(username)
    rng = _rng(inst.key, user, slot.slot)
    number = str(rng.randrange(10**9, 10**12))
    owner_rng = _rng(inst.key, user, "owner")
    first, last = owner_rng.choice(_FIRST_NAMES), owner_rng.choice(_LAST_NAMES)
    if slot.kind is AccountKind.credit_card:
        category, balance = "credit", -rng.randrange(5_00, 2_500_00)
    elif slot.kind is AccountKind.savings:
        category, balance = "cash", rng.randrange(1_000_00, 50_000_00)
    else:
        category, balance = "cash", rng.randrange(100_00, 10_000_00)
    return SandboxAccount(
        id=account_id(inst.key, user, slot.slot),
        institution=inst.key,
        slot=slot,
        display_name=slot.display_name,
        category=category,
        subcategory=slot.kind.value,
        account_number=number,
        routing_number=inst.routing_numbers[0],
        last4=number[-4:],
        balance_current=balance,
        owner_name=f"{first} {last}",
        owner_email=f"{first}.{last}@example.com".lower(),
        owner_phone=f"+1555{owner_rng.randrange(10**6, 10**7)}",
        owner_address=f"{owner_rng.randrange(1, 999)} Market Street, San Francisco, CA 94103",
    )


def accounts_for(inst: SandboxInstitution, username: str) -> list[SandboxAccount]:
    """Every account this user holds at this institution, in display order."""
    return [build_account(inst, username, slot) for slot in inst.accounts]


@dataclass(frozen=True, slots=True)
class SandboxTan:
    number: str | None  # None: the account has no ACH network at all
    routing_number: str
    status: str
    expected_expiry_date: datetime | None


def tan_for(
    account: SandboxAccount, *, grant_sequence: int, authenticated_at: datetime, now: datetime
) -> SandboxTan:
    """The ACH number this grant sees for the account.

    Tokenized institutions issue a fresh number per authentication; the special
    expiries apply to a holder's first authentication only, so relinking repairs them.
    """
    behaviour = account.tan
    if behaviour is TanBehaviour.no_ach:
        return SandboxTan(None, account.routing_number, "deactivated", None)
    if behaviour is TanBehaviour.plain:
        return SandboxTan(account.account_number, account.routing_number, "transactable", None)
    if behaviour is TanBehaviour.deactivated:
        return SandboxTan(account.account_number, account.routing_number, "deactivated", None)
    first = grant_sequence <= 1
    expiry = authenticated_at + TAN_LIFETIME
    if first and behaviour is TanBehaviour.already_expired:
        expiry = authenticated_at - timedelta(days=1)
    elif first and behaviour is TanBehaviour.expires_in_30_days:
        expiry = authenticated_at + timedelta(days=30)
    elif first and behaviour is TanBehaviour.expires_after_linking:
        expiry = authenticated_at + SHORT_LIVED_TAN
    number = "9" + str(int(_digest(account.id, str(grant_sequence)), 16) % 10**15).zfill(15)
    status = "expired" if expiry <= now else "transactable"
    return SandboxTan(number, account.routing_number, status, expiry)


@dataclass(frozen=True, slots=True)
class SandboxTransaction:
    id: str
    amount: int
    description: str
    status: str
    transacted_at: datetime
    posted_at: datetime | None


def transactions_for(
    account: SandboxAccount, *, now: datetime, since: datetime | None = None
) -> list[SandboxTransaction]:
    """Transactions of the last 90 days, newest first; each day's are fixed by the date."""
    today = int(now.timestamp()) // DAY
    first_day = today - TRANSACTION_WINDOW_DAYS
    if since is not None:
        first_day = max(first_day, int(since.timestamp()) // DAY)
    result: list[SandboxTransaction] = []
    for day in range(today, first_day - 1, -1):
        rng = _rng(account.id, "day", str(day))
        for index in range(rng.choice((0, 0, 1, 1, 2))):
            merchant = rng.choice(_MERCHANTS)
            amount = rng.randrange(1_00, 250_00)
            if merchant == "Payroll Deposit" and account.category == "cash":
                amount = amount * 10
            else:
                amount = -amount
            at = datetime.fromtimestamp(day * DAY + rng.randrange(DAY), UTC)
            if at > now:
                continue
            pending = day == today
            result.append(
                SandboxTransaction(
                    id="sbtxn_" + _digest(account.id, str(day), str(index))[:20],
                    amount=amount,
                    description=merchant,
                    status="pending" if pending else "posted",
                    transacted_at=at,
                    posted_at=None if pending else min(at + timedelta(hours=6), now),
                )
            )
    return result
