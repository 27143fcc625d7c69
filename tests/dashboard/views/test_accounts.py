"""Accounts pages: roles enforced by the server, tenancy, escaping, Request relink."""

from __future__ import annotations

import httpx
import stripe
from sqlalchemy import select

from relink.models import BulkRelinkJob, Platform, Session
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer, make_platform, stripe_client
from tests.dashboard.factories import SCRIPT, broken_account, page_csrf, png, signed_in_client
from tests.factories import create_customer, create_test_account, deactivate
from tests.hosted.pages import text_of


def _sessions_of(server: RunningServer, account_id: str) -> list[Session]:
    with server.runtime.database.read_only() as db:
        return list(db.scalars(select(Session).where(Session.relink_account_id == account_id)))


def test_request_relink_creates_a_hosted_email_session_by_the_user(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    account = broken_account(client, platform.owner.email)
    response = owner.post(
        f"/accounts/{account.id}/request-relink",
        data={"csrf_token": page_csrf(owner, f"/accounts/{account.id}")},
    )
    assert response.status_code == 303
    [session] = _sessions_of(server, account.id)
    assert (session.delivery_method, session.created_by) == ("email", f"user:{platform.owner.id}")


def test_request_relink_on_the_account_page_shows_its_notice_after_the_redirect(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    account = broken_account(client, platform.owner.email)
    response = owner.post(
        f"/accounts/{account.id}/request-relink",
        data={"csrf_token": page_csrf(owner, f"/accounts/{account.id}")},
    )
    target = response.headers["location"]
    assert target == f"/accounts/{account.id}?notice=relink_requested#relink"
    shown = owner.get(target.partition("#")[0]).text  # a browser never sends the fragment
    assert "Relink request created; the email is on its way." in shown


def test_a_viewer_is_refused_request_relink_by_the_server(
    server: RunningServer, platform: NewPlatform, viewer: httpx.Client, client: stripe.StripeClient
) -> None:
    account = broken_account(client, platform.owner.email)
    page = viewer.get(f"/accounts/{account.id}").text
    response = viewer.post(
        f"/accounts/{account.id}/request-relink", data={"csrf_token": page_csrf(viewer)}
    )
    assert response.status_code == 403
    assert _sessions_of(server, account.id) == []
    assert "Request relink</button>" not in page


def test_request_relink_without_the_csrf_token_is_refused(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    account = broken_account(client, platform.owner.email)
    assert owner.post(f"/accounts/{account.id}/request-relink").status_code == 403
    assert _sessions_of(server, account.id) == []


def test_a_user_of_another_platform_cannot_open_an_account_by_its_url(
    server: RunningServer, platform: NewPlatform, client: stripe.StripeClient
) -> None:
    account = broken_account(client, platform.owner.email)
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db)
    intruder = signed_in_client(server, other.owner.email)
    try:
        assert intruder.get(f"/accounts/{account.id}").status_code == 404
        assert account.id not in intruder.get("/accounts").text
        response = intruder.post(
            f"/accounts/{account.id}/request-relink", data={"csrf_token": page_csrf(intruder)}
        )
        assert response.status_code == 404
    finally:
        intruder.close()
    assert _sessions_of(server, account.id) == []


def test_markup_in_a_holder_name_renders_as_text_on_every_page(
    platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    account = broken_account(client, platform.owner.email, name=SCRIPT)
    customer = account.account_holder.customer  # type: ignore[union-attr]
    owner.post(
        f"/accounts/{account.id}/request-relink",
        data={"csrf_token": page_csrf(owner, f"/accounts/{account.id}")},
    )
    for path in (
        "/accounts",
        f"/accounts/{account.id}",
        f"/accounts/request-relink/skipped?account={account.id}&reason=recent_request",
        "/customers",
        f"/customers/{customer}",
        "/relink-requests",
    ):
        html = owner.get(path).text
        assert SCRIPT not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_confirming_a_bulk_request_twice_starts_one_job(
    platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    account = broken_account(client, platform.owner.email)
    confirm = owner.get(f"/accounts/request-relink?account={account.id}")
    assert "1 email will go out." in confirm.text
    form = {
        "csrf_token": page_csrf(owner),
        "submission": "double-submit-key-0001",
        "account": account.id,
    }
    first = owner.post("/accounts/request-relink", data=form)
    second = owner.post("/accounts/request-relink", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert first.headers["location"].startswith("/relink-jobs/bulkjob_")
    assert owner.get(first.headers["location"]).status_code == 200


def test_a_bulk_request_on_an_unknown_status_is_refused_and_queues_nothing(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    selection = {"all_matching": "1", "status": "bogus"}
    confirm = owner.get("/accounts/request-relink", params=selection)
    started = owner.post(
        "/accounts/request-relink",
        data={**selection, "csrf_token": page_csrf(owner), "submission": "bogus-status-0001"},
    )
    assert confirm.status_code == started.status_code == 400
    assert "This filter holds a value the Accounts page does not offer." in started.text
    assert "Unknown status" not in started.text  # the API's message, naming codes
    with server.runtime.database.read_only() as db:
        jobs = db.scalars(
            select(BulkRelinkJob).where(BulkRelinkJob.platform_id == platform.platform.id)
        )
        assert list(jobs) == []


def test_the_confirmation_page_groups_skipped_accounts_by_reason(
    owner: httpx.Client, client: stripe.StripeClient
) -> None:
    account = broken_account(client, "stranger@example.com")
    confirm = owner.get(f"/accounts/request-relink?account={account.id}").text
    assert "0 emails will go out." in confirm
    assert "reason=unconfirmed_test_email" in confirm


def test_a_viewer_gets_no_bulk_request_controls(
    platform: NewPlatform, viewer: httpx.Client, client: stripe.StripeClient
) -> None:
    broken_account(client, platform.owner.email)
    assert 'id="bulk-request"' not in viewer.get("/accounts").text
    assert viewer.get("/accounts/request-relink?account=fca_x").status_code == 403


def test_the_email_preview_shows_the_logo_as_a_data_uri_a_browser_can_show(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    with server.runtime.database.unit_of_work() as db:
        row = db.get(Platform, platform.platform.id)
        assert row is not None
        row.logo_png, row.logo_content_type = png(), "image/png"
    account = broken_account(client, platform.owner.email)
    preview = owner.get(f"/accounts/{account.id}/email-preview")
    assert preview.status_code == 200
    assert f'src="/accounts/{account.id}/email-preview.html"' in preview.text
    frame = owner.get(f"/accounts/{account.id}/email-preview.html")
    assert "cid:" not in frame.text and 'src="data:image/png;base64,' in frame.text
    assert "img-src data:;" in frame.headers["content-security-policy"]


def test_another_platforms_account_has_no_email_preview(
    server: RunningServer, owner: httpx.Client
) -> None:
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending")
    theirs = broken_account(stripe_client(server, other.test_secret_key), other.owner.email)
    for path in ("email-preview", "email-preview.html"):
        assert owner.get(f"/accounts/{theirs.id}/{path}").status_code == 404, path


def test_the_account_page_lists_the_consent_history_in_words(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, client: stripe.StripeClient
) -> None:
    customer = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=customer.id, permissions=["payment_method"])
    deactivate(client, account.id, "access_denied")
    client.v1.financial_connections.accounts.disconnect(account.id)
    shown = text_of(owner.get(f"/accounts/{account.id}"))
    history = shown.partition("Consent history")[2]
    given = history.index(
        "Consent given by the platform (API): shares payment_method; the bank sets no end date."
    )
    by_bank = history.index("Consent revoked by the bank.")
    by_api = history.index("Consent revoked by the platform (API).")
    assert given < by_bank < by_api
