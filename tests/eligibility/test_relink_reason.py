"""Each hosted relink request records why its account needed it, for the outreach
report's "by reason": the single request (the API) and the bulk request alike."""

from __future__ import annotations

import stripe
from sqlalchemy import select

from relink.accounts.filters import selected_accounts
from relink.bulk_requests.service import request_relinks
from relink.models import Session
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.hosted.factories import broken_account, relink_session, stored_session


def test_an_api_request_records_the_accounts_inactive_cause(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    _, account = broken_account(client, platform.owner.email, cause="access_denied")
    session = relink_session(client, account)
    assert stored_session(runtime, session.id).relink_reason == "access_denied"


def test_an_api_request_for_an_expired_account_number_records_it(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    # Tokenized Account Numbers: the first authentication's first checking account
    # ("Expired Number Checking") has a number that expired the day before.
    _, account = broken_account(
        client, platform.owner.email, institution="tokenized_account_numbers", cause=None
    )
    session = relink_session(client, account)
    assert stored_session(runtime, session.id).relink_reason == "account_number_expired"


def test_a_bulk_request_records_each_accounts_reason(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    _, expired = broken_account(client, platform.owner.email, cause="access_expired")
    _, required = broken_account(client, platform.owner.email, cause="institution_requirement")
    scope = Scope(platform.platform.id, False)
    with runtime.database.unit_of_work() as db:
        result = request_relinks(
            db, scope, runtime, selected_accounts(scope, [expired.id, required.id]), actor="cli"
        )
    assert result.created == 2
    with runtime.database.read_only() as db:
        reasons = {
            s.relink_account_id: s.relink_reason
            for s in db.scalars(select(Session).where(Session.platform_id == platform.platform.id))
        }
    assert reasons == {expired.id: "access_expired", required.id: "institution_requirement"}
