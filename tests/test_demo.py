"""The demo platform's sandbox book: every kind of account the dashboard distinguishes,
seeded once, with ``relink_due_at`` as the eligibility rules define it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pytest
from sqlalchemy import ColumnElement, func, select, text

from relink.accounts.filters import AccountFilter, filtered_accounts
from relink.bulk_requests.preview import preview_bulk_request
from relink.demo import (
    DEFAULT_BOOK_ACCOUNTS,
    DEMO_OWNER_EMAIL,
    OWNER_HOLDERS,
    RECENTLY_REQUESTED,
    BookSummary,
    ensure_demo_book,
    ensure_demo_platform,
)
from relink.eligibility.rules import relink_due_at
from relink.models import (
    Account,
    AccountNumber,
    ConnectionStatus,
    Customer,
    InactiveCause,
    OutboxMessage,
    Platform,
    Session,
    SessionStatus,
)
from relink.runtime import Runtime
from relink.sandbox_bank.data import accounts_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY
from relink.sessions.service import RELINK_EMAIL
from relink.tenancy import Scope


@dataclass
class Demo:
    runtime: Runtime
    platform_id: str
    first: BookSummary

    @property
    def scope(self) -> Scope:
        return Scope(self.platform_id, False)

    def count(self, *conditions: ColumnElement[bool]) -> int:
        with self.runtime.database.read_only() as db:
            query = (
                select(func.count())
                .select_from(Account)
                .where(
                    Account.platform_id == self.platform_id,
                    Account.livemode.is_(False),
                    *conditions,
                )
            )
            return int(db.scalar(query) or 0)

    def matching(self, account_filter: AccountFilter) -> int:
        with self.runtime.database.read_only() as db:
            query = filtered_accounts(self.scope, self.scope.now(), account_filter)
            return int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)


@pytest.fixture(scope="module")
def demo(runtime: Runtime) -> Demo:
    credentials = ensure_demo_platform(runtime)
    first = ensure_demo_book(runtime, credentials["platform"])
    return Demo(runtime, credentials["platform"], first)


def test_demo_book_has_the_default_number_of_accounts(demo: Demo) -> None:
    assert demo.count() == DEFAULT_BOOK_ACCOUNTS


def test_demo_book_has_active_and_disconnected_accounts(demo: Demo) -> None:
    assert demo.matching(AccountFilter(status=ConnectionStatus.active)) > 0
    assert demo.matching(AccountFilter(status=ConnectionStatus.disconnected)) > 0


@pytest.mark.parametrize("cause", list(InactiveCause))
def test_demo_book_has_inactive_accounts_of_each_cause(demo: Demo, cause: InactiveCause) -> None:
    assert demo.matching(AccountFilter(status="inactive", cause=cause)) > 0


def test_demo_book_has_tans_expiring_soon_and_expired(demo: Demo) -> None:
    with demo.runtime.database.read_only() as db:
        statuses = set(
            db.scalars(
                select(AccountNumber.status).where(AccountNumber.platform_id == demo.platform_id)
            )
        )
    assert demo.matching(AccountFilter(tan_expiring=True, status="active")) > 0
    assert "expired" in statuses


def test_demo_book_has_holders_without_email(demo: Demo) -> None:
    assert demo.first.without_email > 0
    assert (
        demo.count(Account.customer_id.in_(select(Customer.id).where(Customer.email.is_(None)))) > 0
    )


def test_demo_book_has_a_handful_of_holders_with_the_owners_address(demo: Demo) -> None:
    owners = select(Customer.id).where(Customer.email == DEMO_OWNER_EMAIL)
    assert demo.count(Account.customer_id.in_(owners)) == OWNER_HOLDERS


def test_demo_book_has_recent_requests_with_their_emails_queued(demo: Demo) -> None:
    with demo.runtime.database.read_only() as db:
        sessions = list(
            db.scalars(
                select(Session).where(
                    Session.platform_id == demo.platform_id,
                    Session.status == SessionStatus.pending,
                    Session.delivery_method == "email",
                )
            )
        )
        emails = db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.kind == RELINK_EMAIL,
                OutboxMessage.dedupe_key.in_([f"email:relink:{s.id}" for s in sessions]),
            )
        )
    assert (len(sessions), emails) == (RECENTLY_REQUESTED, RECENTLY_REQUESTED)


def test_demo_book_leaves_some_owner_holders_eligible_to_try(demo: Demo) -> None:
    with demo.runtime.database.read_only() as db:
        scope = demo.scope
        everything = filtered_accounts(scope, scope.now(), AccountFilter())
        preview = preview_bulk_request(db, scope, scope.now(), everything)
    assert preview.eligible > 0
    assert preview.skipped["recent_request"] == RECENTLY_REQUESTED
    assert preview.skipped["unconfirmed_test_email"] > 0


def test_demo_accounts_have_relink_due_at_as_the_rules_compute_it(demo: Demo) -> None:
    with demo.runtime.database.read_only() as db:
        accounts = list(db.scalars(select(Account).where(Account.platform_id == demo.platform_id)))
        numbers: dict[str, list[AccountNumber]] = defaultdict(list)
        for number in db.scalars(
            select(AccountNumber).where(AccountNumber.platform_id == demo.platform_id)
        ):
            numbers[number.account_id].append(number)
    assert [a.relink_due_at for a in accounts] == [
        relink_due_at(a, numbers[a.id]) for a in accounts
    ]


def test_demo_accounts_are_the_holders_accounts_at_the_sandbox_bank(demo: Demo) -> None:
    with demo.runtime.database.read_only() as db:
        accounts = list(db.scalars(select(Account).where(Account.platform_id == demo.platform_id)))
    for account in accounts:
        institution = INSTITUTIONS_BY_KEY[account.institution_id.removeprefix("fcinst_")]
        holder = account.customer_id or account.connected_account_id
        assert holder is not None
        bank_ids = {a.id for a in accounts_for(institution, holder.lower())}
        assert account.bank_account_id in bank_ids


def test_demo_platform_is_branded(demo: Demo) -> None:
    with demo.runtime.database.read_only() as db:
        platform = db.get(Platform, demo.platform_id)
    assert platform is not None
    assert platform.logo_png is not None and platform.logo_png.startswith(b"\x89PNG\r\n\x1a\n")
    assert (platform.logo_content_type, platform.support_email) == (
        "image/png",
        "support@acme-lending.example",
    )


def test_demo_book_is_seeded_once(demo: Demo) -> None:
    again = ensure_demo_book(demo.runtime, demo.platform_id)
    assert (again.created, demo.count()) == (0, DEFAULT_BOOK_ACCOUNTS)


def test_demo_book_grows_to_a_larger_requested_size(demo: Demo) -> None:
    grown = ensure_demo_book(demo.runtime, demo.platform_id, accounts=DEFAULT_BOOK_ACCOUNTS + 40)
    assert (grown.created, demo.count()) == (40, DEFAULT_BOOK_ACCOUNTS + 40)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # PostgreSQL's planner
def test_demo_book_is_analysed_so_the_planner_knows_its_size(demo: Demo) -> None:
    ensure_demo_book(demo.runtime, demo.platform_id, accounts=demo.count() + 30)
    with demo.runtime.database.read_only() as db:
        for model in (Account, AccountNumber, Customer):
            table = model.__tablename__
            rows = db.scalar(select(func.count()).select_from(model))
            estimated = db.scalar(
                text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                {"t": table},
            )
            assert (table, estimated) == (table, rows)
