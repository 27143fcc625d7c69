"""Accounts → Download CSV: every account the filter matches, the tenant's only, in batches,
with cells a spreadsheet would run as formulas defused."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
import stripe

from relink.dashboard import export
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer, make_platform, stripe_client
from tests.dashboard.factories import broken_account
from tests.factories import create_customer, create_test_account


def _rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def test_the_export_holds_every_matching_account_with_its_holder_and_eligibility(
    platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    broken = broken_account(client, platform.owner.email, name="Ada Holder")
    working = create_test_account(
        client, customer=create_customer(client, email="b@example.com").id
    )

    response = owner.get("/accounts/export.csv")
    rows = {row["id"]: row for row in _rows(response)}

    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="accounts-test-'
    )
    assert set(rows) == {broken.id, working.id}
    assert rows[broken.id]["status"] == "inactive"
    assert rows[broken.id]["inactive_cause"] == "access_expired"
    assert rows[broken.id]["holder_email"] == platform.owner.email
    assert rows[broken.id]["eligible"] == "yes"
    assert rows[working.id]["eligible"] == "no"
    assert rows[working.id]["not_eligible_because"] == "Not needed"
    assert rows[working.id]["not_eligible_code"] == "not_broken"
    assert rows[broken.id]["institution"]  # the bank's name, not its id
    assert not rows[broken.id]["institution"].startswith("fcinst_")


def test_the_export_follows_the_lists_filter_and_the_list_links_to_it(
    platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    broken = broken_account(client, platform.owner.email)
    create_test_account(client, customer=create_customer(client, email="c@example.com").id)

    page = owner.get("/accounts", params={"status": "inactive"}).text
    assert 'href="/accounts/export.csv?status=inactive"' in page
    rows = _rows(owner.get("/accounts/export.csv", params={"status": "inactive"}))
    assert [row["id"] for row in rows] == [broken.id]
    eligible = _rows(owner.get("/accounts/export.csv", params={"eligible": "true"}))
    assert [row["id"] for row in eligible] == [broken.id]


def test_an_unknown_filter_value_is_refused_in_words(owner: httpx.Client) -> None:
    response = owner.get("/accounts/export.csv", params={"status": "sideways"})
    assert response.status_code == 400
    assert "This filter holds a value the Accounts page does not offer." in response.text


def test_a_viewer_may_export_and_another_platforms_accounts_never_appear(
    server: RunningServer,
    platform: NewPlatform,
    viewer: httpx.Client,
    client: stripe.StripeClient,
) -> None:
    ours = broken_account(client, platform.owner.email)
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending")
    broken_account(stripe_client(server, other.test_secret_key), other.owner.email)

    assert [row["id"] for row in _rows(viewer.get("/accounts/export.csv"))] == [ours.id]


def test_signed_out_the_export_sends_to_the_sign_in_page(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, follow_redirects=False) as anonymous:
        response = anonymous.get("/accounts/export.csv")
    assert response.status_code in (302, 303)
    assert "/login" in response.headers["location"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_cells_a_spreadsheet_would_run_are_written_as_text(start: str) -> None:
    assert export._cell(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"


def test_other_cells_are_written_as_they_are() -> None:
    assert export._cell("Ada Holder") == "Ada Holder"
    assert export._cell(None) == ""
    assert export._cell(4) == "4"


def test_a_long_list_comes_in_batches_newest_first_without_a_gap_or_a_repeat(
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(export, "BATCH", 2)  # the server runs in this process
    created = [
        create_test_account(client, customer=create_customer(client, email=f"h{n}@example.com").id)
        for n in range(5)
    ]

    ids = [row["id"] for row in _rows(owner.get("/accounts/export.csv"))]
    assert sorted(ids) == sorted(account.id for account in created)
    assert ids == sorted(ids, reverse=True)
