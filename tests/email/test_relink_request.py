from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import stripe
from babel.messages.extract import extract_from_file
from hypothesis import given, settings
from hypothesis import strategies as st

from relink.email.messages import RenderedEmail
from relink.email.relink_request import (
    DEFAULT_BRAND_COLOR,
    brand_color,
    email_locale,
    render_relink_request,
    render_relink_templates,
    render_relink_templates_uncached,
    text_color_on,
)
from relink.kit.clock import FrozenClock
from relink.kit.i18n import LOCALE_DIR, gettext_for
from relink.models import Platform, Session
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from relink.tenancy import Scope
from tests.email.factories import eligible_account, request_relink_email
from tests.factories import (
    create_customer,
    create_session,
    create_test_account,
    deactivate,
    raw,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
RELINK = Path(__file__).resolve().parents[2] / "relink"


def brand(runtime: Runtime, platform: NewPlatform, **fields: Any) -> None:
    with runtime.database.unit_of_work() as db:
        row = db.get(Platform, platform.platform.id)
        assert row is not None
        for name, value in fields.items():
            setattr(row, name, value)


def render_email(runtime: Runtime, platform: NewPlatform, session_id: str) -> RenderedEmail:
    scope = Scope(platform.platform.id, False)
    with runtime.database.read_only() as db:
        session = db.get(Session, session_id)
        assert session is not None
        return render_relink_request(db, scope, runtime, session, email_locale(db, scope, session))


def unix(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def test_reason_names_the_date_the_payment_account_number_expires(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    holder = create_customer(client, email=platform.owner.email)
    expiry = dt.datetime(2031, 3, 12, 12, tzinfo=dt.UTC)
    frozen_clock.at = expiry - dt.timedelta(days=10)
    account = create_test_account(
        client, customer=holder.id, account_numbers={"expected_expiry_date": unix(expiry)}
    )
    session = request_relink_email(client, account)

    email = render_email(runtime, platform, session.id)

    assert "The account number used for payments expires on March 12, 2031." in email.text


def test_reason_names_the_date_the_connection_will_stop(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    holder = create_customer(client, email=platform.owner.email)
    account = create_test_account(client, customer=holder.id)
    stop = dt.datetime(2031, 7, 1, 12, tzinfo=dt.UTC)
    frozen_clock.at = stop - dt.timedelta(days=5)
    raw(
        client,
        "post",
        f"/v1/test_helpers/financial_connections/accounts/{account.id}/update_expected_deactivation",
        expected_deactivation_date=unix(stop),
    )
    session = request_relink_email(client, account)

    email = render_email(runtime, platform, session.id)

    assert "The connection to your bank will stop working on July 1, 2031." in email.text


def test_reason_says_the_bank_asked_to_sign_in_again(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    account = eligible_account(client, platform, cause="institution_requirement")
    session = request_relink_email(client, account)

    email = render_email(runtime, platform, session.id)

    assert "Your bank asked you to sign in again." in email.text


def test_language_falls_back_to_the_platform_default(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    brand(runtime, platform, default_locale="de")
    session = request_relink_email(client, eligible_account(client, platform))

    email = render_email(runtime, platform, session.id)

    assert email.subject.startswith("Handlungsbedarf:")


def test_holders_preferred_language_wins_over_the_platform_default(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    brand(runtime, platform, default_locale="de")
    account = eligible_account(client, platform, preferred_locales=["en-GB"])
    session = request_relink_email(client, account)

    email = render_email(runtime, platform, session.id)

    assert email.subject.startswith("Action needed:")


def test_markup_in_names_is_escaped_in_the_html_part(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    brand(runtime, platform, name="Acme <img src=x onerror=alert(1)>")
    account = eligible_account(client, platform, name="<script>alert('hi')</script>")
    session = request_relink_email(client, account)

    email = render_email(runtime, platform, session.id)

    assert "<script>" not in email.html
    assert "<img src=x" not in email.html
    assert "&lt;script&gt;alert(&#39;hi&#39;)&lt;/script&gt;" in email.html
    assert "Acme &lt;img src=x onerror=alert(1)&gt;" in email.html
    assert "Hello <script>alert('hi')</script>," in email.text


def test_support_address_is_shown_and_answers_go_to_it(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    brand(runtime, platform, support_email="help@acme.example")
    session = request_relink_email(client, eligible_account(client, platform))

    email = render_email(runtime, platform, session.id)

    assert "Contact Acme Lending at help@acme.example." in email.text
    assert "help@acme.example" in email.html
    assert email.headers["Reply-To"] == "help@acme.example"


def test_platform_logo_is_attached_inline_not_loaded_remotely(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    brand(runtime, platform, logo_png=PNG, logo_content_type="image/png")
    session = request_relink_email(client, eligible_account(client, platform))

    email = render_email(runtime, platform, session.id)

    assert 'src="cid:logo@relink"' in email.html
    assert [(image.cid, image.data) for image in email.inline_images] == [("logo@relink", PNG)]


def test_html_part_loads_nothing_from_the_network(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    brand(runtime, platform, logo_png=PNG, logo_content_type="image/png")
    session = request_relink_email(client, eligible_account(client, platform))

    email = render_email(runtime, platform, session.id)

    sources = re.findall(r'(?:src|background)="([^"]*)"', email.html)
    assert sources == ["cid:logo@relink"]
    assert "<link" not in email.html
    assert "<script" not in email.html
    assert "url(" not in email.html


def test_email_uses_the_platform_colour_for_the_button(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    brand(runtime, platform, brand_color="#0a7d32")
    session = request_relink_email(client, eligible_account(client, platform))

    email = render_email(runtime, platform, session.id)

    assert "background-color:#0a7d32" in email.html


@pytest.mark.parametrize("value", ["red;background:url(x)", "#12345", "", None])
def test_colour_that_is_not_a_hex_colour_falls_back_to_the_default(value: str | None) -> None:
    assert brand_color(value) == DEFAULT_BRAND_COLOR


@pytest.mark.parametrize(
    ("background", "text"),
    [("#3a5bd9", "#ffffff"), ("#ffd400", "#000000"), ("#000000", "#ffffff")],
)
def test_button_text_colour_contrasts_with_the_brand_colour(background: str, text: str) -> None:
    assert text_color_on(background) == text


def test_authorization_wide_request_names_the_bank_but_no_account(
    client: stripe.StripeClient, platform: NewPlatform, runtime: Runtime
) -> None:
    account = eligible_account(client, platform)
    session = create_session(
        client,
        permissions=["payment_method"],
        relink_options={"authorization": account["authorization"]},
        ui_mode="hosted",
        hosted={"delivery_method": "email"},
    )

    email = render_email(runtime, platform, session.id)

    assert "Bank (Non-OAuth)" in email.text
    assert "••••" not in email.text
    assert "Your permission to share this account has expired." in email.text


def _connected_account(
    client: stripe.StripeClient,
    platform: NewPlatform,
    frozen_clock: FrozenClock,
    *,
    locales: list[str] | None = None,
) -> stripe.financial_connections.Account:
    """An account connected on 3 March 2026 for balances and transactions, broken since."""
    frozen_clock.at = dt.datetime(2026, 3, 3, 9, 30, tzinfo=dt.UTC)
    holder = create_customer(
        client, email=platform.owner.email, preferred_locales=locales or ["en"]
    )
    account = create_test_account(
        client, customer=holder.id, last4="1234", permissions=["transactions", "balances"]
    )
    frozen_clock.at = dt.datetime(2026, 9, 14, 9, 30, tzinfo=dt.UTC)
    deactivate(client, account.id, "access_expired")
    return account


def test_email_says_when_and_for_what_the_account_was_first_connected(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    account = _connected_account(client, platform, frozen_clock)
    session = request_relink_email(client, account)

    email = render_email(runtime, platform, session.id)

    sentence = (
        "You connected your account ••••1234 at Bank (Non-OAuth) to Acme Lending"
        " on March 3, 2026 for account balances and transactions."
    )
    assert sentence in email.text
    assert sentence in email.html


@pytest.mark.parametrize(
    ("locale", "sentence"),
    [
        (
            "de",
            "Sie haben Ihr Konto ••••1234 bei Bank (Non-OAuth) am 3. März 2026 mit Acme"
            " Lending verbunden und dabei den Zugriff auf Kontostände und Umsätze freigegeben.",
        ),
        (
            "fr",
            "Vous avez connecté votre compte ••••1234 chez Bank (Non-OAuth) à Acme Lending"
            " le 3 mars 2026 pour partager les soldes de vos comptes et vos opérations.",
        ),
        (
            "es",
            "El 3 de marzo de 2026 conectó su cuenta ••••1234 de Bank (Non-OAuth) a Acme"
            " Lending para compartir los saldos de sus cuentas y sus movimientos.",
        ),
        (
            "nl",
            "U hebt uw rekening ••••1234 bij Bank (Non-OAuth) op 3 maart 2026 gekoppeld aan"
            " Acme Lending om uw rekeningsaldi en uw transacties te delen.",
        ),
    ],
)
def test_the_first_connection_is_told_in_the_holders_language(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    frozen_clock: FrozenClock,
    locale: str,
    sentence: str,
) -> None:
    account = _connected_account(client, platform, frozen_clock, locales=[locale])
    session = request_relink_email(client, account)

    email = render_email(runtime, platform, session.id)

    assert sentence in email.text
    assert sentence in email.html


def test_an_authorization_wide_email_says_when_the_bank_was_connected(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    account = _connected_account(client, platform, frozen_clock)
    session = create_session(
        client,
        permissions=["balances"],
        relink_options={"authorization": account["authorization"]},
        ui_mode="hosted",
        hosted={"delivery_method": "email"},
    )

    email = render_email(runtime, platform, session.id)

    assert (
        "You connected your Bank (Non-OAuth) account to Acme Lending on March 3, 2026"
        " for account balances and transactions." in email.text
    )


def test_first_connection_markup_is_escaped_in_the_html_part(
    client: stripe.StripeClient,
    platform: NewPlatform,
    runtime: Runtime,
    frozen_clock: FrozenClock,
) -> None:
    brand(runtime, platform, name="<b>Acme</b>")
    account = _connected_account(client, platform, frozen_clock)
    session = request_relink_email(client, account)

    email = render_email(runtime, platform, session.id)

    assert "to <b>Acme</b> on March 3, 2026" in email.text
    assert "to &lt;b&gt;Acme&lt;/b&gt; on March 3, 2026" in email.html
    assert "<b>Acme</b>" not in email.html


def _email_messages() -> set[str]:
    found: set[str] = set()
    for path in (RELINK / "templates" / "email").rglob("*.*"):
        for _, message, _, _ in extract_from_file(
            "jinja2.ext:babel_extract",
            path,
            options={"extensions": "jinja2.ext.i18n", "trim_blocks": "1"},
        ):
            found.add(message if isinstance(message, str) else message[0])
    for path in (RELINK / "email").glob("*.py"):
        for _, message, _, _ in extract_from_file("python", path):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_email_string_has_a_german_translation() -> None:
    messages = _email_messages()
    german = gettext_for("de")

    assert len(messages) > 15
    assert (LOCALE_DIR / "de" / "LC_MESSAGES" / "email.po").exists()
    same_in_german = {"Bank:"}
    assert sorted(m for m in messages if german.gettext(m) == m and m not in same_in_german) == []


def _context(**changes: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "platform": {
            "name": "Acme Lending",
            "color": "#3a5bd9",
            "button_text_color": "#ffffff",
            "support_email": "help@acme.example",
            "logo_cid": None,
        },
        "holder_name": "Jenny Rosen",
        "bank": "StripeBank",
        "account_name": "Checking",
        "account_mask": "••••6789",
        "reason": "Your bank asked you to sign in again.",
        "connected": "You connected your account ••••6789 at StripeBank to Acme Lending on"
        " March 3, 2026 for account balances.",
        "link": "https://relink.example/relink/abc?x=1&y=2",
        "expires_on": "December 26, 2026",
        "reminders_link": "https://relink.example/reminders/a-b_c?d=1&e=2",
    }
    context.update(changes)
    return context


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"holder_name": None},
        {"holder_name": ""},
        {"account_name": None},
        {"account_name": None, "account_mask": None},
        {"holder_name": '<script>alert("x")</script> & Sons'},
        {"account_name": "Tom & Jerry's <b>"},
        {"reason": 'Bänk says <no> & "yes"', "link": "https://relink.example/relink/a'b\"c<d>"},
        {"platform": {**_context()["platform"], "support_email": None, "logo_cid": "logo@relink"}},
        {"bank": "Crédit <Mutuel> & Co"},
        {"reminders_link": None},
        {"connected": "You connected <b>Tom & Jerry's</b> on 3 March"},
        {"connected": None},
    ],
)
def test_emails_rendered_from_a_cached_shape_equal_the_templates_rendered_directly(
    changes: dict[str, Any], locale: str
) -> None:
    context = _context(**changes)
    assert render_relink_templates(context, locale) == render_relink_templates_uncached(
        context, locale
    )


@given(
    name=st.text(max_size=40),
    account=st.one_of(st.none(), st.text(max_size=20)),
    reason=st.text(min_size=1, max_size=60),
)
@settings(max_examples=80, deadline=None)
def test_any_holder_details_render_from_the_cached_shape_as_the_templates_would(
    name: str, account: str | None, reason: str
) -> None:
    context = _context(holder_name=name, account_name=account, reason=reason)
    assert render_relink_templates(context, "en") == render_relink_templates_uncached(context, "en")
