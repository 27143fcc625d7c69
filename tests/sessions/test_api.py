"""POST/GET /v1/financial_connections/sessions: relink sessions, hosted delivery, validation."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import stripe
from sqlalchemy import func, select

from relink.email.bounces import suppress
from relink.models import OutboxMessage, SuppressionReason
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sessions.service import RELINK_EMAIL
from relink.tenancy import Scope
from tests.factories import (
    WireObject,
    create_customer,
    create_session,
    create_test_account,
    deactivate,
    error_of,
    raw,
    relink_params,
)
from tests.hosted.connect_factories import link_session
from tests.hosted.factories import retrieve_session
from tests.schema import assert_valid


def _broken_account(
    client: stripe.StripeClient, platform: NewPlatform, **params: Any
) -> stripe.financial_connections.Account:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id, **params)
    deactivate(client, account.id, "access_expired")
    return account


def _create(client: stripe.StripeClient, **params: Any) -> WireObject:
    params.setdefault("permissions", ["payment_method"])
    return create_session(client, **params)


def test_hosted_email_relink_session_is_pending_with_a_url_and_validates(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    account = _broken_account(client, platform)
    session = _create(client, **relink_params(account))
    assert session.status == "pending"
    assert "/relink/" in session.url
    assert session.relink_options.account == account.id
    assert session.relink_result.failure_reason is None
    assert account.account_holder is not None
    assert session.account_holder.customer == account.account_holder.customer
    assert_valid(session.to_dict(), "financial_connections.session")


def test_the_url_reveals_no_ids_or_emails(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    account = _broken_account(client, platform)
    session = _create(client, **relink_params(account))
    token = session.url.rsplit("/", 1)[1]
    assert len(token) >= 43
    for secret in (
        account.id,
        session.id,
        platform.platform.id,
        platform.owner.email,
        account["authorization"],
    ):
        assert secret not in session.url


def test_account_holder_is_taken_from_the_authorization_when_omitted(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    account = _broken_account(client, platform)
    session = _create(client, **relink_params(account, "url"))
    assert session.account_holder.type == "customer"


def test_an_email_session_for_an_ineligible_account_is_refused_with_reasons(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    healthy = create_test_account(client, customer=customer.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(client, **relink_params(healthy))
    assert raised.value.code == "relink_not_eligible"
    assert raised.value.param == "relink_options[account]"
    assert [r["code"] for r in error_of(raised.value)["reasons"]] == ["not_broken"]


def test_test_mode_refuses_emailing_an_address_that_is_not_a_confirmed_team_member(
    client: stripe.StripeClient,
) -> None:
    customer = create_customer(client, email="real.customer@example.com")
    account = create_test_account(client, customer=customer.id)
    deactivate(client, account.id, "access_expired")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(client, **relink_params(account))
    assert [r["code"] for r in error_of(raised.value)["reasons"]] == ["unconfirmed_test_email"]


def test_emailing_a_suppressed_address_is_refused_as_email_undeliverable(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id)
    deactivate(client, account.id, "access_expired")
    with runtime.database.unit_of_work() as db:
        scope = Scope(platform.platform.id, livemode=False)
        suppress(
            db, scope, platform.owner.email, SuppressionReason.bounced, "550", None, scope.now()
        )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(client, **relink_params(account))
    assert raised.value.http_status == 400
    assert raised.value.code == "relink_not_eligible"
    assert [r["code"] for r in error_of(raised.value)["reasons"]] == ["email_undeliverable"]


def test_a_url_session_skips_the_email_rules_and_sends_no_email(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    customer = create_customer(client)  # no email at all
    account = create_test_account(client, customer=customer.id)
    deactivate(client, account.id, "access_expired")
    session = _create(client, **relink_params(account, "url"))
    assert session.url is not None
    with runtime.database.read_only() as db:
        emails = db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.kind == RELINK_EMAIL,
                OutboxMessage.platform_id == platform.platform.id,
            )
        )
    assert emails == 0


def test_a_url_session_for_a_healthy_account_asking_nothing_new_is_refused(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    healthy = create_test_account(client, customer=customer.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(client, **relink_params(healthy, "url"))
    assert raised.value.code == "relink_not_eligible"


def test_a_url_session_may_ask_a_healthy_account_for_more_permissions(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    healthy = create_test_account(client, customer=customer.id, permissions=["payment_method"])
    session = _create(
        client, **relink_params(healthy, "url", permissions=["payment_method", "transactions"])
    )
    assert session.status == "pending"


def test_a_new_hosted_session_supersedes_the_pending_one(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    account = _broken_account(client, platform)
    first = _create(client, **relink_params(account, "url"))
    second = _create(client, **relink_params(account, "url"))
    old = retrieve_session(client, first.id)
    assert old.status == "cancelled"
    assert old.status_details.cancelled.reason == "other"
    assert old.url is None
    assert retrieve_session(client, second.id).status == "pending"


def test_a_second_email_request_within_48_hours_is_refused_as_recent(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    account = _broken_account(client, platform)
    _create(client, **relink_params(account))
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(client, **relink_params(account))
    assert [r["code"] for r in error_of(raised.value)["reasons"]] == ["recent_request"]


def test_two_concurrent_email_requests_make_one_session_and_one_email(
    client: stripe.StripeClient, runtime: Runtime, platform: NewPlatform
) -> None:
    account = _broken_account(client, platform)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def request() -> None:
        barrier.wait()
        try:
            _create(client, **relink_params(account))
            outcomes.append("created")
        except stripe.InvalidRequestError as error:
            outcomes.append(str(error.code))

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["relink_not_eligible"] * 3
    sessions = raw(
        client, "get", "/v1/financial_connections/sessions", relink_options={"account": account.id}
    )
    assert len(sessions.data) == 1
    with runtime.database.read_only() as db:
        emails = db.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.kind == RELINK_EMAIL,
                OutboxMessage.platform_id == platform.platform.id,
            )
        )
    assert emails == 1


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"ui_mode": "hosted"}, "hosted"),
        ({"hosted": {"delivery_method": "url"}}, "hosted[delivery_method]"),
        ({"ui_mode": "hosted", "hosted": {"delivery_method": "bogus"}}, "hosted[delivery_method]"),
        ({"relink_options": {"authorization": "fcauth_missing"}}, "relink_options[authorization]"),
    ],
)
def test_invalid_combinations_are_refused_naming_the_param(
    client: stripe.StripeClient, platform: NewPlatform, params: dict[str, Any], param: str
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(client, account_holder={"type": "customer", "customer": customer.id}, **params)
    assert raised.value.param == param


def test_delivery_method_needs_relink_options(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(
            client,
            account_holder={"type": "customer", "customer": customer.id},
            ui_mode="hosted",
            hosted={"delivery_method": "email"},
        )
    assert raised.value.param == "hosted[delivery_method]"


def test_relink_account_must_belong_to_the_authorization(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    one = _broken_account(client, platform)
    other = _broken_account(client, platform)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(
            client,
            relink_options={"authorization": one["authorization"], "account": other.id},
            ui_mode="hosted",
            hosted={"delivery_method": "url"},
        )
    assert raised.value.param == "relink_options[account]"


def test_account_holder_must_match_the_authorization(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    account = _broken_account(client, platform)
    stranger = create_customer(client, email=platform.owner.email)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(
            client,
            account_holder={"type": "customer", "customer": stranger.id},
            **relink_params(account, "url"),
        )
    assert raised.value.param == "account_holder"


def test_a_disconnected_authorization_cannot_be_relinked(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    account = _broken_account(client, platform)
    client.v1.financial_connections.accounts.disconnect(account.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(client, **relink_params(account, "url"))
    assert raised.value.param == "relink_options[authorization]"


@pytest.mark.parametrize(
    ("url", "live", "ok"),
    [
        ("https://example.com/back", True, True),
        ("http://example.com/back", True, False),
        ("http://localhost:3000/back", True, False),
        ("http://localhost:3000/back", False, True),
        ("http://127.0.0.1/back", False, True),
        ("http://10.0.0.1/back", False, False),
        ("javascript:alert(1)", False, False),
        ("//evil.example/x", False, False),
    ],
)
def test_return_url_rules(
    client: stripe.StripeClient, live_client: stripe.StripeClient, url: str, live: bool, ok: bool
) -> None:
    sdk = live_client if live else client
    customer = create_customer(sdk, email="someone@example.com")
    params = {
        "account_holder": {"type": "customer", "customer": customer.id},
        "return_url": url,
    }
    if ok:
        assert _create(sdk, **params).return_url == url
    else:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            _create(sdk, **params)
        assert raised.value.code == "url_invalid"
        assert raised.value.param == "return_url"


def test_sessions_list_filters_by_relink_account_and_status(
    client: stripe.StripeClient, platform: NewPlatform
) -> None:
    account = _broken_account(client, platform)
    first = _create(client, **relink_params(account, "url"))
    second = _create(client, **relink_params(account, "url"))
    pending = raw(
        client,
        "get",
        "/v1/financial_connections/sessions",
        relink_options={"account": account.id},
        status="pending",
    )
    assert [s.id for s in pending.data] == [second.id]
    everything = raw(
        client, "get", "/v1/financial_connections/sessions", relink_options={"account": account.id}
    )
    assert [s.id for s in everything.data] == [second.id, first.id]


def test_a_hosted_link_session_leaves_out_the_delivery_method_and_validates(
    client: stripe.StripeClient,
) -> None:
    session = link_session(client)
    assert "delivery_method" not in session.hosted
    assert_valid(session.to_dict(), "financial_connections.session")


@pytest.mark.parametrize("support", ["all", "at_least_one", "none"])
def test_filters_require_payment_method_support_is_kept_and_rendered(
    client: stripe.StripeClient, support: str
) -> None:
    session = link_session(client, filters={"require_payment_method_support": support})
    assert session.filters.require_payment_method_support == support
    retrieved = client.v1.financial_connections.sessions.retrieve(session.id)
    assert retrieved.filters is not None
    assert retrieved.filters.require_payment_method_support == support
    assert_valid(retrieved.to_dict(), "financial_connections.session")


@pytest.mark.parametrize("mode", ["automatic", "custom"])
def test_manual_entry_that_relink_cannot_offer_is_refused(
    client: stripe.StripeClient, mode: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        link_session(client, manual_entry={"mode": mode})
    assert raised.value.param == "manual_entry[mode]"


def test_manual_entry_disabled_is_accepted(client: stripe.StripeClient) -> None:
    assert link_session(client, manual_entry={"mode": "disabled"}).status == "pending"


def test_account_holder_customer_account_is_refused_saying_what_to_use(
    client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _create(client, account_holder={"type": "customer", "customer_account": "acct_123"})
    assert raised.value.param == "account_holder[customer_account]"
    assert "account_holder[customer]" in str(raised.value.user_message)
