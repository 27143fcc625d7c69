"""The bundle page: every connection a holder was asked to repair in one email.

``{PUBLIC_URL}/relinks/{token}`` (:mod:`relink.sessions.bundles`) lists the bundle's
sessions — the bank, the masked account, why it needs repair and its state — with a
"Repair" button for each one still open, which starts that session's own hosted flow
(``/relink/{token}``); a session of a bundle returns here when it is repaired. The page
shows the progress ("2 of 3 repaired") and, once every one is repaired, says so.

The page only reads: a GET records nothing (a mail scanner that fetches it changes
nothing), and each session's own page records its visit as it always does. The token
is looked up by digest; the sessions shown are the bundle's in the bundle's own
platform and mode, so a bundle never shows another platform's sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from relink.hosted import links
from relink.hosted.links import TOKEN_PATTERN, LinkState, address_of, scope_of
from relink.hosted.screens import BundleItem, BundlePage, MaskedAccount, Screen, reason_for
from relink.kit.crypto import token_digest
from relink.models import Platform, RelinkBundle
from relink.runtime import Runtime
from relink.sessions.bundles import BUNDLE_PATH, bundle_path, bundled_sessions


@dataclass(frozen=True)
class BundleAddress:
    """The bundle page's address (:class:`relink.hosted.links.Addressed`)."""

    token: str

    @property
    def path(self) -> str:
        return f"/{BUNDLE_PATH}/{self.token}"


@dataclass(frozen=True)
class FoundBundle:
    bundle: RelinkBundle
    platform: Platform


def find_bundle(db: DbSession, token: str) -> FoundBundle | None:
    """The bundle whose page token this is (None: malformed or unknown)."""
    if not TOKEN_PATTERN.match(token):
        return None
    row = db.execute(
        select(RelinkBundle, Platform)
        .join(Platform, Platform.id == RelinkBundle.platform_id)
        .where(RelinkBundle.link_token_digest == token_digest(token))
    ).first()
    if row is None:
        return None
    bundle, platform = row
    return FoundBundle(bundle, platform)


def bundle_screen(db: DbSession, runtime: Runtime, token: str) -> Screen | None:
    """The bundle's page (None: no bundle has this token)."""
    found = find_bundle(db, token)
    if found is None:
        return None
    bundle, platform = found.bundle, found.platform
    scope = scope_of(platform, bundle.livemode)
    items: list[BundleItem] = []
    holder = None
    for session in bundled_sessions(db, scope, bundle.id):
        address = address_of(runtime, session)
        link = links.load(db, address, session)
        holder = link.holder
        state = links.state_of(db, link)
        items.append(
            BundleItem(
                bank_name=link.institution.name if link.institution is not None else None,
                accounts=[MaskedAccount(a.display_name, a.last4) for a in link.accounts],
                reason=reason_for(db, link) if state == LinkState.pending else None,
                state=state,
                repair_path=address.path if state == LinkState.pending else None,
            )
        )
    page = BundlePage(items)
    return Screen(
        page="bundle_done" if items and page.done else "bundle",
        path=bundle_path(runtime, bundle.id),
        platform_name=platform.name,
        brand_color=platform.brand_color,
        has_logo=platform.logo_png is not None,
        livemode=bundle.livemode,
        default_locale=platform.default_locale,
        preferred_locales=holder.preferred_locales if holder is not None else [],
        holder_name=holder.name if holder is not None else None,
        bundle=page,
    )


def bundle_platform(runtime: Runtime, token: str) -> Platform | None:
    """The platform of the bundle page's token (for its brand colour and logo)."""
    with runtime.database.read_only() as db:
        found = find_bundle(db, token)
        return found.platform if found is not None else None
