"""Opting out of reminders (docs/email.md: opt-out of reminders).

Every automatic email (the automation's request and its reminders) carries an RFC 2369
``List-Unsubscribe`` address and RFC 8058's ``List-Unsubscribe-Post: List-Unsubscribe=
One-Click``; every relink email says in its footer how to stop reminders. The address
is ``/reminders/<token>``: the holder's platform, mode and id, sealed with AES-SIV under a
key derived from the secret key. So the token names one holder of one scope, is the same
in every email (deterministic), reveals nothing, and cannot be altered or made for
another holder: a token that does not open names no one, and no table is searched by it.

An opt-out is a row of :class:`ReminderOptOut` (one per holder and scope); the
automation leaves an opted-out holder alone (``relink.automatic_relink.exclusions``). An
operator may clear it; the row keeps who did and when.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.customers.repository import CustomerRepository
from relink.kit import ids
from relink.kit.crypto import derive_key
from relink.kit.sql import insert_or_ignore
from relink.models import ConnectedAccount, Customer, OptOutSource, ReminderOptOut, Session
from relink.runtime import Runtime
from relink.tenancy import Scope, load_platform_scope

PURPOSE = "relink-reminder-opt-out"
PATH = "/reminders"
# What RFC 8058 asks the one-click POST's body to be.
ONE_CLICK = "List-Unsubscribe=One-Click"
_ASSOCIATED = b"relink-reminder-opt-out:v1"
_HOLDER_PREFIXES = ("cus_", "acct_")
# A sealed token is about 110 characters; anything much longer is not one.
_MAX_TOKEN = 200


@lru_cache(maxsize=4)
def _cipher(secret_key: str) -> AESSIV:
    # 512 bits: AES-256 in SIV mode (RFC 5297), whose nonce-free, deterministic sealing
    # gives one holder the same token in every email.
    return AESSIV(derive_key(secret_key, PURPOSE, length=64))


@dataclass(frozen=True)
class OptOutAddress:
    """Whom a token names: one holder in one platform and mode."""

    platform_id: str
    livemode: bool
    holder_id: str


def opt_out_token(runtime: Runtime, address: OptOutAddress) -> str:
    plain = f"{address.platform_id} {int(address.livemode)} {address.holder_id}".encode()
    sealed = _cipher(runtime.settings.resolved_secret_key).encrypt(plain, [_ASSOCIATED])
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def read_token(runtime: Runtime, token: str) -> OptOutAddress | None:
    """The holder a token names, or None for anything Relink did not make."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = _cipher(runtime.settings.resolved_secret_key).decrypt(sealed, [_ASSOCIATED])
        platform_id, mode, holder_id = plain.decode().split(" ")
    except (binascii.Error, ValueError, InvalidTag):
        return None
    if mode not in ("0", "1") or not holder_id.startswith(_HOLDER_PREFIXES):
        return None
    return OptOutAddress(platform_id, mode == "1", holder_id)


def session_holder_id(session: Session) -> str | None:
    return session.customer_id or session.connected_account_id


def reminders_path(runtime: Runtime, session: Session) -> str | None:
    """The page where the session's holder stops reminders (None: no holder)."""
    holder_id = session_holder_id(session)
    if holder_id is None:
        return None
    token = opt_out_token(runtime, OptOutAddress(session.platform_id, session.livemode, holder_id))
    return f"{PATH}/{token}"


def reminders_url(runtime: Runtime, session: Session) -> str | None:
    """:func:`reminders_path` as the absolute address an email carries."""
    path = reminders_path(runtime, session)
    return None if path is None else runtime.settings.public_url.rstrip("/") + path


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 and RFC 8058: a receiver's own unsubscribe button POSTs to ``url``."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK}


# -- the holder and their opt-out -----------------------------------------------------------


@dataclass(frozen=True)
class OptOutHolder:
    scope: Scope
    holder: Customer | ConnectedAccount


def find_holder(db: DbSession, address: OptOutAddress) -> OptOutHolder | None:
    """The holder a token names, if it (and its platform) still exists."""
    scope = load_platform_scope(db, address.platform_id, address.livemode)
    holder: Customer | ConnectedAccount | None
    if address.holder_id.startswith("cus_"):
        holder = CustomerRepository(db, scope).find(address.holder_id)
        if holder is not None and holder.deleted:
            holder = None
    else:
        holder = ConnectedAccountRepository(db, scope).find(address.holder_id)
    return OptOutHolder(scope, holder) if holder is not None else None


def opt_out_of(db: DbSession, scope: Scope, holder_id: str) -> ReminderOptOut | None:
    """The holder's opt-out in force (not cleared), if any."""
    return db.scalars(
        select(ReminderOptOut).where(
            ReminderOptOut.platform_id == scope.platform_id,
            ReminderOptOut.livemode.is_(scope.livemode),
            ReminderOptOut.holder_id == holder_id,
            ReminderOptOut.cleared_at.is_(None),
        )
    ).first()


def opt_out(
    db: DbSession, scope: Scope, holder_id: str, source: OptOutSource, now: dt.datetime
) -> bool:
    """Record the holder's opt-out; False when it was already in force (nothing changes).

    Safe under concurrent clicks: the row is inserted or left alone by the unique index,
    and a cleared row is opted out again by one conditional update."""
    inserted = db.execute(
        insert_or_ignore(
            db, ReminderOptOut, index_elements=["platform_id", "livemode", "holder_id"]
        ).values(
            id=ids.new("roo"),
            platform_id=scope.platform_id,
            livemode=scope.livemode,
            holder_id=holder_id,
            source=source.value,
            created_at=now,
        )
    )
    if inserted.rowcount:  # type: ignore[attr-defined]
        return True
    renewed = db.execute(
        update(ReminderOptOut)
        .where(
            ReminderOptOut.platform_id == scope.platform_id,
            ReminderOptOut.livemode.is_(scope.livemode),
            ReminderOptOut.holder_id == holder_id,
            ReminderOptOut.cleared_at.is_not(None),
        )
        .values(source=source.value, created_at=now, cleared_at=None, cleared_by=None)
        .execution_options(synchronize_session=False)
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def clear_opt_out(
    db: DbSession, scope: Scope, holder_id: str, *, actor: str, now: dt.datetime
) -> bool:
    """An operator clears the holder's opt-out (they asked for reminders again); False
    when there is none in force."""
    cleared = db.execute(
        update(ReminderOptOut)
        .where(
            ReminderOptOut.platform_id == scope.platform_id,
            ReminderOptOut.livemode.is_(scope.livemode),
            ReminderOptOut.holder_id == holder_id,
            ReminderOptOut.cleared_at.is_(None),
        )
        .values(cleared_at=now, cleared_by=actor)
        .execution_options(synchronize_session=False)
    )
    return bool(cleared.rowcount)  # type: ignore[attr-defined]
