from __future__ import annotations

import itertools
import re
import time

import pytest

from relink.kit import ids


def test_new_id_is_prefix_underscore_and_26_crockford_characters() -> None:
    value = ids.new("fca")
    assert re.fullmatch(r"fca_[0-9A-HJKMNP-TV-Z]{26}", value)


def test_ids_made_in_a_burst_sort_in_creation_order() -> None:
    made = [ids.new("cus") for _ in range(5000)]
    assert sorted(made) == made
    assert len(set(made)) == len(made)


def test_ids_made_milliseconds_apart_sort_in_creation_order() -> None:
    first = ids.new("cus")
    time.sleep(0.002)
    second = ids.new("cus")
    assert first < second


def test_id_time_part_encodes_the_creation_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    value = ids.new("evt")
    after = time.time_ns() // 1_000_000
    body = value.split("_", 1)[1]
    number = 0
    for char in body:
        number = number * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(char)
    assert before <= number >> 80 <= after


@pytest.mark.parametrize(
    ("value", "prefix", "expected"),
    [
        ("cus_01ABC", "cus", True),
        ("cus_", "cus", False),
        ("cusx_01ABC", "cus", False),
        ("fca_01ABC", "cus", False),
        ("cus01ABC", "cus", False),
    ],
)
def test_has_prefix_requires_the_prefix_an_underscore_and_a_body(
    value: str, prefix: str, expected: bool
) -> None:
    assert ids.has_prefix(value, prefix) is expected


def _number(value: str) -> int:
    number = 0
    for char in value.split("_", 1)[1]:
        number = number * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(char)
    return number


def test_ids_made_many_at_once_are_well_formed_distinct_and_in_order_with_single_ones() -> None:
    before = ids.new("tl")
    many = ids.new_many("tl", 3000)
    after = ids.new("tl")
    assert len(many) == 3000
    assert all(re.fullmatch(r"tl_[0-9A-HJKMNP-TV-Z]{26}", value) for value in many)
    assert [before, *many, after] == sorted({before, *many, after})


def test_ids_made_many_at_once_encode_their_millisecond_and_count_up_by_one() -> None:
    started = time.time_ns() // 1_000_000
    many = ids.new_many("obx", 50)
    numbers = [_number(value) for value in many]
    assert all(started <= number >> 80 <= time.time_ns() // 1_000_000 for number in numbers)
    assert [b - a for a, b in itertools.pairwise(numbers)] == [1] * 49


def test_no_ids_asked_for_makes_none() -> None:
    assert ids.new_many("tl", 0) == []
