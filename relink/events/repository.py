from __future__ import annotations

from relink.models import Event
from relink.tenancy import ScopedRepository


class EventRepository(ScopedRepository[Event]):
    model = Event
    object_name = "event"
