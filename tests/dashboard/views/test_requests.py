"""One relink request's page: the timeline, the email as sent, the outcome; Cancel (asked
first) and Resend to the same address for a pending one; roles and tenancy."""

from __future__ import annotations

import httpx
import stripe

from relink.models import DeliveryState, Platform, Role, Session, SessionStatus
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.conftest import RunningServer, make_platform, stripe_client
from tests.dashboard.factories import SCRIPT, add_user, member, page_csrf, png
from tests.email.factories import delivery, eligible_account, request_relink_email
from tests.email.smtp_server import SmtpServer
from tests.factories import WireObject, drain_outbox
from tests.hosted.factories import (
    broken_accounts_of_one_holder,
    bundled_sessions_of,
    request_in_bulk,
)


def _sent_request(
    client: stripe.StripeClient, platform: NewPlatform, smtp_runtime: Runtime
) -> WireObject:
    session = request_relink_email(client, eligible_account(client, platform, name=SCRIPT))
    drain_outbox(smtp_runtime)
    return session


def _status(server: RunningServer, session_id: str) -> str:
    with server.runtime.database.read_only() as db:
        session = db.get(Session, session_id)
        assert session is not None
        return session.status


def _links(smtp: SmtpServer, to: str) -> list[str]:
    bodies = [r.message.get_body(preferencelist=("plain",)) for r in smtp.handler.to(to)]
    return [line for b in bodies if b for line in b.get_content().split() if "/relink/" in line]


