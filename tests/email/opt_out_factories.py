"""Reminder opt-outs in tests: the holder's address and what the database recorded."""

from __future__ import annotations

from sqlalchemy import select

from relink.email.opt_outs import PATH, OptOutAddress, opt_out_token
from relink.models import ReminderOptOut
from relink.runtime import Runtime


def reminders_url(
    runtime: Runtime, platform_id: str, holder_id: str, *, livemode: bool = False
) -> str:
    """The holder's ``/reminders/<token>`` page (on the test server)."""
    token = opt_out_token(runtime, OptOutAddress(platform_id, livemode, holder_id))
    return runtime.settings.public_url.rstrip("/") + f"{PATH}/{token}"


def opt_outs(runtime: Runtime) -> list[ReminderOptOut]:
    """Every opt-out row, in force or cleared."""
    with runtime.database.read_only() as db:
        return list(db.scalars(select(ReminderOptOut).order_by(ReminderOptOut.created_at)))


def opt_outs_of(runtime: Runtime, holder_id: str) -> list[ReminderOptOut]:
    return [row for row in opt_outs(runtime) if row.holder_id == holder_id]
