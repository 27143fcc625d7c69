from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode

from relink.kit.forms import FormError, decode_pairs, decode_query


def test_brackets_nest_into_objects() -> None:
    assert decode_query("a[b][c]=1&a[b][d]=2&a[e]=3") == {
        "a": {"b": {"c": "1", "d": "2"}, "e": "3"}
    }


def test_empty_brackets_build_an_array_in_order() -> None:
    assert decode_query("x[]=a&x[]=b&x[]=c") == {"x": ["a", "b", "c"]}


def test_indexed_brackets_build_an_array_ordered_by_index() -> None:
    assert decode_query("x[1]=b&x[0]=a&x[2]=c") == {"x": ["a", "b", "c"]}


def test_indexed_objects_build_an_array_of_objects() -> None:
    query = "x[0][k]=a&x[0][j]=b&x[1][k]=c"
    assert decode_query(query) == {"x": [{"k": "a", "j": "b"}, {"k": "c"}]}


def test_indexed_arrays_nest_into_arrays_of_arrays() -> None:
    assert decode_query("x[0][0]=a&x[0][1]=b&x[1][0]=c") == {"x": [["a", "b"], ["c"]]}


def test_empty_values_are_kept_as_empty_strings() -> None:
    assert decode_query("metadata[k]=&name=&x[]=") == {
        "metadata": {"k": ""},
        "name": "",
        "x": [""],
    }


def test_percent_encoded_brackets_and_values_are_decoded() -> None:
    assert decode_query("a%5Bb%5D=caf%C3%A9+ol%C3%A9") == {"a": {"b": "café olé"}}


def test_bytes_bodies_decode_like_strings() -> None:
    assert decode_query(b"account_holder[customer]=cus_1") == {
        "account_holder": {"customer": "cus_1"}
    }


def test_a_repeated_plain_key_keeps_the_last_value() -> None:
    assert decode_query("a=1&a=2") == {"a": "2"}


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("a=1&a[b]=2", "a[b]"),
        ("a[b]=2&a=1", "a"),
        ("a[b]=1&a[]=2", "a[]"),
        ("a[]=1&a[b]=2", "a[b]"),
        ("a[0]=1&a[]=2", "a[]"),
        ("a[]=1&a[0]=2", "a[0]"),
        ("a[0]=1&a[x]=2", "a[x]"),
        ("a[0]=1&a[0][b]=2", "a[0][b]"),
        ("a[b][c]=1&a[b]=2", "a[b]"),
    ],
)
def test_conflicting_shapes_raise_form_error_naming_the_key(query: str, key: str) -> None:
    with pytest.raises(FormError) as raised:
        decode_query(query)
    assert raised.value.key == key
    assert key in str(raised.value)


@pytest.mark.parametrize("key", ["a]", "[a]", "a[b", "a[b]c", "a[b]]", ""])
def test_malformed_names_raise_form_error_naming_the_key(key: str) -> None:
    with pytest.raises(FormError) as raised:
        decode_pairs([(key, "1")])
    assert raised.value.key == key


def test_eight_levels_of_nesting_are_accepted() -> None:
    key = "a" + "[b]" * 7
    decoded: Any = decode_pairs([(key, "1")])
    for _ in range(7):
        decoded = decoded["a" if "a" in decoded else "b"]
    assert decoded == {"b": "1"} or decoded == "1"


def test_nesting_deeper_than_eight_levels_raises_form_error() -> None:
    key = "a" + "[b]" * 8
    with pytest.raises(FormError) as raised:
        decode_pairs([(key, "1")])
    assert raised.value.key == key


def test_array_index_above_the_limit_raises_form_error() -> None:
    with pytest.raises(FormError) as raised:
        decode_query("x[1001]=a")
    assert raised.value.key == "x[1001]"


def test_array_index_with_thousands_of_digits_raises_form_error() -> None:
    key = "x[" + "9" * 5000 + "]"
    with pytest.raises(FormError):
        decode_pairs([(key, "a")])


def test_non_ascii_digits_are_object_keys_not_array_indexes() -> None:
    assert decode_query("x[%C2%B2]=a") == {"x": {"²": "a"}}


def test_non_ascii_digit_in_an_indexed_array_raises_form_error() -> None:
    with pytest.raises(FormError) as raised:
        decode_query("x[0]=a&x[%C2%B2]=b")
    assert raised.value.key == "x[²]"


# --- properties -------------------------------------------------------------------

# Text the SDK can put on the wire (no lone surrogates, which cannot be UTF-8 encoded).
_text = st.text(st.characters(codec="utf-8"), max_size=12)
# Object keys: non-empty, without brackets, and not all ASCII digits (those are indexes).
_keys = st.text(
    st.characters(codec="utf-8", exclude_characters="[]"), min_size=1, max_size=8
).filter(lambda key: not (key.isascii() and key.isdigit()))


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()))
    if isinstance(value, list):
        return 1 + max(map(_depth, value))
    return 0


# Strings, non-empty lists and non-empty dicts (empty ones put nothing on the wire).
_values = st.recursive(
    _text,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3),
        st.dictionaries(_keys, inner, min_size=1, max_size=3),
    ),
    max_leaves=8,
)
# The decoder allows 8 name parts: a top-level key plus 7 levels below it.
_params = st.dictionaries(_keys, _values.filter(lambda value: _depth(value) <= 7), max_size=4)


@settings(max_examples=200, deadline=None)
@given(_params)
def test_decoding_what_the_stripe_sdk_encodes_gives_the_params_back(
    params: dict[str, Any],
) -> None:
    # Exactly what stripe._api_requestor sends as a form body or query string.
    encoded = urlencode(list(_api_encode(params)))
    assert decode_query(encoded) == params


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_query_string_decodes_or_raises_form_error(query: str) -> None:
    try:
        decoded = decode_query(query)
    except FormError:
        return
    assert isinstance(decoded, dict)


_wire_alphabet = st.sampled_from(["a", "b", "0", "1", "9", "[", "]", "=", "&", "%5B", "%5D", "²"])


@settings(max_examples=500, deadline=None)
@given(st.lists(_wire_alphabet, max_size=40).map("".join))
def test_bracket_heavy_query_strings_decode_or_raise_form_error(query: str) -> None:
    try:
        decoded = decode_query(query)
    except FormError:
        return
    assert isinstance(decoded, dict)
