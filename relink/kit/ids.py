"""Object ids: ``prefix_`` + 26 characters that sort by creation time.

Lists are ordered newest first by id, so ids must sort by the time they were made.
The body is a ULID (48-bit millisecond time + 80 random bits, Crockford base32),
made monotonic within a process so two ids in the same millisecond still sort.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new(prefix: str) -> str:
    """A new id such as ``fca_01JD3...``; later ids sort after earlier ones."""
    global _last_ms, _last_random
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _last_random += 1
        else:
            _last_random = int.from_bytes(os.urandom(10), "big") >> 1
        _last_ms = ms
        body = (ms << 80) | (_last_random & ((1 << 80) - 1))
    return f"{prefix}_{_encode(body, 26)}"


# Every 10-bit value as its two characters: a ULID's 80 random bits are eight of them.
_PAIRS = [_ALPHABET[n >> 5] + _ALPHABET[n & 31] for n in range(1024)]


def new_many(prefix: str, count: int) -> list[str]:
    """``count`` new ids at once, in order, as :func:`new` would make them one by one (for
    bulk writes: one lock, one clock read and one random draw for the lot, and the time
    part encoded once)."""
    global _last_ms, _last_random
    if count <= 0:
        return []
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            first = _last_random + 1
        else:
            first = int.from_bytes(os.urandom(10), "big") >> 1
        _last_ms = ms
        _last_random = first + count - 1
    mask = (1 << 80) - 1
    head = f"{prefix}_{_encode(ms, 10)}"
    pairs = _PAIRS
    made = []
    for n in range(count):
        r = (first + n) & mask
        made.append(
            head
            + pairs[r >> 70]
            + pairs[(r >> 60) & 1023]
            + pairs[(r >> 50) & 1023]
            + pairs[(r >> 40) & 1023]
            + pairs[(r >> 30) & 1023]
            + pairs[(r >> 20) & 1023]
            + pairs[(r >> 10) & 1023]
            + pairs[r & 1023]
        )
    return made


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) > len(prefix) + 1
