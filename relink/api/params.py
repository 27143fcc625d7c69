"""Each endpoint's parameters, declared once: the declaration parses and documents them.

An endpoint declares its parameters as an :class:`EndpointParams`, one field per parameter.
A field says its wire kind in ``Annotated`` metadata (``Annotated[str | None, Text(255)]``)
or, for a nested object, by being typed as a :class:`Params`; a field without
a default is required. :func:`parse` reads a decoded request against the declaration with
Stripe's error codes (``parameter_missing``, ``parameter_invalid_*``, and
``parameter_unknown`` for whatever the declaration does not name), and
:mod:`relink.api.openapi` builds ``/v1/openapi.json`` from the same declarations, so a
handler reads exactly what the document lists.

Form values arrive as strings, JSON values as their own types; both are accepted.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement

from relink.kit.clock import from_unix
from relink.kit.email_address import MAX_LENGTH as MAX_EMAIL_LENGTH
from relink.kit.email_address import is_email_address
from relink.kit.errors import (
    ApiError,
    InvalidEnum,
    ParameterInvalid,
    ParameterMissing,
    ParameterUnknown,
)
from relink.kit.pagination import Cursor

MISSING: Any = object()
# 9999-12-31T23:59:59Z: the last second a datetime can hold. A millisecond timestamp (a
# common JavaScript slip) is far beyond it and is refused rather than read as year 58,000.
MAX_UNIX_TIME = 253_402_300_799
_SECOND = dt.timedelta(seconds=1) - dt.timedelta(microseconds=1)
_INTEGER = re.compile(r"-?\d{1,18}")

# Unknown-parameter checks run after every value is read, outermost object first, so a
# bad value is reported before a stray name, as the handlers did when they read by hand.
Later = list[Callable[[], None]]
Schema = dict[str, Any]


def _absent(value: Any) -> bool:
    return value is MISSING or value is None or value == ""


def _without_nul(param: str, text: str) -> str:
    """Text values may not carry NUL characters (no database can store them as text)."""
    if "\x00" in text:
        raise ParameterInvalid(param, f"Invalid string: {param} must not contain NUL characters.")
    return text


class Kind(ABC):
    """How one parameter is read from the wire and described in the document."""

    @abstractmethod
    def read(self, value: Any, name: str, required: bool, later: Later) -> Any:
        """The parameter's value (``MISSING`` when not given), or its Stripe error."""

    @abstractmethod
    def schema(self) -> Schema:
        """The parameter as JSON Schema (OpenAPI 3.0)."""

    def nested(self) -> type[Params] | None:
        """The declaration of the object parameter's own parameters, if it has any."""
        return None


@dataclass(frozen=True)
class Text(Kind):
    """A string; blank means not given unless ``blank_is_none`` is off."""

    max_length: int = 5000
    blank_is_none: bool = True
    # A full-match pattern, and what to say when a value does not match it.
    pattern: str | None = None
    mismatch: str = ""

    def read(self, value: Any, name: str, required: bool, later: Later) -> str | None:
        if value is MISSING or value is None or (self.blank_is_none and value == ""):
            if required:
                raise ParameterMissing(name)
            return None
        if isinstance(value, (bool, dict, list)):
            raise ParameterInvalid(name, f"Invalid string: {name}")
        text = _without_nul(name, str(value))
        if len(text) > self.max_length:
            raise ParameterInvalid(
                name, f"Invalid string: {name} must be at most {self.max_length} characters"
            )
        if self.pattern is not None and not re.fullmatch(self.pattern, text):
            raise ParameterInvalid(name, self.mismatch)
        return text

    def schema(self) -> Schema:
        schema: Schema = {"type": "string", "maxLength": self.max_length}
        if self.pattern is not None:
            schema["pattern"] = f"^{self.pattern}$"
        return schema


@dataclass(frozen=True)
class Email(Kind):
    def read(self, value: Any, name: str, required: bool, later: Later) -> str | None:
        text = Text(MAX_EMAIL_LENGTH).read(value, name, required, later)
        if text is not None and not is_email_address(text):
            raise ParameterInvalid(name, f"Invalid email address: {text}", code="email_invalid")
        return text

    def schema(self) -> Schema:
        return {"type": "string", "format": "email", "maxLength": MAX_EMAIL_LENGTH}


@dataclass(frozen=True)
class ObjectId(Kind):
    """An id naming an object (``prefix_…``), as the list cursors take."""

    def read(self, value: Any, name: str, required: bool, later: Later) -> str | None:
        text = Text(255).read(value, name, required, later)
        if text is not None and "_" not in text:
            raise ParameterInvalid(name, f"Invalid {name}: '{text}' is not an object id")
        return text

    def schema(self) -> Schema:
        return {"type": "string", "maxLength": 255, "pattern": "_"}


