"""The translation catalogues are complete: every message the holder can meet (hosted
pages, emails, the sandbox bank's pages) is translated into every supported language,
and every message of the operator's dashboard into German (``dashboard.po``), with the
same placeholders, nothing fuzzy, and no stale entry left behind.

The messages come from the sources themselves, extracted with Babel by ``babel.cfg``, so
a string added to a template without a translation fails here, in ``make test``. The
sandbox bank is an app of its own with its own catalogue and ``babel.cfg``
(``relink/sandbox_bank/``): each check runs on both.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from relink.kit.i18n import (
    DASHBOARD_LOCALES,
    DEFAULT_LOCALE,
    LOCALE_DIR,
    SUPPORTED_LOCALES,
    translations,
)
from relink.sandbox_bank import i18n as bank_i18n

ROOT = Path(__file__).resolve().parents[2]
# The operator's side speaks English and German; everything else is the holder's.
OPERATOR_SOURCES = ("relink/templates/dashboard/", "relink/dashboard/")
OPERATOR_CATALOGUE = "dashboard.po"
TRANSLATED = [locale for locale in SUPPORTED_LOCALES if locale != DEFAULT_LOCALE]


@dataclass(frozen=True)
class Domain:
    """One app's messages: where they are extracted from, and its catalogues."""

    name: str
    sources: Path  # the folder its babel.cfg's patterns are relative to
    locale_dir: Path
    translations: Callable[[str], gettext.NullTranslations]
    skipped: tuple[str, ...] = ()  # source paths that are not the holder's
    at_least: int = 1  # how many messages the extraction finds, at least

    @property
    def config(self) -> Path:
        return self.sources / "babel.cfg"


RELINK = Domain("relink", ROOT, LOCALE_DIR, translations, OPERATOR_SOURCES, at_least=100)
SANDBOX_BANK = Domain(
    "sandbox_bank",
    ROOT / "relink" / "sandbox_bank",
    bank_i18n.LOCALE_DIR,
    bank_i18n.translations,
    at_least=40,
)
DOMAINS = [RELINK, SANDBOX_BANK]
# The sandbox bank speaks the holder's languages (its own list: it imports nothing of Relink).
assert bank_i18n.LOCALES == SUPPORTED_LOCALES
CASES = [
    pytest.param(domain, locale, id=f"{domain.name}-{locale}")
    for domain in DOMAINS
    for locale in TRANSLATED
]
DASHBOARD_TRANSLATED = [locale for locale in DASHBOARD_LOCALES if locale != DEFAULT_LOCALE]
# %(name)s, %(num)d, %s …: what gettext fills in; {name}: str.format fields.
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]|\{(\w*)\}")


def forms(value: Any) -> tuple[str, ...]:
    """A message's id or translation as its forms: one, or one per plural form."""
    if isinstance(value, str):
        return (value,)
    return tuple(str(form) for form in value or ())


@dataclass(frozen=True)
class Source:
    id: tuple[str, ...]  # the singular (and the plural)
    where: str

    @property
    def key(self) -> str:
        return self.id[0]


def extracted(domain: Domain = RELINK) -> Iterator[tuple[str, Source]]:
    """Every message of the domain's sources, with the file it is in."""
    with domain.config.open() as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(domain.sources), method_map, options_map
    ):
        if message:
            path = Path(filename).as_posix()
            yield path, Source(forms(message)[:2], f"{path}:{lineno}")


def holder_messages(domain: Domain = RELINK) -> dict[str, Source]:
    found: dict[str, Source] = {}
    for path, source in extracted(domain):
        if not path.startswith(domain.skipped):
            found.setdefault(source.key, source)
    return found


def operator_messages() -> dict[str, Source]:
    """The dashboard's messages (its templates and its Python, marked with ``N_``)."""
    found: dict[str, Source] = {}
    for path, source in extracted(RELINK):
        if path.startswith(OPERATOR_SOURCES):
            found.setdefault(source.key, source)
    return found


