"""An institution's health, from the health check and from what each connector call
tells about the bank.

Every health answer goes through :func:`record_health`: the scheduled check, a played
outage, and the outcome of each call Relink makes to the bank (:func:`record_call_outcome`,
from the refresh jobs and the holder's hosted flow). A bank that is down, times out or
answers with a server error is in trouble; a call that succeeds says it works again.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session as DbSession

from relink.connectors.base import BankServerError, ConnectorError, InstitutionDown
from relink.models import Institution, InstitutionHealth
from relink.outbox.store import enqueue

# Outbox kind: an institution is healthy again (what waited for it may go on).
INSTITUTION_RECOVERED = "institution.recovered"


def record_health(
    db: DbSession, institution: Institution, health: InstitutionHealth | str, at: dt.datetime
) -> None:
    """Record a health answer about ``institution`` (``health_since`` moves only when the
    health changes). A bank that is ``active`` again after trouble queues
    :data:`INSTITUTION_RECOVERED`, in the same transaction: the emails that waited for it
    go out, and holders who met "your bank is unavailable" are told it is back."""
    recovered = (
        institution.health != InstitutionHealth.active and health == InstitutionHealth.active
    )
    institution.record_health(health, at)
    if recovered:
        enqueue(
            db,
            INSTITUTION_RECOVERED,
            {"institution_id": institution.id},
            dedupe_key=f"institution.recovered:{institution.id}:{at.isoformat()}",
            livemode=institution.livemode,
        )


def health_after_call(
    error: ConnectorError | None, current: InstitutionHealth | str
) -> InstitutionHealth | None:
    """What one call's outcome says about the bank (None: nothing).

    A call that succeeded: the bank works. A call the bank could not serve (down, a
    maintenance answer, a timeout, a server error): it is in trouble, ``degraded`` — a
    failing call never makes a bank the health check found down look better. Any other
    failure (the holder's consent, a refused password, too many calls) is not the bank's
    health.
    """
    if error is None:
        return InstitutionHealth.active
    if isinstance(error, InstitutionDown | BankServerError):
        if current == InstitutionHealth.active:
            return InstitutionHealth.degraded
        return InstitutionHealth(current)
    return None


def record_call_outcome(
    db: DbSession, institution: Institution, error: ConnectorError | None, at: dt.datetime
) -> None:
    """Feed one connector call's outcome to the institution's health."""
    health = health_after_call(error, institution.health)
    if health is not None:
        record_health(db, institution, health, at)
