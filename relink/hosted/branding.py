"""The platform's brand on hosted pages: colour (as a stylesheet, since the CSP forbids
inline styles) and logo, both looked up by link address so no URL names the platform."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from relink.hosted import links
from relink.hosted.links import LinkAddress
from relink.kit.email_address import is_email_address
from relink.models import Platform
from relink.runtime import Runtime

DEFAULT_BRAND = "#3a5bd9"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def brand_palette(colour: str | None) -> tuple[str, str]:
    """(background, text) for brand-coloured buttons, readable at WCAG AA (4.5:1).

    The text is white or near-black, whichever contrasts more; a brand colour that
    reaches 4.5:1 with neither is replaced by the default."""
    brand = colour if colour and _COLOUR.match(colour) else DEFAULT_BRAND
    text = max(("#ffffff", "#111111"), key=lambda candidate: contrast(brand, candidate))
    if contrast(brand, text) < 4.5:
        brand, text = DEFAULT_BRAND, "#ffffff"
    return brand.lower(), text


def stylesheet(colour: str | None) -> str:
    brand, text = brand_palette(colour)
    return f":root {{ --brand: {brand}; --brand-text: {text}; }}\n"


def png_logo(logo: bytes | None) -> bytes | None:
    """The platform's logo, only when one is set and really is a PNG."""
    if logo is None or not logo.startswith(PNG_SIGNATURE):
        return None
    return logo


def brand_css(runtime: Runtime, address: LinkAddress) -> str:
    with runtime.database.read_only() as db:
        link = links.resolve(db, address)
        return brand_css_of(link.platform if link is not None else None)


def brand_css_of(platform: Platform | None) -> str:
    """The stylesheet of ``platform``'s colour (the default's without a platform)."""
    return stylesheet(platform.brand_color if platform is not None else None)


def platform_logo(runtime: Runtime, address: LinkAddress) -> bytes | None:
    with runtime.database.read_only() as db:
        link = links.resolve(db, address)
        return logo_of(link.platform if link is not None else None)


def logo_of(platform: Platform | None) -> bytes | None:
    return png_logo(platform.logo_png if platform is not None else None)


@dataclass(frozen=True)
class Website:
    """A platform's website as a page links it: the address, and the label shown."""

    url: str
    label: str


@dataclass(frozen=True)
class SupportContact:
    """Where a holder can ask the platform about a request; absent parts are None."""

    email: str | None = None
    website: Website | None = None


def website_of(url: str | None) -> Website | None:
    """``url`` when it is an http(s) address with a host (anything else, such as a
    ``javascript:`` URL, is never made a link), labelled without the scheme."""
    if not url or any(ord(char) < 33 or ord(char) == 127 for char in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    label = (parts.netloc + parts.path).rstrip("/")
    return Website(url=url, label=label.removeprefix("www."))


def support_contact_of(platform: Platform) -> SupportContact:
    email = platform.support_email
    return SupportContact(
        email=email if email and is_email_address(email) else None,
        website=website_of(platform.website_url),
    )