@dataclass(frozen=True)
class Enum(Kind):
    choices: tuple[str, ...]

    def read(self, value: Any, name: str, required: bool, later: Later) -> str | None:
        text = Text().read(value, name, required, later)
        if text is not None and text not in self.choices:
            raise InvalidEnum(name, text, self.choices)
        return text

    def schema(self) -> Schema:
        return {"type": "string", "enum": list(self.choices)}


def _invalid_integer(name: str, message: str) -> ParameterInvalid:
    return ParameterInvalid(name, message, code="parameter_invalid_integer")


@dataclass(frozen=True)
class Integer(Kind):
    minimum: int | None = None
    maximum: int | None = None

    def read(self, value: Any, name: str, required: bool, later: Later) -> int | None:
        if _absent(value):
            if required:
                raise ParameterMissing(name)
            return None
        if isinstance(value, bool):
            raise _invalid_integer(name, f"Invalid integer: {value}")
        if isinstance(value, int):
            number = value
        elif (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and _INTEGER.fullmatch(value)
        ):
            number = int(value)
        else:
            raise _invalid_integer(name, f"Invalid integer: {value}")
        low = self.minimum is not None and number < self.minimum
        if low or (self.maximum is not None and number > self.maximum):
            bounds = (
                f"between {self.minimum} and {self.maximum}"
                if self.maximum is not None
                else f">= {self.minimum}"
            )
            raise _invalid_integer(name, f"Invalid integer: {name} must be {bounds}")
        return number

    def schema(self) -> Schema:
        schema: Schema = {"type": "integer"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema


@dataclass(frozen=True)
class UnixTime(Kind):
    """A Unix timestamp in seconds, read as an aware datetime. ``clearable``: ``""`` is
    accepted (as ``None``, to unset the date) even where the parameter is required."""

    clearable: bool = False

    def read(self, value: Any, name: str, required: bool, later: Later) -> dt.datetime | None:
        if self.clearable and value == "":
            return None
        seconds = Integer().read(value, name, required, later)
        if seconds is None:
            return None
        if not 0 <= seconds <= MAX_UNIX_TIME:
            raise _invalid_integer(
                name,
                f"Invalid timestamp: {name} must be a Unix timestamp in seconds "
                f"between 0 and {MAX_UNIX_TIME}",
            )
        return from_unix(seconds)

    def schema(self) -> Schema:
        schema: Schema = {"type": "integer", "minimum": 0, "maximum": MAX_UNIX_TIME}
        if self.clearable:
            return {"anyOf": [schema, {"type": "string", "enum": [""]}]}
        return schema


@dataclass(frozen=True)
class Boolean(Kind):
    def read(self, value: Any, name: str, required: bool, later: Later) -> bool | None:
        if _absent(value):
            return None
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return bool(value == "true")
        raise ParameterInvalid(name, f"Invalid boolean: {value}", code="parameter_invalid_boolean")

    def schema(self) -> Schema:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Strings(Kind):
    """A list of strings; ``x=""`` means an empty list, which a required list may not be
    unless ``allow_empty`` (the handler then says why it is wrong)."""

    choices: tuple[str, ...] | None = None
    allow_empty: bool = False

    def read(self, value: Any, name: str, required: bool, later: Later) -> list[str] | None:
        items = self._items(value, name)
        if required and (items is None or not (items or self.allow_empty)):
            raise ParameterMissing(name)
        return items

    def _items(self, value: Any, name: str) -> list[str] | None:
        if value is MISSING or value is None:
            return None
        if value == "":
            return []
        if isinstance(value, str):
            # A lone value is accepted as a one-item list, as Stripe does.
            value = [value]
        if isinstance(value, dict) and all(key.isdigit() for key in value):
            value = [value[key] for key in sorted(value, key=int)]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ParameterInvalid(name, f"Invalid array: {name}", code="parameter_invalid_array")
        for index, item in enumerate(value):
            _without_nul(f"{name}[{index}]", item)
            if self.choices is not None and item not in self.choices:
                raise InvalidEnum(f"{name}[{index}]", item, self.choices)
        return list(value)

    def schema(self) -> Schema:
        items: Schema = {"type": "string"}
        if self.choices is not None:
            items["enum"] = list(self.choices)
        return {"type": "array", "items": items}


@dataclass(frozen=True)
class Integers(Kind):
    """A list of whole numbers, each within bounds; ``x=""`` means an empty list."""

    minimum: int | None = None
    maximum: int | None = None
    max_items: int | None = None

    def read(self, value: Any, name: str, required: bool, later: Later) -> list[int] | None:
        if value is MISSING or value is None:
            if required:
                raise ParameterMissing(name)
            return None
        if value == "":
            return []
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, dict) and all(key.isdigit() for key in value):
            value = [value[key] for key in sorted(value, key=int)]
        if not isinstance(value, list):
            raise ParameterInvalid(name, f"Invalid array: {name}", code="parameter_invalid_array")
        if self.max_items is not None and len(value) > self.max_items:
            raise ParameterInvalid(
                name,
                f"Invalid array: {name} can have at most {self.max_items} items",
                code="parameter_invalid_array",
            )
        item = Integer(self.minimum, self.maximum)
        numbers: list[int] = []
        for index, entry in enumerate(value):
            number = item.read(entry, f"{name}[{index}]", True, later)
            assert number is not None  # required: a blank item is refused as missing
            numbers.append(number)
        return numbers

    def schema(self) -> Schema:
        schema: Schema = {"type": "array", "items": Integer(self.minimum, self.maximum).schema()}
        if self.max_items is not None:
            schema["maxItems"] = self.max_items
        return schema


