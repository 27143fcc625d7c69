"""Settings → Automatic relink: the policy of the platform and mode in view, in words, and
its form (owners and admins; viewers read only), with CSRF, tenancy and refusals that
change nothing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from relink.automatic_relink.service import Policy, PolicyChanges, change_policy, policy_of
from relink.models import RelinkPolicy, Role
from relink.platforms.service import NewPlatform
from relink.tenancy import load_platform_scope
from tests.conftest import RunningServer, make_platform
from tests.dashboard.factories import SCRIPT, member, page_csrf

PATH = "/settings/automatic-relink"


def _policy(server: RunningServer, platform_id: str, *, live: bool = False) -> Policy:
    with server.runtime.database.read_only() as db:
        return policy_of(db, load_platform_scope(db, platform_id, live))


def _form(**changes: str) -> dict[str, str]:
    values = {
        "enabled": "on",
        "delay_hours": "1",
        "delay_minutes": "30",
        "reminder_days": "5, 2",
        "expiry_reminder_days": "3,10",
        "max_emails_per_account": "4",
    }
    values.update(changes)
    return values


def _save(client: httpx.Client, **changes: str) -> httpx.Response:
    return client.post(PATH, data={"csrf_token": page_csrf(client, PATH), **_form(**changes)})


def _switch_to_live(client: httpx.Client) -> None:
    response = client.post(
        "/mode", data={"csrf_token": page_csrf(client, PATH), "livemode": "1", "next": PATH}
    )
    assert response.status_code == 303


SAVED = Policy(
    enabled=True,
    delay_seconds=5400,
    reminder_days=(2, 5),
    expiry_reminder_days=(10, 3),
    max_emails_per_account=4,
)


def _settings(policy: Policy) -> tuple[object, ...]:
    return (
        policy.enabled,
        policy.delay_seconds,
        policy.reminder_days,
        policy.expiry_reminder_days,
        policy.max_emails_per_account,
    )


def test_the_page_says_the_policy_of_the_mode_in_view_in_words(owner: httpx.Client) -> None:
    page = owner.get(PATH)
    assert page.status_code == 200
    for sentence in (
        "Automatic relink in test mode",
        "Automatic relink is off: holders are asked only when someone requests a relink.",
        "Requests go out 4 hours after an account breaks.",
        "Reminders 3 and 7 days after the first email, while the request is pending.",
        "Reminders 14, 7 and 1 days before a TAN or consent expires",
        "At most 6 emails per account",
    ):
        assert sentence in page.text
    assert 'name="delay_hours" value="4"' in page.text
    assert 'name="reminder_days" value="3, 7"' in page.text
    assert 'href="/settings/automatic-relink" aria-current="page"' in page.text


def test_an_admin_saves_the_policy_and_is_sent_back_with_a_notice(
    server: RunningServer, platform: NewPlatform
) -> None:
    with server.runtime.database.unit_of_work() as db:
        other = make_platform(db, name="Other Lending").platform.id
    with member(server, platform, Role.admin) as admin:
        response = _save(admin)
        assert response.status_code == 303
        assert response.headers["location"] == PATH + "?notice=policy_saved"
        page = admin.get(response.headers["location"])
    assert "Automatic relink settings saved" in page.text
    assert "Automatic relink is on" in page.text
    assert "Requests go out 1 hour 30 minutes after an account breaks." in page.text
    assert "Reminders 2 and 5 days after the first email" in page.text
    assert "Reminders 10 and 3 days before" in page.text
    assert _settings(_policy(server, platform.platform.id)) == _settings(SAVED)
    # Only the viewer's platform, in the mode in view.
    assert _policy(server, platform.platform.id, live=True) == Policy()
    assert _policy(server, other) == Policy()


def test_live_mode_has_a_policy_of_its_own(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    _switch_to_live(owner)
    response = _save(owner, enabled="on", delay_hours="0", delay_minutes="0")
    assert response.status_code == 303
    live = _policy(server, platform.platform.id, live=True)
    assert (live.enabled, live.delay_seconds) == (True, 0)
    assert _policy(server, platform.platform.id) == Policy()
    page = owner.get(PATH)
    assert "Automatic relink in live mode" in page.text
    assert "Requests go out as soon as an account breaks." in page.text


def test_empty_day_lists_mean_no_reminders(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    assert _save(owner, reminder_days="", expiry_reminder_days="").status_code == 303
    saved = _policy(server, platform.platform.id)
    assert (saved.reminder_days, saved.expiry_reminder_days) == ((), ())
    page = owner.get(PATH).text
    assert "No reminders after the first email." in page
    assert "No reminders before a TAN or consent expires." in page


@pytest.mark.parametrize(
    ("changes", "field", "target", "message"),
    [
        ({"enabled": "maybe"}, "enabled", "p-enabled-on", "Choose whether automatic relink"),
        ({"delay_hours": "", "delay_minutes": ""}, "delay", "p-delay-hours", "Enter the delay"),
        ({"delay_hours": "four"}, "delay", "p-delay-hours", "as whole numbers"),
        ({"delay_minutes": "60"}, "delay", "p-delay-hours", "minutes as a number from 0 to 59"),
        ({"delay_hours": "720", "delay_minutes": "1"}, "delay", "p-delay-hours", "at most 720"),
        ({"reminder_days": "3, x"}, "reminder_days", "p-reminder-days", "separated by commas"),
        ({"reminder_days": "3, 31"}, "reminder_days", "p-reminder-days", "from 1 to 30"),
        ({"reminder_days": "1,2,3,4,5,6"}, "reminder_days", "p-reminder-days", "at most 5"),
        ({"expiry_reminder_days": "7, 7"}, "expiry_reminder_days", "p-expiry-days", "once"),
        ({"max_emails_per_account": "0"}, "max_emails_per_account", "p-max-emails", "1 and 20"),
        ({"max_emails_per_account": "6.5"}, "max_emails_per_account", "p-max-emails", "whole"),
    ],
    ids=lambda value: next(iter(value.values())) if isinstance(value, dict) else "",
)
def test_a_bad_value_is_shown_in_a_summary_and_by_its_field_and_changes_nothing(
    server: RunningServer,
    platform: NewPlatform,
    owner: httpx.Client,
    changes: dict[str, str],
    field: str,
    target: str,
    message: str,
) -> None:
    response = _save(owner, **changes)
    assert response.status_code == 400
    page = response.text
    assert 'class="error-summary" role="alert"' in page and "There is a problem" in page
    assert f'<li><a href="#{target}">' in page and message in page
    assert f'id="{field}-error"' in page
    # What was typed is kept, for correcting it.
    assert (
        'name="expiry_reminder_days" value="{}"'.format(changes.get("expiry_reminder_days", "3,10"))
        in page
    )
    assert _policy(server, platform.platform.id) == Policy()


def test_every_bad_field_is_listed_in_the_form_order(owner: httpx.Client) -> None:
    response = _save(owner, delay_minutes="99", reminder_days=SCRIPT, max_emails_per_account="")
    assert response.status_code == 400
    page = response.text
    targets = [page.index(f'href="#{t}"') for t in ("p-delay-hours", "p-reminder-days")]
    assert targets == sorted(targets) and 'href="#p-max-emails"' in page
    assert SCRIPT not in page and "&lt;script&gt;" in page


def test_a_viewer_sees_the_policy_read_only_and_their_post_is_refused(
    server: RunningServer, platform: NewPlatform, viewer: httpx.Client
) -> None:
    page = viewer.get(PATH)
    assert page.status_code == 200
    assert "Requests go out 4 hours after an account breaks." in page.text
    assert 'name="delay_hours"' not in page.text and "read-only" in page.text
    response = _save(viewer)
    assert response.status_code == 403
    assert _policy(server, platform.platform.id) == Policy()


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["missing", "forged"])
def test_a_post_without_a_valid_csrf_token_is_refused(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client, token: str | None
) -> None:
    data = _form() if token is None else {"csrf_token": token, **_form()}
    assert owner.post(PATH, data=data).status_code == 403
    assert _policy(server, platform.platform.id) == Policy()


def test_a_delay_set_to_the_second_elsewhere_is_kept_when_the_form_leaves_it(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    with server.runtime.database.unit_of_work() as db:
        scope = load_platform_scope(db, platform.platform.id, False)
        change_policy(db, scope, PolicyChanges(delay_seconds=100))
    page = owner.get(PATH).text
    assert "Requests go out 1 minute 40 seconds after an account breaks." in page
    assert 'name="delay_minutes" value="1"' in page
    assert _save(owner, delay_hours="0", delay_minutes="1").status_code == 303
    saved = _policy(server, platform.platform.id)
    assert (saved.enabled, saved.delay_seconds) == (True, 100)


def test_two_editors_saving_at_once_leave_one_policy_row(
    server: RunningServer, platform: NewPlatform, owner: httpx.Client
) -> None:
    start = threading.Barrier(2)
    with member(server, platform, Role.admin) as admin:
        forms = [
            (owner, {"csrf_token": page_csrf(owner, PATH), **_form(max_emails_per_account="2")}),
            (admin, {"csrf_token": page_csrf(admin, PATH), **_form(max_emails_per_account="3")}),
        ]

        def save(form: tuple[httpx.Client, dict[str, str]]) -> int:
            start.wait()
            return form[0].post(PATH, data=form[1]).status_code

        with ThreadPoolExecutor(max_workers=2) as pool:
            assert list(pool.map(save, forms)) == [303, 303]
    with server.runtime.database.read_only() as db:
        rows = db.scalar(
            select(func.count())
            .select_from(RelinkPolicy)
            .where(RelinkPolicy.platform_id == platform.platform.id)
        )
    assert rows == 1
    assert _policy(server, platform.platform.id).max_emails_per_account in (2, 3)
