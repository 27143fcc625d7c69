"""A seeded book of hosted relink requests with known outreach figures.

Written straight to the database (the timeline as the flow, the worker and the emails
would have written it), at fixed days, so every figure of the outreach report can be
worked out by hand; :data:`EXPECTED` holds them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from relink.kit import ids
from relink.models import Account, Authorization, Customer, Session, SessionTimelineEntry
from relink.runtime import Runtime
from relink.sessions.rollup import refresh_days
from relink.tenancy import Scope

# A Monday, so a week of the report starts on it.
DAY = dt.date(2026, 3, 2)
HOUR = dt.timedelta(hours=1)
NON_OAUTH, OAUTH = "fcinst_bank_non_oauth", "fcinst_bank_oauth"
# The funnel's steps, in order (the lists of EXPECTED follow it).
STEPS_ORDER = [
    "created",
    "email_sent",
    "viewed",
    "scanned",
    "opened",
    "authenticated",
    "succeeded",
    "data_refreshed",
]
FULL_PATH = ["created", "email_sent", "viewed", "opened", "authenticated", "succeeded"]


@dataclass(frozen=True)
class Request:
    day: int  # days after DAY
    hour: int
    institution: str
    reason: str
    kinds: list[str]
    status: str = "pending"
    repaired_after: dt.timedelta | None = None


BOOK = [
    Request(0, 10, NON_OAUTH, "access_expired", [*FULL_PATH, "data_refreshed"], "succeeded", HOUR),
    Request(0, 11, NON_OAUTH, "access_expired", FULL_PATH, "succeeded", 3 * HOUR),
    Request(
        1,
        9,
        NON_OAUTH,
        "account_number_expiring",
        ["created", "email_sent", "email_sent", "scanned", "viewed"],
    ),
    Request(8, 9, OAUTH, "access_expired", [*FULL_PATH, "refresh_failed"], "succeeded", 48 * HOUR),
    Request(8, 12, OAUTH, "access_denied", ["created", "email_sent", "failed"], "failed"),
]
# Outside the period (the day before it) and, in other scopes, inside it.
OUTSIDE = Request(-1, 10, NON_OAUTH, "access_expired", FULL_PATH, "succeeded", HOUR)
FIRST_DAY, LAST_DAY = DAY, DAY + dt.timedelta(days=13)

EXPECTED: dict[str, Any] = {
    "totals": {
        "created": 5,
        "email_sent": 5,
        "viewed": 4,
        "scanned": 1,
        "opened": 3,
        "authenticated": 3,
        "succeeded": 3,
        "data_refreshed": 1,
    },
    "by_day": {
        DAY: [2, 2, 2, 0, 2, 2, 2, 1],
        DAY + dt.timedelta(days=1): [1, 1, 1, 1, 0, 0, 0, 0],
        DAY + dt.timedelta(days=8): [2, 2, 1, 0, 1, 1, 1, 0],
    },
    "by_week": {
        DAY: [3, 3, 3, 1, 2, 2, 2, 1],
        DAY + dt.timedelta(days=7): [2, 2, 1, 0, 1, 1, 1, 0],
    },
    # (requested, repaired, median seconds)
    "by_institution": {
        "Bank (Non-OAuth)": (3, 2, 7200.0),
        "Bank (OAuth)": (2, 1, 172800.0),
    },
    "by_reason": {
        "Consent expired": (3, 3, 10800.0),
        "Account number expiring": (1, 0, None),
        "Access revoked": (1, 0, None),
    },
    "emails_sent": 6,
    "repaired_accounts": 3,
    "median_seconds": 10800.0,
}


def seed(
    runtime: Runtime,
    platform_id: str,
    livemode: bool,
    requests: list[Request],
    *,
    roll_up: bool = True,
) -> None:
    """Write the requests, then (unless ``roll_up`` is false) recompute the rollup of
    their days, as the worker's scan would."""
    with runtime.database.unit_of_work() as db:
        for request in requests:
            created = dt.datetime.combine(
                DAY + dt.timedelta(days=request.day), dt.time(request.hour), tzinfo=dt.UTC
            )
            customer = Customer(
                id=ids.new("cus"),
                platform_id=platform_id,
                livemode=livemode,
                email="holder@example.com",
                created_at=created,
            )
            authorization = Authorization(
                id=ids.new("fcauthz"),
                platform_id=platform_id,
                livemode=livemode,
                institution_id=request.institution,
                holder_type="customer",
                customer_id=customer.id,
                created_at=created,
                updated_at=created,
            )
            account = Account(
                id=ids.new("fca"),
                platform_id=platform_id,
                livemode=livemode,
                authorization_id=authorization.id,
                institution_id=request.institution,
                holder_type="customer",
                customer_id=customer.id,
                bank_account_id=ids.new("sbacct"),
                display_name="Checking",
                last4="4242",
                created_at=created,
                updated_at=created,
            )
            finished = created + request.repaired_after if request.repaired_after else None
            if request.status == "failed":
                finished = created + HOUR
            session = Session(
                id=ids.new("fcsess"),
                platform_id=platform_id,
                livemode=livemode,
                holder_type="customer",
                customer_id=customer.id,
                client_secret_digest=ids.new("digest"),
                ui_mode="hosted",
                delivery_method="email",
                relink_authorization_id=authorization.id,
                relink_account_id=account.id,
                status=request.status,
                relink_reason=request.reason,
                created_at=created,
                updated_at=finished or created,
                finished_at=finished,
            )
            for row in (customer, authorization, account, session):
                db.add(row)
                db.flush()
            for step, kind in enumerate(request.kinds):
                at = created + dt.timedelta(minutes=step)
                if kind in ("succeeded", "failed") and finished is not None:
                    at = finished
                elif kind in ("data_refreshed", "refresh_failed") and finished is not None:
                    at = finished + dt.timedelta(minutes=1)
                db.add(
                    SessionTimelineEntry(
                        id=ids.new("tl"), session_id=session.id, kind=kind, at=at, detail={}
                    )
                )
        if roll_up and requests:
            days = [DAY + dt.timedelta(days=request.day) for request in requests]
            refresh_days(db, Scope(platform_id, livemode), min(days), max(days))
