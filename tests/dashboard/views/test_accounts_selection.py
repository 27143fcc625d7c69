"""Accounts → a selection that survives paging: ticks are kept on the server per user,
platform and mode (no JavaScript needed), shown in a sticky "N selected" bar, capped, and
"Request relink" acts on every ticked account."""

from __future__ import annotations

import html
import re

import httpx
import pytest
import stripe
from sqlalchemy import select

from relink.dashboard import queries, selection
from relink.models import SelectedAccount, Session
from relink.platforms.service import NewPlatform
from tests.conftest import RunningServer, make_platform
from tests.dashboard.factories import broken_account, page_csrf, signed_in_client
from tests.factories import drain_outbox

ROW_ID = re.compile(r'name="account" value="(fca_[^"]+)"')
CHECKED = re.compile(r'name="account" value="(fca_[^"]+)"[^>]*checked')
NEXT = re.compile(r'value="([^"]+)" id="page-next"')


def _page(owner: httpx.Client, path: str = "/accounts") -> tuple[list[str], str]:
    response = owner.get(path)
    assert response.status_code == 200, response.text
    return ROW_ID.findall(response.text), response.text


def _keep(
    owner: httpx.Client, shown: list[str], ticked: list[str], go: str, **extra: str
) -> httpx.Response:
    """Submit the list's form as a browser does, with or without JavaScript."""
    data: dict[str, str | list[str]] = {
        "csrf_token": page_csrf(owner),
        "go": go,
        "shown": shown,
        "account": ticked,
        **extra,
    }
    return owner.post("/accounts/selection", data=data)


def _next_url(page_html: str) -> str:
    found = NEXT.search(page_html)
    assert found is not None
    return html.unescape(found.group(1))


def _saved(server: RunningServer, user_id: str) -> set[str]:
    with server.runtime.database.read_only() as db:
        return set(
            db.scalars(select(SelectedAccount.account_id).where(SelectedAccount.user_id == user_id))
        )


