""" "Now" for the PSD2 ASPSPs: the `Relink-Sandbox-Time` header when a caller sends one,
else the bank's own sandbox clock when a test has set it (`PUT /psd2/sandbox/clock`),
else real time. The clock is kept in the bank's database, so every process sharing it
(and the holder's pages, which never carry the header) agree on it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session
from starlette.requests import Request

from relink.sandbox_bank.clock import SANDBOX_TIME_HEADER, request_now, wall_clock
from relink.sandbox_bank.errors import BankError
from relink.sandbox_bank.models import Setting
from relink.sandbox_bank.psd2.errors import format_error

CLOCK_SETTING = "psd2_clock"


def bank_clock(session: Session) -> datetime:
    setting = session.get(Setting, CLOCK_SETTING)
    if setting is None:
        return wall_clock()
    return datetime.fromtimestamp(int(setting.value), UTC)


def psd2_now(request: Request, session: Session) -> datetime:
    if request.headers.get(SANDBOX_TIME_HEADER) is not None:
        try:
            return request_now(request)
        except BankError:
            raise format_error(
                f"{SANDBOX_TIME_HEADER} must be unix seconds.", path=SANDBOX_TIME_HEADER
            ) from None
    return bank_clock(session)


def set_bank_clock(session: Session, moment: int | None) -> None:
    setting = session.get(Setting, CLOCK_SETTING)
    if moment is None:
        if setting is not None:
            session.delete(setting)
        return
    if setting is None:
        session.add(Setting(name=CLOCK_SETTING, value=str(moment)))
    else:
        setting.value = str(moment)
