"""\"Your bank is back — finish now\": holders who met the unavailable page on a pending
session get one email when the bank is healthy again, over real SMTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import stripe

from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.email.smtp_server import SmtpServer
from tests.factories import WireObject, body_of, drain_outbox, timeline_kinds
from tests.hosted.factories import RelinkCase, relink_case
from tests.hosted.pages import HostedPages, text_of

UNAVAILABLE = "Your bank is unavailable right now, try again later."


def _meet_the_unavailable_page(
    http: httpx.Client, case: RelinkCase, says: str = UNAVAILABLE
) -> None:
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    assert says in text_of(pages.sign_in(case.bank_username, "pw"))


def test_a_holder_who_met_the_unavailable_page_gets_one_email_when_the_bank_is_back(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    outage: Callable[..., WireObject | None],
) -> None:
    owner = platform.owner.email
    case = relink_case(client, owner, delivery_method="email")
    drain_outbox(smtp_runtime)
    assert len(smtp.handler.to(owner)) == 1  # the relink request itself
    outage("down")
    _meet_the_unavailable_page(http, case)

    drain_outbox(smtp_runtime)
    assert len(smtp.handler.to(owner)) == 1  # nothing while the bank is down

    outage("active")
    drain_outbox(smtp_runtime)
    [_, back] = smtp.handler.to(owner)
    message = back.message
    assert message["Subject"] == "Bank (Non-OAuth) is back: finish now with Acme Lending"
    for body in (body_of(message), body_of(message, "html")):
        assert "Bank (Non-OAuth) was unavailable when you tried to reconnect" in body
        assert case.url in body
    kinds = timeline_kinds(smtp_runtime, case.session.id)
    assert kinds.count("bank_unavailable") == 1
    assert kinds[-1] == "bank_back_sent"

    # Never twice: the bank goes down and comes back while the holder meets the page again.
    outage("down")
    _meet_the_unavailable_page(http, case)
    outage("active")
    drain_outbox(smtp_runtime)
    assert len(smtp.handler.to(owner)) == 2
    assert timeline_kinds(smtp_runtime, case.session.id).count("bank_back_sent") == 1


def test_the_bank_back_email_speaks_the_holders_language(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    outage: Callable[..., WireObject | None],
) -> None:
    case = relink_case(
        client, platform.owner.email, delivery_method="email", preferred_locales=["de"]
    )
    outage("down")
    _meet_the_unavailable_page(http, case, says="Ihre Bank ist nicht erreichbar")
    outage("active")
    drain_outbox(smtp_runtime)
    back = smtp.handler.to(platform.owner.email)[-1].message
    subject = " ".join(str(back["Subject"]).split())  # as folded and decoded
    assert subject == "Bank (Non-OAuth) ist wieder erreichbar: jetzt bei Acme Lending abschließen"
    assert "Die Bank funktioniert wieder" in body_of(back)


def test_a_holder_of_a_link_the_platform_delivers_itself_is_not_emailed(
    client: stripe.StripeClient,
    platform: NewPlatform,
    http: httpx.Client,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
    outage: Callable[..., WireObject | None],
) -> None:
    case = relink_case(client, platform.owner.email, delivery_method="url")
    outage("down")
    _meet_the_unavailable_page(http, case)
    outage("active")
    drain_outbox(smtp_runtime)
    assert smtp.handler.to(platform.owner.email) == []
    assert "bank_unavailable" in timeline_kinds(smtp_runtime, case.session.id)
