"""The demo platform and its sandbox book, which ``make run`` creates once.

The book is a realistic test-mode portfolio: customers and a few Connect accounts
holding accounts across the sandbox institutions, most active, some inactive for each
cause, some with TANs expiring soon or expired, some disconnected, some holders
without email. A handful of holders use the demo owner's (confirmed) address: in test
mode Relink only emails confirmed team members, so those are the relink emails that
can really go out (into the mailbox); two of them were just requested.

Rows are written set-based, in batches (COPY on PostgreSQL, multi-row INSERTs on
SQLite), so ``relink demo --accounts 1000000`` builds a load-test book in minutes;
``relink_due_at`` comes from :func:`relink.eligibility.rules.relink_due_at`, as it does
for every account. The small book's accounts are the sandbox bank's own accounts of
each holder (bank username = the holder's id, lower-cased), so relinking one at the
sandbox bank matches it; they have no stored grant, so refreshes need a relink first.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import JSON, Table, func, insert, select
from sqlalchemy.orm import Session as DbSession

from relink.eligibility.rules import relink_due_at
from relink.kit import ids
from relink.kit.crypto import hash_password
from relink.models import (
    Account,
    AccountNumber,
    Authorization,
    ConnectedAccount,
    ConnectionStatus,
    Customer,
    InactiveCause,
    Institution,
    OutboxMessage,
    Platform,
    RelinkAction,
    Session,
    SessionTimelineEntry,
    TanStatus,
    User,
)
from relink.platforms.service import create_api_key, create_platform
from relink.runtime import Runtime
from relink.sandbox_bank.data import accounts_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY
from relink.tenancy import Scope, load_platform_scope

DEMO_OWNER_EMAIL = "owner@demo.relink.test"
DEMO_PASSWORD = "relink-demo-owner"


def ensure_demo_platform(runtime: Runtime) -> dict[str, str]:
    """Create the demo platform if this database has none; return its credentials.

    The demo's plain keys are kept in ``var/demo-credentials.json`` (mode 0600) so that
    ``make run`` can print them again; real platforms' keys are shown once and never
    stored. If that file was lost, the demo owner gets fresh keys and the demo password.
    """
    path = runtime.settings.var_dir / "demo-credentials.json"
    with runtime.database.unit_of_work() as session:
        owner = session.scalars(select(User).where(User.email == DEMO_OWNER_EMAIL)).first()
        if owner is not None and path.exists():
            stored: dict[str, str] = json.loads(path.read_text())
            if stored.get("platform") == owner.platform_id:
                return stored
        if owner is None:
            created = create_platform(
                session, "Acme Lending", DEMO_OWNER_EMAIL, password=DEMO_PASSWORD
            )
            platform_id = created.platform.id
            test_key, live_key = created.test_secret_key, created.live_secret_key
            apply_branding(created.platform)
        else:
            platform_id = owner.platform_id
            owner.password_hash = hash_password(DEMO_PASSWORD)
            _, test_key = create_api_key(session, platform_id, False, name="Demo test key")
            _, live_key = create_api_key(session, platform_id, True, name="Demo live key")
        credentials = {
            "platform": platform_id,
            "owner_email": DEMO_OWNER_EMAIL,
            "owner_password": DEMO_PASSWORD,
            "test_secret_key": test_key,
            "live_secret_key": live_key,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(credentials, indent=2))
    path.chmod(0o600)
    return credentials


# -- branding --------------------------------------------------------------------------

DEMO_BRAND_COLOR = "#0f766e"
DEMO_SUPPORT_EMAIL = "support@acme-lending.example"
DEMO_WEBSITE_URL = "https://acme-lending.example"


def apply_branding(platform: Platform) -> None:
    platform.brand_color = DEMO_BRAND_COLOR
    platform.support_email = DEMO_SUPPORT_EMAIL
    platform.website_url = DEMO_WEBSITE_URL
    platform.email_sender_name = "Acme Lending"
    platform.logo_png = demo_logo_png()
    platform.logo_content_type = "image/png"


def demo_logo_png(size: int = 64) -> bytes:
    """A small logo drawn in code: a teal disc with a white bar (a valid PNG)."""
    teal, white = bytes((15, 118, 110, 255)), bytes((255, 255, 255, 255))
    clear = bytes(4)
    centre, radius = (size - 1) / 2, size / 2 - 1
    raw = bytearray()
    for y in range(size):
        raw.append(0)  # filter: none
        for x in range(size):
            inside = (x - centre) ** 2 + (y - centre) ** 2 <= radius**2
            bar = inside and abs(y - centre) < size / 10 and abs(x - centre) < radius * 0.6
            raw += white if bar else teal if inside else clear

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


# -- the sandbox book --------------------------------------------------------------------

DEFAULT_BOOK_ACCOUNTS = 300
# Holders whose email is the demo owner's: their relink emails can be sent in test mode.
OWNER_HOLDERS = 6
# Of those, how many were "just requested" (a pending hosted email session each).
RECENTLY_REQUESTED = 2
# Accounts up to this many get the sandbox bank's real account ids (relinkable there).
SANDBOX_BANK_IDS_UP_TO = 5000
BATCH = 10_000
DEMO_INSTITUTIONS = (
    "test_oauth",
    "test_non_oauth",
    "bank_oauth",
    "bank_non_oauth",
    "tokenized_account_numbers",
    "inactive_accounts",
)
FIRST_NAMES = (
    "Maria", "James", "Aisha", "Chen", "Lukas", "Sofia", "Noah", "Priya", "Mateo", "Emma",
    "Kenji", "Olivia", "Ahmed", "Lena", "Diego", "Hannah", "Yusuf", "Clara", "Ivan", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Garcia", "Smith", "Khan", "Wang", "Müller", "Rossi", "Johnson", "Patel", "Lopez",
    "Schmidt", "Tanaka", "Brown", "Haddad", "Fischer", "Silva", "Novak", "Nguyen", "Weber",
)  # fmt: skip
BUSINESS_NAMES = (
    "Northwind Traders", "Blue Harbor Cafe", "Summit Outfitters", "Lindqvist Bakery",
    "Atlas Freight", "Green Leaf Florist", "Brightside Dental", "Copper Kettle Diner",
)  # fmt: skip


@dataclass
class _State:
    """An account's status and TAN, in the attribute names relink_due_at reads."""

    status: str = ConnectionStatus.active
    inactive_action: str | None = None
    inactive_cause: str | None = None
    expected_deactivation_at: dt.datetime | None = None
    tan_status: str = TanStatus.transactable
    expected_expiry_at: dt.datetime | None = None


