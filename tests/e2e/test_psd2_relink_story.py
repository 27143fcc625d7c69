"""The PSD2 relink story end to end through real parts: the sandbox bank in its own
process behind TLS that requires a client certificate (certificates made here), set up as
a test-mode institution from a catalog file; Chromium links an account through Relink's
hosted flow and the bank's SCA pages; 30 days before `validUntil` the platform's webhook
endpoint hears of it; past it the account is inactive `access_expired`; the relink email
reaches a real SMTP server, the holder re-authenticates in Chromium, and the same account
is active with a new `validUntil` while the bank shows the old consent `terminatedByTpp`.

Relink's test clock moves; the bank's stays on real time, so the old consent is still
live at the bank when the relink ends it (a bank whose own date had passed `validUntil`
would answer that it had expired, and there would be nothing left to terminate).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import stripe
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Page

from relink.institutions.configure import import_catalog, read_catalog
from relink.lifecycle.grants import open_grant
from relink.models import Authorization
from relink.outbox.dispatcher import OutboxDispatcher
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank import TlsFiles
from relink.sandbox_bank.psd2.aspsps import ASPSPS_BY_KEY
from relink.sandbox_bank.psd2.data import accounts_for
from relink.sandbox_bank.testing import BankProcess, free_port
from tests.browser.chromium import CHROMIUM_ARGS
from tests.conftest import RunningServer
from tests.email.smtp_server import SmtpServer
from tests.factories import create_customer, raw, wire
from tests.hosted.connect_factories import link_session
from tests.receivers import webhook_receiver

pytestmark = pytest.mark.browser

REDIRECT = ASPSPS_BY_KEY["psd2_redirect"]
DAY = 86400
UPCOMING: Final = "financial_connections.account.upcoming_deactivation"


@dataclass(frozen=True)
class Bank:
    api: str
    pages: str
    folder: Path

    def tpp_client(self) -> httpx.Client:
        """Relink's side of the wire: its client certificate, trusting the bank's CA."""
        context = ssl.create_default_context(cafile=str(self.folder / "bank-ca.pem"))
        context.load_cert_chain(str(self.folder / "tpp.pem"), str(self.folder / "tpp.key"))
        return httpx.Client(base_url=f"{self.api}/psd2", verify=context, timeout=10)

    def consent(self, consent_id: str) -> dict[str, Any]:
        with self.tpp_client() as http:
            answer = http.get(
                f"/v1/consents/{consent_id}", headers={"X-Request-ID": str(uuid.uuid4())}
            )
        answer.raise_for_status()
        return dict(answer.json())


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    folder = tmp_path_factory.mktemp("psd2-story")
    bank_ca, tpp_ca = trustme.CA(), trustme.CA()
    server = bank_ca.issue_cert("127.0.0.1")
    tpp = tpp_ca.issue_cert("relink.test")
    bank_ca.cert_pem.write_to_path(folder / "bank-ca.pem")
    server.cert_chain_pems[0].write_to_path(folder / "server.pem")
    server.private_key_pem.write_to_path(folder / "server.key")
    tpp_ca.cert_pem.write_to_path(folder / "tpp-ca.pem")
    tpp.cert_chain_pems[0].write_to_path(folder / "tpp.pem")
    tpp.private_key_pem.write_to_path(folder / "tpp.key")
    tls = TlsFiles(
        str(folder / "server.pem"), str(folder / "server.key"), str(folder / "tpp-ca.pem")
    )
    with BankProcess(folder / "bank.db", tls=tls, pages_port=free_port()) as process:
        yield Bank(process.base_url, process.pages_url, folder)


@pytest.fixture(scope="module")
def institution(bank: Bank, runtime: Runtime) -> str:
    """The bank as an operator configures it: a test-mode catalog entry with Relink's
    client certificate and key, and the CA the bank's server certificate comes from."""
    institution_id = f"fcinst_psd2_story_{secrets.token_hex(4)}"
    catalog = bank.folder / "banks.toml"
    catalog.write_text(
        "[[institution]]\n"
        f'id = "{institution_id}"\n'
        'name = "PSD2 Story Bank"\n'
        'connector = "nextgenpsd2"\n'
        'country = "DE"\n'
        f'bic = "{REDIRECT.bic}"\n'
        "livemode = false\n"
        f'base_url = "{bank.api}/psd2"\n'
        f'sca_redirect_origins = ["{bank.pages}"]\n'
        'client_certificate = "tpp.pem"\n'
        'client_key = "tpp.key"\n'
        'ca_certificate = "bank-ca.pem"\n'
    )
    with runtime.database.unit_of_work() as session:
        [outcome] = import_catalog(session, runtime, read_catalog(catalog))
    assert outcome.result == "created"
    return institution_id


@pytest.fixture(scope="module")
def holder_browser(dashboard_browser: Browser, bank: Bank) -> Iterator[Browser]:
    """Chromium that accepts the bank's server certificate by its pinned public key (no
    trust store knows the test's CA); any other certificate error still stops it."""
    certificate = x509.load_pem_x509_certificate((bank.folder / "server.pem").read_bytes())
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    browser = dashboard_browser.browser_type.launch(
        executable_path="/usr/bin/chromium",
        args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pin}"],
    )
    yield browser
    browser.close()


