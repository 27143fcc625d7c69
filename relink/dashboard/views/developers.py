"""Developers: API keys, webhook endpoints with their delivery attempts, the events log.

A new API key (created or rolled) is shown once on the keys page its POST redirects to:
the POST seals the plain key, the sign-in and an expiry into a short-lived cookie scoped
to ``/developers``; the keys page shows the key and clears the cookie, so a reload neither
shows it again nor makes another key. Revoking a key asks first, on a page of its own.

Keys are the owner's (create, roll, revoke); webhook endpoints are managed by owners
and admins; everyone on the team can read. A signing secret appears once, on the
endpoint page that adding the endpoint, rolling or revealing its secret redirects to:
the POST sets a short-lived sealed cookie naming the endpoint, the sign-in and why, that
page shows the secret and clears the cookie, so reloading it shows the secret no more
and can neither add a second endpoint nor roll again. Deleting an endpoint asks first.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from relink.dashboard import developers, queries
from relink.dashboard.views.accounts import read_cursor
from relink.dashboard.web import (
    Forbidden,
    NotFound,
    Viewer,
    current_viewer,
    editor,
    form_data,
    form_text,
    owner,
    page,
    redirect,
    secure_cookies,
    translated,
    translated_errors,
)
from relink.events.schemas import render_event
from relink.kit import clock
from relink.kit.errors import ResourceMissing
from relink.kit.i18n import N_
from relink.models import EndpointStatus, EventType
from relink.webhooks import service
from relink.webhooks.repository import WebhookEndpointRepository

router = APIRouter()


# -- API keys -------------------------------------------------------------------------------


def _keys_page(
    request: Request,
    viewer: Viewer,
    *,
    revealed: developers.RevealedKey | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    with viewer.runtime.database.read_only() as db:
        keys = queries.api_keys(db, viewer.scope)
    now = clock.now()
    return page(
        request,
        viewer,
        "developers_keys.html",
        {
            "keys": [(key, developers.key_state(key, now)) for key in keys],
            "revealed": revealed,
            "error": translated(request, viewer, error) if error else None,
            "grace_hours": int(developers.ROLL_GRACE.total_seconds() // 3600),
        },
        status_code=status_code,
    )


NEW_KEY_COOKIE = "relink_new_key"
NEW_KEY_COOKIE_SECONDS = 120
NEW_KEY_COOKIE_PATH = "/developers"


def _show_once(viewer: Viewer, revealed: developers.RevealedKey) -> Response:
    """Redirect to the keys page, which shows this new key once (see the module's doc)."""
    response = redirect("/developers")
    sealed = viewer.runtime.secret_box.seal(
        {
            "key": revealed.key.id,
            "plain": revealed.plain,
            "replaces": revealed.replaces.id if revealed.replaces is not None else None,
            "login": viewer.signed_in.login.id,
            "until": time.time() + NEW_KEY_COOKIE_SECONDS,
        }
    )
    response.set_cookie(
        NEW_KEY_COOKIE,
        base64.urlsafe_b64encode(sealed).decode(),
        max_age=NEW_KEY_COOKIE_SECONDS,
        path=NEW_KEY_COOKIE_PATH,
        secure=secure_cookies(viewer.runtime),
        httponly=True,
        samesite="strict",
    )
    return response


def _just_made(request: Request, viewer: Viewer) -> developers.RevealedKey | None:
    """The key this sign-in just created or rolled, if this view follows that POST."""
    value = request.cookies.get(NEW_KEY_COOKIE)
    if not value:
        return None
    try:
        sealed = viewer.runtime.secret_box.open(base64.urlsafe_b64decode(value.encode()))
    except (binascii.Error, ValueError):
        return None
    if sealed.get("login") != viewer.signed_in.login.id or float(sealed.get("until", 0)) <= (
        time.time()
    ):
        return None
    replaces = sealed.get("replaces")
    with viewer.runtime.database.read_only() as db:
        return developers.revealed_again(
            db,
            viewer.scope,
            str(sealed.get("key")),
            str(sealed.get("plain")),
            str(replaces) if replaces else None,
        )


@router.get("/developers")
def api_keys(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    pending = NEW_KEY_COOKIE in request.cookies
    response = _keys_page(
        request, viewer, revealed=_just_made(request, viewer) if pending else None
    )
    if pending:  # shown once: a reload shows the key no more
        response.delete_cookie(NEW_KEY_COOKIE, path=NEW_KEY_COOKIE_PATH)
    return response


@router.post("/developers/api-keys")
def create_api_key(
    request: Request, viewer: Viewer = Depends(owner), form: FormData = Depends(form_data)
) -> Response:
    with viewer.runtime.database.unit_of_work() as db:
        revealed = developers.create_key(db, viewer.scope, form_text(form, "name", 200))
    return _show_once(viewer, revealed)


@router.post("/developers/api-keys/{key_id}/roll")
def roll_api_key(request: Request, key_id: str, viewer: Viewer = Depends(owner)) -> Response:
    try:
        with viewer.runtime.database.unit_of_work() as db:
            revealed = developers.roll_key(db, viewer.scope, key_id)
    except developers.KeyUnavailable as unavailable:
        return _keys_page(request, viewer, error=str(unavailable), status_code=409)
    if revealed is None:
        raise NotFound()
    return _show_once(viewer, revealed)


@router.get("/developers/api-keys/{key_id}/revoke")
def confirm_revoke_api_key(
    request: Request, key_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    """Revoking stops a key at once: this page asks first (the POST below does it)."""
    if not viewer.is_owner:
        raise Forbidden(N_("Only owners can manage the team and API keys."))
    with viewer.runtime.database.read_only() as db:
        key = queries.api_key(db, viewer.scope, key_id)
    if key is None:
        raise NotFound()
    state = developers.key_state(key, clock.now())
    return page(
        request,
        viewer,
        "developers_key_revoke.html",
        {"key": key, "usable": state in ("active", "expiring")},
    )


@router.post("/developers/api-keys/{key_id}/revoke")
def revoke_api_key(request: Request, key_id: str, viewer: Viewer = Depends(owner)) -> Response:
    try:
        with viewer.runtime.database.unit_of_work() as db:
            revoked = developers.revoke_key(db, viewer.scope, key_id)
    except developers.KeyUnavailable as unavailable:
        return _keys_page(request, viewer, error=str(unavailable), status_code=409)
    if revoked is None:
        raise NotFound()
    return redirect("/developers", notice="key_revoked")


# -- webhook endpoints ------------------------------------------------------------------------


@contextmanager
def _endpoints(viewer: Viewer, *, writing: bool = True) -> Iterator[WebhookEndpointRepository]:
    """The viewer's endpoints, in a unit of work (or a read-only transaction); what is
    not in the viewer's scope (another platform's, the other mode's, deleted) is a 404."""
    database = viewer.runtime.database
    try:
        with database.unit_of_work() if writing else database.read_only() as db:
            yield WebhookEndpointRepository(db, viewer.scope)
    except ResourceMissing:
        raise NotFound() from None


def _webhooks_page(
    request: Request,
    viewer: Viewer,
    form: developers.EndpointForm | None = None,
    status_code: int = 200,
) -> Response:
    with viewer.runtime.database.read_only() as db:
        found = queries.webhook_endpoints_page(db, viewer.scope, read_cursor(request))
    params = request.query_params
    return page(
        request,
        viewer,
        "developers_webhooks.html",
        {
            "endpoints": found.items,
            "has_more": found.has_more,
            "form": form or developers.EndpointForm(),
            "event_types": list(EventType),
            "cursor_given": bool(params.get("starting_after") or params.get("ending_before")),
        },
        status_code=status_code,
    )


def _endpoint_page(
    request: Request, viewer: Viewer, endpoint_id: str, *, because: str | None = None
) -> Response:
    secret = None
    with viewer.runtime.database.read_only() as db:
        detail = queries.endpoint_detail(db, viewer.scope, endpoint_id)
        if detail is not None and because is not None:
            secret = service.signing_secret(viewer.runtime.secret_box, detail.endpoint)
    if detail is None:
        raise NotFound()
    return page(
        request,
        viewer,
        "developers_webhook.html",
        {
            "detail": detail,
            "secret": secret,
            "created": because == "created",
            "rolled": because == "rolled",
        },
    )


SECRET_COOKIE = "relink_endpoint_secret"
SECRET_COOKIE_SECONDS = 120
# Why the endpoint page shows the signing secret once: what the POST before it did.
SHOWN_BECAUSE = ("created", "rolled", "revealed")


def _secret_cookie_path(endpoint_id: str) -> str:
    return f"/developers/webhooks/{endpoint_id}"


def _show_secret_once(viewer: Viewer, endpoint_id: str, because: str) -> Response:
    """Redirect to the endpoint's page, which shows its signing secret once: the cookie
    names the endpoint, the sign-in and why (never the secret itself, which stays sealed
    in the database); the page clears it, so a reload shows the secret no more."""
    response = redirect(f"/developers/webhooks/{endpoint_id}")
    sealed = viewer.runtime.secret_box.seal(
        {
            "endpoint": endpoint_id,
            "login": viewer.signed_in.login.id,
            "because": because,
            "until": time.time() + SECRET_COOKIE_SECONDS,
        }
    )
    response.set_cookie(
        SECRET_COOKIE,
        base64.urlsafe_b64encode(sealed).decode(),
        max_age=SECRET_COOKIE_SECONDS,
        path=_secret_cookie_path(endpoint_id),
        secure=secure_cookies(viewer.runtime),
        httponly=True,
        samesite="strict",
    )
    return response


def _shown_because(request: Request, viewer: Viewer, endpoint_id: str) -> str | None:
    """Why this page view shows the secret (see :data:`SHOWN_BECAUSE`), when it follows
    this sign-in's POST on this endpoint; None otherwise."""
    value = request.cookies.get(SECRET_COOKIE)
    if not value:
        return None
    try:
        sealed = viewer.runtime.secret_box.open(base64.urlsafe_b64decode(value.encode()))
    except (binascii.Error, ValueError):
        return None
    because = sealed.get("because")
    if (
        sealed.get("endpoint") == endpoint_id
        and sealed.get("login") == viewer.signed_in.login.id
        and float(sealed.get("until", 0)) > time.time()
        and because in SHOWN_BECAUSE
    ):
        return str(because)
    return None


@router.get("/developers/webhooks")
def webhooks(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    return _webhooks_page(request, viewer)


@router.post("/developers/webhooks")
def create_webhook(
    request: Request, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    endpoint_form = developers.EndpointForm.read(
        form_text(form, "url", 2048),
        form_text(form, "description", 5001),
        [value for value in form.getlist("events") if isinstance(value, str)],
    )
    created: tuple[Any, str] | None = None
    if not endpoint_form.errors:
        with viewer.runtime.database.unit_of_work() as db:
            created = developers.create_webhook_endpoint(
                db, viewer.scope, viewer.runtime, endpoint_form
            )
    if created is None:
        endpoint_form.errors.update(translated_errors(request, viewer, endpoint_form.errors))
        return _webhooks_page(request, viewer, endpoint_form, status_code=400)
    endpoint, _secret = created
    return _show_secret_once(viewer, endpoint.id, "created")


@router.get("/developers/webhooks/{endpoint_id}")
def webhook(
    request: Request, endpoint_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    pending = SECRET_COOKIE in request.cookies
    response = _endpoint_page(
        request,
        viewer,
        endpoint_id,
        because=_shown_because(request, viewer, endpoint_id) if pending else None,
    )
    if pending:  # shown once: a reload shows the secret no more
        response.delete_cookie(SECRET_COOKIE, path=_secret_cookie_path(endpoint_id))
    return response


def _roll_page(
    request: Request, viewer: Viewer, endpoint_id: str, *, error: str | None, status_code: int
) -> Response:
    if not viewer.can_edit:
        raise Forbidden(N_("Viewers have read-only access; ask an owner or admin."))
    with viewer.runtime.database.read_only() as db:
        endpoint = WebhookEndpointRepository(db, viewer.scope).find(endpoint_id)
    if endpoint is None:
        raise NotFound()
    return page(
        request,
        viewer,
        "developers_webhook_roll.html",
        {
            "endpoint": endpoint,
            "overlaps": list(developers.SECRET_OVERLAPS),
            "chosen": developers.DEFAULT_SECRET_OVERLAP,
            "error": translated(request, viewer, error) if error else None,
        },
        status_code=status_code,
    )


@router.get("/developers/webhooks/{endpoint_id}/roll")
def confirm_roll_webhook_secret(
    request: Request, endpoint_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    return _roll_page(request, viewer, endpoint_id, error=None, status_code=200)


@router.post("/developers/webhooks/{endpoint_id}/roll")
def roll_webhook_secret(
    request: Request,
    endpoint_id: str,
    viewer: Viewer = Depends(editor),
    form: FormData = Depends(form_data),
) -> Response:
    overlap = developers.SECRET_OVERLAPS.get(form_text(form, "expires", 10))
    if overlap is None:
        error = N_("Choose when the current secret stops signing.")
        return _roll_page(request, viewer, endpoint_id, error=error, status_code=400)
    with _endpoints(viewer) as endpoints:
        service.roll_secret(endpoints, endpoint_id, viewer.runtime.secret_box, overlap=overlap)
    return _show_secret_once(viewer, endpoint_id, "rolled")


@router.post("/developers/webhooks/{endpoint_id}/secret")
def reveal_webhook_secret(
    request: Request, endpoint_id: str, viewer: Viewer = Depends(editor)
) -> Response:
    with _endpoints(viewer, writing=False) as endpoints:
        service.reveal_secret(endpoints, endpoint_id, viewer.runtime.secret_box)
    return _show_secret_once(viewer, endpoint_id, "revealed")


@router.post("/developers/webhooks/{endpoint_id}/status")
def set_webhook_status(
    endpoint_id: str, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    enabled = form_text(form, "enabled") == "1"
    status = EndpointStatus.enabled if enabled else EndpointStatus.disabled
    with _endpoints(viewer) as endpoints:
        service.set_endpoint_status(endpoints, endpoint_id, status)
    return redirect(f"/developers/webhooks/{endpoint_id}", notice=f"webhook_{status}")


@router.get("/developers/webhooks/{endpoint_id}/delete")
def confirm_delete_webhook(
    request: Request, endpoint_id: str, viewer: Viewer = Depends(current_viewer)
) -> Response:
    """Deleting stops every delivery at once: this page asks first (the POST does it)."""
    if not viewer.can_edit:
        raise Forbidden(N_("Viewers have read-only access; ask an owner or admin."))
    with viewer.runtime.database.read_only() as db:
        endpoint = WebhookEndpointRepository(db, viewer.scope).find(endpoint_id)
    if endpoint is None:
        raise NotFound()
    return page(request, viewer, "developers_webhook_delete.html", {"endpoint": endpoint})


@router.post("/developers/webhooks/{endpoint_id}/delete")
def delete_webhook(endpoint_id: str, viewer: Viewer = Depends(editor)) -> Response:
    with _endpoints(viewer) as endpoints:
        service.delete_endpoint(endpoints, endpoint_id)
    return redirect("/developers/webhooks", notice="webhook_deleted")


@router.post("/developers/webhooks/{endpoint_id}/resend")
def resend_webhook_event(
    endpoint_id: str, viewer: Viewer = Depends(editor), form: FormData = Depends(form_data)
) -> Response:
    event_id = form_text(form, "event", 40)
    with _endpoints(viewer) as endpoints:
        service.redeliver(endpoints, endpoint_id, event_id)
    back = "/developers/events/" + event_id if form_text(form, "back") == "event" else None
    return redirect(back or f"/developers/webhooks/{endpoint_id}", notice="webhook_resent")


# -- events -------------------------------------------------------------------------------------


@router.get("/developers/events")
def events(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    params = request.query_params
    chosen = params.get("type") or ""
    event_type = EventType(chosen) if service.known_event_type(chosen) else None
    with viewer.runtime.database.read_only() as db:
        found = queries.events_page(db, viewer.scope, event_type, read_cursor(request))
    return page(
        request,
        viewer,
        "developers_events.html",
        {
            "events": found.items,
            "has_more": found.has_more,
            "event_type": event_type or "",
            "event_types": list(EventType),
            "query": {"type": event_type} if event_type else {},
            "cursor_given": bool(params.get("starting_after") or params.get("ending_before")),
        },
    )


@router.get("/developers/events/{event_id}")
def event(request: Request, event_id: str, viewer: Viewer = Depends(current_viewer)) -> Response:
    with viewer.runtime.database.read_only() as db:
        detail = queries.event_detail(db, viewer.scope, event_id)
    if detail is None:
        raise NotFound()
    return page(
        request,
        viewer,
        "developers_event.html",
        {
            "detail": detail,
            # Autoescaped in the template: markup inside the data shows as text.
            "json": json.dumps(render_event(detail.event), indent=2, ensure_ascii=False),
        },
    )
