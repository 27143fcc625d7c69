"""Accounts → sortable columns: TAN / consent expiry and last relink request, ascending
or descending from the column headers, in keyset pages that lose and repeat no row (ties
included), with the CSV export in the same order."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re

import httpx
import pytest
import stripe
from sqlalchemy import select, text, update

from relink.accounts.filters import AccountFilter, AccountSort, filtered_accounts
from relink.dashboard import export, queries
from relink.kit import clock
from relink.kit.pagination import Cursor
from relink.models import Account
from relink.platforms.service import NewPlatform
from relink.tenancy import Scope
from tests.conftest import RunningServer
from tests.dashboard.factories import broken_account, page_csrf
from tests.factories import create_customer, create_test_account, drain_outbox

SORTS = ["expiry", "-expiry", "last_request", "-last_request"]
ROW_ID = re.compile(r'name="account" value="(fca_[^"]+)"')
# An editor's pager: buttons of the list's form (the ticks are kept on the way).
NEXT = re.compile(r'value="([^"]+)" id="page-next"')
PREVIOUS = re.compile(r'value="([^"]+)" id="page-previous"')


def _accounts_with_ties(server: RunningServer, client: stripe.StripeClient) -> list[str]:
    """Nine accounts: three share each of two sort values, three have none."""
    customer = create_customer(client, email="ties@example.com").id
    ids = [create_test_account(client, customer=customer).id for _ in range(9)]
    base = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    values: list[dt.datetime | None] = [base] * 3 + [base + dt.timedelta(days=1)] * 3 + [None] * 3
    with server.runtime.database.unit_of_work() as db:
        for account_id, value in zip(ids, reversed(values), strict=True):
            db.execute(
                update(Account)
                .where(Account.id == account_id)
                .values(relink_due_at=value, last_relink_request_at=value)
            )
    return ids


def _expected(server: RunningServer, ids: list[str], sort: AccountSort) -> list[str]:
    """The order the list promises, computed here from the stored values."""
    column = "relink_due_at" if sort.field == "expiry" else "last_relink_request_at"
    with server.runtime.database.read_only() as db:
        values = {
            row.id: getattr(row, column)
            for row in db.scalars(select(Account).where(Account.id.in_(ids)))
        }
    # Missing: highest for the expiry, lowest for the last request.
    missing_high = sort.field == "expiry"
    present = sorted((i for i in ids if values[i] is not None), key=lambda i: (values[i], i))
    missing = sorted(i for i in ids if values[i] is None)
    ascending = present + missing if missing_high else missing + present
    return list(reversed(ascending)) if sort.descending else ascending


def _page_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return ROW_ID.findall(response.text)


def _link(pattern: re.Pattern[str], response: httpx.Response) -> str | None:
    found = pattern.search(response.text)
    return html.unescape(found.group(1)) if found else None


@pytest.mark.parametrize("sort", SORTS)
def test_paging_through_a_sorted_list_with_ties_loses_and_repeats_no_row(
    server: RunningServer,
    owner: httpx.Client,
    client: stripe.StripeClient,
    monkeypatch: pytest.MonkeyPatch,
    sort: str,
) -> None:
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    ids = _accounts_with_ties(server, client)
    expected = _expected(server, ids, AccountSort.from_param(sort))

    pages: list[list[str]] = []
    response = owner.get("/accounts", params={"sort": sort})
    while True:
        pages.append(_page_ids(response))
        following = _link(NEXT, response)
        if following is None:
            break
        assert f"sort={sort}" in following
        response = owner.get(following)
    assert [account for page in pages for account in page] == expected
    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]

    backwards: list[list[str]] = []
    while (previous := _link(PREVIOUS, response)) is not None and len(backwards) < 5:
        response = owner.get(previous)
        backwards.append(_page_ids(response))
    assert list(reversed(backwards)) == pages[:-1]


def test_the_column_headers_link_to_each_direction_and_say_which_is_shown(
    owner: httpx.Client, client: stripe.StripeClient, platform: NewPlatform
) -> None:
    broken_account(client, platform.owner.email)
    unsorted = owner.get("/accounts", params={"status": "inactive"}).text
    assert 'href="/accounts?status=inactive&amp;sort=expiry"' in unsorted
    assert 'href="/accounts?status=inactive&amp;sort=-last_request"' in unsorted
    assert "aria-sort" not in unsorted

    ascending = owner.get("/accounts", params={"status": "inactive", "sort": "expiry"}).text
    assert 'aria-sort="ascending"' in ascending
    assert 'href="/accounts?status=inactive&amp;sort=-expiry"' in ascending
    assert "soonest TAN or consent expiry first" in ascending
    assert '<input type="hidden" name="sort" value="expiry">' in ascending  # Apply keeps it

    descending = owner.get("/accounts", params={"sort": "-last_request"}).text
    assert 'aria-sort="descending"' in descending
    assert 'href="/accounts?sort=last_request"' in descending


def test_an_unknown_sort_is_refused_in_words(owner: httpx.Client) -> None:
    for path in ("/accounts", "/accounts/export.csv"):
        response = owner.get(path, params={"sort": "balance"})
        assert response.status_code == 400, path
        assert "The list cannot be sorted that way." in response.text
        assert "Unknown sort" not in response.text  # the API's message, naming codes


@pytest.mark.parametrize("sort", SORTS)
def test_the_export_follows_the_lists_filter_and_order_across_batches(
    server: RunningServer,
    owner: httpx.Client,
    client: stripe.StripeClient,
    monkeypatch: pytest.MonkeyPatch,
    sort: str,
) -> None:
    monkeypatch.setattr(export, "BATCH", 2)
    ids = _accounts_with_ties(server, client)
    other = create_test_account(client, customer=create_customer(client, email="x@other.test").id)
    expected = _expected(server, ids, AccountSort.from_param(sort))

    page = owner.get("/accounts", params={"search": "ties@example.com", "sort": sort}).text
    link = f'href="/accounts/export.csv?search=ties%40example.com&amp;sort={sort}"'
    assert link in page
    response = owner.get(
        "/accounts/export.csv", params={"search": "ties@example.com", "sort": sort}
    )
    exported = [row["id"] for row in csv.DictReader(io.StringIO(response.text))]
    assert exported == expected
    assert other.id not in exported


def test_a_relink_request_is_recorded_on_the_account_for_the_sort(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    one = broken_account(client, platform.owner.email)
    bulk = broken_account(client, platform.owner.email)
    owner.post(
        f"/accounts/{one.id}/request-relink",
        data={"csrf_token": page_csrf(owner, f"/accounts/{one.id}")},
    )
    started = owner.post(
        "/accounts/request-relink",
        data={"csrf_token": page_csrf(owner), "submission": "sort-bulk-000001", "account": bulk.id},
    )
    assert started.status_code == 303
    drain_outbox(server.runtime)
    with server.runtime.database.read_only() as db:
        recorded = dict(
            db.execute(
                select(Account.id, Account.last_relink_request_at).where(
                    Account.id.in_([one.id, bulk.id])
                )
            ).all()
        )
    assert all(recorded[account] is not None for account in (one.id, bulk.id)), recorded
    newest_first = _page_ids(owner.get("/accounts", params={"sort": "-last_request"}))
    assert set(newest_first[:2]) == {one.id, bulk.id}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # PostgreSQL's planner
@pytest.mark.parametrize("sort", SORTS)
def test_on_postgresql_a_sorted_page_is_read_from_an_index_without_sorting(
    server: RunningServer, platform: NewPlatform, client: stripe.StripeClient, sort: str
) -> None:
    database = server.runtime.database
    ids = _accounts_with_ties(server, client)
    scope = Scope(platform.platform.id, livemode=False)
    order = AccountSort.from_param(sort).order()
    assert order is not None
    query = filtered_accounts(scope, clock.now(), AccountFilter())
    with database.engine.connect() as connection:
        anchor = connection.execute(select(order.key, Account.id).where(Account.id == ids[4])).one()
        connection.execute(text("SET enable_seqscan = off"))
        connection.execute(text("SET enable_bitmapscan = off"))
        # On a handful of rows sorting is cheapest; forbidden, a plan without a sort
        # exists only if an index gives the order.
        connection.execute(text("SET enable_sort = off"))
        for statement in order.statements(query, (anchor[0], anchor[1])):
            compiled = statement.limit(Cursor().limit + 1).compile(connection)
            plan = "\n".join(
                row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
            )
            assert re.search(r"Index Scan (Backward )?using ix_accounts_scope_", plan), plan
            assert "Sort" not in plan, plan


def test_a_sorted_page_after_an_account_not_in_the_scope_starts_from_the_first_page(
    server: RunningServer, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    ids = _accounts_with_ties(server, client)
    expected = _expected(server, ids, AccountSort.from_param("expiry"))
    for cursor in ("starting_after", "ending_before"):
        response = owner.get("/accounts", params={"sort": "expiry", cursor: "fca_not_ours"})
        assert _page_ids(response) == expected, cursor