@dataclass
class _Number:
    status: str
    expected_expiry_at: dt.datetime | None


def _inactive(cause: InactiveCause) -> Callable[[random.Random, dt.datetime], _State]:
    action = (
        RelinkAction.none if cause == InactiveCause.account_closed else RelinkAction.relink_required
    )
    return lambda rng, now: _State(
        status=ConnectionStatus.inactive, inactive_action=action, inactive_cause=cause
    )


def _days(rng: random.Random, now: dt.datetime, low: int, high: int) -> dt.datetime:
    return (now + dt.timedelta(days=rng.randint(low, high), hours=rng.randint(0, 23))).replace(
        minute=0, second=0, microsecond=0
    )


# (weight, kind, state builder): the mix of the book.
KINDS: tuple[tuple[int, str, Callable[[random.Random, dt.datetime], _State]], ...] = (
    (46, "active", lambda rng, now: _State()),
    (6, "tan_later", lambda rng, now: _State(expected_expiry_at=_days(rng, now, 45, 120))),
    (8, "tan_expiring", lambda rng, now: _State(expected_expiry_at=_days(rng, now, 2, 29))),
    (4, "tan_expired", lambda rng, now: _State(tan_status=TanStatus.expired,
                                               expected_expiry_at=_days(rng, now, -40, -1))),
    (3, "deactivation_expected", lambda rng, now: _State(
        expected_deactivation_at=_days(rng, now, 3, 28))),
    (6, "inactive_access_expired", _inactive(InactiveCause.access_expired)),
    (4, "inactive_access_denied", _inactive(InactiveCause.access_denied)),
    (3, "inactive_account_closed", _inactive(InactiveCause.account_closed)),
    (3, "inactive_account_unavailable", _inactive(InactiveCause.account_unavailable)),
    (3, "inactive_institution_requirement", _inactive(InactiveCause.institution_requirement)),
    (3, "inactive_unspecified", _inactive(InactiveCause.unspecified)),
    (5, "disconnected", lambda rng, now: _State(status=ConnectionStatus.disconnected)),
)  # fmt: skip
# The owner's own holders: what can really be emailed in test mode.
OWNER_KINDS = (
    "inactive_access_expired",
    "inactive_access_expired",
    "tan_expiring",
    "inactive_institution_requirement",
    "tan_expired",
    "active",
)
KIND_STATES = {kind: build for _, kind, build in KINDS}


