"""What Relink accepts as an email address: one rule for the API, the dashboard and the CLI.

Deliberately simple (``local@domain.tld``, at most 320 characters), and strict about what
could change a message's meaning when the address is written into a header or a page:
no white space or control characters, no ``<``, ``>``, ``"``, ``,`` or ``;`` (with them a
``To`` header may name another mailbox — ``ada<script>@example.com`` would mail ``script``).
"""

from __future__ import annotations

import re

MAX_LENGTH = 320

_ADDRESS = re.compile(r'[^@\s<>",;]+@[^@\s<>",;.]+(?:\.[^@\s<>",;.]+)+')


def is_email_address(text: str) -> bool:
    return (
        len(text) <= MAX_LENGTH
        and _ADDRESS.fullmatch(text) is not None
        and not any(ord(char) < 32 or ord(char) == 127 for char in text)
    )
