"""The sandbox connector against the sandbox bank over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from relink.connectors.base import (
    AccessDenied,
    AccessExpired,
    AccountClosed,
    AccountUnavailable,
    Challenge,
    ChallengeRequired,
    CredentialForm,
    Grant,
    Health,
    IncorrectAnswer,
    InstitutionDown,
    InstitutionRequirement,
    InvalidCredentials,
    Redirect,
    TanStatus,
    Unexpected,
)
from relink.connectors.sandbox import SandboxConfig, SandboxConnector
from relink.sandbox_bank.data import accounts_for
from relink.sandbox_bank.institutions import INSTITUTIONS_BY_KEY
from relink.sandbox_bank.testing import TEST_REDIRECT_URI, authorize_in_bank, query_of

CALLBACK = TEST_REDIRECT_URI

Connect = Callable[[str], SandboxConnector]


@pytest.fixture
def connect(bank_url: str, http: httpx.Client, clock: Any) -> Connect:
    def build(institution: str) -> SandboxConnector:
        return SandboxConnector(
            SandboxConfig(base_url=bank_url, institution=institution), http=http, now=clock
        )

    return build


def link_oauth(
    connector: SandboxConnector, http: httpx.Client, username: str, **walk: Any
) -> Grant:
    redirect = connector.begin_auth(state="relink-state", redirect_uri=CALLBACK)
    assert isinstance(redirect, Redirect)
    back = authorize_in_bank(http, redirect.url, username=username, password="pw", **walk)
    assert query_of(back)["state"] == "relink-state"
    return connector.complete_oauth(
        code=query_of(back)["code"], code_verifier=redirect.code_verifier, redirect_uri=CALLBACK
    )


def link_credentials(connector: SandboxConnector, username: str) -> Grant:
    grant = connector.submit_credentials(username=username, password="pw")
    assert isinstance(grant, Grant)
    return grant


def predicted(institution: str, username: str) -> list[str]:
    return [a.id for a in accounts_for(INSTITUTIONS_BY_KEY[institution], username)]


def test_oauth_link_lists_the_predicted_accounts(
    connect: Connect, http: httpx.Client, username: str
) -> None:
    connector = connect("test_oauth")

    grant = link_oauth(connector, http, username)

    accounts = connector.list_accounts(grant)
    assert [a.stable_id for a in accounts] == predicted("test_oauth", username)
    assert [a.subcategory for a in accounts] == ["checking", "savings", "credit_card"]
    assert [a.supports_ach for a in accounts] == [True, True, False]


def test_oauth_begin_auth_uses_pkce_s256(connect: Connect) -> None:
    redirect = connect("test_oauth").begin_auth(state="s", redirect_uri=CALLBACK)

    assert isinstance(redirect, Redirect)
    query = query_of(redirect.url)
    assert query["code_challenge_method"] == "S256"
    assert query["institution"] == "test_oauth"
    assert 43 <= len(redirect.code_verifier) <= 128


def test_credential_institution_asks_for_a_form(connect: Connect) -> None:
    assert isinstance(
        connect("bank_non_oauth").begin_auth(state="s", redirect_uri=CALLBACK), CredentialForm
    )


def test_account_numbers_are_transactable_ach_numbers(connect: Connect, username: str) -> None:
    connector = connect("test_non_oauth")
    grant = link_credentials(connector, username)
    checking = accounts_for(INSTITUTIONS_BY_KEY["test_non_oauth"], username)[0]

    tans = connector.account_numbers(grant, checking.id)

    assert [(t.number, t.routing_number, t.status) for t in tans] == [
        (checking.account_number, "110000000", TanStatus.transactable)
    ]


def test_challenges_are_answered_until_a_grant_comes_back(connect: Connect, username: str) -> None:
    connector = connect("bank_non_oauth")

    first = connector.submit_credentials(username=username, password="options")
    assert isinstance(first, Challenge)
    second = connector.answer_challenge(first, "security_question")
    assert isinstance(second, Challenge)
    grant = connector.answer_challenge(second, "relink")

    assert first.kind == "options"
    assert second.kind == "security_question"
    assert isinstance(grant, Grant)


def test_incorrect_answer_raises_with_the_challenge_to_retry(
    connect: Connect, username: str
) -> None:
    connector = connect("bank_non_oauth")
    challenge = connector.submit_credentials(username=username, password="mfa")
    assert isinstance(challenge, Challenge)

    with pytest.raises(IncorrectAnswer) as refused:
        connector.answer_challenge(challenge, "111111")

    assert isinstance(connector.answer_challenge(refused.value.challenge, "123456"), Grant)


def test_incorrect_password_raises_invalid_credentials(connect: Connect, username: str) -> None:
    with pytest.raises(InvalidCredentials):
        connect("bank_non_oauth").submit_credentials(username=username, password="incorrect")


def test_error_password_raises_unexpected(connect: Connect, username: str) -> None:
    with pytest.raises(Unexpected):
        connect("bank_non_oauth").submit_credentials(username=username, password="error")


def test_expired_access_token_is_refreshed_into_the_grant(
    connect: Connect, http: httpx.Client, username: str, clock: Any
) -> None:
    connector = connect("test_oauth")
    grant = link_oauth(connector, http, username)
    before = dict(grant.secrets)
    clock.advance(hours=2)

    accounts = connector.list_accounts(grant)

    assert len(accounts) == 3
    assert grant.rotated is True
    assert grant.secrets["access_token"] != before["access_token"]
    assert grant.secrets["refresh_token"] == before["refresh_token"]


def test_revoke_makes_later_calls_raise_access_denied(
    connect: Connect, http: httpx.Client, username: str
) -> None:
    connector = connect("test_oauth")
    grant = link_oauth(connector, http, username)

    connector.revoke(grant)

    with pytest.raises(AccessDenied):
        connector.list_accounts(grant)


def test_revoking_a_credential_grant_denies_it_too(connect: Connect, username: str) -> None:
    connector = connect("test_non_oauth")
    grant = link_credentials(connector, username)

    connector.revoke(grant)

    with pytest.raises(AccessDenied):
        connector.list_accounts(grant)


def test_inactive_accounts_first_refresh_raises_access_expired(
    connect: Connect, username: str
) -> None:
    connector = connect("inactive_accounts")
    grant = link_credentials(connector, username)
    checking = predicted("inactive_accounts", username)[0]

    with pytest.raises(AccessExpired):
        connector.refresh_balance(grant, checking)


def test_eventually_requires_reauth_reports_and_enforces_the_30_day_expiry(
    connect: Connect, http: httpx.Client, username: str, clock: Any
) -> None:
    connector = connect("eventually_requires_reauth")
    grant = link_oauth(connector, http, username)
    expected = clock.now + timedelta(days=30)

    reported = connector.consent_expiry(grant)
    clock.advance(days=30)

    assert grant.expected_deactivation_date == expected
    assert reported == expected
    with pytest.raises(AccessExpired):
        connector.list_accounts(grant)


def test_tokenized_numbers_carry_their_expiry(
    connect: Connect, http: httpx.Client, username: str, clock: Any
) -> None:
    connector = connect("tokenized_account_numbers")
    grant = link_oauth(connector, http, username)
    expired, expiring, _ = predicted("tokenized_account_numbers", username)

    (old,) = connector.account_numbers(grant, expired)
    (soon,) = connector.account_numbers(grant, expiring)

    assert old.status is TanStatus.expired
    assert soon.status is TanStatus.transactable
    assert soon.expected_expiry_date == clock.now + timedelta(days=30)


def test_scheduled_downtime_raises_institution_down_with_retry_after(
    connect: Connect, username: str
) -> None:
    with pytest.raises(InstitutionDown) as down:
        connect("down_scheduled").submit_credentials(username=username, password="pw")

    assert down.value.scheduled is True
    assert down.value.retry_after is not None and down.value.retry_after > 0


def test_unscheduled_downtime_raises_institution_down_without_notice(
    connect: Connect, username: str
) -> None:
    connector = connect("down_unscheduled")
    grant = connector.create_test_grant(username=username)

    with pytest.raises(InstitutionDown) as down:
        connector.list_accounts(grant)

    assert down.value.scheduled is False
    assert down.value.retry_after is None


def test_down_error_raises_unexpected(connect: Connect, username: str) -> None:
    with pytest.raises(Unexpected):
        connect("down_error").submit_credentials(username=username, password="pw")


@pytest.mark.parametrize(
    ("institution", "health"),
    [
        ("test_oauth", Health.active),
        ("down_scheduled", Health.inactive),
        ("down_unscheduled", Health.degraded),
    ],
)
def test_health_reflects_the_bank(connect: Connect, institution: str, health: Health) -> None:
    assert connect(institution).health() is health


def test_unreachable_bank_raises_institution_down(http: httpx.Client, username: str) -> None:
    connector = SandboxConnector(
        SandboxConfig(base_url="http://127.0.0.1:9", institution="test_non_oauth"), http=http
    )

    with pytest.raises(InstitutionDown):
        connector.submit_credentials(username=username, password="pw")


@pytest.mark.parametrize(
    ("cause", "error"),
    [
        ("access_denied", AccessDenied),
        ("access_expired", AccessExpired),
        ("mfa_required", ChallengeRequired),
        ("institution_requirement", InstitutionRequirement),
        ("account_closed", AccountClosed),
        ("account_unavailable", AccountUnavailable),
    ],
)
def test_test_helper_deactivation_raises_the_matching_error(
    connect: Connect, username: str, cause: str, error: type[Exception]
) -> None:
    connector = connect("test_oauth")
    grant = connector.create_test_grant(username=username)
    checking = predicted("test_oauth", username)[0]

    connector.deactivate_test_grant(grant, cause, account_stable_id=checking)

    with pytest.raises(error):
        connector.refresh_ownership(grant, checking)


def test_test_helper_changes_the_reported_account_number(
    connect: Connect, username: str, clock: Any
) -> None:
    connector = connect("test_oauth")
    grant = connector.create_test_grant(username=username)
    checking = predicted("test_oauth", username)[0]
    expiry = clock.now + timedelta(days=10)

    connector.update_test_account_numbers(
        grant, checking, status="pending", expected_expiry_date=expiry
    )

    (tan,) = connector.account_numbers(grant, checking)
    assert (tan.status, tan.expected_expiry_date) == (TanStatus.pending, expiry)


def test_created_test_grant_shares_only_the_asked_accounts(connect: Connect, username: str) -> None:
    connector = connect("bank_oauth")
    wanted = predicted("bank_oauth", username)[1:3]

    grant = connector.create_test_grant(username=username, account_stable_ids=wanted)

    assert [a.stable_id for a in connector.list_accounts(grant)] == wanted


def test_transactions_and_balances_come_back_typed(connect: Connect, username: str) -> None:
    connector = connect("test_non_oauth")
    grant = link_credentials(connector, username)
    checking = predicted("test_non_oauth", username)[0]

    balance = connector.refresh_balance(grant, checking)
    owners = connector.refresh_ownership(grant, checking)
    transactions = connector.refresh_transactions(grant, checking)

    assert balance.kind == "cash" and "usd" in balance.current
    assert owners[0].email is not None and owners[0].email.endswith("@example.com")
    assert transactions and all(t.currency == "usd" for t in transactions)
