"""Reading parameters as a declaration says, with Stripe's error codes and ``param``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pytest
from sqlalchemy import Column, DateTime, MetaData, Table

from relink.api.params import (
    CUSTOMER_ACCOUNT_REFUSED,
    MAX_UNIX_TIME,
    Boolean,
    Email,
    EndpointParams,
    Enum,
    Id,
    Ignored,
    Integer,
    Integers,
    ListParams,
    Metadata,
    NoParams,
    Params,
    Refused,
    Strings,
    Text,
    TimeBounds,
    TimeFilter,
    TimeRange,
    UnixTime,
    fields_of,
    object_schema,
    parse,
)
from relink.kit.errors import ApiError, ParameterInvalid, ParameterMissing, ParameterUnknown
from relink.kit.pagination import Cursor

AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
SECONDS = int(AT.timestamp())


class Holder(Params):
    type: Annotated[str, Enum(("customer", "account"))]
    customer: Id = None
    customer_account: Annotated[None, Refused(CUSTOMER_ACCOUNT_REFUSED)] = None


class Everything(EndpointParams):
    name: Annotated[str | None, Text(5)] = None
    description: Annotated[str | None, Text(blank_is_none=False)] = None
    code: Annotated[str | None, Text(4, pattern=r"\d{4}", mismatch="four digits")] = None
    email: Annotated[str | None, Email()] = None
    mode: Annotated[str | None, Enum(("a", "b"))] = None
    count: Annotated[int | None, Integer(minimum=1, maximum=10)] = None
    floor: Annotated[int | None, Integer(minimum=0)] = None
    any_number: Annotated[int | None, Integer()] = None
    at: Annotated[dt.datetime | None, UnixTime()] = None
    until: Annotated[dt.datetime | None, UnixTime(clearable=True)] = None
    flag: Annotated[bool | None, Boolean()] = None
    tags: Annotated[list[str] | None, Strings()] = None
    colours: Annotated[list[str] | None, Strings(("red", "blue"))] = None
    metadata: Annotated[dict[str, str | None] | None, Metadata()] = None
    holder: Holder | None = None
    created: Annotated[TimeRange, TimeFilter()] = TimeRange()
    legacy: Annotated[None, Ignored({"type": "boolean"})] = None


class Required(EndpointParams):
    name: Annotated[str, Text()]
    count: Annotated[int, Integer()]
    until: Annotated[dt.datetime | None, UnixTime(clearable=True)]
    features: Annotated[list[str], Strings()]
    events: Annotated[list[str], Strings(allow_empty=True)]
    holder: Holder


def everything(**data: Any) -> Everything:
    return parse(Everything, data)


def refused(model: type[Params], data: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as raised:
        parse(model, data)
    return raised.value


def code_and_param(error: ApiError) -> tuple[str | None, str | None]:
    return error.instance_code, error.param


REQUIRED = {
    "name": "n",
    "count": "1",
    "until": "",
    "features": ["f"],
    "events": "",
    "holder": {"type": "customer"},
}


# --- what is given ----------------------------------------------------------------------


def test_nothing_given_reads_as_the_defaults() -> None:
    parsed = everything()
    assert parsed.name is None
    assert parsed.tags is None
    assert parsed.holder is None
    assert parsed.created.conditions(Table("t", MetaData(), Column("at", DateTime)).c.at) == []
    assert parsed.model_fields_set == set()


def test_form_strings_are_read_as_their_kinds() -> None:
    parsed = everything(
        name="abc",
        count="7",
        at=str(SECONDS),
        flag="true",
        tags=["x", "y"],
        colours={"1": "blue", "0": "red"},
        metadata={"k": "v", "gone": ""},
        holder={"type": "account", "customer": "cus_1"},
        legacy="whatever",
    )
    assert (parsed.name, parsed.count, parsed.at, parsed.flag) == ("abc", 7, AT, True)
    assert parsed.tags == ["x", "y"]
    assert parsed.colours == ["red", "blue"]
    assert parsed.metadata == {"k": "v", "gone": None}
    assert parsed.holder is not None
    assert (parsed.holder.type, parsed.holder.customer) == ("account", "cus_1")
    assert parsed.legacy is None


def test_json_values_are_read_as_their_kinds() -> None:
    parsed = everything(name=12, count=3, floor=4.0, flag=False, metadata={"n": 5})
    assert (parsed.name, parsed.count, parsed.floor, parsed.flag) == ("12", 3, 4, False)
    assert parsed.metadata == {"n": "5"}


def test_blank_values_mean_not_given_or_cleared() -> None:
    parsed = everything(
        name="", description="", count="", flag="", tags="", metadata="", holder="", until=""
    )
    assert (parsed.name, parsed.description, parsed.count, parsed.flag) == (None, "", None, None)
    assert (parsed.tags, parsed.metadata, parsed.holder, parsed.until) == ([], {}, None, None)
    assert parsed.cleared("name")
    assert not parsed.cleared("description")
    assert not parsed.cleared("email")


def test_a_json_null_is_not_given() -> None:
    parsed = everything(name=None, tags=None, metadata=None)
    assert parsed.model_fields_set == set()
    assert not parsed.cleared("name")


def test_a_lone_string_is_a_one_item_list() -> None:
    assert everything(tags="x").tags == ["x"]


def test_required_parameters_given_are_read() -> None:
    parsed = parse(Required, REQUIRED)
    assert (parsed.name, parsed.count, parsed.until, parsed.events) == ("n", 1, None, [])


def test_a_clearable_required_date_is_read() -> None:
    assert parse(Required, {**REQUIRED, "until": SECONDS}).until == AT


def test_every_endpoint_takes_expand() -> None:
    assert parse(NoParams, {"expand": ["account"]}).expand == ["account"]


# --- parameter_missing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("name", ""),
        ("count", None),
        ("features", []),
        ("features", ""),
        ("events", None),
        ("holder", ""),
    ],
)
def test_a_required_parameter_left_out_is_parameter_missing(name: str, value: Any) -> None:
    error = refused(Required, {**REQUIRED, name: value})
    assert isinstance(error, ParameterMissing)
    assert error.param == name


def test_a_required_clearable_date_left_out_is_parameter_missing() -> None:
    data = {key: value for key, value in REQUIRED.items() if key != "until"}
    assert code_and_param(refused(Required, data)) == ("parameter_missing", "until")


def test_a_required_nested_parameter_is_named_with_brackets() -> None:
    error = refused(Required, {**REQUIRED, "holder": {"customer": "cus_1"}})
    assert code_and_param(error) == ("parameter_missing", "holder[type]")


# --- parameter_invalid_* ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code", "param"),
    [
        ({"name": True}, "parameter_invalid_string", "name"),
        ({"name": {"a": "b"}}, "parameter_invalid_string", "name"),
        ({"name": ["a"]}, "parameter_invalid_string", "name"),
        ({"name": "abcdef"}, "parameter_invalid_string", "name"),
        ({"name": "a\x00"}, "parameter_invalid_string", "name"),
        ({"code": "12a4"}, "parameter_invalid_string", "code"),
        ({"email": "not an address"}, "email_invalid", "email"),
        ({"mode": "c"}, "parameter_invalid_string", "mode"),
        ({"count": True}, "parameter_invalid_integer", "count"),
        ({"count": "ten"}, "parameter_invalid_integer", "count"),
        ({"count": " 1"}, "parameter_invalid_integer", "count"),
        ({"count": 1.5}, "parameter_invalid_integer", "count"),
        ({"count": ["1"]}, "parameter_invalid_integer", "count"),
        ({"count": "0"}, "parameter_invalid_integer", "count"),
        ({"count": 11}, "parameter_invalid_integer", "count"),
        ({"floor": -1}, "parameter_invalid_integer", "floor"),
        ({"any_number": "1" * 19}, "parameter_invalid_integer", "any_number"),
        ({"at": -1}, "parameter_invalid_integer", "at"),
        ({"at": MAX_UNIX_TIME + 1}, "parameter_invalid_integer", "at"),
        ({"flag": "yes"}, "parameter_invalid_boolean", "flag"),
        ({"tags": 1}, "parameter_invalid_array", "tags"),
        ({"tags": {"a": "x"}}, "parameter_invalid_array", "tags"),
        ({"tags": ["x", 1]}, "parameter_invalid_array", "tags"),
        ({"tags": ["x", "y\x00"]}, "parameter_invalid_string", "tags[1]"),
        ({"colours": ["red", "green"]}, "parameter_invalid_string", "colours[1]"),
        ({"metadata": "x"}, "parameter_invalid_object", "metadata"),
        ({"metadata": {str(n): "v" for n in range(51)}}, "parameter_invalid_string", "metadata"),
        ({"metadata": {"k" * 41: "v"}}, "parameter_invalid_string", "metadata[" + "k" * 41 + "]"),
        ({"metadata": {"k": None}}, "parameter_invalid_string", "metadata[k]"),
        ({"metadata": {"k": ["v"]}}, "parameter_invalid_string", "metadata[k]"),
        ({"metadata": {"k\x00": "v"}}, "parameter_invalid_string", "metadata[k\x00]"),
        ({"metadata": {"k": "v\x00"}}, "parameter_invalid_string", "metadata[k]"),
        ({"metadata": {"k": "v" * 501}}, "parameter_invalid_string", "metadata[k]"),
        ({"holder": "x"}, "parameter_invalid_object", "holder"),
        ({"holder": {"type": "bank"}}, "parameter_invalid_string", "holder[type]"),
        ({"created": "soon"}, "parameter_invalid_integer", "created"),
        ({"created": {"gte": "soon"}}, "parameter_invalid_integer", "created[gte]"),
    ],
)
def test_a_bad_value_is_parameter_invalid_naming_it(
    data: dict[str, Any], code: str, param: str
) -> None:
    error = refused(Everything, data)
    assert isinstance(error, ParameterInvalid)
    assert code_and_param(error) == (code, param)


def test_a_pattern_mismatch_says_what_the_declaration_says() -> None:
    assert refused(Everything, {"code": "12a4"}).message == "four digits"


def test_a_refused_parameter_says_what_to_use_instead() -> None:
    error = refused(Everything, {"holder": {"type": "customer", "customer_account": "acct_1"}})
    assert code_and_param(error) == ("parameter_invalid_string", "holder[customer_account]")
    assert error.message == CUSTOMER_ACCOUNT_REFUSED


def test_a_refused_parameter_left_blank_is_accepted() -> None:
    holder = everything(holder={"type": "customer", "customer_account": ""}).holder
    assert holder is not None
    assert holder.customer_account is None


# --- parameter_unknown --------------------------------------------------------------


def test_an_undeclared_name_is_parameter_unknown() -> None:
    error = refused(Everything, {"name": "a", "colour": "red"})
    assert isinstance(error, ParameterUnknown)
    assert error.param == "colour"


def test_an_undeclared_nested_name_is_named_with_brackets() -> None:
    error = refused(Everything, {"holder": {"type": "customer", "colour": "red"}})
    assert code_and_param(error) == ("parameter_unknown", "holder[colour]")


def test_an_undeclared_bound_of_a_time_filter_is_parameter_unknown() -> None:
    error = refused(Everything, {"created": {"after": "1"}})
    assert code_and_param(error) == ("parameter_unknown", "created[after]")


def test_a_bad_value_is_reported_before_an_unknown_name() -> None:
    error = refused(Everything, {"colour": "red", "count": "ten"})
    assert code_and_param(error) == ("parameter_invalid_integer", "count")


def test_an_unknown_outer_name_is_reported_before_an_unknown_nested_one() -> None:
    error = refused(Everything, {"holder": {"type": "customer", "b": "1"}, "a": "1"})
    assert error.param == "a"


def test_a_handler_cannot_read_an_undeclared_parameter() -> None:
    parsed = everything()
    with pytest.raises(AttributeError):
        parsed.colour  # type: ignore[attr-defined]  # noqa: B018


# --- time filters -------------------------------------------------------------------


AT_COLUMN = Table("events", MetaData(), Column("at", DateTime)).c.at


def _sql(range_: TimeRange) -> list[str]:
    return [str(condition.compile()) for condition in range_.conditions(AT_COLUMN)]


def test_a_time_filter_of_one_timestamp_covers_its_whole_second() -> None:
    created = everything(created=str(SECONDS)).created
    assert created.exact == AT
    assert _sql(created) == ["events.at >= :at_1", "events.at <= :at_1"]


def test_a_time_filter_with_bounds_compares_whole_seconds() -> None:
    bounds = {"gt": SECONDS, "gte": SECONDS, "lt": SECONDS, "lte": SECONDS}
    created = everything(created=bounds).created
    assert created.bounds == TimeBounds.model_construct(gt=AT, gte=AT, lt=AT, lte=AT)
    assert _sql(created) == [
        "events.at > :at_1",
        "events.at >= :at_1",
        "events.at < :at_1",
        "events.at <= :at_1",
    ]
    values = [condition.right.value for condition in created.conditions(AT_COLUMN)]
    almost = dt.timedelta(seconds=1) - dt.timedelta(microseconds=1)
    assert values == [AT + almost, AT, AT, AT + almost]


def test_a_time_filter_with_no_bounds_given_has_no_conditions() -> None:
    assert everything(created={}).created.conditions(AT_COLUMN) == []
    assert everything(created="").created.conditions(AT_COLUMN) == []


# --- list cursors ---------------------------------------------------------------------


def test_cursor_defaults_to_ten_from_the_newest() -> None:
    assert parse(ListParams, {}).cursor == Cursor(limit=10)


def test_cursor_reads_limit_from_form_strings() -> None:
    cursor = parse(ListParams, {"limit": "25", "starting_after": "cus_1"}).cursor
    assert cursor == Cursor(limit=25, starting_after="cus_1")


@pytest.mark.parametrize("name", ["starting_after", "ending_before"])
def test_cursor_that_is_not_an_object_id_is_rejected_naming_it(name: str) -> None:
    error = refused(ListParams, {name: "nope"})
    assert isinstance(error, ParameterInvalid)
    assert error.param == name


def test_starting_after_and_ending_before_are_mutually_exclusive() -> None:
    parsed = parse(ListParams, {"starting_after": "cus_1", "ending_before": "cus_2"})
    with pytest.raises(ApiError) as raised:
        parsed.cursor  # noqa: B018
    assert raised.value.status == 400
    assert raised.value.param == "ending_before"


def test_empty_cursors_mean_no_cursor() -> None:
    assert parse(ListParams, {"starting_after": "", "ending_before": ""}).cursor == Cursor()


# --- the document's schemas ------------------------------------------------------------


def test_each_kind_describes_itself_as_json_schema() -> None:
    properties = object_schema(Everything)["properties"]
    assert properties["name"] == {"type": "string", "maxLength": 5}
    assert properties["code"] == {"type": "string", "maxLength": 4, "pattern": "^\\d{4}$"}
    assert properties["email"]["format"] == "email"
    assert properties["mode"] == {"type": "string", "enum": ["a", "b"]}
    assert properties["count"] == {"type": "integer", "minimum": 1, "maximum": 10}
    assert properties["floor"] == {"type": "integer", "minimum": 0}
    assert properties["any_number"] == {"type": "integer"}
    assert properties["at"] == {"type": "integer", "minimum": 0, "maximum": MAX_UNIX_TIME}
    assert properties["until"]["anyOf"][1] == {"type": "string", "enum": [""]}
    assert properties["flag"] == {"type": "boolean"}
    assert properties["tags"] == {"type": "array", "items": {"type": "string"}}
    assert properties["colours"]["items"]["enum"] == ["red", "blue"]
    assert properties["metadata"]["additionalProperties"]["maxLength"] == 500
    assert properties["holder"]["required"] == ["type"]
    assert properties["holder"]["properties"]["customer_account"]["description"]
    assert set(properties["created"]["anyOf"][1]["properties"]) == {"gt", "gte", "lt", "lte"}
    assert properties["legacy"] == {"type": "boolean"}
    assert "required" not in object_schema(Everything)


def test_a_fields_description_is_in_its_schema() -> None:
    from pydantic import Field

    class Described(EndpointParams):
        seconds: Annotated[int | None, Integer(), Field(description="How long.")] = None

    assert object_schema(Described)["properties"]["seconds"]["description"] == "How long."


def test_a_parameter_without_a_wire_kind_is_refused_at_declaration() -> None:
    class Undeclared(EndpointParams):
        colour: str | None = None

    with pytest.raises(TypeError):
        fields_of(Undeclared)


def test_only_object_parameters_have_nested_declarations() -> None:
    fields = fields_of(Everything)
    assert fields["holder"].kind.nested() is Holder
    assert fields["created"].kind.nested() is TimeBounds
    assert fields["name"].kind.nested() is None


def test_other_annotations_beside_the_wire_kind_are_passed_over() -> None:
    class Noted(EndpointParams):
        count: Annotated[int | None, "a note for readers", Integer()] = None

    assert parse(Noted, {"count": "2"}).count == 2


def test_a_cursor_is_documented_as_an_object_id() -> None:
    properties = object_schema(ListParams)["properties"]
    assert properties["starting_after"] == {"type": "string", "maxLength": 255, "pattern": "_"}


class Days(EndpointParams):
    days: Annotated[list[int], Integers(minimum=1, maximum=30, max_items=3)]
    any_days: Annotated[list[int] | None, Integers()] = None


def test_integers_are_read_from_a_list_an_indexed_form_or_one_value() -> None:
    assert parse(Days, {"days": ["3", "7"]}).days == [3, 7]
    assert parse(Days, {"days": {"1": "7", "0": "3"}}).days == [3, 7]
    assert parse(Days, {"days": "5"}).days == [5]
    assert parse(Days, {"days": ""}).days == []


def test_integers_refuse_a_missing_list_a_non_list_and_too_many_items() -> None:
    assert code_and_param(refused(Days, {})) == ("parameter_missing", "days")
    assert code_and_param(refused(Days, {"days": {"a": "1"}})) == (
        "parameter_invalid_array",
        "days",
    )
    assert code_and_param(refused(Days, {"days": ["1", "2", "3", "4"]})) == (
        "parameter_invalid_array",
        "days",
    )
    assert code_and_param(refused(Days, {"days": ["31"]}))[1] == "days[0]"


def test_integers_schema_names_the_bounds_and_the_size_only_when_set() -> None:
    properties = object_schema(Days)["properties"]
    assert properties["days"]["maxItems"] == 3
    assert properties["days"]["items"]["minimum"] == 1
    assert "maxItems" not in properties["any_days"]
