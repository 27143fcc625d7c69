"""The holder's page to stop reminders, and the receiver's one-click unsubscribe.

``/reminders/<token>`` (:mod:`relink.email.opt_outs`) answers three ways:

- ``POST`` with the body ``List-Unsubscribe=One-Click`` (RFC 8058): what a mail client's
  own Unsubscribe button sends, with no cookie and no CSRF token, by design. It records
  the opt-out and answers a short text; it changes nothing else.
- ``GET``: a page in the holder's language, branded as the platform's other hosted
  pages, that asks before anything changes (a scanner that follows the link stops
  nothing); its button posts (with the page's CSRF token) to ``…/stop``, which answers
  303 to the page, which then says that no more reminders come.

A token Relink did not make, or whose holder is gone, is answered 404 and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session as DbSession

from relink.email.opt_outs import (
    ONE_CLICK,
    PATH,
    OptOutHolder,
    find_holder,
    opt_out,
    opt_out_of,
    read_token,
)
from relink.hosted.screens import Screen
from relink.kit.crypto import token_digest
from relink.kit.i18n import gettext_for, negotiate
from relink.models import Customer, OptOutSource, Platform
from relink.runtime import Runtime
from relink.web.csrf import CsrfError, csrf_token, verify_csrf

CSRF_PURPOSE = "reminder-opt-out"
# The page after a refused form (an expired page): it says so, nothing more.
REFUSED = "refused"


def _found(db: DbSession, runtime: Runtime, token: str) -> tuple[OptOutHolder, Platform] | None:
    address = read_token(runtime, token)
    found = find_holder(db, address) if address is not None else None
    if found is None:
        return None
    platform = db.get(Platform, found.scope.platform_id)
    assert platform is not None
    return found, platform


def _csrf(runtime: Runtime, token: str) -> str:
    return csrf_token(runtime.csrf_key, CSRF_PURPOSE, token_digest(token))


def reminders_screen(runtime: Runtime, token: str, *, refused: bool = False) -> Screen | None:
    """The page: asks to confirm, or says reminders are stopped (None: no such holder)."""
    with runtime.database.read_only() as db:
        found = _found(db, runtime, token)
        if found is None:
            return None
        holder, platform = found
        existing = opt_out_of(db, holder.scope, holder.holder.id)
    person = holder.holder
    name = person.name if isinstance(person, Customer) else person.business_name
    return Screen(
        page="reminders_stopped" if existing is not None else "reminders",
        token=token,
        path=f"{PATH}/{token}",
        csrf=_csrf(runtime, token),
        platform_name=platform.name,
        brand_color=platform.brand_color,
        has_logo=platform.logo_png is not None,
        livemode=holder.scope.livemode,
        default_locale=platform.default_locale,
        preferred_locales=list(holder.holder.preferred_locales or []),
        holder_name=name,
        error=REFUSED if refused and existing is None else None,
        opted_out_at=existing.created_at if existing is not None else None,
    )


def stop_from_page(runtime: Runtime, token: str, csrf: str | None) -> bool | None:
    """The page's button: records the opt-out if the form is the page's own. None: no
    such holder; False: the form was refused (nothing changed)."""
    try:
        verify_csrf(runtime.csrf_key, CSRF_PURPOSE, token_digest(token), csrf)
    except CsrfError:
        return False if read_token(runtime, token) is not None else None
    return _record(runtime, token, OptOutSource.hosted_page) is not None


@dataclass(frozen=True)
class OneClickAnswer:
    status_code: int
    text: str
    locale: str


def one_click(runtime: Runtime, token: str, value: str) -> OneClickAnswer | None:
    """RFC 8058's POST (``value``: its ``List-Unsubscribe`` field). None: no such holder."""
    if value != ONE_CLICK.partition("=")[2]:
        if read_token(runtime, token) is None:
            return None
        return OneClickAnswer(400, f"Expected the body {ONE_CLICK} (RFC 8058).\n", "en")
    recorded = _record(runtime, token, OptOutSource.one_click)
    if recorded is None:
        return None
    platform_name, locale = recorded
    _ = gettext_for(locale).gettext
    text = _("You will not get reminder emails from %(platform)s any more.") % {
        "platform": platform_name
    }
    return OneClickAnswer(200, text + "\n", locale)


def _record(runtime: Runtime, token: str, source: OptOutSource) -> tuple[str, str] | None:
    """Record the opt-out; the platform's name and the holder's language (None: no
    such holder)."""
    with runtime.database.unit_of_work() as db:
        found = _found(db, runtime, token)
        if found is None:
            return None
        holder, platform = found
        opt_out(db, holder.scope, holder.holder.id, source, holder.scope.now())
        locale = negotiate(
            preferred=list(holder.holder.preferred_locales or []),
            default=platform.default_locale,
        )
        return platform.name, locale


def reminders_brand(runtime: Runtime, token: str) -> tuple[str | None, bytes | None]:
    """The brand colour and logo of the platform whose page the token opens."""
    with runtime.database.read_only() as db:
        found = _found(db, runtime, token)
        if found is None:
            return None, None
        return found[1].brand_color, found[1].logo_png
