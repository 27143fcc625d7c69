"""The bank's languages: its pages and the challenge texts its login API answers, in
English, German, French, Spanish and Dutch.

The bank is its own app and imports nothing of Relink, so it keeps its own catalogue
(``locale/<language>/LC_MESSAGES/sandbox_bank.po`` beside this module, extracted by the
``babel.cfg`` here), compiled in memory at first use. It speaks the language the app
asks for (OpenID Connect's ``ui_locales`` on the authorize request, ``locale`` in a
credential login's body), else the browser's ``Accept-Language``, else English.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES: tuple[str, ...] = ("en", "de", "fr", "es", "nl")
DEFAULT_LOCALE = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "sandbox_bank"


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue; it is translated where it is shown."""
    return message


@cache
def translations(locale: str) -> gettext_module.NullTranslations:
    """The compiled catalogue of ``locale`` (English, the source language: the identity)."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == DEFAULT_LOCALE or not path.is_file():
        return gettext_module.NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext_module.GNUTranslations(buffer)


def supported(tag: str | None) -> str | None:
    """The bank's language for a language tag (``de-AT`` → ``de``), if it has one."""
    if not tag:
        return None
    base = tag.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LOCALES else None


def _accept_language(header: str | None) -> list[str]:
    """The tags of an ``Accept-Language`` header, most wanted first."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def choose(asked: str | None = None, *, accept_language: str | None = None) -> str:
    """The language to speak: the first of ``asked`` (a space-separated list, as
    ``ui_locales``) the bank speaks, else the browser's, else English."""
    for tag in [*(asked or "").split(), *_accept_language(accept_language)]:
        found = supported(tag)
        if found:
            return found
    return DEFAULT_LOCALE


def gettext(locale: str, message: str) -> str:
    return translations(supported(locale) or DEFAULT_LOCALE).gettext(message)


def ngettext(locale: str, singular: str, plural: str, count: int) -> str:
    return translations(supported(locale) or DEFAULT_LOCALE).ngettext(singular, plural, count)


@jinja2.pass_context
def _template_gettext(context: jinja2.runtime.Context, message: str) -> str:
    return gettext(str(context.get("locale") or DEFAULT_LOCALE), message)


@jinja2.pass_context
def _template_ngettext(
    context: jinja2.runtime.Context, singular: str, plural: str, count: int
) -> str:
    return ngettext(str(context.get("locale") or DEFAULT_LOCALE), singular, plural, count)


def install(env: jinja2.Environment) -> None:
    """Templates translate with ``_()`` into their context's ``locale``."""
    env.add_extension("jinja2.ext.i18n")
    installer: Any = env
    installer.install_gettext_callables(_template_gettext, _template_ngettext, newstyle=True)
