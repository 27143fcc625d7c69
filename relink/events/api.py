"""/v1/events (30-day window)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from relink.api.params import Ignored, ListParams, NoParams, Strings, Text, TimeFilter, TimeRange
from relink.api.rendering import render_list
from relink.api.router import ApiCall, ApiRouter
from relink.events.repository import EventRepository
from relink.events.schemas import render_event
from relink.kit.errors import ApiError, ResourceMissing
from relink.kit.pagination import paginate
from relink.models import Event

router = ApiRouter()
RETENTION = dt.timedelta(days=30)


class ListEvents(ListParams):
    type: Annotated[str | None, Text(200)] = None
    types: Annotated[list[str] | None, Strings()] = None
    created: Annotated[TimeRange, TimeFilter()] = TimeRange()
    # Stripe's filter on webhook delivery; Relink lists every event alike.
    delivery_success: Annotated[None, Ignored({"type": "boolean"})] = None


@router.get("/v1/events", ListEvents)
def list_events(call: ApiCall[ListEvents]) -> dict[str, Any]:
    cursor = call.params.cursor
    event_type = call.params.type
    types = call.params.types
    if event_type is not None and types is not None:
        raise ApiError("You may only specify one of these parameters: type, types.", param="types")
    conditions = call.params.created.conditions(Event.created_at)
    repository = EventRepository(call.session, call.scope)
    repository.check_cursor(cursor)
    query = repository.select().where(Event.created_at >= call.scope.now() - RETENTION, *conditions)
    if event_type is not None:
        if event_type.endswith("*"):
            query = query.where(Event.type.startswith(event_type[:-1], autoescape=True))
        else:
            query = query.where(Event.type == event_type)
    if types:
        query = query.where(Event.type.in_(types))
    page = paginate(call.session, query, Event.id, cursor)
    return render_list("/v1/events", [render_event(e) for e in page.items], page.has_more)


@router.get("/v1/events/{id}", NoParams)
def retrieve_event(call: ApiCall[NoParams]) -> dict[str, Any]:
    event = EventRepository(call.session, call.scope).get(call.path["id"])
    if event.created_at < call.scope.now() - RETENTION:
        raise ResourceMissing("event", event.id)
    return render_event(event)
