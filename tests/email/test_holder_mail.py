"""The holder's other emails — a reminder, "your bank is back", the consent receipt and a
new consent link — leave with their own bounce address, as the relink email does: a DSN
for one (over SMTP to the bounce receiver) or a 5xx about the address at send time
suppresses the address, and none goes to a suppressed address."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import stripe
from sqlalchemy import select

from relink.authorizations.consent_links import VALID_FOR
from relink.email.bounces import SUPPRESSED_REFUSAL, suppress, suppression_of
from relink.email.opt_outs import opt_out
from relink.kit import clock
from relink.kit.clock import FrozenClock
from relink.kit.crypto import token_digest
from relink.models import (
    BounceToken,
    DeliveryState,
    OptOutSource,
    OutboxMessage,
    Session,
    SuppressionReason,
)
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.sandbox_bank.testing import parse_forms
from relink.tenancy import Scope
from tests.automatic_relink.factories import DAY, scan, sessions_of, set_policy
from tests.conftest import RunningServer
from tests.email.factories import delivery, eligible_account
from tests.email.reports import deliver, dsn, scope_of, suppressed
from tests.email.smtp_server import Received, SmtpServer
from tests.factories import (
    WireObject,
    advance_clock,
    create_customer,
    drain_outbox,
    timeline_kinds,
)
from tests.hosted.connect_factories import holder_link, linked_at_oauth_bank
from tests.hosted.factories import relink_case
from tests.hosted.pages import HostedPages, text_of

REFUSED = "550 5.1.1 <{address}>: Recipient address rejected: User unknown"


@pytest.fixture
def automation(client: stripe.StripeClient, frozen_clock: FrozenClock) -> Iterator[None]:
    set_policy(client, enabled="true", delay_seconds=0)
    yield
    set_policy(client, enabled="false")


def _bounce_token(runtime: Runtime, received: Received) -> BounceToken:
    """The stored token of the bounce address ``received`` came from."""
    local, _, domain = received.mail_from.partition("@")
    assert local.startswith("bounces+") and domain == "localhost"
    token = local.removeprefix("bounces+")
    with runtime.database.read_only() as db:
        row = db.get(BounceToken, token_digest(token))
    assert row is not None
    return row


def _dead_rows(runtime: Runtime, platform: NewPlatform, kind: str) -> list[OutboxMessage]:
    """The platform's outbox rows of ``kind`` that gave up."""
    with runtime.database.read_only() as db:
        query = select(OutboxMessage).where(
            OutboxMessage.kind == kind,
            OutboxMessage.platform_id == platform.platform.id,
            OutboxMessage.status == "dead",
        )
        return list(db.scalars(query))


def _suppress_now(runtime: Runtime, platform: NewPlatform) -> None:
    with runtime.database.unit_of_work() as db:
        scope: Scope = scope_of(platform)
        suppress(
            db, scope, platform.owner.email, SuppressionReason.bounced, "550", None, scope.now()
        )


# -- each email, up to the moment it goes out ------------------------------------------------


def _remind(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    before: Callable[[], None] = lambda: None,
) -> str:
    """The automation asks, then reminds three days later; returns the session id."""
    account = eligible_account(client, platform)
    scan(runtime)
    drain_outbox(runtime)
    [session] = sessions_of(runtime, account.id)
    advance_clock(client, 3 * DAY)
    scan(runtime)
    before()
    drain_outbox(runtime)
    return session.id


def _bank_back(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    runtime: Runtime,
    outage: Callable[..., WireObject | None],
    before: Callable[[], None] = lambda: None,
) -> str:
    """The holder meets "your bank is unavailable", then the bank is back; returns the
    session id."""
    case = relink_case(client, platform.owner.email, delivery_method="email")
    drain_outbox(runtime)
    outage("down")
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    assert "Your bank is unavailable" in text_of(pages.sign_in(case.bank_username, "pw"))
    drain_outbox(runtime)
    before()
    outage("active")
    drain_outbox(runtime)
    return str(case.session.id)


def _receipt(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    runtime: Runtime,
    before: Callable[[], None] = lambda: None,
) -> None:
    customer = create_customer(client, name="Ada Lovelace", email=platform.owner.email)
    before()
    linked_at_oauth_bank(client, http, "Checking", customer=customer)
    drain_outbox(runtime)


