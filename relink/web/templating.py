"""The Jinja2 environment: autoescaping everywhere, gettext per render, Babel dates."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from relink.kit.i18n import gettext_for

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date"] = _date
    env.filters["datetime"] = _datetime
    return env


def _date(value: dt.datetime | dt.date | None, locale: str = "en", format: str = "long") -> str:
    if value is None:
        return ""
    return format_date(value, format=format, locale=locale)


def _datetime(value: dt.datetime | None, locale: str = "en", format: str = "medium") -> str:
    if value is None:
        return ""
    return format_datetime(value, format=format, locale=locale, tzinfo=dt.UTC)


def render(
    template: str, context: dict[str, Any], *, locale: str = "en", autoescape: bool | None = None
) -> str:
    """Render a template in ``locale``; text templates (``.txt``) are not HTML-escaped."""
    env = environment()
    translations = gettext_for(locale)
    # A fresh overlay per render keeps the installed gettext callables local to it.
    overlay = env.overlay(
        autoescape=autoescape if autoescape is not None else not template.endswith(".txt")
    )
    overlay.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    return overlay.get_template(template).render({**context, "locale": locale})