@dataclass
class BookSummary:
    created: int = 0
    total: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    owner_holders: int = 0
    recently_requested: int = 0
    without_email: int = 0


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _write(db: DbSession, model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows: COPY on PostgreSQL (fast for millions), executemany elsewhere."""
    if not rows:
        return
    table = _table(model)
    if db.get_bind().dialect.name != "postgresql":
        db.execute(insert(table), rows)
        return
    columns = list(rows[0])
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
    raw = db.connection().connection.driver_connection
    assert raw is not None
    quoted = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row[c]) if c in json_columns and row[c] is not None else row[c]
                    for c in columns
                ]
            )


# What the book writes (the few requests included), analysed once it is written.
BOOK_TABLES = (
    Customer,
    ConnectedAccount,
    Authorization,
    Account,
    AccountNumber,
    Session,
    SessionTimelineEntry,
    OutboxMessage,
)


def _username(holder_id: str) -> str:
    return holder_id.lower()


def ensure_demo_book(
    runtime: Runtime,
    platform_id: str,
    *,
    accounts: int = DEFAULT_BOOK_ACCOUNTS,
    progress: Callable[[int, int], None] | None = None,
) -> BookSummary:
    """Top the demo platform's test-mode book up to ``accounts`` accounts (idempotent:
    a book that already has them is left as it is)."""
    with runtime.database.read_only() as db:
        scope = load_platform_scope(db, platform_id, False)
        existing = int(
            db.scalar(
                select(func.count())
                .select_from(Account)
                .where(Account.platform_id == platform_id, Account.livemode.is_(False))
            )
            or 0
        )
        known = set(db.scalars(select(Institution.id).where(Institution.livemode.is_(False))))
    institutions = [key for key in DEMO_INSTITUTIONS if f"fcinst_{key}" in known]
    if not institutions:
        raise RuntimeError("no sandbox institutions are registered: run `relink migrate` first")
    summary = BookSummary(total=max(existing, accounts))
    missing = accounts - existing
    if missing <= 0:
        return summary
    rng = random.Random(existing + 1)
    weights = [weight for weight, _, _ in KINDS]
    kinds = [kind for _, kind, _ in KINDS]
    now = scope.now()
    done = 0
    while done < missing:
        size = min(BATCH, missing - done)
        with runtime.database.unit_of_work() as db:
            planned = []
            for n in range(size):
                position = existing + done + n
                if position < OWNER_HOLDERS:
                    kind = OWNER_KINDS[position % len(OWNER_KINDS)]
                else:
                    kind = rng.choices(kinds, weights)[0]
                planned.append((position, kind))
            _write_batch(db, scope, rng, now, institutions, planned, summary)
        done += size
        if progress is not None:
            progress(done, missing)
    summary.created = missing
    if existing == 0:
        summary.recently_requested = _request_a_few(runtime, scope)
    runtime.database.analyze(_table(model) for model in BOOK_TABLES)
    return summary


def _write_batch(
    db: DbSession,
    scope: Scope,
    rng: random.Random,
    now: dt.datetime,
    institutions: list[str],
    planned: list[tuple[int, str]],
    summary: BookSummary,
) -> None:
    customers: list[dict[str, Any]] = []
    connected: list[dict[str, Any]] = []
    authorizations: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []
    numbers: list[dict[str, Any]] = []
    tenant = {"platform_id": scope.platform_id, "livemode": False}
    for position, kind in planned:
        summary.by_kind[kind] = summary.by_kind.get(kind, 0) + 1
        owner_holder = position < OWNER_HOLDERS
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        if owner_holder:
            email: str | None = DEMO_OWNER_EMAIL
            summary.owner_holders += 1
        elif rng.random() < 0.08:
            email = None
            summary.without_email += 1
        else:
            email = f"{first}.{last}.{position}@example.com".lower()
        if not owner_holder and rng.random() < 0.05:
            holder_id, holder_type = ids.new("acct"), "account"
            connected.append(
                {
                    "id": holder_id,
                    **tenant,
                    "email": email,
                    "business_name": rng.choice(BUSINESS_NAMES),
                    "preferred_locales": [],
                    "metadata": {},
                    "created_at": now,
                }
            )
        else:
            holder_id, holder_type = ids.new("cus"), "customer"
            customers.append(
                {
                    "id": holder_id,
                    **tenant,
                    "email": email,
                    "name": f"{first} {last}",
                    "preferred_locales": ["de"] if rng.random() < 0.15 else [],
                    "metadata": {"demo": "true"},
                    "deleted": False,
                    "created_at": now,
                }
            )
        institution = institutions[position % len(institutions)]
        if position < SANDBOX_BANK_IDS_UP_TO:
            bank = accounts_for(INSTITUTIONS_BY_KEY[institution], _username(holder_id))[0]
            bank_account_id, display_name, last4 = bank.id, bank.display_name, bank.last4
            category, subcategory = bank.category, bank.subcategory
        else:
            bank_account_id = f"demo_{position}"
            display_name, last4 = "Checking", f"{rng.randrange(10_000):04d}"
            category, subcategory = "cash", "checking"
        state = KIND_STATES[kind](rng, now)
        holder = {
            "holder_type": holder_type,
            "customer_id": holder_id if holder_type == "customer" else None,
            "connected_account_id": holder_id if holder_type == "account" else None,
        }
        status = {
            "status": state.status,
            "inactive_action": state.inactive_action,
            "inactive_cause": state.inactive_cause,
            "expected_deactivation_at": state.expected_deactivation_at,
            "expected_deactivation_cause": (
                "access_expired" if state.expected_deactivation_at else None
            ),
        }
        authorization_id, account_id = ids.new("fcauth"), ids.new("fca")
        authorizations.append(
            {
                "id": authorization_id,
                **tenant,
                "institution_id": f"fcinst_{institution}",
                **holder,
                **status,
                "bank_user": _username(holder_id),
                "authenticated_at": now - dt.timedelta(days=rng.randint(30, 400)),
                "created_at": now,
                "updated_at": now,
            }
        )
        has_tan = state.status != ConnectionStatus.disconnected
        number = _Number(state.tan_status, state.expected_expiry_at)
        due = relink_due_at(
            cast(Account, state), cast(list[AccountNumber], [number] if has_tan else [])
        )
        accounts.append(
            {
                "id": account_id,
                **tenant,
                "authorization_id": authorization_id,
                "institution_id": f"fcinst_{institution}",
                **holder,
                **status,
                "bank_account_id": bank_account_id,
                "display_name": display_name,
                "last4": last4,
                "category": category,
                "subcategory": subcategory,
                "permissions": ["payment_method", "balances"],
                "subscriptions": [],
                "supported_payment_method_types": ["us_bank_account"],
                "relink_due_at": due,
                "created_at": now,
                "updated_at": now,
            }
        )
        if has_tan:
            numbers.append(
                {
                    "id": ids.new("fcanum"),
                    **tenant,
                    "account_id": account_id,
                    "identifier_type": "tokenized_account_number",
                    "status": state.tan_status,
                    "expected_expiry_at": state.expected_expiry_at,
                    "supported_networks": ["ach"],
                    "routing_number": "110000000",
                    "number_last4": last4,
                    "created_at": now,
                }
            )
    _write(db, Customer, customers)
    _write(db, ConnectedAccount, connected)
    _write(db, Authorization, authorizations)
    _write(db, Account, accounts)
    _write(db, AccountNumber, numbers)


def _request_a_few(runtime: Runtime, scope: Scope) -> int:
    """Request relinks for a couple of the owner's eligible holders, as the owner."""
    from relink.bulk_requests.service import request_relinks

    with runtime.database.unit_of_work() as db:
        owner = db.scalars(select(User).where(User.email == DEMO_OWNER_EMAIL)).first()
        if owner is None:
            return 0
        customers = select(Customer.id).where(
            Customer.platform_id == scope.platform_id,
            Customer.livemode.is_(False),
            Customer.email == DEMO_OWNER_EMAIL,
        )
        eligible = (
            select(Account.id)
            .where(
                Account.platform_id == scope.platform_id,
                Account.livemode.is_(False),
                Account.customer_id.in_(customers),
                Account.relink_due_at <= scope.now(),
            )
            .order_by(Account.id)
            .limit(RECENTLY_REQUESTED)
        )
        chosen = list(db.scalars(eligible))
        selection = select(Account).where(
            Account.platform_id == scope.platform_id,
            Account.livemode.is_(False),
            Account.id.in_(chosen),
        )
        result = request_relinks(db, scope, runtime, selection, actor=f"user:{owner.id}")
        return result.created
