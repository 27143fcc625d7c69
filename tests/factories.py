"""The one home of the tests' plain helpers: factory functions that build data through
the public API (the stripe SDK), and the few that read or drive Relink directly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any, Protocol, cast

import stripe

from relink.config import Settings
from relink.connectors.base import Health
from relink.email.backends import backend_for
from relink.institutions.connectors import close_http_clients, connector_for
from relink.kit import clock
from relink.models import Institution
from relink.outbox.dispatcher import OutboxDispatcher
from relink.runtime import Runtime
from relink.sessions import timeline
from relink.tenancy import Scope
from relink.worker import HANDLERS
from tests.email.smtp_server import SmtpServer


class WireObject(Protocol):
    """An object Relink answers that the stripe SDK does not type: its test helpers, and
    the fields Relink adds to Stripe's (``authorization`` on an account, ``url`` and
    ``relink_result`` on a session). The SDK declares ``StripeObject.__getattr__`` only
    at run time, so a type checker sees no fields on such objects; this view reads them
    as the untyped JSON they are."""

    def __getattr__(self, name: str) -> Any: ...

    def __getitem__(self, key: str) -> Any: ...

    def to_dict(self, recursive: bool = True, for_json: bool = False) -> dict[str, Any]: ...


def wire(value: stripe.StripeObject) -> WireObject:
    """The untyped view of a stripe SDK object (see :class:`WireObject`)."""
    return cast(WireObject, value)


def create_customer(client: stripe.StripeClient, **params: Any) -> stripe.Customer:
    return client.v1.customers.create(params=unchecked(params))


def unchecked(params: Mapping[str, object]) -> Any:
    """``params`` for an SDK method whose types refuse them: Relink's own parameters, or
    a value sent wrong on purpose to test the server's validation."""
    return params


def error_of(raised: stripe.StripeError) -> dict[str, Any]:
    """The ``error`` object of the JSON body Relink refused a request with."""
    body = raised.json_body
    assert isinstance(body, dict), body
    error = body["error"]
    assert isinstance(error, dict), error
    return error


def request(
    client: stripe.StripeClient, method: str, path: str, **params: Any
) -> stripe.StripeObject:
    """Call any Relink endpoint; the SDK builds the typed object the answer names."""
    return client.deserialize(client.raw_request(method, path, **params), api_mode="V1")


def raw(client: stripe.StripeClient, method: str, path: str, **params: Any) -> WireObject:
    """Call any Relink endpoint and read the answer untyped (see :class:`WireObject`)."""
    return wire(request(client, method, path, **params))


def play_outage(
    client: stripe.StripeClient, status: str, institution: str = "fcinst_bank_non_oauth"
) -> WireObject:
    """Put a sandbox institution ``down``, ``degraded`` or back ``active`` (the test
    helper plays it at the sandbox bank and runs the health check at once). Institutions
    are shared by every test: a test that plays one uses the ``bank_back_up`` fixture."""
    path = f"/v1/test_helpers/financial_connections/institutions/{institution}/outage"
    return raw(client, "post", path, status=status)


OUTAGE_HEALTH = {"down": Health.inactive, "degraded": Health.degraded, "active": Health.active}


def play_outage_at_bank(
    runtime: Runtime, status: str, institution: str = "fcinst_bank_non_oauth"
) -> None:
    """Play an outage at the sandbox bank only: Relink's recorded health stays as it was
    until a call to the bank (or the health check) tells it otherwise."""
    with runtime.database.read_only() as db:
        row = db.get(Institution, institution)
        assert row is not None
    controls = connector_for(runtime, row, Scope("", row.livemode)).sandbox_controls()
    assert controls is not None
    controls.set_test_outage(OUTAGE_HEALTH[status])


def create_test_account(
    client: stripe.StripeClient,
    *,
    customer: str | None = None,
    connected_account: str | None = None,
    institution: str = "fcinst_bank_non_oauth",
    **params: Any,
) -> stripe.financial_connections.Account:
    holder: dict[str, str]
    if connected_account is not None:
        holder = {"type": "account", "account": connected_account}
    else:
        assert customer is not None
        holder = {"type": "customer", "customer": customer}
    created = request(
        client,
        "post",
        "/v1/test_helpers/financial_connections/accounts",
        institution=institution,
        account_holder=holder,
        **params,
    )
    assert isinstance(created, stripe.financial_connections.Account)
    return created