def test_the_request_page_shows_the_timeline_the_email_and_the_outcome_in_words(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    session = _sent_request(client, platform, smtp_runtime)
    [link] = _links(smtp, platform.owner.email)
    html = owner.get(f"/relink-requests/{session.id}").text
    timeline = html.split('id="timeline"', 1)[1].split("</ol>", 1)[0]
    assert "Requested" in timeline and "Email sent" in timeline
    assert '<code class="api-code"' in timeline and "email_sent" in timeline  # for developers
    assert "Waiting for the holder" in html
    assert platform.owner.email in html.split('id="request-to"', 1)[1][:200]
    assert SCRIPT not in html and "&lt;script&gt;" in html
    frame = owner.get(f"/relink-requests/{session.id}/email.html")
    assert (
        frame.status_code == 200
        and "default-src 'none'" in frame.headers["content-security-policy"]
    )
    assert link not in frame.text and link not in html  # the real link is never shown


def test_the_request_email_shows_the_logo_as_a_data_uri_a_browser_can_show(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
    smtp_runtime: Runtime,
) -> None:
    with server.runtime.database.unit_of_work() as db:
        row = db.get(Platform, platform.platform.id)
        assert row is not None
        row.logo_png, row.logo_content_type = png(), "image/png"
    session = _sent_request(client, platform, smtp_runtime)
    frame = owner.get(f"/relink-requests/{session.id}/email.html").text
    assert "cid:" not in frame and 'src="data:image/png;base64,' in frame


def test_cancelling_a_request_asks_first_then_ends_it_and_reloading_changes_nothing(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
    smtp_runtime: Runtime,
) -> None:
    session = _sent_request(client, platform, smtp_runtime)
    detail = owner.get(f"/relink-requests/{session.id}").text
    assert f'href="/relink-requests/{session.id}/cancel"' in detail
    assert f'action="/relink-requests/{session.id}/cancel"' not in detail
    confirm = owner.get(f"/relink-requests/{session.id}/cancel")
    assert confirm.status_code == 200 and _status(server, session.id) == "pending"

    token = page_csrf(owner, f"/relink-requests/{session.id}")
    cancelled = owner.post(f"/relink-requests/{session.id}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == (
        f"/relink-requests/{session.id}?notice=request_cancelled"
    )
    assert _status(server, session.id) == SessionStatus.cancelled
    shown = owner.get(cancelled.headers["location"]).text
    assert "its link no longer works" in shown and "Cancelled" in shown
    assert "no_authorization" in shown  # the code, beside the words
    again = owner.post(f"/relink-requests/{session.id}/cancel", data={"csrf_token": token})
    assert again.headers["location"].endswith("notice=request_finished")


def test_resend_sends_the_same_link_again_to_the_same_address(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    session = _sent_request(client, platform, smtp_runtime)
    token = page_csrf(owner, f"/relink-requests/{session.id}")
    resent = owner.post(f"/relink-requests/{session.id}/resend", data={"csrf_token": token})
    assert resent.status_code == 303 and resent.headers["location"].endswith("notice=email_resent")
    # Before the worker sends it, a second resend is refused: one is on its way.
    twice = owner.post(f"/relink-requests/{session.id}/resend", data={"csrf_token": token})
    assert twice.headers["location"].endswith("notice=email_not_resent")
    drain_outbox(smtp_runtime)
    first, second = _links(smtp, platform.owner.email)
    assert first == second
    state = delivery(server.runtime, session.id)
    assert state is not None and state.state == DeliveryState.sent
    timeline = owner.get(f"/relink-requests/{session.id}").text.split('id="timeline"')[1]
    assert timeline.count("Email sent") == 2 and "(sent again)" in timeline


def test_a_resend_is_not_sent_when_the_holders_address_changed_meanwhile(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
    smtp: SmtpServer,
    smtp_runtime: Runtime,
) -> None:
    account = eligible_account(client, platform)
    session = request_relink_email(client, account)
    drain_outbox(smtp_runtime)
    token = page_csrf(owner, f"/relink-requests/{session.id}")
    owner.post(f"/relink-requests/{session.id}/resend", data={"csrf_token": token})
    other = add_user(server, platform, Role.admin)  # a confirmed address: test mode sends there
    client.v1.customers.update(
        str(account.account_holder.customer),  # type: ignore[union-attr]
        params={"email": other},
    )
    drain_outbox(smtp_runtime)
    assert smtp.handler.to(other) == [] and len(smtp.handler.to(platform.owner.email)) == 1
    state = delivery(server.runtime, session.id)
    assert state is not None and state.state == DeliveryState.failed
    assert "changed after the resend" in (state.last_reply or "")


def test_a_viewer_sees_a_request_but_cannot_cancel_or_resend_it(
    server: RunningServer,
    platform: NewPlatform,
    viewer: httpx.Client,
    client: stripe.StripeClient,
    smtp_runtime: Runtime,
) -> None:
    session = _sent_request(client, platform, smtp_runtime)
    page = viewer.get(f"/relink-requests/{session.id}")
    assert page.status_code == 200 and "/cancel" not in page.text
    assert viewer.get(f"/relink-requests/{session.id}/cancel").status_code == 403
    token = page_csrf(viewer, f"/relink-requests/{session.id}")
    for action in ("cancel", "resend"):
        response = viewer.post(
            f"/relink-requests/{session.id}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == 403, action
    assert _status(server, session.id) == "pending"


def test_cancel_and_resend_without_the_csrf_token_are_refused(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
    smtp_runtime: Runtime,
) -> None:
    session = _sent_request(client, platform, smtp_runtime)
    for action in ("cancel", "resend"):
        assert owner.post(f"/relink-requests/{session.id}/{action}").status_code == 403, action
    assert _status(server, session.id) == "pending"


def test_another_platforms_request_cannot_be_seen_cancelled_or_resent(
    server: RunningServer,
    platform: NewPlatform,
    smtp_runtime: Runtime,
) -> None:
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending")
    other_client = stripe_client(server, other.test_secret_key)
    theirs = _sent_request(other_client, other, smtp_runtime)
    with member(server, platform, Role.owner) as mine:
        token = page_csrf(mine)
        for path in ("", "/email.html", "/cancel"):
            assert mine.get(f"/relink-requests/{theirs.id}{path}").status_code == 404, path
        for action in ("cancel", "resend"):
            response = mine.post(
                f"/relink-requests/{theirs.id}/{action}", data={"csrf_token": token}
            )
            assert response.status_code == 404, action
    assert _status(server, theirs.id) == "pending"


def test_a_bundled_request_shows_its_bundle_and_the_other_requests_in_it(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
) -> None:
    _, accounts = broken_accounts_of_one_holder(client, platform.owner.email)
    request_in_bulk(server.runtime, platform.platform.id, [a.id for a in accounts])
    sessions = bundled_sessions_of(server.runtime, [a.id for a in accounts])
    html = owner.get(f"/relink-requests/{sessions[0].id}").text
    bundle = html.split('id="request-bundle"', 1)[1].split("</dd>", 1)[0]
    assert str(sessions[0].bundle_id) in bundle
    assert "One email and one page for 3 requests of this holder" in bundle
    for other in sessions[1:]:
        assert f'href="/relink-requests/{other.id}"' in bundle
    assert f"{sessions[0].id}</span> (this one)" in bundle


def test_a_request_of_its_own_shows_no_bundle(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    client: stripe.StripeClient,
) -> None:
    session = request_relink_email(client, eligible_account(client, platform))
    assert 'id="request-bundle"' not in owner.get(f"/relink-requests/{session.id}").text
