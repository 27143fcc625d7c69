"""Tenancy in one place: every tenant query starts from a :class:`ScopedRepository`.

A repository is built for one ``(platform, livemode)`` scope; its ``select()`` already
filters by both, so a caller cannot forget the scope, and objects of another platform
or mode are indistinguishable from missing ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from relink.kit import clock
from relink.kit.errors import CursorMissing, ResourceMissing
from relink.kit.pagination import Cursor
from relink.models import Platform

Model = TypeVar("Model")


@dataclass(frozen=True)
class Scope:
    platform_id: str
    livemode: bool
    # Sandbox time offset (test mode only), from the platform's test clock.
    clock_offset_seconds: int = 0

    def now(self) -> dt.datetime:
        """The current time as this scope sees it (test mode may be advanced)."""
        if self.livemode or not self.clock_offset_seconds:
            return clock.now()
        return clock.now() + dt.timedelta(seconds=self.clock_offset_seconds)

    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"


def platform_scope(
    platform_id: str, livemode: bool, test_clock_offset_seconds: int | None
) -> Scope:
    """A platform's scope in one mode: test mode runs on the platform's (possibly
    advanced) test clock, live mode always on real time."""
    return Scope(platform_id, livemode, 0 if livemode else test_clock_offset_seconds or 0)


def load_platform_scope(session: Session, platform_id: str, livemode: bool) -> Scope:
    """:func:`platform_scope` for a platform known by id (its test clock read if needed)."""
    if livemode:
        return platform_scope(platform_id, True, 0)
    offset = session.scalar(
        select(Platform.test_clock_offset_seconds).where(Platform.id == platform_id)
    )
    return platform_scope(platform_id, False, offset)


def in_scope(model: type[Any], scope: Scope) -> ColumnElement[bool]:
    """``model``'s rows of ``scope`` (its platform and mode): the condition every tenant
    query carries. Repositories add it in :meth:`ScopedRepository.select`; set-based SQL
    (INSERT … SELECT, IN-subqueries) that cannot start from a repository adds it here."""
    condition: ColumnElement[bool] = and_(
        model.platform_id == scope.platform_id, model.livemode == scope.livemode
    )
    return condition


class ScopedRepository(Generic[Model]):
    model: ClassVar[type[Any]]
    object_name: ClassVar[str]

    def __init__(self, session: Session, scope: Scope) -> None:
        self.session = session
        self.scope = scope

    def select(self) -> Select[Model]:
        return select(self.model).where(in_scope(self.model, self.scope))

    def find(self, object_id: str) -> Model | None:
        return self.session.scalars(self.select().where(self.model.id == object_id)).first()

    def get(self, object_id: str, *, param: str | None = "id") -> Model:
        found = self.find(object_id)
        if found is None:
            raise ResourceMissing(self.object_name, object_id, param=param)
        return found

    def check_cursor(self, cursor: Cursor) -> None:
        """A list's cursor names an object of the list's type in this scope, or the list
        answers 400 as Stripe's does (a typo or another type's id must not page silently).
        The object may since have left the list's filters: pages go on from it."""
        for param, value in (
            ("starting_after", cursor.starting_after),
            ("ending_before", cursor.ending_before),
        ):
            if value is not None and self.find(value) is None:
                raise CursorMissing(self.object_name, value, param=param)

    def add(self, obj: Model) -> Model:
        if getattr(obj, "platform_id", None) is None:
            obj.platform_id = self.scope.platform_id  # type: ignore[attr-defined]
            obj.livemode = self.scope.livemode  # type: ignore[attr-defined]
        elif (obj.platform_id, obj.livemode) != (  # type: ignore[attr-defined]
            self.scope.platform_id,
            self.scope.livemode,
        ):
            raise ValueError("object belongs to another scope")
        self.session.add(obj)
        return obj
