"""Text that must stay on one line: names and addresses that go into email headers."""

from __future__ import annotations

import unicodedata

# Control characters (CR, LF, NUL, ...) and Unicode's line and paragraph separators.
_BREAKING = frozenset({"Cc", "Zl", "Zp"})


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character or a line break of any kind."""
    return any(unicodedata.category(char) in _BREAKING for char in text)


def single_line(text: str) -> str:
    """``text`` with every control character and line break made a space, and runs of
    white space made one (what a header value may safely carry)."""
    cleaned = "".join(" " if unicodedata.category(c) in _BREAKING else c for c in text)
    return " ".join(cleaned.split())
