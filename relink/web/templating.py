"""The Jinja2 environment: autoescaping everywhere, gettext per render, Babel dates."""

from __future__ import annotations

import datetime as dt
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.ext import InternationalizationExtension
from jinja2.runtime import Context

from relink.kit.dates import format_day, format_when
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
        # Templates ship with the package and change only with a new release (a restart):
        # no stat() of the file on every render.
        auto_reload=False,
    )
    env.filters["date"] = _date
    env.filters["datetime"] = _datetime
    # The dashboard's one style: in the reader's zone (``time_zone`` in the context) and
    # language, the zone shown.
    env.filters["when"] = _when
    env.filters["day"] = _day
    return env


@pass_context
def _when(context: Context, value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return format_when(value, locale=context.get("locale", "en"), time_zone=_zone_of(context))


@pass_context
def _day(context: Context, value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return ""
    return format_day(value, locale=context.get("locale", "en"), time_zone=_zone_of(context))


def _zone_of(context: Context) -> str | None:
    found = context.get("time_zone")
    return found if isinstance(found, str) else None


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
    escape = autoescape if autoescape is not None else not template.endswith(".txt")
    overlay = _localized(locale, escape)
    return overlay.get_template(template).render({**context, "locale": locale})


@lru_cache(maxsize=64)
def _localized(locale: str, autoescape: bool) -> Environment:
    """One overlay per locale and escaping: its gettext callables stay local to it, and
    its template cache is kept (a fresh overlay per render recompiled every template)."""
    overlay = environment().overlay(autoescape=autoescape)
    # An overlay shares its parent's globals dict, and its ``install_gettext_translations``
    # is the parent's: give it its own globals and install through its own bound i18n
    # extension, or the last locale installed anywhere would translate every render.
    overlay.globals = dict(overlay.globals)
    i18n = overlay.extensions[InternationalizationExtension.identifier]
    i18n._install(gettext_for(locale), newstyle=True)  # type: ignore[attr-defined]
    return overlay
