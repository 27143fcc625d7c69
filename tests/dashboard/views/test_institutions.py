"""Institutions page: the mode's banks with connector, health and this platform's accounts."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stripe

from relink.dashboard.queries import institutions_page
from relink.institutions.configure import InstitutionConfig, add_institution, set_disabled
from relink.models import Institution
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.conftest import RunningServer, make_platform, stripe_client
from tests.dashboard.factories import page_csrf
from tests.factories import create_customer, create_test_account, raw
from tests.institutions.catalogs import remove_institutions, unique_bic

SETTINGS = {
    "base_url": "https://api.example-bank.test/api",
    "authorize_url": "https://api.example-bank.test/authorize",
    "token_url": "https://api.example-bank.test/token",
    "client_id": "relink",
    "client_secret": "never-on-the-page",
}


@pytest.fixture
def live_bank(runtime: Runtime) -> Iterator[str]:
    bic = unique_bic()
    with runtime.database.unit_of_work() as session:
        outcome = add_institution(
            session,
            runtime,
            InstitutionConfig(
                name="Dashboard Live Bank",
                connector="oauth2",
                country="DE",
                bic=bic,
                settings=SETTINGS,
            ),
        )
    yield outcome.institution_id
    remove_institutions(runtime, [bic])


def test_the_accounts_counted_are_this_platforms_only(
    runtime: Runtime, platform: NewPlatform, client: stripe.StripeClient, server: RunningServer
) -> None:
    create_test_account(client, customer=create_customer(client).id)
    with runtime.database.unit_of_work() as db:
        other = make_platform(db)
    other_client = stripe_client(server, other.test_secret_key)
    create_test_account(other_client, customer=create_customer(other_client).id)
    with runtime.database.read_only() as db:
        rows = {
            r.institution.id: r for r in institutions_page(db, Scope(platform.platform.id, False))
        }
    assert rows["fcinst_bank_non_oauth"].accounts == {"active": 1}
    assert rows["fcinst_test_oauth"].total == 0
    assert all(not r.institution.livemode for r in rows.values())


def test_the_test_mode_page_words_the_connector_and_health(owner: httpx.Client) -> None:
    html = owner.get("/institutions").text
    assert 'id="institution-fcinst_test_oauth"' in html
    assert "Sandbox bank" in html and "Working normally" in html


def test_the_live_mode_page_lists_configured_banks_and_says_which_are_disabled(
    runtime: Runtime, owner: httpx.Client, live_bank: str
) -> None:
    owner.post("/mode", data={"livemode": "1", "csrf_token": page_csrf(owner)})
    html = owner.get("/institutions").text
    assert f'id="institution-{live_bank}"' in html
    assert "OAuth 2 bank API" in html
    assert "fcinst_test_oauth" not in html
    assert "never-on-the-page" not in html
    with runtime.database.unit_of_work() as session:
        set_disabled(session, live_bank, disabled=True)
    row = owner.get("/institutions").text.split(f'id="institution-{live_bank}"')[1]
    assert "No: disabled" in row.split("</tr>")[0]


def test_the_page_says_since_when_a_bank_has_been_in_trouble(
    owner: httpx.Client, client: stripe.StripeClient, runtime: Runtime
) -> None:
    outage = "/v1/test_helpers/financial_connections/institutions/fcinst_test_oauth/outage"
    try:
        raw(client, "post", outage, status="degraded")
        with runtime.database.read_only() as db:
            institution = db.get(Institution, "fcinst_test_oauth")
            assert institution is not None
            since = institution.health_since
        assert since is not None
        row = _row(owner.get("/institutions").text, "fcinst_test_oauth")
        assert "Having trouble" in row and "since" in row
        # A second answer of the same health keeps the moment the trouble began.
        raw(client, "post", outage, status="degraded")
        with runtime.database.read_only() as db:
            again = db.get(Institution, "fcinst_test_oauth")
            assert again is not None and again.health_since == since
    finally:
        raw(client, "post", outage, status="active")
    row = _row(owner.get("/institutions").text, "fcinst_test_oauth")
    assert "Working normally" in row


def _row(html: str, institution_id: str) -> str:
    start = html.index(f'id="institution-{institution_id}"')
    return html[start : html.index("</tr>", start)]
