"""OAuth bound to the browser that pressed Continue, in real Chromium with two browser
contexts (an attacker and a victim) and the sandbox bank on another site: the attacker
starts his own flow and sends the bank's authorize URL to the victim; the victim signs in
at the bank, and the callback in the victim's browser completes nothing. The attacker's
own flow is not consumed: he can still finish it himself, which also shows that the
binding cookie survives the bank's cross-site redirect back (SameSite=Lax)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import stripe
from playwright.sync_api import Browser, BrowserContext, Page

from relink.app import create_app
from relink.config import Settings
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.data import accounts_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY
from relink.sandbox_bank.testing import free_port
from tests.browser.dashboard_fixtures import serious_violations
from tests.browser.hosted_fixtures import hosted_screenshot
from tests.browser.pages.hosted import HostedRelinkPage, SandboxBankAuthorizePage
from tests.conftest import start_server
from tests.factories import create_customer, runtime_with
from tests.hosted.connect_factories import link_session
from tests.hosted.factories import hosted_flow, relink_case, retrieve_session

pytestmark = pytest.mark.browser

REFUSED = "Finish in the browser you started in"


@dataclass
class CrossSiteServer:
    """Relink at 127.0.0.1, its sandbox bank reached by browsers at localhost: two sites."""

    url: str
    runtime: Runtime
    default_url: str

    def link(self, url: str) -> str:
        """A link the API made (on the default test server), on this server."""
        return self.url + url.removeprefix(self.default_url)


@pytest.fixture
def cross_site(settings: Settings) -> Iterator[CrossSiteServer]:
    port = free_port()
    runtime = runtime_with(
        settings,
        public_url=f"http://127.0.0.1:{port}",
        sandbox_bank_url=f"http://localhost:{port}/sandbox-bank",
    )
    server, thread, url = start_server(create_app(runtime=runtime), port)
    yield CrossSiteServer(url, runtime, settings.public_url)
    server.should_exit = True
    thread.join(timeout=10)
    runtime.database.engine.dispose()


@pytest.fixture
def two_browsers(dashboard_browser: Browser) -> Iterator[tuple[Page, Page]]:
    """The attacker's and the victim's browsers: separate contexts, separate cookies."""
    contexts: list[BrowserContext] = [
        dashboard_browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
        for _ in range(2)
    ]
    yield contexts[0].new_page(), contexts[1].new_page()
    for context in contexts:
        context.close()


def _authorize_url_after(page: Page, press: Callable[[], object]) -> str:
    """The bank's authorize URL that pressing a button on Relink's page leads to (the
    bank then answers with its sign-in page's own address)."""
    with page.expect_request(lambda request: "/oauth/authorize?" in request.url) as sent:
        press()
    page.wait_for_load_state()
    return sent.value.url


def _labels(username: str) -> list[str]:
    """How the sandbox bank's account picker names this user's accounts."""
    held = accounts_for(INSTITUTIONS_BY_KEY["bank_oauth"], username)
    return [f"{a.display_name} ••••{a.last4}" for a in held]


def _victim_signs_in_through(victim: Page, authorize_url: str, username: str) -> list[str]:
    """The victim follows the attacker's authorize URL and shares everything; axe
    findings of the page Relink answers with, in English and German."""
    victim.goto(authorize_url)
    SandboxBankAuthorizePage(victim).sign_in(username, "pw").share_only(*_labels(username)).allow()
    assert HostedRelinkPage(victim).heading == REFUSED
    problems = serious_violations(victim)
    victim.goto(f"{victim.url}&lang=de")
    assert HostedRelinkPage(victim).heading == "Im selben Browser abschließen"
    hosted_screenshot(victim, "other-browser-de")
    return problems + serious_violations(victim)


def test_a_victim_signing_in_through_an_attackers_relink_link_changes_nothing(
    two_browsers: tuple[Page, Page],
    cross_site: CrossSiteServer,
    platform: NewPlatform,
    client: stripe.StripeClient,
) -> None:
    attacker, victim = two_browsers
    # An authorization-wide relink: a completed callback would add every account the
    # victim shares to the attacker's authorization.
    case = relink_case(client, platform.owner.email, institution="bank_oauth", with_account=False)
    hosted = HostedRelinkPage(attacker).open(cross_site.link(case.url))
    authorize_url = _authorize_url_after(attacker, lambda: hosted.press("Continue"))
    assert authorize_url.startswith(f"{cross_site.url.replace('127.0.0.1', 'localhost')}/")

    # A username starting with "other" is another login at the sandbox bank (any other
    # username would reach the login the relink reconnects: the attacker's).
    problems = _victim_signs_in_through(victim, authorize_url, "other-victim-of-a-relink")

    assert problems == []
    assert retrieve_session(client, case.session.id).status == "pending"
    flow = hosted_flow(cross_site.runtime, case.session.id)
    assert flow is not None and flow.step == "oauth" and flow.oauth_state_digest is not None
    held = client.v1.financial_connections.accounts.list(
        params={"account_holder": {"customer": case.customer.id}}
    ).data
    assert [a.id for a in held] == [case.account.id]
    # The attacker's own flow still works, in his own browser only.
    SandboxBankAuthorizePage(attacker).sign_in(case.bank_username, "pw").share_only(
        f"Checking ••••{case.account.last4}"
    ).allow()
    assert hosted.heading == "Your account is reconnected"
    assert retrieve_session(client, case.session.id).status == "succeeded"


def test_a_victim_signing_in_through_an_attackers_link_session_shares_nothing(
    two_browsers: tuple[Page, Page], cross_site: CrossSiteServer, client: stripe.StripeClient
) -> None:
    attacker, victim = two_browsers
    customer = create_customer(client, name="Mallory")
    session = link_session(client, customer)
    hosted = HostedRelinkPage(attacker).open(cross_site.link(session.url))
    authorize_url = _authorize_url_after(
        attacker,
        lambda: hosted.press("Bank (OAuth)", exact=True),  # not "PSD2 Bank (OAuth)"
    )

    problems = _victim_signs_in_through(victim, authorize_url, "victim-of-a-link")

    assert problems == []
    pending = retrieve_session(client, session.id)
    assert (pending.status, list(pending.accounts.data)) == ("pending", [])
    # Back in the attacker's browser, the flow offers only what he shares himself.
    own = customer.id.lower()
    SandboxBankAuthorizePage(attacker).sign_in(own, "pw").share_only(*_labels(own)).allow()
    assert hosted.heading == "Choose the accounts to share"
    offered = hosted.text
    assert all(label.split(" ••••")[1] in offered for label in _labels(own))
    assert not any(label.split(" ••••")[1] in offered for label in _labels("victim-of-a-link"))