def _new_consent_link(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    server: RunningServer,
    runtime: Runtime,
    before: Callable[[], None] = lambda: None,
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    expired = holder_link(runtime, platform, customer.id, now=clock.now() - VALID_FOR)
    page = http.get(expired)
    form = next(f for f in parse_forms(page.text) if f.action.endswith("/new-link"))
    assert http.post(server.url + form.action, data=form.fields).status_code == 303
    before()
    drain_outbox(runtime)


def _refuse_next(smtp: SmtpServer, platform: NewPlatform) -> Callable[[], None]:
    address = platform.owner.email
    return lambda: smtp.handler.replies_for.update({address: [REFUSED.format(address=address)]})


# -- the bounce address, and a DSN for it ----------------------------------------------------


def test_a_dsn_for_a_reminder_suppresses_the_address_and_shows_on_the_session(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    receiver: tuple[str, int],
    automation: None,
) -> None:
    session_id = _remind(client, platform, smtp_runtime)
    request, reminder = smtp.handler.to(platform.owner.email)
    assert reminder.message["Subject"].startswith("Reminder:")
    assert reminder.mail_from != request.mail_from
    token = _bounce_token(smtp_runtime, reminder)
    assert (token.session_id, token.recipient) == (session_id, platform.owner.email.lower())
    assert token.message_id == reminder.message["Message-ID"]

    deliver(receiver, dsn(reminder), reminder.mail_from)

    found = suppressed(smtp_runtime, platform, platform.owner.email)
    assert found is not None and found.reason == "bounced"
    state = delivery(smtp_runtime, session_id)
    assert state is not None and state.state == DeliveryState.bounced
    assert timeline_kinds(smtp_runtime, session_id)[-1] == "email_bounced"


def test_a_dsn_for_a_consent_receipt_suppresses_the_address(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    receiver: tuple[str, int],
) -> None:
    _receipt(client, platform, http, smtp_runtime)
    [receipt] = smtp.handler.to(platform.owner.email)
    token = _bounce_token(smtp_runtime, receipt)
    # The session is finished: a bounce of its receipt leaves its timeline alone.
    assert token.session_id is None

    deliver(receiver, dsn(receipt), receipt.mail_from)

    found = suppressed(smtp_runtime, platform, platform.owner.email)
    assert found is not None and found.reason == "bounced"
    assert found.diagnostic and "5.1.1" in found.diagnostic


def test_the_bank_back_email_leaves_with_its_own_bounce_address(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    outage: Callable[..., WireObject | None],
) -> None:
    session_id = _bank_back(client, platform, http, smtp_runtime, outage)
    request, back = smtp.handler.to(platform.owner.email)
    assert "is back" in back.message["Subject"]
    assert back.mail_from != request.mail_from
    assert _bounce_token(smtp_runtime, back).session_id == session_id


def test_a_new_consent_link_leaves_with_its_own_bounce_address(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    server: RunningServer,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    runtime: Runtime,
) -> None:
    _new_consent_link(client, platform, http, server, smtp_runtime)
    [email] = smtp.handler.to(platform.owner.email)
    token = _bounce_token(smtp_runtime, email)
    assert token.recipient == platform.owner.email.lower()


# -- a 5xx about the address at send time ----------------------------------------------------


def test_a_5xx_about_the_address_when_a_reminder_is_sent_suppresses_it(
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    automation: None,
) -> None:
    session_id = _remind(client, platform, smtp_runtime, before=_refuse_next(smtp, platform))

    found = suppressed(smtp_runtime, platform, platform.owner.email)
    assert found is not None and found.diagnostic and "5.1.1" in found.diagnostic
    assert timeline_kinds(smtp_runtime, session_id)[-1] == "email_bounced"
    assert "reminder_sent" not in timeline_kinds(smtp_runtime, session_id)


def test_a_5xx_about_the_address_when_the_bank_back_email_is_sent_suppresses_it(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    outage: Callable[..., WireObject | None],
) -> None:
    session_id = _bank_back(
        client, platform, http, smtp_runtime, outage, before=_refuse_next(smtp, platform)
    )

    found = suppressed(smtp_runtime, platform, platform.owner.email)
    assert found is not None and found.diagnostic and "5.1.1" in found.diagnostic
    assert "bank_back_sent" not in timeline_kinds(smtp_runtime, session_id)


def test_a_5xx_about_the_address_when_a_consent_receipt_is_sent_suppresses_it(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    _receipt(client, platform, http, smtp_runtime, before=_refuse_next(smtp, platform))

    found = suppressed(smtp_runtime, platform, platform.owner.email)
    assert found is not None and found.diagnostic and "5.1.1" in found.diagnostic
    assert smtp.handler.to(platform.owner.email) == []


def test_a_5xx_about_the_address_when_a_new_consent_link_is_sent_suppresses_it(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    server: RunningServer,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    _new_consent_link(
        client, platform, http, server, smtp_runtime, before=_refuse_next(smtp, platform)
    )

    found = suppressed(smtp_runtime, platform, platform.owner.email)
    assert found is not None and found.diagnostic and "5.1.1" in found.diagnostic


def test_a_4xx_for_the_recipient_when_a_consent_receipt_is_sent_counts_and_it_is_retried(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    address = platform.owner.email
    greylist = {address: ["450 4.2.0 Mailbox temporarily unavailable"]}
    _receipt(
        client,
        platform,
        http,
        smtp_runtime,
        before=lambda: smtp.handler.rcpt_replies_for.update(greylist),
    )

    assert smtp.handler.to(address) == []
    with smtp_runtime.database.read_only() as db:
        row = suppression_of(db, scope_of(platform), address)
    assert row is not None and row.transient_failures == 1
    assert suppressed(smtp_runtime, platform, address) is None
    frozen_clock.advance(hours=1)
    drain_outbox(smtp_runtime)
    assert len(smtp.handler.to(address)) == 1


def test_a_5xx_that_is_not_about_the_address_does_not_suppress_it(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    address = platform.owner.email
    refuse = lambda: smtp.handler.replies_for.update({address: ["550 5.7.1 Relaying denied"]})  # noqa: E731

    _receipt(client, platform, http, smtp_runtime, before=refuse)

    assert suppressed(smtp_runtime, platform, address) is None
    [dead] = _dead_rows(smtp_runtime, platform, "email.consent_receipt")
    assert dead.last_error and "5.7.1" in dead.last_error


# -- nothing goes to a suppressed address ----------------------------------------------------


def test_the_bank_back_email_is_not_sent_to_a_suppressed_address(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    outage: Callable[..., WireObject | None],
) -> None:
    session_id = _bank_back(
        client,
        platform,
        http,
        smtp_runtime,
        outage,
        before=lambda: _suppress_now(smtp_runtime, platform),
    )

    assert len(smtp.handler.to(platform.owner.email)) == 1  # the request only
    assert "bank_back_sent" not in timeline_kinds(smtp_runtime, session_id)
    [dead] = _dead_rows(smtp_runtime, platform, "email.bank_back")
    assert dead.last_error == SUPPRESSED_REFUSAL


def test_the_consent_receipt_is_not_sent_to_a_suppressed_address(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    _receipt(
        client, platform, http, smtp_runtime, before=lambda: _suppress_now(smtp_runtime, platform)
    )

    assert smtp.handler.to(platform.owner.email) == []
    [dead] = _dead_rows(smtp_runtime, platform, "email.consent_receipt")
    assert dead.last_error == SUPPRESSED_REFUSAL


def test_a_new_consent_link_is_not_sent_to_a_suppressed_address(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    server: RunningServer,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    _new_consent_link(
        client,
        platform,
        http,
        server,
        smtp_runtime,
        before=lambda: _suppress_now(smtp_runtime, platform),
    )

    assert smtp.handler.to(platform.owner.email) == []
    [dead] = _dead_rows(smtp_runtime, platform, "email.consent_link")
    assert dead.last_error == SUPPRESSED_REFUSAL


def test_a_suppression_in_live_mode_does_not_stop_the_test_modes_receipt(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    def suppress_in_live_mode() -> None:
        with smtp_runtime.database.unit_of_work() as db:
            scope = Scope(platform.platform.id, livemode=True)
            suppress(
                db, scope, platform.owner.email, SuppressionReason.bounced, "550", None, scope.now()
            )

    _receipt(client, platform, http, smtp_runtime, before=suppress_in_live_mode)

    assert len(smtp.handler.to(platform.owner.email)) == 1


# -- "your bank is back" is an automatic email ----------------------------------------------


def test_the_bank_back_email_carries_one_click_unsubscribe(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    outage: Callable[..., WireObject | None],
) -> None:
    _bank_back(client, platform, http, smtp_runtime, outage)
    _, back = smtp.handler.to(platform.owner.email)
    unsubscribe = back.message["List-Unsubscribe"]
    assert unsubscribe.startswith("<http") and "/reminders/" in unsubscribe
    assert back.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_bank_back_email_is_not_sent_to_a_holder_who_opted_out_of_reminders(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    outage: Callable[..., WireObject | None],
) -> None:
    def opt_out_while_the_bank_is_down() -> None:
        with smtp_runtime.database.unit_of_work() as db:
            scope = scope_of(platform)
            [holder_id] = db.scalars(
                select(Session.customer_id).where(Session.platform_id == platform.platform.id)
            )
            assert holder_id is not None
            assert opt_out(db, scope, holder_id, OptOutSource.one_click, scope.now())

    session_id = _bank_back(
        client, platform, http, smtp_runtime, outage, before=opt_out_while_the_bank_is_down
    )

    assert len(smtp.handler.to(platform.owner.email)) == 1  # the request only
    assert "bank_back_sent" not in timeline_kinds(smtp_runtime, session_id)
    [dead] = _dead_rows(smtp_runtime, platform, "email.bank_back")
    assert dead.last_error and "opted out" in dead.last_error