@pytest.fixture
def holder(holder_browser: Browser, server: RunningServer) -> Iterator[Page]:
    """The holder's phone: no client certificate (the bank's SCA pages ask for none)."""
    context = holder_browser.new_context(
        base_url=server.url, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.set_default_timeout(8000)
    yield page
    context.close()


def _authenticate_at_the_bank(page: Page, username: str) -> None:
    """The bank's SCA pages: sign in, a code by text message, the accounts."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Text message to •••• 1234").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("One-time code").fill("123456")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("button", name="Allow access").click()
    page.wait_for_load_state()


def _heading(page: Page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def _consent_id(runtime: Runtime, authorization_id: str) -> str:
    with runtime.database.read_only() as session:
        authorization = session.get(Authorization, authorization_id)
        assert authorization is not None
        return open_grant(runtime, authorization).secrets["consent_id"]


def _advance_to(client: stripe.StripeClient, moment: int) -> None:
    """Relink's test clock to ``moment`` (unix seconds), running the scans that fall due."""
    now = raw(client, "post", "/v1/test_helpers/clock/advance", seconds=1)["frozen_time"]
    raw(client, "post", "/v1/test_helpers/clock/advance", seconds=moment - now)


@pytest.mark.usefixtures("private_webhooks")
def test_a_psd2_account_expires_and_is_relinked_by_email(
    holder: Page,
    platform: NewPlatform,
    client: stripe.StripeClient,
    runtime: Runtime,
    server: RunningServer,
    bank: Bank,
    institution: str,
    smtp: SmtpServer,
    smtp_worker: OutboxDispatcher,
) -> None:
    customer = create_customer(client, name="Erika Mustermann", email=platform.owner.email)
    username = customer.id.lower()
    ibans = [a.iban for a in accounts_for(REDIRECT, username)]
    return_url = f"{server.url}/healthz"
    with webhook_receiver() as receiver:
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": [UPCOMING]}
        )

        # Link, in Chromium, through the bank's SCA pages.
        linking = link_session(
            client,
            customer,
            permissions=["balances", "transactions"],
            filters={"institution": institution},
            return_url=return_url,
        )
        holder.goto(linking.url)
        holder.get_by_role("button", name="Continue").click()
        _authenticate_at_the_bank(holder, username)
        assert _heading(holder) == "Choose the accounts to share"
        holder.get_by_role("button", name="Continue").click()
        holder.get_by_role("button", name="Link accounts").click()
        holder.wait_for_url(return_url)
        linked = wire(client.v1.financial_connections.sessions.retrieve(linking.id))
        assert linked.status == "succeeded"
        account = next(a for a in linked.accounts.data if a.last4 == ibans[0][-4:])
        old_consent = _consent_id(runtime, account["authorization"])
        old_valid_until = dt.date.fromisoformat(bank.consent(old_consent)["validUntil"])
        ends = account.status_details.active.expected_deactivation_date
        assert dt.datetime.fromtimestamp(ends, dt.UTC).date() == old_valid_until + dt.timedelta(
            days=1
        )

        # 30 days before validUntil: the upcoming_deactivation webhook.
        _advance_to(client, ends - 30 * DAY)
        smtp_worker.drain()
        events = [
            stripe.Webhook.construct_event(
                delivery.body, delivery.headers["stripe-signature"], endpoint.secret
            )
            for delivery in receiver.deliveries
        ]
        assert sorted((e.type, e.data.object.id) for e in events) == sorted(
            (UPCOMING, a.id) for a in linked.accounts.data
        )
        assert client.v1.financial_connections.accounts.retrieve(account.id).status == "active"

    # Past validUntil: inactive, access_expired.
    _advance_to(client, ends + 60)
    smtp_worker.drain()
    expired = client.v1.financial_connections.accounts.retrieve(account.id)
    assert (expired.status, wire(expired).status_details.inactive.cause) == (
        "inactive",
        "access_expired",
    )

    # A hosted relink by email; the holder follows its link and signs in at the bank again.
    relinking = raw(
        client,
        "post",
        "/v1/financial_connections/sessions",
        relink_options={"authorization": account["authorization"], "account": account.id},
        permissions=["balances"],
        ui_mode="hosted",
        hosted={"delivery_method": "email"},
    )
    smtp_worker.drain()
    [email] = smtp.handler.asking(platform.owner.email)
    text = email.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https?://\S+/relink/[A-Za-z0-9_-]+", text)
    assert link is not None
    assert f"••••{account.last4}" in text
    holder.goto(link.group(0))
    assert _heading(holder) == "Reconnect your bank account"
    holder.get_by_role("button", name="Continue").click()
    _authenticate_at_the_bank(holder, username)
    assert _heading(holder) == "Your account is reconnected"
    smtp_worker.drain()

    relinked = wire(client.v1.financial_connections.sessions.retrieve(str(relinking["id"])))
    assert relinked.status == "succeeded"
    assert relinked.relink_result.account == account.id
    repaired = client.v1.financial_connections.accounts.retrieve(account.id)
    assert repaired.status == "active"
    assert repaired["authorization"] == account["authorization"]
    new_consent = _consent_id(runtime, account["authorization"])
    assert new_consent != old_consent
    new = bank.consent(new_consent)
    new_valid_until = dt.date.fromisoformat(new["validUntil"])
    assert new_valid_until > old_valid_until
    assert repaired.status_details is not None and repaired.status_details.active is not None
    assert dt.datetime.fromtimestamp(
        repaired.status_details.active.expected_deactivation_date, dt.UTC
    ).date() == new_valid_until + dt.timedelta(days=1)
    assert {"iban": ibans[0]} in new["access"]["accounts"]
    assert (bank.consent(old_consent)["consentStatus"], new["consentStatus"]) == (
        "terminatedByTpp",
        "valid",
    )

    # The new consent serves unattended reads: a balance refresh at the bank succeeds.
    client.v1.financial_connections.accounts.refresh(account.id, params={"features": ["balance"]})
    smtp_worker.drain()
    refreshed = client.v1.financial_connections.accounts.retrieve(account.id)
    assert refreshed.balance_refresh is not None
    assert (refreshed.status, refreshed.balance_refresh.status) == ("active", "succeeded")