@dataclass(frozen=True)
class Metadata(Kind):
    """Stripe metadata: string values; ``""`` unsets a key; ``metadata=""`` clears all."""

    def read(
        self, value: Any, name: str, required: bool, later: Later
    ) -> dict[str, str | None] | None:
        if value is MISSING or value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise _invalid_object(name)
        if len(value) > 50:
            raise ParameterInvalid(name, "Metadata can have at most 50 keys.")
        cleaned: dict[str, str | None] = {}
        for key, item in value.items():
            item_name = f"{name}[{key}]"
            if len(key) > 40:
                raise ParameterInvalid(item_name, "Metadata keys can be at most 40 characters.")
            if isinstance(item, (dict, list, bool)) or item is None:
                raise ParameterInvalid(item_name, f"Invalid string: {item_name}")
            _without_nul(item_name, key)
            text = _without_nul(item_name, str(item))
            if len(text) > 500:
                raise ParameterInvalid(item_name, "Metadata values can be at most 500 characters.")
            cleaned[key] = text if text != "" else None
        return cleaned

    def schema(self) -> Schema:
        return {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 500},
            "maxProperties": 50,
        }


@dataclass(frozen=True)
class Ignored(Kind):
    """Accepted for Stripe's sake and not acted on; ``documented`` says what Stripe takes."""

    documented: Mapping[str, Any]

    def read(self, value: Any, name: str, required: bool, later: Later) -> None:
        return None

    def schema(self) -> Schema:
        return dict(self.documented)


@dataclass(frozen=True)
class Refused(Kind):
    """A Stripe parameter Relink cannot honour: given, it is refused with ``message``."""

    message: str

    def read(self, value: Any, name: str, required: bool, later: Later) -> None:
        if Text(255).read(value, name, required, later) is not None:
            raise ParameterInvalid(name, self.message)

    def schema(self) -> Schema:
        return {"type": "string", "maxLength": 255, "description": self.message}


def _invalid_object(name: str) -> ParameterInvalid:
    return ParameterInvalid(name, f"Invalid object: {name}", code="parameter_invalid_object")


@dataclass(frozen=True)
class Nested(Kind):
    """An object parameter (``a[b]=…``) with parameters of its own."""

    model: type[Params]

    def read(self, value: Any, name: str, required: bool, later: Later) -> Params | None:
        if _absent(value):
            if required:
                raise ParameterMissing(name)
            return None
        if not isinstance(value, dict):
            raise _invalid_object(name)
        return _parse(self.model, value, name, later)

    def schema(self) -> Schema:
        return {"type": "object", **object_schema(self.model)}

    def nested(self) -> type[Params]:
        return self.model


