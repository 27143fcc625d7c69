"""Typed reading of decoded request parameters.

Handlers read what they accept through :class:`Params`; anything left unread is an
unknown parameter (``parameter_unknown`` naming it). Form values arrive as strings,
JSON values as their own types; both are accepted.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_

from relink.kit.clock import from_unix
from relink.kit.email_address import MAX_LENGTH as MAX_EMAIL_LENGTH
from relink.kit.email_address import is_email_address
from relink.kit.errors import InvalidEnum, ParameterInvalid, ParameterMissing, ParameterUnknown

_MISSING = object()
# 9999-12-31T23:59:59Z: the last second a datetime can hold. A millisecond timestamp (a
# common JavaScript slip) is far beyond it and is refused rather than read as year 58,000.
MAX_UNIX_TIME = 253_402_300_799
_SECOND = dt.timedelta(seconds=1) - dt.timedelta(microseconds=1)


class Params:
    def __init__(self, data: dict[str, Any], *, prefix: str = "") -> None:
        self._data = data
        self._read: set[str] = set()
        self._children: list[Params] = []
        self._prefix = prefix

    def name(self, key: str) -> str:
        return f"{self._prefix}[{key}]" if self._prefix else key

    def has(self, key: str) -> bool:
        return key in self._data

    def raw(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self._data.get(key, default)

    def ignore(self, *keys: str) -> None:
        self._read.update(keys)

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        max_length: int = 5000,
        blank_is_none: bool = True,
    ) -> str | None:
        value = self.raw(key, _MISSING)
        if value is _MISSING or value is None or (blank_is_none and value == ""):
            if required:
                raise ParameterMissing(self.name(key))
            return None
        if isinstance(value, (bool, dict, list)):
            raise ParameterInvalid(self.name(key), f"Invalid string: {self.name(key)}")
        text = _without_nul(self.name(key), str(value))
        if len(text) > max_length:
            raise ParameterInvalid(
                self.name(key),
                f"Invalid string: {self.name(key)} must be at most {max_length} characters",
            )
        return text

    def required_str(self, key: str, *, max_length: int = 5000) -> str:
        value = self.text(key, required=True, max_length=max_length)
        assert value is not None
        return value

    def email(self, key: str) -> str | None:
        value = self.text(key, max_length=MAX_EMAIL_LENGTH)
        if value is not None and not is_email_address(value):
            raise ParameterInvalid(
                self.name(key), f"Invalid email address: {value}", code="email_invalid"
            )
        return value

    def enum(self, key: str, allowed: Iterable[str], *, required: bool = False) -> str | None:
        choices = tuple(allowed)
        value = self.text(key, required=required)
        if value is not None and value not in choices:
            raise InvalidEnum(self.name(key), value, choices)
        return value

    def integer(
        self,
        key: str,
        *,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        value = self.raw(key, _MISSING)
        if value is _MISSING or value is None or value == "":
            if required:
                raise ParameterMissing(self.name(key))
            return None
        if isinstance(value, bool):
            raise ParameterInvalid(
                self.name(key), f"Invalid integer: {value}", code="parameter_invalid_integer"
            )
        try:
            number = int(value) if not isinstance(value, float) or value.is_integer() else None
        except (TypeError, ValueError):
            number = None
        if number is None or (isinstance(value, str) and not re.fullmatch(r"-?\d{1,18}", value)):
            raise ParameterInvalid(
                self.name(key), f"Invalid integer: {value}", code="parameter_invalid_integer"
            )
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ParameterInvalid(
                self.name(key),
                f"Invalid integer: {self.name(key)} must be {bounds}",
                code="parameter_invalid_integer",
            )
        return number

    def unix_time(self, key: str, *, required: bool = False) -> dt.datetime | None:
        """A Unix timestamp in seconds, as an aware datetime."""
        seconds = self.integer(key, required=required)
        if seconds is None:
            return None
        if not 0 <= seconds <= MAX_UNIX_TIME:
            raise ParameterInvalid(
                self.name(key),
                f"Invalid timestamp: {self.name(key)} must be a Unix timestamp in seconds "
                f"between 0 and {MAX_UNIX_TIME}",
                code="parameter_invalid_integer",
            )
        return from_unix(seconds)

    def unix_time_filter(self, key: str, column: Any) -> list[ColumnElement[bool]]:
        """Stripe's timestamp filter: ``key=<seconds>`` or ``key[gt|gte|lt|lte]=<seconds>``.

        Each bound covers its whole second, so sub-second stored times compare as the
        whole seconds the API shows (``gt=t`` excludes ``t.5``, ``lte=t`` includes it).
        """
        raw = self.raw(key, _MISSING)
        if raw is _MISSING or raw is None or raw == "":
            return []
        if not isinstance(raw, dict):
            moment = self.unix_time(key)
            assert moment is not None
            return [and_(column >= moment, column <= moment + _SECOND)]
        bounds = self.nested(key)
        assert bounds is not None
        conditions: list[ColumnElement[bool]] = []
        for operator in ("gt", "gte", "lt", "lte"):
            moment = bounds.unix_time(operator)
            if moment is None:
                continue
            match operator:
                case "gt":
                    conditions.append(column > moment + _SECOND)
                case "gte":
                    conditions.append(column >= moment)
                case "lt":
                    conditions.append(column < moment)
                case "lte":
                    conditions.append(column <= moment + _SECOND)
        return conditions

    def boolean(self, key: str) -> bool | None:
        value = self.raw(key, _MISSING)
        if value is _MISSING or value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return bool(value == "true")
        raise ParameterInvalid(
            self.name(key), f"Invalid boolean: {value}", code="parameter_invalid_boolean"
        )

    def strings(self, key: str, *, allowed: Iterable[str] | None = None) -> list[str] | None:
        """A list of strings; ``x=""`` means an empty list."""
        value = self.raw(key, _MISSING)
        if value is _MISSING or value is None:
            return None
        if value == "":
            return []
        if isinstance(value, str):
            # A lone value is accepted as a one-item list, as Stripe does.
            value = [value]
        if isinstance(value, dict) and all(k.isdigit() for k in value):
            value = [value[k] for k in sorted(value, key=int)]
        if not isinstance(value, list) or not all(
            isinstance(item, str) and not isinstance(item, bool) for item in value
        ):
            raise ParameterInvalid(
                self.name(key), f"Invalid array: {self.name(key)}", code="parameter_invalid_array"
            )
        for index, item in enumerate(value):
            _without_nul(f"{self.name(key)}[{index}]", item)
        if allowed is not None:
            choices = tuple(allowed)
            for index, item in enumerate(value):
                if item not in choices:
                    raise InvalidEnum(f"{self.name(key)}[{index}]", item, choices)
        return list(value)

    def nested(self, key: str, *, required: bool = False) -> Params | None:
        value = self.raw(key, _MISSING)
        if value is _MISSING or value is None or value == "":
            if required:
                raise ParameterMissing(self.name(key))
            return None
        if not isinstance(value, dict):
            raise ParameterInvalid(
                self.name(key), f"Invalid object: {self.name(key)}", code="parameter_invalid_object"
            )
        child = Params(value, prefix=self.name(key))
        self._children.append(child)
        return child

    def metadata(self, key: str = "metadata") -> dict[str, str | None] | None:
        """Stripe metadata: string values; ``""`` unsets a key; ``metadata=""`` clears all."""
        value = self.raw(key, _MISSING)
        if value is _MISSING or value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise ParameterInvalid(
                self.name(key), f"Invalid object: {self.name(key)}", code="parameter_invalid_object"
            )
        if len(value) > 50:
            raise ParameterInvalid(self.name(key), "Metadata can have at most 50 keys.")
        cleaned: dict[str, str | None] = {}
        for item_key, item in value.items():
            item_name = f"{self.name(key)}[{item_key}]"
            if len(item_key) > 40:
                raise ParameterInvalid(item_name, "Metadata keys can be at most 40 characters.")
            if isinstance(item, (dict, list, bool)) or item is None:
                raise ParameterInvalid(item_name, f"Invalid string: {item_name}")
            _without_nul(item_name, item_key)
            text = _without_nul(item_name, str(item))
            if len(text) > 500:
                raise ParameterInvalid(item_name, "Metadata values can be at most 500 characters.")
            cleaned[item_key] = text if text != "" else None
        return cleaned

    def finish(self) -> None:
        """Raise ``parameter_unknown`` for the first parameter nobody read."""
        for key in self._data:
            if key not in self._read:
                raise ParameterUnknown(self.name(key))
        for child in self._children:
            child.finish()


def _without_nul(param: str, text: str) -> str:
    """Text values may not carry NUL characters (no database can store them as text)."""
    if "\x00" in text:
        raise ParameterInvalid(param, f"Invalid string: {param} must not contain NUL characters.")
    return text


def refuse_customer_account(holder: Params) -> None:
    """``account_holder[customer_account]`` names a customer-configured Stripe Account
    (Accounts v2). Relink has no such accounts: holders are customers or connected
    accounts, so the parameter is refused with a message that says what to use instead."""
    if holder.text("customer_account", max_length=255) is not None:
        raise ParameterInvalid(
            holder.name("customer_account"),
            "Relink has no customer-configured Accounts (Accounts v2): an account holder "
            "is a customer (account_holder[customer]) or a connected account "
            "(account_holder[account]).",
        )
