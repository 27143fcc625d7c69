"""The garbage collector and a long-running process."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Move everything built at start-up (modules, mappers, templates, caches) out of the
    collector's sight.

    Those objects live as long as the process, yet a full (oldest-generation) collection
    walks all of them: in a web process that was a pause of about 100 ms every few seconds
    under steady traffic, which every request in flight waited for (at 200 requests/s the
    hosted landing's p99 was ~100 ms with these pauses, under 15 ms without). Frozen, they
    are never walked; objects made later are collected as before. Call once, when start-up
    is done.
    """
    gc.collect()
    gc.freeze()
