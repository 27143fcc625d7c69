"""What a hosted page says after a form (a signed note in its address): the same again
on reload, and only on the link and at the step it was made for."""

from __future__ import annotations

import httpx
import stripe

from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.hosted.connect_factories import link_session
from tests.hosted.factories import hosted_flow, relink_case
from tests.hosted.pages import HostedPages, text_of

REFUSED = "Your bank did not accept this username and password"


def _refused_sign_in(pages: HostedPages, username: str) -> str:
    """Sign in with a wrong password; the address the form's redirect leads to."""
    pages.open()
    pages.press_continue()
    answer = pages.post("credentials", username=username, password="pw-incorrect")
    assert answer.status_code == 303
    return str(answer.headers["location"])


def test_a_refused_sign_in_reloads_with_its_error_and_sends_no_attempt(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client, runtime: Runtime
) -> None:
    case = relink_case(client, platform.owner.email)
    shown = _refused_sign_in(HostedPages(http, case.url), case.bank_username)
    assert shown.startswith(f"{case.url}?note=invalid_credentials.")
    first, reloaded = http.get(shown), http.get(shown)
    assert (first.status_code, reloaded.status_code) == (400, 400)
    assert REFUSED in text_of(first) and text_of(first) == text_of(reloaded)
    flow = hosted_flow(runtime, case.session.id)
    assert flow is not None and flow.credential_failures == 1


def test_a_note_relink_did_not_make_shows_nothing(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    pages.open()
    pages.press_continue()
    for note in ("invalid_credentials", "invalid_credentials.0123", "no_such_note.0123", ""):
        page = http.get(case.url, params={"note": note})
        assert (page.status_code, REFUSED in text_of(page)) == (200, False)
        assert "Sign in to Bank (Non-OAuth)" in text_of(page)


def test_a_note_shows_only_on_its_own_link(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    shown = _refused_sign_in(HostedPages(http, case.url), case.bank_username)
    other = relink_case(client, platform.owner.email)
    other_pages = HostedPages(http, other.url)
    other_pages.open()
    other_pages.press_continue()
    page = http.get(other.url + shown.removeprefix(case.url))
    assert (page.status_code, REFUSED in text_of(page)) == (200, False)


def test_a_note_from_an_earlier_step_is_not_shown_once_the_flow_moved_on(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    case = relink_case(client, platform.owner.email)
    pages = HostedPages(http, case.url)
    shown = _refused_sign_in(pages, case.bank_username)
    assert "Your bank needs one more step" in text_of(pages.sign_in(case.bank_username, "pw-mfa"))
    back = http.get(shown)  # Back to the refused sign-in's address
    assert back.status_code == 200
    assert "Your bank needs one more step" in text_of(back)
    assert REFUSED not in text_of(back)


def test_an_error_is_shown_only_on_the_page_of_its_form(
    client: stripe.StripeClient, platform: NewPlatform, http: httpx.Client
) -> None:
    # A link session at a fixed bank, at its sign-in: a forged bank choice is refused,
    # and its error (about the picker) is not shown on the sign-in page.
    session = link_session(client, filters={"institution": "fcinst_bank_non_oauth"})
    pages = HostedPages(http, str(session.url))
    pages.open()
    pages.press_continue()
    answer = pages.post("institution", institution="fcinst_test_non_oauth")
    assert "note=unknown_institution." in answer.headers["location"]
    page = http.get(answer.headers["location"])
    assert page.status_code == 200
    assert "This bank cannot be chosen here" not in text_of(page)
    assert "Sign in to Bank (Non-OAuth)" in text_of(page)
