"""``relink bounces serve``: an SMTP (or LMTP) receiver for bounces and complaints.

The MX of the bounce domain (or the mail server in front of Relink, relaying the bounce
addresses to it) delivers here. It accepts only ``bounces+<token>@…`` recipients and
answers every report it takes with 250, believed or not: a forger learns nothing from
the reply. Each report is acted on in a transaction of its own (:func:`ingest`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from relink.email.bounces import MAX_REPORT_BYTES, ingest, tokens_in
from relink.runtime import Runtime

log = structlog.get_logger("relink.email.bounces")


class BounceHandler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if not tokens_in([address]):
            return "550 5.1.1 Not a bounce address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or b"")
        recipients = list(envelope.rcpt_tos)
        await asyncio.get_running_loop().run_in_executor(None, self.receive, raw, recipients)
        return "250 2.0.0 Report received"

    def receive(self, raw: bytes, recipients: list[str]) -> None:
        with self.runtime.database.unit_of_work() as db:
            outcome = ingest(db, raw, recipients)
        log.info("bounce.received", outcome=outcome.value, bytes=len(raw))


class _LmtpController(Controller):
    def factory(self) -> SMTP:
        return LMTP(self.handler, **self.SMTP_kwargs)


def bounce_receiver(
    runtime: Runtime, host: str, port: int, *, lmtp: bool = False, ready_timeout: float = 5.0
) -> Controller:
    """The receiver (not started): ``start()`` serves on a thread, ``stop()`` ends it."""
    kind = _LmtpController if lmtp else Controller
    return kind(
        BounceHandler(runtime),
        hostname=host,
        port=port,
        ready_timeout=ready_timeout,
        data_size_limit=MAX_REPORT_BYTES,
    )
