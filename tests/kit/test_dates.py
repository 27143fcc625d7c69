"""Dates as a person reads them (relink/kit/dates.py): their zone, their language, the
zone shown."""

from __future__ import annotations

import datetime as dt

import pytest

from relink.kit.dates import (
    format_day,
    format_when,
    is_time_zone,
    time_zone_names,
    zone_abbreviation,
)
from relink.kit.dates import zone as zone_of

# CLDR writes a narrow no-break space (U+202F) before AM/PM.
WINTER = dt.datetime(2026, 12, 3, 13, 40, tzinfo=dt.UTC)
SUMMER = dt.datetime(2026, 7, 3, 13, 40, tzinfo=dt.UTC)


def test_a_moment_is_shown_in_the_zone_with_its_abbreviation() -> None:
    assert (
        format_when(WINTER, locale="en", time_zone="Europe/Berlin")
        == "Dec 3, 2026, 2:40\u202fPM CET"
    )
    assert format_when(WINTER, locale="en", time_zone="America/New_York") == (
        "Dec 3, 2026, 8:40\u202fAM EST"
    )


def test_a_moment_is_shown_in_the_readers_language() -> None:
    assert format_when(WINTER, locale="de", time_zone="Europe/Berlin") == "03.12.2026, 14:40 MEZ"
    assert format_when(SUMMER, locale="de", time_zone="Europe/Berlin") == "03.07.2026, 15:40 MESZ"


def test_utc_is_the_zone_of_a_user_who_chose_none() -> None:
    assert format_when(WINTER, locale="en", time_zone=None) == "Dec 3, 2026, 1:40\u202fPM UTC"


def test_a_zone_without_an_abbreviation_is_written_as_an_offset() -> None:
    assert zone_abbreviation(WINTER, zone_of("Asia/Dubai"), "en") == "UTC+4"
    assert zone_abbreviation(WINTER, zone_of("Asia/Kathmandu"), "en") == "UTC+5:45"
    assert zone_abbreviation(WINTER, zone_of("America/Sao_Paulo"), "en") == "UTC−3"


def test_a_day_is_the_readers_day() -> None:
    late = dt.datetime(2026, 12, 3, 23, 30, tzinfo=dt.UTC)
    assert format_day(late, locale="en", time_zone="UTC") == "Dec 3, 2026"
    assert format_day(late, locale="en", time_zone="Europe/Berlin") == "Dec 4, 2026"
    assert format_day(late, locale="de", time_zone="Europe/Berlin") == "04.12.2026"


def test_a_plain_date_is_not_moved() -> None:
    assert format_day(dt.date(2026, 12, 3), locale="en", time_zone="Pacific/Kiritimati") == (
        "Dec 3, 2026"
    )


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"])
def test_iana_names_are_zones(name: str) -> None:
    assert is_time_zone(name)


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus", "europe/berlin", "../../etc/passwd", "US/Pacific", "Etc/GMT+3"]
)
def test_other_names_are_not(name: str) -> None:
    assert not is_time_zone(name)


def test_the_zones_come_from_the_zone_database() -> None:
    # tzdata ships the database, so the list is whole on a system without zone files.
    names = time_zone_names()
    assert names[0] == "UTC"
    assert len(names) > 300
    assert {"Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles"} <= set(names)


def test_an_unknown_zone_reads_as_utc_while_rendering() -> None:
    assert zone_of("Mars/Olympus") is dt.UTC
