"""The hosted institution picker offers what the API lists: no disabled institution."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stripe

from relink.institutions.configure import InstitutionConfig, add_institution, set_disabled
from relink.runtime import Runtime
from tests.hosted.connect_factories import link_session
from tests.hosted.pages import HostedPages, text_of
from tests.institutions.catalogs import unique_bic

NAME = "Operator Sandbox Bank"


@pytest.fixture
def configured(runtime: Runtime) -> Iterator[str]:
    """A test-mode institution the operator configured, served by the sandbox bank."""
    bic = unique_bic()
    with runtime.database.unit_of_work() as session:
        outcome = add_institution(
            session,
            runtime,
            InstitutionConfig(
                name=NAME,
                connector="sandbox",
                country="US",
                bic=bic,
                livemode=False,
                settings={"base_url": "{sandbox_bank_url}", "institution": "bank_oauth"},
            ),
        )
    yield outcome.institution_id
    # Link sessions name it now: leave it, disabled, offered to no later test.
    with runtime.database.unit_of_work() as session:
        set_disabled(session, outcome.institution_id, disabled=True)


def test_a_configured_institution_is_offered_and_links_at_its_bank(
    client: stripe.StripeClient, http: httpx.Client, configured: str
) -> None:
    pages = HostedPages(http, link_session(client).url)
    assert NAME in text_of(pages.open())
    answer = pages.pick_bank(configured)
    assert answer.status_code == 303
    assert "/sandbox-bank/oauth/authorize" in answer.headers["location"]


def test_a_disabled_institution_is_not_offered_nor_pickable(
    client: stripe.StripeClient, http: httpx.Client, runtime: Runtime, configured: str
) -> None:
    with runtime.database.unit_of_work() as session:
        set_disabled(session, configured, disabled=True)
    pages = HostedPages(http, link_session(client).url)
    assert NAME not in text_of(pages.open())
    refused = pages.follow(pages.pick_bank(configured))
    assert refused.status_code == 400
    assert "This bank cannot be chosen here" in text_of(refused)