def create_session(client: stripe.StripeClient, **params: Any) -> WireObject:
    """POST /v1/financial_connections/sessions through the SDK's own method.

    Relink's sessions go beyond the SDK's types both ways: a relink session takes
    ``relink_options``, ``ui_mode`` and ``hosted`` and may leave ``account_holder`` out
    (it is the authorization's), and answers ``url``, ``status`` and ``relink_result``.
    So the parameters go in unchecked and the session comes out untyped."""
    return wire(client.v1.financial_connections.sessions.create(params=unchecked(params)))


def relink_params(
    account: stripe.financial_connections.Account, delivery: str = "email", **extra: Any
) -> dict[str, Any]:
    """The parameters of a hosted relink session for ``account``, delivered by ``delivery``."""
    return {
        "permissions": ["payment_method"],
        "relink_options": {"authorization": account["authorization"], "account": account.id},
        "ui_mode": "hosted",
        "hosted": {"delivery_method": delivery},
        **extra,
    }


def deactivate(client: stripe.StripeClient, account_id: str, cause: str) -> WireObject:
    return raw(
        client,
        "post",
        f"/v1/test_helpers/financial_connections/accounts/{account_id}/deactivate",
        cause=cause,
    )


def body_of(message: EmailMessage, subtype: str = "plain") -> str:
    """The text/``subtype`` part of an email, decoded."""
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(part.get_content())


def advance_clock(client: stripe.StripeClient, seconds: int) -> WireObject:
    """Move Relink's test clock on by ``seconds`` (and run what falls due)."""
    return raw(client, "post", "/v1/test_helpers/clock/advance", seconds=seconds)


def events_of_type(client: stripe.StripeClient, event_type: str) -> list[dict[str, Any]]:
    """The platform's events of ``event_type``, newest first, as JSON."""
    return [e.to_dict() for e in client.v1.events.list(params={"type": event_type}).data]


# -- straight from the database -----------------------------------------------------------


def drain_outbox(runtime: Runtime) -> None:
    """Run every outbox message that is due, as the worker would."""
    OutboxDispatcher(runtime, HANDLERS).drain()


def runtime_with(settings: Settings, **changes: object) -> Runtime:
    """A separate runtime on the same database with some settings changed."""
    return Runtime.from_settings(settings.model_copy(update=changes))


@contextmanager
def sending_to(smtp: SmtpServer, settings: Settings, **changes: object) -> Iterator[Runtime]:
    """A runtime whose SMTP backend sends to ``smtp``; its SMTP connections, HTTP clients
    and database pool closed after (so it is not used after the block)."""
    runtime = runtime_with(
        settings,
        email_backend="smtp",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_security="none",
        **changes,
    )
    try:
        yield runtime
    finally:
        backend_for(runtime).close()
        close_http_clients(runtime)
        runtime.database.engine.dispose()


def timeline_kinds(runtime: Runtime, session_id: str) -> list[str]:
    """The kinds of a session's timeline entries, in the order the dashboard shows them."""
    with runtime.database.read_only() as db:
        return [entry.kind for entry in timeline.entries(db, session_id)]


def timeline_details(runtime: Runtime, session_id: str, kind: str) -> list[dict[str, Any]]:
    """The details of a session's timeline entries of one kind, oldest first."""
    with runtime.database.read_only() as db:
        return [entry.detail for entry in timeline.entries(db, session_id) if entry.kind == kind]


def make_scan_due(runtime: Runtime, name: str) -> None:
    """The worker's scheduled scan ``name`` is due now, and nobody holds it."""
    from relink.models import ScheduledScan

    with runtime.database.unit_of_work() as db:
        row = db.get(ScheduledScan, name)
        if row is None:
            db.add(ScheduledScan(name=name, next_run_at=clock.now() - dt.timedelta(minutes=1)))
        else:
            row.next_run_at = clock.now() - dt.timedelta(minutes=1)
            row.locked_until, row.locked_by = None, None
