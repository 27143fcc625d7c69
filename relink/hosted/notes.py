"""What a hosted page says after a form: a short signed note in the page's address.

Every hosted form answers with a redirect (303) to the link's own page, so neither
Reload nor Back sends a form again (the holder never sees "Confirm Form Resubmission").
What the form's outcome adds to that page (the bank refused the password, the holder
cancelled at the bank, the form was refused) travels as ``?note=<code>.<mac>``: the
code from the fixed list below, the MAC over the link's digest, the flow's step and the
code. So only Relink makes a note, a note never shows on another link, and a note made
at one step is ignored once the flow has moved on: Back to an older page shows that page
as the flow is now, never an error that no longer applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from relink.hosted.links import HostedLink
from relink.kit.crypto import constant_time_equals
from relink.web.csrf import csrf_token

PARAM = "note"
PURPOSE = "hosted-note"
# 128 bits of the MAC: enough that a note cannot be guessed, short enough for a URL.
_MAC_CHARS = 32


@dataclass(frozen=True)
class Note:
    """How the link's page shows a form's outcome."""

    code: str
    # The step pages that show it (an error belongs to its form), or ``page``: a page
    # shown in place of the step's own.
    on: tuple[str, ...] = ()
    status_code: int = 400
    page: str | None = None
    notice: bool = False

    def error_on(self, page: str) -> str | None:
        return self.code if page in self.on and not self.notice else None

    def notice_on(self, page: str) -> str | None:
        return self.code if page in self.on and self.notice else None

    def status_on(self, page: str) -> int:
        return self.status_code if page in self.on else 200


_CHOICE = ("link_accounts",)
NOTES = {
    note.code: note
    for note in (
        Note("missing_credentials", ("credentials",)),
        Note("invalid_credentials", ("credentials",)),
        Note("missing_answer", ("challenge",)),
        Note("incorrect_answer", ("challenge",)),
        Note("unknown_institution", ("link_institutions",)),
        Note("none_chosen", _CHOICE),
        Note("no_payment_account", _CHOICE),
        Note("too_many_accounts", _CHOICE),
        Note("unknown_account", _CHOICE),
        Note("bank_cancelled", ("landing", "link_landing"), status_code=200, notice=True),
        Note("forbidden", status_code=403, page="forbidden"),
    )
}


def _step(link: HostedLink) -> str:
    return link.flow.step if link.flow is not None else "none"


def _mac(key: bytes, link: HostedLink, code: str) -> str:
    return csrf_token(key, PURPOSE, f"{link.digest}:{_step(link)}:{code}")[:_MAC_CHARS]


def sign(key: bytes, link: HostedLink, code: str) -> str:
    """The note ``code`` for the link's page at the flow's current step."""
    assert code in NOTES, code
    return f"{code}.{_mac(key, link, code)}"


def read(key: bytes, link: HostedLink, value: str | None) -> Note | None:
    """The note a page address carries, when Relink made it for this link at this step."""
    if not value:
        return None
    code, _, mac = value.partition(".")
    note = NOTES.get(code)
    if note is None or not constant_time_equals(mac, _mac(key, link, code)):
        return None
    return note
