"""The relink request email (spec 20-relink §5): its context and its rendering.

The templates live in ``templates/email/relink_request/`` (subject, text and HTML);
every sentence goes through gettext, including the reason, which is chosen here
because it depends on the account's state.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from babel.dates import format_date
from babel.lists import format_list
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from relink.accounts.repository import AccountRepository
from relink.authorizations.repository import AuthorizationRepository
from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.customers.repository import CustomerRepository
from relink.email.messages import InlineImage, RenderedEmail, sender_with_name
from relink.email.opt_outs import reminders_url, unsubscribe_headers
from relink.institutions.repository import InstitutionRepository
from relink.kit.i18n import gettext_for, negotiate
from relink.kit.text import has_control_characters
from relink.models import (
    AUTOMATION,
    Account,
    AccountNumber,
    Authorization,
    ConnectedAccount,
    ConnectionStatus,
    Customer,
    InactiveCause,
    Institution,
    Platform,
    RelinkAction,
    Session,
    TanStatus,
)
from relink.runtime import Runtime
from relink.sessions.schemas import hosted_url
from relink.tenancy import Scope, in_scope
from relink.web.templating import render

TEMPLATE_FOLDER = "email/relink_request"
# A link stays valid until 30 days after its last visit (or creation, if never visited).
LINK_VALIDITY = dt.timedelta(days=30)
LOGO_CID = "logo@relink"
LOGO_TYPES = ("image/png", "image/jpeg", "image/gif")
DEFAULT_BRAND_COLOR = "#3a5bd9"
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class NoRecipient(Exception):
    """The session's account holder has no email address on file (any more)."""


@dataclass(frozen=True)
class Holder:
    name: str | None
    email: str | None
    preferred_locales: list[str]


def session_holder(db: DbSession, scope: Scope, session: Session) -> Holder:
    if session.customer_id is not None:
        return customer_holder(CustomerRepository(db, scope).get(session.customer_id))
    if session.connected_account_id is not None:
        return connected_holder(
            ConnectedAccountRepository(db, scope).get(session.connected_account_id)
        )
    return Holder(None, None, [])


def customer_holder(customer: Customer) -> Holder:
    return Holder(customer.name, customer.email, list(customer.preferred_locales or []))


def connected_holder(connected: ConnectedAccount) -> Holder:
    return Holder(connected.business_name, connected.email, list(connected.preferred_locales or []))


def holder_locale(holder: Holder, platform: Platform | None) -> str:
    """The holder's preferred language, else the platform's default."""
    return negotiate(
        preferred=holder.preferred_locales,
        default=platform.default_locale if platform else None,
    )


def email_locale(db: DbSession, scope: Scope, session: Session) -> str:
    """The holder's preferred language, else the platform's default."""
    return holder_locale(session_holder(db, scope, session), db.get(Platform, scope.platform_id))


def brand_color(value: str | None) -> str:
    """The platform colour if it is a plain ``#rrggbb`` (it goes into a style attribute)."""
    return value if value and _HEX_COLOR.match(value) else DEFAULT_BRAND_COLOR