class Params(BaseModel):
    """Declared parameters: an object parameter's (``account_holder[…]``), and the base
    of :class:`EndpointParams`."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    def cleared(self, field: str) -> bool:
        """Whether the request gave ``field`` blank (to unset it), not merely left it out."""
        return field in self.model_fields_set and getattr(self, field) is None


class EndpointParams(Params):
    """An endpoint's parameters; ``expand`` is every endpoint's (the pipeline applies it)."""

    expand: typing.Annotated[list[str] | None, Strings()] = None


class NoParams(EndpointParams):
    """An endpoint that takes no parameters but ``expand``."""


M = TypeVar("M", bound=Params)


@dataclass(frozen=True)
class Declared:
    kind: Kind
    required: bool
    description: str | None


def _kind_of(annotation: Any, metadata: list[Any]) -> Kind:
    for item in metadata:
        if isinstance(item, Kind):
            return item
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Params):
            return Nested(candidate)
    raise TypeError(f"No wire kind for a parameter of type {annotation!r}")


@functools.cache
def fields_of(model: type[Params]) -> dict[str, Declared]:
    """The parameters a declaration names, in declaration order."""
    return {
        name: Declared(
            _kind_of(info.annotation, info.metadata), info.is_required(), info.description
        )
        for name, info in model.model_fields.items()
    }


def object_schema(model: type[Params]) -> Schema:
    """``properties`` and ``required`` of a declaration, as JSON Schema."""
    properties: dict[str, Schema] = {}
    for name, field in fields_of(model).items():
        schema = field.kind.schema()
        if field.description is not None:
            schema = {**schema, "description": field.description}
        properties[name] = schema
    required = [name for name, field in fields_of(model).items() if field.required]
    return {"properties": properties, **({"required": required} if required else {})}


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _parse(model: type[M], data: Mapping[str, Any], prefix: str, later: Later) -> M:
    fields = fields_of(model)
    inner: Later = []
    values = {
        name: field.kind.read(data.get(name, MISSING), _name(prefix, name), field.required, inner)
        for name, field in fields.items()
    }

    def refuse_unknown() -> None:
        for key in data:
            if key not in fields:
                raise ParameterUnknown(_name(prefix, key))
        for check in inner:
            check()

    later.append(refuse_unknown)
    given = {name for name in fields if data.get(name) is not None}
    # Built without pydantic's validation: the kinds above are the validation.
    return typing.cast(M, model.model_construct(_fields_set=given, **values))


def parse(model: type[M], data: Mapping[str, Any]) -> M:
    """Read ``data`` (a decoded form or JSON body) as ``model`` declares it."""
    later: Later = []
    parsed = _parse(model, data, "", later)
    for check in later:
        check()
    return parsed


# --- shapes many endpoints share ------------------------------------------------------

Id = typing.Annotated[str | None, Text(255)]


class ListParams(EndpointParams):
    """A list endpoint's cursor: ``limit``, ``starting_after``, ``ending_before``."""

    limit: typing.Annotated[int | None, Integer(minimum=1, maximum=100)] = None
    starting_after: typing.Annotated[str | None, ObjectId()] = None
    ending_before: typing.Annotated[str | None, ObjectId()] = None

    @property
    def cursor(self) -> Cursor:
        if self.starting_after and self.ending_before:
            raise ApiError(
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="ending_before",
            )
        return Cursor(self.limit or 10, self.starting_after, self.ending_before)


CUSTOMER_ACCOUNT_REFUSED = (
    "Relink has no customer-configured Accounts (Accounts v2): an account holder is a "
    "customer (account_holder[customer]) or a connected account (account_holder[account])."
)


class TimeBounds(Params):
    gt: typing.Annotated[dt.datetime | None, UnixTime()] = None
    gte: typing.Annotated[dt.datetime | None, UnixTime()] = None
    lt: typing.Annotated[dt.datetime | None, UnixTime()] = None
    lte: typing.Annotated[dt.datetime | None, UnixTime()] = None


@dataclass(frozen=True)
class TimeRange:
    """What a Stripe timestamp filter asked for: one second, or bounds."""

    exact: dt.datetime | None = None
    bounds: TimeBounds | None = None

    def conditions(self, column: Any) -> list[ColumnElement[bool]]:
        """Each bound covers its whole second, so sub-second stored times compare as the
        whole seconds the API shows (``gt=t`` excludes ``t.5``, ``lte=t`` includes it)."""
        if self.exact is not None:
            return [column >= self.exact, column <= self.exact + _SECOND]
        if self.bounds is None:
            return []
        conditions: list[ColumnElement[bool]] = []
        if self.bounds.gt is not None:
            conditions.append(column > self.bounds.gt + _SECOND)
        if self.bounds.gte is not None:
            conditions.append(column >= self.bounds.gte)
        if self.bounds.lt is not None:
            conditions.append(column < self.bounds.lt)
        if self.bounds.lte is not None:
            conditions.append(column <= self.bounds.lte + _SECOND)
        return conditions


@dataclass(frozen=True)
class TimeFilter(Kind):
    """Stripe's timestamp filter: ``key=<seconds>`` or ``key[gt|gte|lt|lte]=<seconds>``."""

    def read(self, value: Any, name: str, required: bool, later: Later) -> TimeRange:
        if isinstance(value, dict):
            return TimeRange(bounds=_parse(TimeBounds, value, name, later))
        return TimeRange(exact=UnixTime().read(value, name, required, later))

    def schema(self) -> Schema:
        return {"anyOf": [UnixTime().schema(), Nested(TimeBounds).schema()]}

    def nested(self) -> type[Params]:
        return TimeBounds
