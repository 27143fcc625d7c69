"""Translations (gettext catalogs in ``relink/locale``) and locale negotiation.

Catalogs are kept as ``.po`` files and compiled in memory at first use, so running
Relink needs no build step. English is the source language.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
# The holder's languages: hosted pages, emails and the sandbox bank's pages.
SUPPORTED_LOCALES: tuple[str, ...] = ("en", "de", "fr", "es", "nl")
DEFAULT_LOCALE = "en"
# The operator's dashboard: English and German (each team user chooses).
DASHBOARD_LOCALES: tuple[str, ...] = ("en", "de")
# Each language by its own name (what a holder looks for in the switcher).
LANGUAGE_NAMES = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "nl": "Nederlands",
}


def N_(message: str) -> str:
    """Mark ``message`` for extraction where it is defined; it is translated where shown."""
    return message


@dataclass(frozen=True)
class Message:
    """A message written where its numbers are known and worded where it is shown: the
    English source (and its plural, ``count`` choosing the form) and the values of its
    placeholders. Built with :func:`M_` or :func:`Mn_`, which Babel extracts (``babel.cfg``
    names them), so the catalogue check sees every one."""

    text: str
    values: Mapping[str, object] = field(default_factory=dict)
    plural: str | None = None
    count: int = 1

    def worded(self, translations: gettext.NullTranslations) -> str:
        if self.plural is None:
            text = translations.gettext(self.text)
            return text % dict(self.values) if self.values else text
        text = translations.ngettext(self.text, self.plural, self.count)
        return text % {"num": self.count, **self.values}


def M_(text: str, **values: object) -> Message:
    """A message with placeholders (``%(name)s``), filled in once it is translated."""
    return Message(text, values)


def Mn_(singular: str, plural: str, num: int, **values: object) -> Message:
    """A message with a number (``%(num)d``) in the language's plural form for it."""
    return Message(singular, values, plural, num)


def worded(message: str | Message, translations: gettext.NullTranslations) -> str:
    """``message`` (a catalogue message, marked where it was written) in one language."""
    if isinstance(message, Message):
        return message.worded(translations)
    return translations.gettext(message)


def dashboard_locale(chosen: str | None = None, accept_language: str | None = None) -> str:
    """The dashboard's language: the user's choice, else the browser's (signed out)."""
    for candidate in [chosen, *parse_accept_language(accept_language)]:
        found = supported(candidate)
        if found in DASHBOARD_LOCALES:
            return found
    return DEFAULT_LOCALE


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalogs for ``locale`` (English: the identity).

    Every ``.po`` file in ``locale/<locale>/LC_MESSAGES`` is one part of the catalog
    (``messages.po``, ``hosted.po``, ``email.po``, ``dashboard.po``…), merged in name order.
    """
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    paths = sorted(folder.glob("*.po")) if folder.is_dir() else []
    if locale == DEFAULT_LOCALE or not paths:
        return gettext.NullTranslations()
    merged: gettext.NullTranslations | None = None
    for path in paths:
        with path.open("rb") as source:
            catalog = read_po(source, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = gettext.GNUTranslations(buffer)
        if merged is None:
            merged = part
        else:
            merged.add_fallback(part)
    assert merged is not None
    return merged


def supported(locale: str | None) -> str | None:
    """The supported locale matching ``locale`` (``de-AT`` → ``de``), if any."""
    if not locale:
        return None
    base = locale.strip().replace("_", "-").split("-")[0].lower()
    return base if base in SUPPORTED_LOCALES else None


def parse_accept_language(header: str | None) -> list[str]:
    if not header:
        return []
    weighted = []
    for index, part in enumerate(header.split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(weighted) if tag != "*"]


def negotiate(
    *,
    explicit: str | None = None,
    preferred: list[str] | None = None,
    accept_language: str | None = None,
    default: str | None = None,
) -> str:
    """Pick the locale: an explicit choice (the language switcher), then the holder's
    ``preferred_locales``, then ``Accept-Language``, then the platform default."""
    for candidate in [
        explicit,
        *(preferred or []),
        *parse_accept_language(accept_language),
        default,
    ]:
        found = supported(candidate)
        if found:
            return found
    return DEFAULT_LOCALE


def gettext_for(locale: str) -> gettext.NullTranslations:
    return translations(supported(locale) or DEFAULT_LOCALE)