def text_color_on(background: str) -> str:
    """Black or white, whichever contrasts more with ``background`` (WCAG luminance)."""

    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(background[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    on_white = 1.05 / (luminance + 0.05)
    on_black = (luminance + 0.05) / 0.05
    return "#ffffff" if on_white >= on_black else "#000000"


def mask(last4: str | None) -> str | None:
    return f"••••{last4}" if last4 else None


def relink_reason(
    account: Account | None,
    authorization: Authorization,
    numbers: list[AccountNumber],
    locale: str,
) -> str:
    """Why the holder is asked to reconnect, in plain words in ``locale``."""
    _ = gettext_for(locale).gettext
    subject: Account | Authorization = account if account is not None else authorization
    if (
        subject.status == ConnectionStatus.inactive
        and subject.inactive_action == RelinkAction.relink_required
    ):
        cause = subject.inactive_cause
        if cause == InactiveCause.institution_requirement:
            return _("Your bank asked you to sign in again.")
        if cause == InactiveCause.access_expired:
            return _("Your permission to share this account has expired.")
        return _("The connection to your bank stopped working.")
    if any(number.status in (TanStatus.expired, TanStatus.deactivated) for number in numbers):
        return _("The account number used for payments has expired.")
    expiries = [n.expected_expiry_at for n in numbers if n.expected_expiry_at is not None]
    if expiries:
        return _("The account number used for payments expires on %(date)s.") % {
            "date": format_date(min(expiries), format="long", locale=locale)
        }
    if subject.expected_deactivation_at is not None:
        return _("The connection to your bank will stop working on %(date)s.") % {
            "date": format_date(subject.expected_deactivation_at, format="long", locale=locale)
        }
    return _("The connection to your bank needs to be renewed.")


# What a connection lets the platform see, in a sentence's words, in a fixed order.
PERMISSION_ORDER = ("balances", "ownership", "payment_method", "transactions")


def permission_phrases(permissions: list[str], locale: str) -> list[str]:
    """The permissions as the middle of a sentence names them, in ``locale``."""
    _ = gettext_for(locale).gettext
    phrases = {
        "balances": _("account balances"),
        "ownership": _("the account owner's name and contact details"),
        "payment_method": _("account and routing numbers for payments"),
        "transactions": _("transactions"),
    }
    return [phrases[code] for code in PERMISSION_ORDER if code in permissions]


def first_connected(
    data: RelinkEmailData, targeted: Account | None, platform_name: str, locale: str
) -> str:
    """When and for what the holder first connected what this email is about, in
    ``locale``: a targeted account by its mask, else the connection with the bank.

    The date is the account's creation (a relink repairs an account, it never creates
    one), else the authorization's; the permissions are the subject account's."""
    subject = targeted or data.account
    return connected_sentence(
        locale,
        last4=targeted.last4 if targeted is not None else None,
        bank=data.institution.name,
        platform_name=platform_name,
        connected_at=subject.created_at if subject is not None else data.authorization.created_at,
        permissions=subject.permissions if subject is not None else [],
    )


def connected_sentence(
    locale: str,
    *,
    last4: str | None,
    bank: str,
    platform_name: str,
    connected_at: dt.datetime,
    permissions: list[str],
) -> str:
    """ "You connected your account ••4242 at the bank to the platform on … for …", in
    ``locale``: the account's mask where there is one, the permissions where there are."""
    _ = gettext_for(locale).gettext
    phrases = permission_phrases(permissions, locale)
    values = {
        "account": mask(last4) if last4 is not None else None,
        "bank": bank,
        "platform": platform_name,
        "date": format_date(connected_at, format="long", locale=locale),
        "permissions": format_list(phrases, locale=locale) if phrases else None,
    }
    if values["account"] and values["permissions"]:
        sentence = _(
            "You connected your account %(account)s at %(bank)s to %(platform)s"
            " on %(date)s for %(permissions)s."
        )
    elif values["account"]:
        sentence = _(
            "You connected your account %(account)s at %(bank)s to %(platform)s on %(date)s."
        )
    elif values["permissions"]:
        sentence = _(
            "You connected your %(bank)s account to %(platform)s on %(date)s for %(permissions)s."
        )
    else:
        sentence = _("You connected your %(bank)s account to %(platform)s on %(date)s.")
    return sentence % values


def _subject_account(db: DbSession, scope: Scope, session: Session) -> Account | None:
    """The account the email is about: the target, else the authorization's first broken one."""
    accounts = AccountRepository(db, scope)
    if session.relink_account_id is not None:
        return accounts.get(session.relink_account_id)
    assert session.relink_authorization_id is not None
    return subject_of(accounts.of_authorization(session.relink_authorization_id))


def subject_of(candidates: list[Account]) -> Account | None:
    """Of an authorization's accounts (by id), the first broken one, else the first."""
    broken = [a for a in candidates if a.relink_due_at is not None]
    return next(iter(broken or candidates), None)


@dataclass(frozen=True)
class RelinkEmailData:
    """Every row the relink request email of one session shows."""

    platform: Platform
    holder: Holder
    authorization: Authorization
    account: Account | None
    institution: Institution
    numbers: list[AccountNumber]


def load_relink_email_data(db: DbSession, scope: Scope, session: Session) -> RelinkEmailData:
    platform = db.get(Platform, scope.platform_id)
    assert platform is not None
    assert session.relink_authorization_id is not None
    holder = session_holder(db, scope, session)
    authorization = AuthorizationRepository(db, scope).get(session.relink_authorization_id)
    account = _subject_account(db, scope, session)
    institution = InstitutionRepository(db, scope.livemode).get(authorization.institution_id)
    numbers: list[AccountNumber] = []
    if account is not None:
        numbers = list(
            db.scalars(
                select(AccountNumber)
                .where(
                    in_scope(AccountNumber, scope),
                    AccountNumber.account_id == account.id,
                )
                .order_by(AccountNumber.id)
            )
        )
    return RelinkEmailData(platform, holder, authorization, account, institution, numbers)


def relink_request_context(
    db: DbSession,
    scope: Scope,
    runtime: Runtime,
    session: Session,
    locale: str,
    *,
    link: str,
) -> dict[str, Any]:
    """Everything the relink request templates show."""
    return context_of(load_relink_email_data(db, scope, session), session, locale, link=link)


def platform_context(platform: Platform) -> dict[str, Any]:
    """The platform's branding as a holder's email shows it."""
    color = brand_color(platform.brand_color)
    has_logo = bool(platform.logo_png) and platform.logo_content_type in LOGO_TYPES
    return {
        "name": platform.name,
        "color": color,
        "button_text_color": text_color_on(color),
        "support_email": platform.support_email,
        "logo_cid": LOGO_CID if has_logo else None,
    }


def context_of(
    data: RelinkEmailData, session: Session, locale: str, *, link: str
) -> dict[str, Any]:
    """The relink request templates' context from already loaded rows."""
    account = data.account
    # The account is named only when the session targets it; an authorization-wide
    # request is about every account at the bank.
    targeted = account if session.relink_account_id is not None else None
    return {
        "platform": platform_context(data.platform),
        "holder_name": data.holder.name,
        "bank": data.institution.name,
        "account_name": targeted.display_name if targeted else None,
        "account_mask": mask(targeted.last4) if targeted else None,
        "reason": relink_reason(account, data.authorization, data.numbers, locale),
        "connected": first_connected(data, targeted, data.platform.name, locale),
        "link": link,
        "expires_on": format_date(
            (session.link_last_visit_at or session.created_at) + LINK_VALIDITY,
            format="long",
            locale=locale,
        ),
    }


# -- rendering -----------------------------------------------------------------------------
#
# The worker sends thousands of these emails, and most of them share everything but the
# holder's own details. So the templates render once per *shape* (language, platform
# branding, bank, and which optional lines show) with a marker in place of each
# per-holder value; each email then fills the markers in, HTML-escaped in the HTML body.
# The result is the same text the templates would render for that email (a test renders
# both ways and compares), at a fraction of the cost.

PER_HOLDER = (
    "holder_name",
    "account_name",
    "account_mask",
    "reason",
    "connected",
    "link",
    "expires_on",
    "reminders_link",
)
# Unguessable per process: no value a holder or platform controls can contain a marker.
_MARKER_KEY = secrets.token_hex(8)


def _marker(name: str) -> str:
    return f"[[{_MARKER_KEY}:{name}]]"


@dataclass(frozen=True)
class RenderedBodies:
    subject: str
    text: str
    html: str


def render_relink_templates(context: dict[str, Any], locale: str) -> RenderedBodies:
    """The subject and bodies of the relink request email for ``context`` in ``locale``.

    The templates may test a per-holder value only for being set (``{% if holder_name %}``)
    and must show it as it is: that is all a marker can stand in for.
    """
    shared = {name: value for name, value in context.items() if name not in PER_HOLDER}
    shown = tuple(bool(context.get(name)) for name in PER_HOLDER)
    key = (locale, _hashable(shared), shown)
    with _SHAPES_LOCK:
        shape = _SHAPES.get(key)
        if shape is not None:
            _SHAPES.move_to_end(key)
    if shape is None:
        marked = {
            name: _marker(name) if present else None
            for name, present in zip(PER_HOLDER, shown, strict=True)
        }
        shape = render_relink_templates_uncached({**shared, **marked}, locale)
        with _SHAPES_LOCK:
            _SHAPES[key] = shape
            while len(_SHAPES) > MAX_SHAPES:
                _SHAPES.popitem(last=False)
    subject, text, html = shape.subject, shape.text, shape.html
    for name, present in zip(PER_HOLDER, shown, strict=True):
        if present:
            value = str(context[name])
            subject = subject.replace(_marker(name), " ".join(value.split()))
            text = text.replace(_marker(name), value)
            html = html.replace(_marker(name), str(escape(value)))
    return RenderedBodies(subject, text, html)


MAX_SHAPES = 512
_SHAPES: OrderedDict[Hashable, RenderedBodies] = OrderedDict()
_SHAPES_LOCK = threading.Lock()


def _hashable(value: Any) -> Hashable:
    """A hashable, order-independent copy of a context value (for the shape's key)."""
    if isinstance(value, dict):
        return frozenset((key, _hashable(item)) for key, item in value.items())
    if isinstance(value, list | tuple):
        return tuple(_hashable(item) for item in value)
    hashable: Hashable = value
    return hashable


def render_relink_templates_uncached(context: dict[str, Any], locale: str) -> RenderedBodies:
    """The templates rendered directly (once per shape; and by the tests, to compare)."""
    return render_email_folder(TEMPLATE_FOLDER, context, locale)


def render_email_folder(folder: str, context: dict[str, Any], locale: str) -> RenderedBodies:
    """The subject, text and HTML of the email templates in ``folder``."""
    context = dict(context)
    subject = " ".join(render(f"{folder}/subject.txt", context, locale=locale).split())
    context["subject"] = subject
    # Bodies end with one newline, as MIME carries them, so a preview equals what is sent.
    text = render(f"{folder}/body.txt", context, locale=locale).rstrip() + "\n"
    html = render(f"{folder}/body.html", context, locale=locale).rstrip() + "\n"
    return RenderedBodies(subject, text, html)


def render_relink_request(
    db: DbSession,
    scope: Scope,
    runtime: Runtime,
    session: Session,
    locale: str,
    *,
    link: str | None = None,
) -> RenderedEmail:
    """The relink request email of ``session`` in ``locale`` (``link`` defaults to its URL)."""
    data = load_relink_email_data(db, scope, session)
    return render_loaded(runtime, session, data, locale, link=link)


def render_loaded(
    runtime: Runtime,
    session: Session,
    data: RelinkEmailData,
    locale: str,
    *,
    link: str | None = None,
) -> RenderedEmail:
    """:func:`render_relink_request` from already loaded rows (the worker's batches)."""
    url = link or hosted_url(runtime, session)
    if url is None:
        raise ValueError(f"session {session.id} has no hosted link (not a pending hosted session)")
    holder, platform = data.holder, data.platform
    if not holder.email:
        raise NoRecipient(f"the account holder of {session.id} has no email address")
    context = context_of(data, session, locale, link=url)
    # Every relink email says how to stop reminders; only the automation's own carry the
    # headers of a mailing one can leave (an operator's request is not marketing).
    context["reminders_link"] = reminders_url(runtime, session)
    bodies = render_relink_templates(context, locale)
    automatic = session.created_by == AUTOMATION
    return platform_email(
        runtime,
        platform,
        holder.email,
        bodies,
        context,
        unsubscribe=context["reminders_link"] if automatic else None,
    )


def platform_email(
    runtime: Runtime,
    platform: Platform,
    to: str,
    bodies: RenderedBodies,
    context: dict[str, Any],
    *,
    unsubscribe: str | None = None,
) -> RenderedEmail:
    """A holder's email from the platform: its sender name, reply-to and logo; with
    ``unsubscribe`` (the automation's emails) the headers of a mailing one can leave."""
    headers = {"Auto-Submitted": "auto-generated"}
    if unsubscribe:
        headers.update(unsubscribe_headers(unsubscribe))
    if platform.support_email and not has_control_characters(platform.support_email):
        headers["Reply-To"] = platform.support_email
    images: tuple[InlineImage, ...] = ()
    if context["platform"]["logo_cid"] and platform.logo_png and platform.logo_content_type:
        images = (InlineImage(LOGO_CID, platform.logo_content_type, platform.logo_png),)
    return RenderedEmail(
        subject=bodies.subject,
        text=bodies.text,
        html=bodies.html,
        to=to,
        sender=sender_with_name(
            runtime.settings.email_from, platform.email_sender_name or platform.name
        ),
        headers=headers,
        inline_images=images,
    )
