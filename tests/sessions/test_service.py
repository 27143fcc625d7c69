"""SessionService.create: the platform's hosted relink switch (dashboard Settings), and
the validation of link sessions."""

from __future__ import annotations

import pytest
import stripe

from relink.models import Platform
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.hosted.connect_factories import link_session
from tests.hosted.factories import broken_account, relink_session

SESSIONS = "/v1/financial_connections/sessions"


def turn_hosted_relink_off(runtime: Runtime, platform: NewPlatform) -> None:
    with runtime.database.unit_of_work() as db:
        found = db.get(Platform, platform.platform.id)
        assert found is not None
        found.hosted_relink_enabled = False


def test_hosted_email_sessions_are_refused_while_hosted_relink_is_off(
    runtime: Runtime, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    _, account = broken_account(client, platform.owner.email)
    turn_hosted_relink_off(runtime, platform)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        relink_session(client, account, delivery_method="email")
    assert refused.value.http_status == 400
    assert refused.value.code == "hosted_relink_disabled"
    assert refused.value.param == "hosted[delivery_method]"


def test_hosted_url_sessions_are_still_allowed_while_hosted_relink_is_off(
    runtime: Runtime, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    _, account = broken_account(client, platform.owner.email)
    turn_hosted_relink_off(runtime, platform)
    assert relink_session(client, account, delivery_method="url")["status"] == "pending"


def test_an_unknown_filters_institution_is_refused(
    platform: NewPlatform, client: stripe.StripeClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        link_session(client, filters={"institution": "fcinst_nowhere"})
    assert (refused.value.code, refused.value.param) == ("resource_missing", "filters[institution]")