@pytest.fixture
def four_accounts(
    platform: NewPlatform, client: stripe.StripeClient, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """Four eligible accounts, listed two to a page."""
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    return [broken_account(client, platform.owner.email).id for _ in range(4)]


def test_ticks_on_two_pages_are_kept_and_request_relink_acts_on_all_of_them(
    server: RunningServer, owner: httpx.Client, four_accounts: list[str]
) -> None:
    first, first_html = _page(owner)
    moved = _keep(owner, first, [first[0]], _next_url(first_html))
    assert moved.status_code == 303
    second, second_html = _page(owner, moved.headers["location"])
    assert not set(first) & set(second)
    assert 'id="selected-count" role="status">1 selected' in second_html

    to_confirm = _keep(owner, second, second, "confirm")
    assert to_confirm.headers["location"] == "/accounts/request-relink?selection=saved"
    confirm = owner.get(to_confirm.headers["location"]).text
    assert "3 accounts selected." in confirm and "3 emails will go out." in confirm
    assert '<input type="hidden" name="selection" value="saved">' in confirm

    form = {
        "csrf_token": page_csrf(owner),
        "submission": "saved-selection-01",
        "selection": "saved",
    }
    started = owner.post("/accounts/request-relink", data=form)
    again = owner.post("/accounts/request-relink", data=form)
    assert started.status_code == again.status_code == 303
    assert started.headers["location"].startswith("/relink-jobs/bulkjob_")
    assert again.headers["location"] == started.headers["location"]
    drain_outbox(server.runtime)
    with server.runtime.database.read_only() as db:
        requested = set(
            db.scalars(
                select(Session.relink_account_id).where(
                    Session.relink_account_id.in_(four_accounts)
                )
            )
        )
    assert requested == {first[0], *second}
    _, after = _page(owner)
    assert 'id="selection-bar"' not in after  # a queued request empties the selection


def test_the_ticked_boxes_show_as_ticked_on_every_page_and_unticking_removes_them(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, four_accounts: list[str]
) -> None:
    first, first_html = _page(owner)
    second, _ = _page(owner, _keep(owner, first, first, _next_url(first_html)).headers["location"])
    _keep(owner, second, [second[1]], "/accounts")
    assert _saved(server, platform.owner.id) == {*first, second[1]}

    _, shown = _page(owner)
    assert set(CHECKED.findall(shown)) == set(first)
    _keep(owner, first, [first[1]], "/accounts")  # unticks first[0]; page 2 untouched
    assert _saved(server, platform.owner.id) == {first[1], second[1]}


def test_clear_selection_empties_it_and_returns_to_the_same_list(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, four_accounts: list[str]
) -> None:
    first, _ = _page(owner, "/accounts?sort=expiry")
    _keep(owner, first, first, "/accounts?sort=expiry")
    cleared = _keep(owner, first, first, "clear", back="/accounts?sort=expiry")
    assert cleared.status_code == 303
    assert cleared.headers["location"] == "/accounts?sort=expiry"
    assert _saved(server, platform.owner.id) == set()


def test_past_the_cap_ticks_are_not_added_and_the_page_says_so(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    four_accounts: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(selection, "MAX_SELECTED", 3)
    first, first_html = _page(owner)
    second, _ = _page(owner, _keep(owner, first, first, _next_url(first_html)).headers["location"])
    capped = _keep(owner, second, second, "/accounts", back="/accounts")
    assert capped.headers["location"] == "/accounts?notice=selection_full"
    assert len(_saved(server, platform.owner.id)) == 3
    _, shown = _page(owner, capped.headers["location"])
    assert "A selection holds at most 3 accounts" in shown
    assert "Select all matching this filter" in shown
    assert '<input type="hidden" name="back" value="/accounts">' in shown  # not the notice


def test_select_all_matching_goes_to_the_filters_confirmation(
    owner: httpx.Client, four_accounts: list[str]
) -> None:
    sent = _keep(owner, [], [], "confirm", all_matching="1", status="inactive")
    assert sent.headers["location"] == "/accounts/request-relink?all_matching=1&status=inactive"
    assert "4 accounts selected." in owner.get(sent.headers["location"]).text


def test_the_form_returns_only_to_the_accounts_list(
    owner: httpx.Client, four_accounts: list[str]
) -> None:
    for target in ("https://elsewhere.test/", "//elsewhere.test/accounts", "/settings"):
        sent = _keep(owner, [], [], target, back=target)
        assert sent.headers["location"] == "/accounts", target


def test_a_viewer_cannot_select_and_no_form_without_its_csrf_token_changes_it(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    viewer: httpx.Client,
    four_accounts: list[str],
) -> None:
    data = {"csrf_token": page_csrf(viewer), "go": "/accounts", "account": four_accounts[0]}
    assert viewer.post("/accounts/selection", data=data).status_code == 403
    assert owner.post("/accounts/selection", data={"account": four_accounts[0]}).status_code == 403
    assert _saved(server, platform.owner.id) == set()


def test_another_platforms_user_can_neither_see_nor_add_to_nor_act_on_a_selection(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, four_accounts: list[str]
) -> None:
    first, _ = _page(owner)
    _keep(owner, first, first, "/accounts")
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending")
    intruder = signed_in_client(server, other.owner.email)
    try:
        _keep(intruder, four_accounts, four_accounts, "/accounts")
        assert _saved(server, other.owner.id) == set()  # not their platform's accounts
        assert 'id="selection-bar"' not in intruder.get("/accounts").text
        confirm = intruder.get("/accounts/request-relink?selection=saved")
        assert confirm.status_code == 303 and confirm.headers["location"] == "/accounts"
        started = intruder.post(
            "/accounts/request-relink",
            data={
                "csrf_token": page_csrf(intruder),
                "submission": "intruder-selection",
                "selection": "saved",
            },
        )
        assert started.headers["location"] == "/accounts"
    finally:
        intruder.close()
    assert _saved(server, platform.owner.id) == set(first)


def test_the_selection_belongs_to_the_mode_it_was_made_in(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, four_accounts: list[str]
) -> None:
    first, _ = _page(owner)
    _keep(owner, first, first, "/accounts")
    owner.post("/mode", data={"livemode": "1", "csrf_token": page_csrf(owner), "next": "/accounts"})
    live = owner.get("/accounts").text
    assert 'id="selection-bar"' not in live
    assert owner.get("/accounts/request-relink?selection=saved").headers["location"] == "/accounts"
    owner.post("/mode", data={"livemode": "0", "csrf_token": page_csrf(owner), "next": "/accounts"})
    assert "2 selected" in owner.get("/accounts").text
