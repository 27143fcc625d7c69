from __future__ import annotations

import pytest

from relink.api.params import Params
from relink.kit.errors import ApiError, ParameterInvalid
from relink.kit.pagination import Cursor, read_cursor


def test_cursor_defaults_to_ten_from_the_newest() -> None:
    assert read_cursor(Params({})) == Cursor(limit=10)


def test_cursor_reads_limit_from_form_strings() -> None:
    assert read_cursor(Params({"limit": "25", "starting_after": "cus_1"})) == Cursor(
        limit=25, starting_after="cus_1"
    )


@pytest.mark.parametrize("name", ["starting_after", "ending_before"])
def test_cursor_that_is_not_an_object_id_is_rejected_naming_it(name: str) -> None:
    with pytest.raises(ParameterInvalid) as raised:
        read_cursor(Params({name: "nope"}))
    assert raised.value.param == name


def test_starting_after_and_ending_before_are_mutually_exclusive() -> None:
    with pytest.raises(ApiError) as raised:
        read_cursor(Params({"starting_after": "cus_1", "ending_before": "cus_2"}))
    assert raised.value.status == 400
    assert raised.value.param == "ending_before"


def test_empty_cursors_mean_no_cursor() -> None:
    assert read_cursor(Params({"starting_after": "", "ending_before": ""})) == Cursor()
