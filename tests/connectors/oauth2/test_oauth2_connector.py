"""The generic OAuth2 connector against the sandbox bank running as a separate process.

This is the code path a live deployment uses: real HTTP to another process, a client
registered with exact redirect URIs, PKCE, refresh tokens, and a holder who revokes
access in the bank's own security center.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from relink.connectors.base import AccessDenied, Grant, Health, Redirect, TanStatus, Unexpected
from relink.connectors.oauth2 import OAuth2Config, OAuth2Connector
from relink.sandbox_bank import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from relink.sandbox_bank.data import accounts_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY
from relink.sandbox_bank.testing import BankDriver, BankProcess, authorize_in_bank, query_of

CALLBACK = "http://127.0.0.1:9/relink/oauth/callback"
APP_NAME = "Relink live connector test"


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankProcess]:
    database = Path(tmp_path_factory.mktemp("oauth2_bank")) / "bank.db"
    with BankProcess(database) as process:
        yield process


@pytest.fixture(scope="module")
def config(bank: BankProcess) -> OAuth2Config:
    with httpx.Client(base_url=bank.base_url) as http:
        client = http.post(
            "/sandbox/clients",
            json={"name": APP_NAME, "redirect_uris": [CALLBACK]},
            auth=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET),
        ).json()
    return OAuth2Config(
        authorize_url=f"{bank.base_url}/oauth/authorize",
        token_url=f"{bank.base_url}/oauth/token",
        revoke_url=f"{bank.base_url}/oauth/revoke",
        api_base_url=f"{bank.base_url}/api/v1",
        status_url=f"{bank.base_url}/api/v1/institutions/test_oauth",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        authorize_params={"institution": "test_oauth"},
    )


@pytest.fixture
def holder(bank: BankProcess) -> Iterator[httpx.Client]:
    """Plays the holder's browser on the bank's pages."""
    with httpx.Client(base_url=bank.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def connector(config: OAuth2Config) -> Iterator[OAuth2Connector]:
    connector = OAuth2Connector(config)
    yield connector
    connector.close()


def link(connector: OAuth2Connector, holder: httpx.Client, username: str) -> Grant:
    redirect = connector.begin_auth(state="st-1", redirect_uri=CALLBACK)
    assert isinstance(redirect, Redirect)
    back = authorize_in_bank(holder, redirect.url, username=username, password="pw")
    assert back.startswith(CALLBACK)
    return connector.complete_oauth(
        code=query_of(back)["code"], code_verifier=redirect.code_verifier, redirect_uri=CALLBACK
    )


def test_link_refresh_and_holder_revocation_over_real_http(
    config: OAuth2Config, holder: httpx.Client
) -> None:
    clock_now = [datetime.now(UTC)]
    connector = OAuth2Connector(config, now=lambda: clock_now[0])
    username = "oauth2-journey"
    held = accounts_for(INSTITUTIONS_BY_KEY["test_oauth"], username)

    try:
        grant = link(connector, holder, username)
        accounts = connector.list_accounts(grant)
        tans = connector.account_numbers(grant, held[0].id)

        clock_now[0] += timedelta(hours=2)  # the connector now sees its token as expired
        balance = connector.refresh_balance(grant, held[0].id)
        rotated = grant.rotated

        BankDriver(holder).revoke_in_security_center("test_oauth", username, APP_NAME)
        with pytest.raises(AccessDenied):
            connector.refresh_transactions(grant, held[0].id)
    finally:
        connector.close()

    assert [a.stable_id for a in accounts] == [a.id for a in held]
    assert [(t.number, t.status) for t in tans] == [
        (held[0].account_number, TanStatus.transactable)
    ]
    assert balance.current == {"usd": held[0].balance_current}
    assert rotated is True


def test_connector_revoke_ends_access(connector: OAuth2Connector, holder: httpx.Client) -> None:
    grant = link(connector, holder, "oauth2-revoke")

    connector.revoke(grant)

    with pytest.raises(AccessDenied):
        connector.list_accounts(grant)


def test_code_for_another_redirect_uri_is_refused(
    connector: OAuth2Connector, holder: httpx.Client
) -> None:
    redirect = connector.begin_auth(state="st-2", redirect_uri=CALLBACK)
    assert isinstance(redirect, Redirect)
    back = authorize_in_bank(holder, redirect.url, username="oauth2-mismatch", password="pw")

    with pytest.raises(Unexpected):
        connector.complete_oauth(
            code=query_of(back)["code"],
            code_verifier=redirect.code_verifier,
            redirect_uri="http://127.0.0.1:9/other",
        )


def test_health_is_read_from_the_bank(connector: OAuth2Connector) -> None:
    assert connector.health() is Health.active
