"""The benchmarks' books: accounts seeded set-based for a platform, and the live-mode
institution the live books use (the sandbox catalog is test mode only)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import Table, insert

from relink.eligibility.rules import BROKEN_SINCE_EVER
from relink.kit import ids
from relink.models import Account, Authorization, Customer, Institution
from relink.platforms.service import create_platform
from relink.runtime import Runtime
from relink.tenancy import Scope

SEED_BATCH = 5000
# The creator the benchmarks that request relinks in-process give their sessions.
ACTOR = "user:bench"


# -- data ------------------------------------------------------------------------------


def table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


def ensure_live_institution(db: Any, now: dt.datetime) -> str:
    """A live-mode institution with relink support (the catalog is sandbox-only)."""
    institution_id = "fcinst_bench_live"
    if db.get(Institution, institution_id) is None:
        db.add(
            Institution(
                id=institution_id,
                livemode=True,
                connector="sandbox",
                connector_key="bank_oauth",
                settings={"base_url": "{sandbox_bank_url}", "institution": "bank_oauth"},
                name="Bench Live Bank",
                supports_relink=True,
                created_at=now,
            )
        )
        db.flush()
    return institution_id


def seed_platform(
    runtime: Runtime,
    accounts: int,
    *,
    scope: Scope | None = None,
    holder_email: str | None = None,
) -> Scope:
    """``accounts`` eligible accounts (set-based inserts) for a new live-mode platform, or
    for ``scope`` (a test-mode scope needs ``holder_email`` = a confirmed team address)."""
    now = dt.datetime.now(dt.UTC)
    with runtime.database.unit_of_work() as db:
        if scope is None:
            created = create_platform(
                db, "Bench Lending", f"bench-{secrets.token_hex(6)}@example.com"
            )
            scope = Scope(created.platform.id, True)
        institution = (
            ensure_live_institution(db, now) if scope.livemode else "fcinst_test_non_oauth"
        )
    done = 0
    while done < accounts:
        size = min(SEED_BATCH, accounts - done)
        customers, authorizations, rows = [], [], []
        for n in range(size):
            customer_id, authorization_id = ids.new("cus"), ids.new("fcauth")
            customers.append(
                {
                    "id": customer_id,
                    "platform_id": scope.platform_id,
                    "livemode": scope.livemode,
                    "email": holder_email or f"holder{done + n}@example.com",
                    "name": f"Holder {done + n}",
                    "preferred_locales": [],
                    "metadata": {},
                    "deleted": False,
                    "created_at": now,
                }
            )
            common = {
                "platform_id": scope.platform_id,
                "livemode": scope.livemode,
                "institution_id": institution,
                "holder_type": "customer",
                "customer_id": customer_id,
                "status": "inactive",
                "inactive_action": "relink_required",
                "inactive_cause": "access_expired",
                "created_at": now,
                "updated_at": now,
            }
            authorizations.append({"id": authorization_id, **common})
            rows.append(
                {
                    "id": ids.new("fca"),
                    "authorization_id": authorization_id,
                    "bank_account_id": f"bench_{done + n}",
                    "display_name": "Checking",
                    "last4": f"{(done + n) % 10000:04d}",
                    "category": "cash",
                    "subcategory": "checking",
                    "permissions": ["payment_method"],
                    "subscriptions": [],
                    "supported_payment_method_types": ["us_bank_account"],
                    "relink_due_at": BROKEN_SINCE_EVER,
                    **common,
                }
            )
        with runtime.database.unit_of_work() as db:
            db.execute(insert(table(Customer)), customers)
            db.execute(insert(table(Authorization)), authorizations)
            db.execute(insert(table(Account)), rows)
        done += size
    return scope
