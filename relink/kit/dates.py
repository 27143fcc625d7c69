"""Dates and times as a person reads them: in their time zone, their language, the zone shown.

The database and the wire keep UTC (the ``UTCDateTime`` type, unix seconds); only what a
person reads is converted. Zones are IANA names, read by :mod:`zoneinfo` from the
``tzdata`` package when the system has no zone files.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.dates import format_date, format_datetime, format_time, get_datetime_format

DEFAULT_TIME_ZONE = "UTC"


@cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA zones a person can choose: ``Area/City`` names and UTC, sorted.

    The ``Etc/…`` aliases and the old country-named links (``US/Pacific``, ``Cuba``) are
    left out: each place has its ``Area/City`` name in the list."""
    areas = (
        *("Africa/", "America/", "Antarctica/", "Arctic/", "Asia/", "Atlantic/"),
        *("Australia/", "Europe/", "Indian/", "Pacific/"),
    )
    names = {name for name in available_timezones() if name.startswith(areas)}
    return (DEFAULT_TIME_ZONE, *sorted(names))


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is a zone a person may choose (exactly as listed, case included)."""
    return name in time_zone_names()


@cache
def zone(name: str | None) -> dt.tzinfo:
    """The zone called ``name``; UTC for an empty or unknown name (never an error while
    rendering a page)."""
    if not name:
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def zone_abbreviation(value: dt.datetime, tz: dt.tzinfo, locale: str) -> str:
    """The zone as people write it at ``value``: the language's own abbreviation where it
    has one (MEZ in German, EST in English), else the zone's (CET, GMT), else ``UTC+4``."""
    babel = format_datetime(value, "z", tzinfo=tz, locale=locale)
    if babel.isalpha():
        return babel
    local = value.astimezone(tz)
    name = local.tzname() or ""
    if name.isalpha():
        return name
    offset = local.utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def format_when(value: dt.datetime, *, locale: str, time_zone: str | None) -> str:
    """A moment: the medium date, the short time, the zone (``Dec 3, 2026, 2:40 PM CET``;
    ``03.12.2026, 14:40 MEZ``)."""
    tz = zone(time_zone)
    if value.tzinfo is None:  # a naive value is UTC by the database's rule
        value = value.replace(tzinfo=dt.UTC)
    day = format_date(value.astimezone(tz), "medium", locale=locale)
    time = format_time(value, "short", tzinfo=tz, locale=locale)
    pattern = str(get_datetime_format("medium", locale=locale))  # "{1}, {0}": day, time
    return f"{pattern.format(time, day)} {zone_abbreviation(value, tz, locale)}"


def format_day(value: dt.datetime | dt.date, *, locale: str, time_zone: str | None) -> str:
    """A day in the medium style (``Dec 3, 2026``; ``03.12.2026``). A moment is first
    moved to the zone, so its day is the person's day; a plain date stays as it is."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(zone(time_zone)).date()
    return format_date(value, "medium", locale=locale)