def catalogue_entries(
    locale: str, domain: Domain = RELINK
) -> Iterator[tuple[Path, Message, Catalog]]:
    for path in sorted((domain.locale_dir / locale / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as source:
            catalog = read_po(source, locale=locale)
        for message in catalog:
            if message.id:
                yield path, message, catalog


def placeholders(text: str) -> set[str]:
    """The names of the fields (or, for an unnamed one, the field as written)."""
    return {
        match.group(1) or match.group(2) or match.group(0) for match in PLACEHOLDER.finditer(text)
    }


def key_of(message: Message) -> str:
    return forms(message.id)[0]


_SOURCES: dict[str, dict[str, Source]] = {}


def sources_of(domain: Domain) -> dict[str, Source]:
    """The domain's messages, extracted once per test run."""
    if domain.name not in _SOURCES:
        found = holder_messages(domain)
        # The extraction itself works (babel.cfg, the templates).
        assert len(found) >= domain.at_least, domain.name
        _SOURCES[domain.name] = found
    return _SOURCES[domain.name]


@pytest.mark.parametrize(("domain", "locale"), CASES)
def test_every_holder_message_is_translated(domain: Domain, locale: str) -> None:
    sources = sources_of(domain)
    catalogue = {key_of(message): message for _, message, _ in catalogue_entries(locale, domain)}
    missing = [
        f"{source.where}: {source.key!r}"
        for key, source in sorted(sources.items())
        if key not in catalogue or not all(forms(catalogue[key].string) or [""])
    ]
    assert missing == []


@pytest.fixture(scope="module")
def operator_sources() -> dict[str, Source]:
    found = operator_messages()
    assert len(found) > 100
    return found


@pytest.mark.parametrize("locale", DASHBOARD_TRANSLATED)
def test_every_dashboard_message_is_translated(
    locale: str, operator_sources: dict[str, Source]
) -> None:
    catalogue = {key_of(message): message for _, message, _ in catalogue_entries(locale)}
    missing = [
        f"{source.where}: {source.key!r}"
        for key, source in sorted(operator_sources.items())
        if key not in catalogue or not all(forms(catalogue[key].string) or [""])
    ]
    assert missing == []


@pytest.mark.parametrize(("domain", "locale"), CASES)
def test_no_translation_is_fuzzy(domain: Domain, locale: str) -> None:
    fuzzy = [
        f"{path.name}: {message.id!r}"
        for path, message, _ in catalogue_entries(locale, domain)
        if message.fuzzy
    ]
    assert fuzzy == []


@pytest.mark.parametrize(("domain", "locale"), CASES)
def test_translations_keep_the_placeholders(domain: Domain, locale: str) -> None:
    wrong = []
    for path, message, _ in catalogue_entries(locale, domain):
        expected = set().union(*(placeholders(text) for text in forms(message.id)))
        for text in forms(message.string):
            if text and placeholders(text) != expected:
                wrong.append(f"{path.name}: {message.id!r} → {text!r}")
    assert wrong == []


@pytest.mark.parametrize(("domain", "locale"), CASES)
def test_plural_messages_have_every_form_of_the_language(domain: Domain, locale: str) -> None:
    short = []
    for path, message, catalog in catalogue_entries(locale, domain):
        strings = forms(message.string)
        if message.pluralizable and (len(strings) != catalog.num_plurals or not all(strings)):
            short.append(f"{path.name}: {message.id!r}")
    assert short == []


@pytest.mark.parametrize(("domain", "locale"), CASES)
def test_no_stale_entries(domain: Domain, locale: str, operator_sources: dict[str, Source]) -> None:
    sources = sources_of(domain)
    stale = [
        f"{path.name}: {key_of(message)!r}"
        for path, message, _ in catalogue_entries(locale, domain)
        if key_of(message) not in (operator_sources if path.name == OPERATOR_CATALOGUE else sources)
    ]
    assert stale == []


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda domain: domain.name)
def test_every_language_has_the_same_catalogue_files(domain: Domain) -> None:
    files = {
        locale: sorted(
            path.name
            for path in (domain.locale_dir / locale / "LC_MESSAGES").glob("*.po")
            if path.name != OPERATOR_CATALOGUE
        )
        for locale in TRANSLATED
    }
    assert all(files.values()), files
    assert len({tuple(names) for names in files.values()}) == 1, files


@pytest.mark.parametrize("locale", DASHBOARD_TRANSLATED)
def test_the_dashboard_catalogue_repeats_no_holder_message(locale: str) -> None:
    """One message, one translation: the dashboard's part would win over the holder's."""
    dashboard = {
        key_of(m) for path, m, _ in catalogue_entries(locale) if path.name == OPERATOR_CATALOGUE
    }
    holder = {
        key_of(m) for path, m, _ in catalogue_entries(locale) if path.name != OPERATOR_CATALOGUE
    }
    assert dashboard  # the dashboard's part is read
    assert sorted(dashboard & holder) == []


def test_only_the_dashboards_languages_have_a_dashboard_catalogue() -> None:
    having = {
        locale
        for locale in TRANSLATED
        if (LOCALE_DIR / locale / "LC_MESSAGES" / OPERATOR_CATALOGUE).is_file()
    }
    assert having == set(DASHBOARD_TRANSLATED)


@pytest.mark.parametrize(("domain", "locale"), CASES)
def test_the_compiled_catalogue_translates(domain: Domain, locale: str) -> None:
    translated = domain.translations(locale)
    singular = [source.key for source in sources_of(domain).values() if len(source.id) == 1]
    unchanged = [text for text in singular if len(text) > 12 and translated.gettext(text) == text]
    assert unchanged == []


def test_placeholders_are_read_as_gettext_and_format_fields() -> None:
    assert placeholders("%(bank)s for %(num)d accounts, {name} and %s") == {
        "bank",
        "num",
        "name",
        "%s",
    }
