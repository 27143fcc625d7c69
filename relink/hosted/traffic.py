"""Telling a person's visit of a link from a machine's (docs/links.md).

Mail scanners (Microsoft Safe Links, Proofpoint, Mimecast, Barracuda …), link previews
and prefetching fetch the links of an email before, or instead of, its reader. Their
visits are recorded as ``scanned``, not ``viewed``, so the outreach funnel counts people.
What a request says about itself decides here (:func:`machine_signal`); the burst rule
(many links of one platform opened from one address within seconds of delivery) needs
the database and lives in :mod:`relink.hosted.links`.

A signal changes only what is recorded, never what is allowed: a person whose browser
looks like a machine can still do everything; the changes themselves are safe from
machines because each takes a second screen (:mod:`relink.hosted.flow`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

# Headers a browser or a mail client sets when it fetches a page nobody asked to see
# yet: Chrome's speculation rules and <link rel=prefetch> (Sec-Purpose, Purpose),
# Firefox's (X-Moz), Safari's previews (X-Purpose).
PREFETCH_HEADERS = ("sec-purpose", "purpose", "x-purpose", "x-moz")
PREFETCH_VALUES = ("prefetch", "prerender", "preview")

# User agents of mail scanners, link previews and crawlers, by a name they send. Generic
# HTTP libraries (curl, python-requests, httpx) are not in it: integrations and people's
# scripts use them too, and a scanner that hides behind one is caught by the burst rule.
SCANNER_AGENTS = re.compile(
    r"""
    barracuda | proofpoint | mimecast | forcepoint | trendmicro | symantec | sophos
    | fireeye | zscaler | cisco | ironport | safelinks | safe\ links | urldefense
    | bingpreview | googleimageproxy | google-safety | googlebot | adsbot | bingbot
    | yahoo!\ slurp | duckduckbot | baiduspider | yandex(?:bot|images)
    | facebookexternalhit | facebot | twitterbot | linkedinbot | slackbot
    | slack-imgproxy | discordbot | telegrambot | whatsapp | skypeuripreview
    | microsoftpreview | teams | applebot | pinterestbot | embedly | iframely
    | outlook-ios-linkpreview | scanner | crawler | spider | phantomjs
    | \bbot\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True)
class Visit:
    """What one request to a hosted page says about who sent it."""

    method: str
    user_agent: str | None = None
    # The value of the first prefetch header present, if any.
    purpose: str | None = None
    client: str | None = None  # the client address (the trusted proxy's forwarded one)

    @classmethod
    def of(cls, method: str, headers: Mapping[str, str], client: str | None) -> Visit:
        purpose = next(
            (headers[name] for name in PREFETCH_HEADERS if headers.get(name) is not None), None
        )
        return cls(method.upper(), headers.get("user-agent"), purpose, client)


def machine_signal(visit: Visit) -> str | None:
    """Why ``visit`` is a machine's, by itself (None: nothing says so)."""
    if visit.method == "HEAD":
        return "head_request"
    if visit.purpose is not None and any(
        value in visit.purpose.lower() for value in PREFETCH_VALUES
    ):
        return "prefetch"
    if not (visit.user_agent or "").strip():
        return "no_user_agent"
    if SCANNER_AGENTS.search(visit.user_agent or ""):
        return "scanner_user_agent"
    return None


def client_digest(key: bytes, client: str) -> str:
    """The client address as a keyed digest: visits from one address compare equal, and
    the stored rows do not hold the address itself."""
    return hmac.new(key, f"link-visit:{client}".encode(), hashlib.sha256).hexdigest()
